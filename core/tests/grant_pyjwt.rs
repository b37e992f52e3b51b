//! Maskinporten grants checked by an independent implementation: PyJWT verifies the signature
//! with the certificate's public key, and each claim is checked one by one against Maskinporten's
//! JWT grant docs and what the IP sends (efm-common `JwtTokenClient`, IP `ClaimsFactory`).

mod common;

use common::{fixture, python, temp_dir, Ca, Issue};
use efm_core::auth::grant::{GrantSigner, KeyReference, GRANT_LIFETIME_SECS};
use efm_core::auth::TokenRequest;
use efm_core::config::SystemUser;
use efm_core::crypto::keys::Identity;
use serde_json::json;

const CHECK: &str = r#"
import sys, json, base64, uuid, time
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

token, cert_path, expect_path = sys.argv[1:4]
expect = json.load(open(expect_path))
cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())

header = jwt.get_unverified_header(token)
assert header["alg"] == "RS256", header
if expect["mode"] == "x5c":
    assert set(header) == {"alg", "x5c"}, header
    assert isinstance(header["x5c"], list) and len(header["x5c"]) == 1, header
    # Standard base64 (not base64url), the DER of our leaf certificate.
    der = base64.b64decode(header["x5c"][0], validate=True)
    assert der == cert.public_bytes(serialization.Encoding.DER)
    key = x509.load_der_x509_certificate(der).public_key()
else:
    assert set(header) == {"alg", "kid"}, header
    assert header["kid"] == expect["kid"], header
    key = cert.public_key()

claims = jwt.decode(token, key, algorithms=["RS256"], audience=expect["aud"],
                    options={"require": ["aud", "iss", "scope", "jti", "iat", "exp"]})

def no_nulls(v, path="claims"):
    if v is None:
        raise AssertionError("null at " + path)
    if isinstance(v, dict):
        for k, x in v.items():
            no_nulls(x, path + "." + k)
    if isinstance(v, list):
        for i, x in enumerate(v):
            no_nulls(x, "%s[%d]" % (path, i))
no_nulls(claims)

assert set(claims) == set(expect["claims"]), (sorted(claims), expect["claims"])
assert isinstance(claims["aud"], str) and claims["aud"] == expect["aud"], claims["aud"]
assert claims["iss"] == expect["iss"]
assert claims["scope"] == expect["scope"], claims["scope"]
assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
assert 0 < claims["exp"] - claims["iat"] <= 120, claims
assert abs(claims["iat"] - time.time()) < 60, claims["iat"]
j = uuid.UUID(claims["jti"])
assert j.version == 4 and str(j) == claims["jti"], claims["jti"]
if "resource" in expect:
    assert claims["resource"] == expect["resource"]
if "consumer_org" in expect:
    assert claims["consumer_org"] == expect["consumer_org"]
if "authorization_details" in expect:
    ad = claims["authorization_details"]
    ref = json.load(open(expect["reference"]))["authorization_details"]
    assert isinstance(ad, list) and len(ad) == 1, ad
    # Same shape as the integration point's claim: the same members, nested the same way.
    assert set(ad[0]) == set(ref[0]), (ad[0], ref[0])
    assert set(ad[0]["systemuser_org"]) == set(ref[0]["systemuser_org"])
    assert ad == expect["authorization_details"], ad
print(claims["jti"])
"#;

struct Setup {
    dir: std::path::PathBuf,
    identity: Identity,
    cert_path: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = temp_dir("grant");
    let ca = Ca::new();
    let (cert, key) = ca.issue(Issue::org("910075918"));
    let (cert_path, _) = common::write_pem(&dir, "me", &cert, &key);
    Setup {
        identity: Identity::new(cert, key, vec![]).unwrap(),
        dir,
        cert_path,
    }
}

