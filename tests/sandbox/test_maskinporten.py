"""Maskinporten stand-in: PyJWT-made grants are accepted; wrong ones get Maskinporten's errors."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from efm_sandbox_support import ORG_A, ORG_B


def error_of(r):
    body = r.json()
    return r.status_code, body["error"], body["error_description"]


def test_good_grant_gives_a_verifiable_token(sandbox):
    org = sandbox.org(ORG_A)
    r = sandbox.post_grant(sandbox.grant(org, sandbox.claims(org, "move/dpo.read eformidling:dpo")))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "move/dpo.read eformidling:dpo"
    # The access token verifies with PyJWT against the published key set.
    jwks = jwt.PyJWKClient(f"{sandbox.base_url}/maskinporten/jwk")
    key = jwks.get_signing_key_from_jwt(body["access_token"])
    claims = jwt.decode(
        body["access_token"], key.key, algorithms=["RS256"], audience="unspecified", issuer=sandbox.audience
    )
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{ORG_A}"}
    assert claims["client_id"] == org.client_id
    assert claims["exp"] > time.time()


def test_system_user_grant(sandbox):
    org = sandbox.org(ORG_A)
    claims = jwt.decode(sandbox.token(org, "altinn:broker.write", system_user=True), options={"verify_signature": False})
    detail = claims["authorization_details"][0]
    assert detail["type"] == "urn:altinn:systemuser"
    assert detail["systemuser_org"]["ID"] == f"0192:{ORG_A}"
    assert len(detail["systemuser_id"]) == 1


def test_bad_signature(sandbox):
    org = sandbox.org(ORG_A)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, error, desc = error_of(sandbox.post_grant(sandbox.grant(org, sandbox.claims(org, "move/dpo.read"), key=other)))
    assert (status, error) == (400, "invalid_grant")
    assert "MP-124" in desc


@pytest.mark.parametrize("aud_suffix", ["/maskinporten", "/maskinporten/token", "/"])
def test_wrong_audience(sandbox, aud_suffix):
    org = sandbox.org(ORG_A)
    claims = sandbox.claims(org, "move/dpo.read", aud=sandbox.base_url + aud_suffix)
    status, error, desc = error_of(sandbox.post_grant(sandbox.grant(org, claims)))
    assert (status, error) == (400, "invalid_grant")
    assert "MP-110" in desc and "aud" in desc


def test_replayed_jti(sandbox):
    org = sandbox.org(ORG_A)
    grant = sandbox.grant(org, sandbox.claims(org, "move/dpo.read"))
    assert sandbox.post_grant(grant).status_code == 200
    status, error, desc = error_of(sandbox.post_grant(grant))
    assert (status, error) == (400, "invalid_grant")
    assert "MP-012" in desc


def test_lifetime_over_120_seconds(sandbox):
    org = sandbox.org(ORG_A)
    now = int(time.time())
    status, error, desc = error_of(sandbox.post_grant(sandbox.grant(org, sandbox.claims(org, "move/dpo.read", iat=now, exp=now + 121))))
    assert (status, error) == (400, "invalid_grant")
    assert "120" in desc


def test_issued_in_the_future(sandbox):
    org = sandbox.org(ORG_A)
    now = int(time.time())
    status, error, desc = error_of(sandbox.post_grant(sandbox.grant(org, sandbox.claims(org, "move/dpo.read", iat=now + 60, exp=now + 120))))
    assert error == "invalid_grant" and "MP-130" in desc


def test_unknown_client(sandbox):
    org = sandbox.org(ORG_A)
    status, error, desc = error_of(sandbox.post_grant(sandbox.grant(org, sandbox.claims(org, "move/dpo.read", iss="MOVE_IP_123456789"))))
    assert (status, error) == (400, "invalid_grant")
    assert "MP-100" in desc


def test_certificate_of_another_organisation(sandbox):
    a, b = sandbox.org(ORG_A), sandbox.org(ORG_B)
    status, error, desc = error_of(sandbox.post_grant(sandbox.grant(b, sandbox.claims(a, "move/dpo.read"))))
    assert (status, error) == (400, "invalid_grant")
    assert "MP-120" in desc


def test_scope_not_allowed(sandbox):
    org = sandbox.org(ORG_A)
    status, error, desc = error_of(sandbox.post_grant(sandbox.grant(org, sandbox.claims(org, "move/dpo.read digitalpostinnbygger:send"))))
    assert (status, error) == (400, "invalid_scope")
    assert "MP-200" in desc and "digitalpostinnbygger:send" in desc


def test_system_user_not_registered(sandbox):
    org = sandbox.org(ORG_A)
    details = [{"type": "urn:altinn:systemuser",
                "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": f"0192:{ORG_A}"},
                "externalRef": "nobody"}]
    r = sandbox.post_grant(sandbox.grant(org, sandbox.claims(org, "altinn:broker.read", authorization_details=details)))
    status, error, desc = error_of(r)
    assert (status, error) == (400, "invalid_authorization_details")


def test_kid_grant_with_registered_key(sandbox):
    org = sandbox.org(ORG_A)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk["kid"] = "sandbox-test-key-1"
    sandbox.admin("POST", "/clients", {"client_id": org.client_id, "organisation_number": ORG_A, "jwk": jwk})
    grant = jwt.encode(sandbox.claims(org, "move/dpo.read"), key, algorithm="RS256", headers={"kid": "sandbox-test-key-1"})
    assert sandbox.post_grant(grant).status_code == 200
    grant = jwt.encode(sandbox.claims(org, "move/dpo.read"), key, algorithm="RS256", headers={"kid": "unknown"})
    status, error, _ = error_of(sandbox.post_grant(grant))
    assert (status, error) == (400, "invalid_grant")
