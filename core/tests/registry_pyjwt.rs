//! Service Registry answers signed by an independent implementation (PyJWT) with a key published
//! in a JWK set: accepted when genuine, refused when one byte changes, when signed by another
//! key, with `none` or with HS256. Served by a minimal HTTP stand-in so the signer is PyJWT, not
//! our own code or the sandbox.

mod common;

use common::{python, temp_dir, write_pem, Ca, Issue};
use efm_core::auth::Tokens;
use efm_core::config::Config;
use efm_core::http::{Http, RetryPolicy};
use efm_core::ident::OrgNumber;
use efm_core::registry::Registry;
use efm_core::ErrorKind;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

const RECEIVER: &str = "910076787";
const TOKEN: &str = "fake-maskinporten-token-0123456789";

const SIGN: &str = r#"
import sys, json, jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

orgnr = sys.argv[1]
pems = {name: open(path).read() for name, path in (a.split("=", 1) for a in sys.argv[2:])}
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

def jwk(k, kid):
    j = json.loads(RSAAlgorithm.to_jwk(k.public_key()))
    j.update(kid=kid, use="sig", alg="RS256")
    return j

# The signing key is listed second: it must be found by kid.
jwks = {"keys": [jwk(other, "sr-key-0"), jwk(key, "sr-key-1")]}

def entity(variant, pem_name="good"):
    pem = pems[pem_name]
    return json.dumps({
        "infoRecord": {"identifier": orgnr, "organizationName": "PYJWT TEST", "postadresse": None,
                       "entityType": {"name": "ORGL"}},
        "serviceRecords": [{
            "organisationNumber": orgnr,
            "pemCertificate": pem,
            "process": "urn:no:difi:profile:test:%s:ver1.0" % variant,
            "documentTypes": ["urn:no:difi:arkivmelding:xsd::arkivmelding"],
            "service": {"identifier": "DPO", "endpointUrl": "https://altinn.example", "serviceCode": "4192",
                        "serviceEditionCode": "270815", "securityLevel": None,
                        "resource": "eformidling-dpo-meldingsutveksling"},
        }],
    }).encode()

sign = lambda payload, k, alg, headers: jwt.api_jws.encode(payload, k, algorithm=alg, headers=headers)
answers = {
    "good": sign(entity("good"), key, "RS256", {"kid": "sr-key-1"}),
    "tampered": sign(entity("tampered"), key, "RS256", {"kid": "sr-key-1"}),
    "otherkey": sign(entity("otherkey"), other, "RS256", {"kid": "sr-key-1"}),
    "hs256": sign(entity("hs256"), b"a-shared-secret-of-at-least-32-bytes!", "HS256", {"kid": "sr-key-1"}),
    "none": sign(entity("none"), None, "none", {"kid": "sr-key-1"}),
    "expired": sign(entity("expired", "expired"), key, "RS256", {"kid": "sr-key-1"}),
    "signonly": sign(entity("signonly", "signonly"), key, "RS256", {"kid": "sr-key-1"}),
    "ec": sign(entity("ec", "ec"), key, "RS256", {"kid": "sr-key-1"}),
}
print(json.dumps({"jwks": jwks, "answers": answers}))
"#;

/// Change one byte in the middle of the payload part of a compact JWS.
fn change_one_byte(jws: &str) -> String {
    let parts: Vec<&str> = jws.split('.').collect();
    let mut p = parts[1].as_bytes().to_vec();
    let i = p.len() / 2;
    p[i] = if p[i] == b'x' { b'y' } else { b'x' };
    format!(
        "{}.{}.{}",
        parts[0],
        String::from_utf8(p).unwrap(),
        parts[2]
    )
}

