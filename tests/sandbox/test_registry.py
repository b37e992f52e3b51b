"""Service Registry stand-in: signed answers verify with PyJWT against /jwk; a flipped byte fails."""

import base64
import json

import jwt
import pytest
import requests
from cryptography import x509

from efm_sandbox_support import ORG_A, ORG_B

ADMIN = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"


def lookup(sandbox, path, token, accept="application/jose, application/json"):
    return requests.get(
        f"{sandbox.base_url}/serviceregistry{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": accept},
        timeout=30,
    )


def test_signed_answer_verifies_and_tampering_fails(sandbox):
    a, b = sandbox.org(ORG_A), sandbox.org(ORG_B)
    token = sandbox.token(a, "move/dpo.read")
    r = lookup(sandbox, f"/identifier/{ORG_B}/process/{ADMIN}", token)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/jose")
    jwks = requests.get(f"{sandbox.base_url}/serviceregistry/jwk", timeout=30).json()
    key = jwt.PyJWK(jwks["keys"][0])
    header = jwt.get_unverified_header(r.text)
    assert header["alg"] == "RS256" and header["kid"] == jwks["keys"][0]["kid"]
    body = jwt.api_jws.decode(r.text, key.key, algorithms=["RS256"])
    record = json.loads(body)
    sr = record["serviceRecords"][0]
    assert sr["process"] == ADMIN and sr["service"]["identifier"] == "DPO"
    cert = x509.load_pem_x509_certificate(sr["pemCertificate"].encode())
    assert cert.public_bytes(encoding=__import__("cryptography").hazmat.primitives.serialization.Encoding.DER) == b.cert_der
    # Flip one byte of the payload: verification must fail.
    h, p, s = r.text.split(".")
    raw = bytearray(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    raw[5] ^= 0x01
    tampered = ".".join([h, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(), s])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.api_jws.decode(tampered, key.key, algorithms=["RS256"])


def test_plain_json_and_errors(sandbox):
    a = sandbox.org(ORG_A)
    token = sandbox.token(a, "move/dpo.read")
    r = lookup(sandbox, f"/identifier/{ORG_B}", token, accept="application/json")
    assert r.status_code == 200
    processes = [s["process"] for s in r.json()["serviceRecords"]]
    assert ADMIN in processes and "urn:no:difi:profile:arkivmelding:response:ver1.0" in processes
    r = lookup(sandbox, "/identifier/404040404", token)
    assert r.status_code == 404
    assert r.json() == {"error_code": "", "error_description": "Entity with identifier '404040404' not found."}
    r = lookup(sandbox, f"/identifier/{ORG_B}/process/urn:no:difi:profile:x:ver1.0", token)
    assert r.status_code == 404 and "not found for receiver" in r.json()["error_description"]
    r = requests.get(f"{sandbox.base_url}/serviceregistry/identifier/{ORG_B}", timeout=30)
    assert r.status_code == 401 and r.text == "" and r.headers["www-authenticate"].startswith("Bearer")
