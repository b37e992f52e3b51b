//! The Service Registry stand-in: records with each organisation's certificate, signed answers,
//! bearer tokens required, errors in the registry's format.

mod common;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;
use serde_json::Value;

fn get(url: &str, token: Option<&str>, accept: &str) -> (u16, String, String) {
    let mut req = agent().get(url).header("Accept", accept);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        r.status().as_u16(),
        ct,
        r.body_mut().read_to_string().unwrap(),
    )
}

const ADMIN: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";

#[test]
fn process_lookup_returns_dpo_record_with_certificate() {
    let sb = start("sr-json");
    let a = org(&sb, ORG_A);
    let t = token(&a, "move/dpo.read");
    let url = format!(
        "{}/identifier/{ORG_B}/process/{ADMIN}",
        a.config.urls.service_registry
    );
    let (s, ct, body) = get(&url, Some(&t), "application/json");
    assert_eq!(s, 200, "{body}");
    assert!(ct.starts_with("application/json"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["infoRecord"]["identifier"], ORG_B);
    let recs = v["serviceRecords"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r["process"], ADMIN);
    assert_eq!(r["service"]["identifier"], "DPO");
    assert_eq!(r["service"]["serviceCode"], "4192");
    assert_eq!(
        r["documentTypes"][0],
        "urn:no:difi:arkivmelding:xsd::arkivmelding"
    );
    let cert = X509::from_pem(r["pemCertificate"].as_str().unwrap().as_bytes()).unwrap();
    let b = org(&sb, ORG_B);
    assert_eq!(
        cert.to_der().unwrap(),
        b.identity.certificate.to_der().unwrap()
    );

    // All records, and the response process.
    let (s, _, body) = get(
        &format!("{}/identifier/0192:{ORG_B}", a.config.urls.service_registry),
        Some(&t),
        "application/json",
    );
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let procs: Vec<&str> = v["serviceRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["process"].as_str().unwrap())
        .collect();
    assert!(procs.contains(&ADMIN));
    assert!(procs.contains(&"urn:no:difi:profile:arkivmelding:response:ver1.0"));

    let (s, _, body) = get(
        &format!("{}/info/{ORG_B}", a.config.urls.service_registry),
        Some(&t),
        "application/json",
    );
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["serviceRecords"].as_array().unwrap().len(), 0);
}

#[test]
fn jose_answer_verifies_against_jwk_and_a_flipped_byte_fails() {
    let sb = start("sr-jose");
    let a = org(&sb, ORG_A);
    let t = token(&a, "move/dpo.read");
    let url = format!(
        "{}/identifier/{ORG_C}/process/{ADMIN}",
        a.config.urls.service_registry
    );
    let (s, ct, jws) = get(&url, Some(&t), "application/jose, application/json");
    assert_eq!(s, 200);
    assert_eq!(ct, "application/jose");
    let (_, _, jwks) = get(
        &format!("{}/jwk", a.config.urls.service_registry),
        None,
        "application/json",
    );
    let jwks: Value = serde_json::from_str(&jwks).unwrap();
    let key = &jwks["keys"][0];
    // Build the key from x5c and check n matches.
    let cert = X509::from_der(&STANDARD.decode(key["x5c"][0].as_str().unwrap()).unwrap()).unwrap();
    let pk = cert.public_key().unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.encode(pk.rsa().unwrap().n().to_vec()),
        key["n"].as_str().unwrap()
    );
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], key["kid"]);
    let verify = |input: &str, sig: &[u8]| {
        let mut v = Verifier::new(MessageDigest::sha256(), &pk).unwrap();
        v.verify_oneshot(sig, input.as_bytes()).unwrap()
    };
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert!(verify(&format!("{}.{}", parts[0], parts[1]), &sig));
    let body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(body["serviceRecords"][0]["organisationNumber"], ORG_C);
    let mut bad = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    bad[10] ^= 1;
    assert!(!verify(
        &format!("{}.{}", parts[0], URL_SAFE_NO_PAD.encode(&bad)),
        &sig
    ));
}

#[test]
fn errors_in_registry_format() {
    let sb = start("sr-err");
    let a = org(&sb, ORG_A);
    let t = token(&a, "move/dpo.read");
    let base = &a.config.urls.service_registry;

    let (s, _, body) = get(
        &format!("{base}/identifier/404040404"),
        Some(&t),
        "application/jose",
    );
    assert_eq!(s, 404);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error_code"], "");
    assert_eq!(
        v["error_description"],
        "Entity with identifier '404040404' not found."
    );

    let (s, _, body) = get(
        &format!("{base}/identifier/{ORG_B}/process/urn:no:difi:profile:nope:ver1.0"),
        Some(&t),
        "application/json",
    );
    assert_eq!(s, 404);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["error_description"],
        format!("Process urn:no:difi:profile:nope:ver1.0 not found for receiver {ORG_B}")
    );

    let (s, _, body) = get(
        &format!("{base}/identifier/abc"),
        Some(&t),
        "application/json",
    );
    assert_eq!(s, 400, "{body}");

    let (s, _, body) = get(
        &format!("{base}/info/404040404"),
        Some(&t),
        "application/json",
    );
    assert_eq!((s, body.as_str()), (404, ""));

    // No token, a forged token.
    let (s, _, body) = get(
        &format!("{base}/identifier/{ORG_B}"),
        None,
        "application/json",
    );
    assert_eq!((s, body.as_str()), (401, ""));
    let mut forged = t.clone();
    forged.replace_range(forged.len() - 6.., "AAAAAA");
    let (s, _, _) = get(
        &format!("{base}/identifier/{ORG_B}"),
        Some(&forged),
        "application/json",
    );
    assert_eq!(s, 401);
}

#[test]
fn virksert_gives_the_certificate() {
    let sb = start("sr-virksert");
    let a = org(&sb, ORG_A);
    let t = token(&a, "move/dpo.read");
    let (s, ct, body) = get(
        &format!("{}/virksert/{ORG_B}", a.config.urls.service_registry),
        Some(&t),
        "text/plain",
    );
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/plain"));
    let cert = X509::from_pem(body.as_bytes()).unwrap();
    assert_eq!(
        cert.to_der().unwrap(),
        org(&sb, ORG_B).identity.certificate.to_der().unwrap()
    );
    let (s, _, body) = get(
        &format!("{}/virksert/404040404", a.config.urls.service_registry),
        Some(&t),
        "text/plain",
    );
    assert_eq!(s, 404);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error_code"], "certificate_not_found");
}