fn check(s: &Setup, token: &str, expect: serde_json::Value) -> String {
    let path = s.dir.join(format!("expect-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, expect.to_string()).unwrap();
    python(
        CHECK,
        &[token, s.cert_path.to_str().unwrap(), path.to_str().unwrap()],
    )
    .trim()
    .to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn x5c_grant_with_only_required_claims() {
    let s = setup();
    let signer = GrantSigner::new(
        "MOVE_IP_910075918",
        "https://test.maskinporten.no/",
        &s.identity,
        KeyReference::Certificate,
    )
    .unwrap();
    let request = TokenRequest::for_scopes(&["move/dpo.read", "eformidling:dpo"]);
    let grant = signer.sign(&request, now()).unwrap();
    assert_eq!(grant.expires_at() - grant.issued_at(), GRANT_LIFETIME_SECS);
    let jti = check(
        &s,
        grant.assertion(),
        json!({
            "mode": "x5c",
            "aud": "https://test.maskinporten.no/",
            "iss": "MOVE_IP_910075918",
            "scope": "eformidling:dpo move/dpo.read",
            "claims": ["aud", "iss", "scope", "jti", "iat", "exp"],
        }),
    );
    assert_eq!(jti, grant.jti());
    // Every grant has its own jti.
    let again = signer.sign(&request, now()).unwrap();
    assert_ne!(again.jti(), grant.jti());
    assert!(!format!("{grant:?}").contains(grant.assertion()));
}

#[test]
fn kid_grant_with_system_user_resource_and_consumer_org() {
    let s = setup();
    let signer = GrantSigner::new(
        "0a1b2c3d-client",
        "http://127.0.0.1:7450/maskinporten/",
        &s.identity,
        KeyReference::Kid("my-registered-key".into()),
    )
    .unwrap();
    let mut request = TokenRequest::for_system_user(
        &["altinn:broker.read"],
        &SystemUser {
            org_id: "0192:311780735".into(),
            name: "externalref".into(),
        },
    );
    request.resource = Some("https://broker.example/api".into());
    request.consumer_org = Some("0192:910075918".into());
    let grant = signer.sign(&request, now()).unwrap();
    check(
        &s,
        grant.assertion(),
        json!({
            "mode": "kid",
            "kid": "my-registered-key",
            "aud": "http://127.0.0.1:7450/maskinporten/",
            "iss": "0a1b2c3d-client",
            "scope": "altinn:broker.read",
            "resource": "https://broker.example/api",
            "consumer_org": "910075918",
            "claims": ["aud", "iss", "scope", "jti", "iat", "exp", "resource", "consumer_org", "authorization_details"],
            "reference": fixture("altinn-broker-v3/examples/maskinporten-grant-authorization_details.json"),
            "authorization_details": [{
                "type": "urn:altinn:systemuser",
                "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": "0192:311780735"},
                "externalRef": "externalref",
            }],
        }),
    );
}

#[test]
fn a_grant_from_another_key_fails_pyjwt() {
    // The check above must be able to fail: a grant signed with a key that is not the
    // certificate's is rejected by PyJWT.
    let s = setup();
    let ca = Ca::new();
    let (other_cert, other_key) = ca.issue(Issue::org("910075918"));
    let other = Identity::new(other_cert, other_key, vec![]).unwrap();
    let signer =
        GrantSigner::new("c", "https://aud/", &other, KeyReference::Kid("k".into())).unwrap();
    let grant = signer
        .sign(&TokenRequest::for_scopes(&["s"]), now())
        .unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sys, jwt\nfrom cryptography import x509\nc = x509.load_pem_x509_certificate(open(sys.argv[2],'rb').read())\ntry:\n    jwt.decode(sys.argv[1], c.public_key(), algorithms=['RS256'], audience='https://aud/')\nexcept jwt.InvalidSignatureError:\n    print('rejected')\n")
        .arg(grant.assertion())
        .arg(&s.cert_path)
        .output()
        .expect("python3 with PyJWT must be on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "rejected");
}

#[test]
fn bad_requests_are_refused_clearly() {
    let s = setup();
    let signer =
        GrantSigner::new("c", "https://aud/", &s.identity, KeyReference::Certificate).unwrap();
    let e = signer.sign(&TokenRequest::default(), now()).unwrap_err();
    assert!(e.message().contains("scope"), "{e}");
    let mut r = TokenRequest::for_scopes(&["s"]);
    r.consumer_org = Some("123".into());
    let e = signer.sign(&r, now()).unwrap_err();
    assert!(e.message().contains("consumer_org"), "{e}");
    assert!(GrantSigner::new("", "https://aud/", &s.identity, KeyReference::Certificate).is_err());
    assert!(GrantSigner::new(
        "c",
        "https://aud/",
        &s.identity,
        KeyReference::Kid(" ".into())
    )
    .is_err());
}