/// A loopback stand-in for Maskinporten and the registry: fixed answers by path.
fn serve(routes: HashMap<String, (u16, &'static str, String)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut len = 0usize;
            let mut authorised = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line.trim_end() == format!("Authorization: Bearer {TOKEN}")
                    || lower.trim_end()
                        == format!("authorization: bearer {}", TOKEN.to_ascii_lowercase())
                {
                    authorised = true;
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            let (status, ctype, text) = match routes.get(&path) {
                Some(r) if authorised || path.ends_with("/jwk") || path.ends_with("/token") => {
                    r.clone()
                }
                Some(_) => (401, "application/json", String::new()),
                None => (
                    404,
                    "application/json",
                    json!({"error_code": "", "error_description": format!("no route {path}")})
                        .to_string(),
                ),
            };
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    base
}

#[test]
fn pyjwt_signed_answers() {
    let dir = temp_dir("registry-pyjwt");
    let ca = Ca::new();
    let (my_cert, my_key) = ca.issue(Issue::org("910075918"));
    let (cert_path, key_path) = write_pem(&dir, "me", &my_cert, &my_key);
    let (their_cert, their_key) = ca.issue(Issue::org(RECEIVER));
    let (their_cert_path, _) = write_pem(&dir, "them", &their_cert, &their_key);
    // Certificates a sender must not encrypt to: expired, signing-only, not RSA.
    let (expired, k) = ca.issue(Issue {
        from_days: -400,
        to_days: -1,
        ..Issue::org(RECEIVER)
    });
    let (expired_path, _) = write_pem(&dir, "expired", &expired, &k);
    let mut sign_only = openssl::x509::extension::KeyUsage::new();
    sign_only.critical().digital_signature().non_repudiation();
    let (signonly, k) = ca.issue(Issue {
        key_usage: Some(sign_only),
        ..Issue::org(RECEIVER)
    });
    let (signonly_path, _) = write_pem(&dir, "signonly", &signonly, &k);
    let ec_key = openssl::pkey::PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let (ec, k) = ca.issue(Issue {
        key: Some(ec_key),
        ..Issue::org(RECEIVER)
    });
    let (ec_path, _) = write_pem(&dir, "ec", &ec, &k);

    let arg = |name: &str, p: &std::path::Path| format!("{name}={}", p.display());
    let out: Value = serde_json::from_str(
        python(
            SIGN,
            &[
                RECEIVER,
                &arg("good", &their_cert_path),
                &arg("expired", &expired_path),
                &arg("signonly", &signonly_path),
                &arg("ec", &ec_path),
            ],
        )
        .trim(),
    )
    .unwrap();
    let answer = |v: &str| out["answers"][v].as_str().unwrap().to_string();

    let mut routes: HashMap<String, (u16, &'static str, String)> = HashMap::new();
    routes.insert(
        "/mp/token".into(),
        (
            200,
            "application/json",
            json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 600}).to_string(),
        ),
    );
    routes.insert(
        "/sr/jwk".into(),
        (200, "application/json", out["jwks"].to_string()),
    );
    for variant in [
        "good", "otherkey", "hs256", "none", "expired", "signonly", "ec",
    ] {
        routes.insert(
            format!("/sr/identifier/{RECEIVER}/process/urn:no:difi:profile:test:{variant}:ver1.0"),
            (200, "application/jose", answer(variant)),
        );
    }
    routes.insert(
        format!("/sr/identifier/{RECEIVER}/process/urn:no:difi:profile:test:tampered:ver1.0"),
        (
            200,
            "application/jose",
            change_one_byte(&answer("tampered")),
        ),
    );
    // The genuine answer served as plain JSON (what a registry without signing would send).
    let good_payload =
        efm_core::auth::jws::b64url_decode(answer("good").split('.').nth(1).unwrap()).unwrap();
    routes.insert(
        format!("/sr/identifier/{RECEIVER}/process/urn:no:difi:profile:test:plain:ver1.0"),
        (
            200,
            "application/json",
            String::from_utf8(good_payload)
                .unwrap()
                .replace(":good:", ":plain:"),
        ),
    );
    // Error answers are unsigned JSON even when labelled application/jose (quirk 11): the status
    // decides.
    routes.insert(
        "/sr/identifier/974720760".into(),
        (
            404,
            "application/jose",
            json!({"error_code": "", "error_description": "Entity with identifier '974720760' not found."}).to_string(),
        ),
    );
    routes.insert(
        format!("/sr/identifier/{RECEIVER}/process/urn:no:difi:profile:test:level4:ver1.0"),
        (
            400,
            "application/jose",
            json!({"error_code": "", "error_description": "security level not found"}).to_string(),
        ),
    );
    let base = serve(routes);

    let config = Config::from_json(
        &json!({
            "organisation_number": "910075918",
            "environment": "sandbox",
            "sandbox_url": base,
            "urls": {"maskinporten_token": format!("{base}/mp/token"), "service_registry": format!("{base}/sr")},
            "credentials": {"client_id": "MOVE_IP_910075918", "certificate_pem": cert_path, "private_key_pem": key_path},
            "data_dir": dir.join("data"),
        })
        .to_string(),
    )
    .unwrap();
    let http = Http::new(&config).unwrap();
    let mut registry = Registry::new(
        &config,
        http.clone(),
        Arc::new(Tokens::new(&config, http).unwrap()),
    );
    registry.set_retry_policy(RetryPolicy::NONE);
    let receiver = OrgNumber::parse(RECEIVER).unwrap();
    let process = |v: &str| format!("urn:no:difi:profile:test:{v}:ver1.0");

    // Genuine: accepted, parsed, certificate checked.
    let record = registry.dpo_record(&receiver, &process("good")).unwrap();
    assert_eq!(
        record.certificate.to_der().unwrap(),
        their_cert.to_der().unwrap()
    );
    assert_eq!(record.service_code.as_deref(), Some("4192"));
    assert_eq!(
        record.resource.as_deref(),
        Some("eformidling-dpo-meldingsutveksling")
    );
    let caps = registry.lookup(&receiver, Some(&process("good"))).unwrap();
    assert_eq!(caps.organisation_name.as_deref(), Some("PYJWT TEST"));
    assert_eq!(caps.postal_address, None);

    for (variant, why) in [
        ("tampered", "does not verify"),
        ("otherkey", "does not verify"),
        ("hs256", "HS256"),
        ("none", "none"),
        ("plain", "unsigned"),
    ] {
        let e = registry
            .lookup(&receiver, Some(&process(variant)))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SignatureInvalid, "{variant}: {e}");
        assert!(e.message().contains(why), "{variant}: {e}");
    }

    // Receiver certificates that must not be encrypted to: the lookup shows the problem, the DPO
    // record is refused.
    // A certificate without keyEncipherment is still used, as the integration point does.
    let record = registry
        .dpo_record(&receiver, &process("signonly"))
        .expect("a receiver certificate lacking keyEncipherment is still encrypted to");
    assert_eq!(record.organisation_number.as_str(), RECEIVER);

    for (variant, why) in [("expired", "expired"), ("ec", "no RSA key")] {
        let caps = registry.lookup(&receiver, Some(&process(variant))).unwrap();
        let problem = caps.capabilities[0]
            .certificate_problem
            .clone()
            .unwrap_or_default();
        assert!(problem.contains(why), "{variant}: {problem}");
        let e = registry
            .dpo_record(&receiver, &process(variant))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CertificateInvalid, "{variant}: {e}");
        assert!(
            e.message().contains(why) && e.message().contains(RECEIVER),
            "{variant}: {e}"
        );
    }

    let e = registry
        .lookup(&OrgNumber::parse("974720760").unwrap(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverNotFound, "{e}");
    let e = registry
        .dpo_record(&receiver, &process("level4"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverLacksDpo, "{e}");
    assert_eq!(e.detail().http_status, Some(400));
    assert!(e.message().contains("security level not found"), "{e}");
}
