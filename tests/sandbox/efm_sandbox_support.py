"""Helpers for the efm-sandbox conformance tests: finding the binary and the fixtures,
loading an organisation's identity, and making Maskinporten grants with PyJWT.

The binary is EFM_SANDBOX_BIN, else target/debug/efm-sandbox under the repository root (or under
CARGO_TARGET_DIR when that is set and the default does not exist). A missing binary fails the
tests: build it first with `cargo build -p efm-sandbox`.
"""

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

REPO_ROOT = Path(__file__).resolve().parents[2]


# The repository's fixtures: published WSDLs, OpenAPI and example messages (tests/fixtures/README.md).
FIXTURES = REPO_ROOT / "tests" / "fixtures"
ORG_A, ORG_B, ORG_C = "910075918", "910076787", "984661185"


def sandbox_binary() -> Path:
    given = os.environ.get("EFM_SANDBOX_BIN")
    if given:
        return Path(given)
    default = REPO_ROOT / "target" / "debug" / "efm-sandbox"
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    if not default.exists() and target_dir:
        return Path(target_dir) / "debug" / "efm-sandbox"
    return default


@dataclass
class Org:
    orgnr: str
    config: dict
    key: object  # cryptography private key
    cert_der: bytes

    @property
    def client_id(self) -> str:
        return self.config["credentials"]["client_id"]

    @property
    def system_user(self) -> dict:
        return self.config["system_user"]

    @property
    def altinn2_user(self) -> str:
        return self.config["altinn2"]["username"]

    @property
    def altinn2_password(self) -> str:
        return Path(self.config["altinn2"]["password_file"]).read_text().strip()


class Sandbox:
    def __init__(self, base_url: str, directory: Path):
        self.base_url = base_url
        self.dir = directory
        self.audience = f"{base_url}/maskinporten/"
        self.token_url = f"{base_url}/maskinporten/token"

    def org(self, orgnr: str) -> Org:
        config = json.loads((self.dir / orgnr / "config.json").read_text())
        creds = config["credentials"]
        password = Path(creds["pkcs12_password_file"]).read_text().strip().encode()
        key, cert, _ = pkcs12.load_key_and_certificates(Path(creds["pkcs12"]).read_bytes(), password)
        return Org(orgnr, config, key, cert.public_bytes(serialization.Encoding.DER))

    def admin(self, method: str, path: str, body=None):
        r = requests.request(method, f"{self.base_url}/admin{path}", json=body, timeout=30)
        assert r.ok, f"{path}: {r.status_code} {r.text}"
        return r.json()

    # ---- Maskinporten helpers (PyJWT signs) ----

    def claims(self, org: Org, scope: str, **extra) -> dict:
        now = int(time.time())
        c = {
            "aud": self.audience,
            "iss": org.client_id,
            "scope": scope,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 120,
        }
        c.update(extra)
        return c

    def grant(self, org: Org, claims: dict, key=None, headers=None) -> str:
        h = {"x5c": [base64.b64encode(org.cert_der).decode()]} if headers is None else headers
        return jwt.encode(claims, key or org.key, algorithm="RS256", headers=h)

    def post_grant(self, assertion: str) -> requests.Response:
        return requests.post(
            self.token_url,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            timeout=30,
        )

    def token(self, org: Org, scope: str, system_user: bool = False) -> str:
        extra = {}
        if system_user:
            extra["authorization_details"] = [
                {
                    "type": "urn:altinn:systemuser",
                    "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": org.system_user["org_id"]},
                    "externalRef": org.system_user["name"],
                }
            ]
        r = self.post_grant(self.grant(org, self.claims(org, scope, **extra)))
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def altinn_token(self, org: Org, scope: str) -> str:
        mp = self.token(org, scope, system_user=True)
        r = requests.get(
            f"{self.base_url}/authentication/api/v1/exchange/maskinporten",
            headers={"Authorization": f"Bearer {mp}", "Accept": "text/plain"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.text
