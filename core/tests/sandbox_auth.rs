//! Maskinporten, the Altinn token exchange and the Service Registry, end to end against
//! efm-sandbox: the happy paths and each error a user can meet.

mod common;

use common::{
    admin, fault, python, sandbox, sandbox_config, sandbox_config_json, Ca, Issue, ORG_A, ORG_B,
};
use efm_core::auth::grant::GrantSigner;
use efm_core::auth::maskinporten::{request_token, Caller};
use efm_core::auth::{TokenRequest, Tokens, SCOPE_BROKER_READ, SCOPE_BROKER_WRITE};
use efm_core::config::Config;
use efm_core::crypto::keys::Identity;
use efm_core::http::{Http, RetryPolicy};
use efm_core::ident::OrgNumber;
use efm_core::registry::{Registry, DEFAULT_PROCESS, RESPONSE_PROCESS};
use efm_core::{Error, ErrorKind};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
    }
}

fn tokens(config: &Config) -> Arc<Tokens> {
    let mut t = Tokens::new(config, Http::new(config).unwrap()).unwrap();
    t.set_retry_policy(quick_retries());
    Arc::new(t)
}

fn registry(config: &Config) -> Registry {
    let mut r = Registry::new(config, Http::new(config).unwrap(), tokens(config));
    r.set_retry_policy(quick_retries());
    r
}

fn org(n: &str) -> OrgNumber {
    OrgNumber::parse(n).unwrap()
}

/// No secret of ours may show in an error a user sees.
fn assert_no_secret(e: &Error, secrets: &[&str]) {
    let shown = format!("{e} {e:?} {}", e.detail_json());
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !shown.contains(s),
            "a secret leaked into the error: {shown}"
        );
        // Nor any one part of a JWS (its signature alone is enough to recognise it).
        for part in s.split('.').filter(|p| p.len() > 16) {
            assert!(!shown.contains(part), "part of a secret leaked: {shown}");
        }
    }
}

#[test]
fn tokens_are_fetched_cached_and_refreshed() {
    let sb = sandbox("tokens");
    let config = sandbox_config(&sb, ORG_A);
    let t = tokens(&config);
    let req = TokenRequest::for_scopes(&config.registry_scopes);
    let first = t.maskinporten(&req).unwrap();
    assert!(first.remaining() > Duration::from_secs(30));
    // Reused while fresh, also from other threads.
    let same: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            let req = req.clone();
            std::thread::spawn(move || t.maskinporten(&req).unwrap())
        })
        .collect();
    for h in same {
        assert!(
            h.join().unwrap().secret() == first.secret(),
            "token not reused"
        );
    }
    // Another scope set is another token (the default is eformidling:dpo, so ask for the
    // legacy scope).
    let other = t
        .maskinporten(&TokenRequest::for_scopes(&["move/dpo.read"]))
        .unwrap();
    // assert!, not assert_ne!: a failure must not print the tokens.
    assert!(
        other.secret() != first.secret(),
        "one token for two scope sets"
    );
    // A 401 elsewhere: invalidate once, the next call gets a new token.
    t.invalidate_maskinporten(&req, &first);
    let second = t.maskinporten(&req).unwrap();
    assert!(
        second.secret() != first.secret(),
        "the invalidated token came back"
    );
    // Invalidating with the old token again keeps the new one.
    t.invalidate_maskinporten(&req, &first);
    assert!(
        t.maskinporten(&req).unwrap().secret() == second.secret(),
        "a stale invalidation dropped the new token"
    );
}

#[test]
fn concurrent_callers_share_one_token_request() {
    let sb = sandbox("singleflight");
    let config = sandbox_config(&sb, ORG_A);
    let t = tokens(&config);
    // Slow the token endpoint so the callers really overlap.
    fault(
        &sb,
        "/maskinporten/token",
        json!({"kind": "slow", "delay_ms": 500}),
        8,
    );
    let req = TokenRequest::for_scopes(&["move/dpo.read"]);
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let t = t.clone();
            let req = req.clone();
            std::thread::spawn(move || t.maskinporten(&req).unwrap().secret().to_string())
        })
        .collect();
    let got: std::collections::BTreeSet<String> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got.len(), 1, "all callers got the one token");
}

#[test]
fn altinn_token_for_the_system_user() {
    let sb = sandbox("altinn");
    let config = sandbox_config(&sb, ORG_A);
    let t = tokens(&config);
    let read = TokenRequest::for_system_user(&[SCOPE_BROKER_READ], &config.system_user);
    let token = t.altinn(&read).unwrap();
    // Its lifetime comes from its own exp (the sandbox gives about 30 minutes).
    assert!(token.remaining() > Duration::from_secs(600), "{token:?}");
    assert_eq!(t.altinn(&read).unwrap().secret(), token.secret());
    let write = TokenRequest::for_system_user(&[SCOPE_BROKER_WRITE], &config.system_user);
    assert_ne!(t.altinn(&write).unwrap().secret(), token.secret());
    // The exchanged token carries the system user (decoded by PyJWT, signature not checked).
    let out = python(
        "import sys, jwt, json\nc = jwt.decode(sys.argv[1], options={'verify_signature': False})\nprint(json.dumps(c))",
        &[token.secret()],
    );
    let claims: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        claims["authorization_details"][0]["systemuser_org"]["ID"],
        "0192:910075918"
    );
    assert_eq!(claims["urn:altinn:orgNumber"], ORG_A);

    // An exchange failing with 401 twice: a fresh Maskinporten token is tried once, then a clear error.
    t.clear();
    fault(
        &sb,
        "/authentication/api/v1/exchange/maskinporten",
        json!({"kind": "status", "status": 401}),
        2,
    );
    let e = t.altinn(&read).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    assert_eq!(e.detail().http_status, Some(401));
    // And with the fault gone it works again (nothing bad was cached).
    assert!(t.altinn(&read).is_ok());
}

#[test]
fn unknown_client_is_named() {
    let sb = sandbox("unknown-client");
    let mut v = sandbox_config_json(&sb, ORG_A);
    v["credentials"]["client_id"] = json!("MOVE_IP_974720760");
    let config = Config::from_json(&v.to_string()).unwrap();
    let e = tokens(&config)
        .maskinporten(&TokenRequest::for_scopes(&["move/dpo.read"]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthInvalidClient, "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("MP-100"));
    assert_eq!(e.detail().http_status, Some(400));
    assert!(e.message().contains("MOVE_IP_974720760"), "{e}");
    assert!(e.message().contains("credentials.client_id"), "{e}");
    assert!(!e.retryable());

    // The grant itself never appears in the error.
    let identity = Identity::load(&config.credentials.key).unwrap();
    let signer = GrantSigner::from_config(&config, &identity).unwrap();
    let grant = signer
        .sign(&TokenRequest::for_scopes(&["move/dpo.read"]), now())
        .unwrap();
    let http = Http::new(&config).unwrap();
    let caller = Caller {
        client_id: signer.client_id(),
        audience: signer.audience(),
        scopes: "move/dpo.read",
    };
    let e = request_token(&http, &config.urls.maskinporten_token, &grant, &caller).unwrap_err();
    assert_no_secret(&e, &[grant.assertion()]);
}

#[test]
fn wrong_certificate_is_not_registered() {
    let sb = sandbox("wrong-cert");
    let config = sandbox_config(&sb, ORG_A);
    // A certificate for the right organisation, from a CA the client never registered.
    let ca = Ca::new();
    let (cert, key) = ca.issue(Issue::org(ORG_A));
    let identity = Identity::new(cert, key, vec![]).unwrap();
    let mut t = Tokens::with_identity(&config, Http::new(&config).unwrap(), &identity).unwrap();
    t.set_retry_policy(quick_retries());
    let e = t
        .maskinporten(&TokenRequest::for_scopes(&["move/dpo.read"]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthCertificateNotRegistered, "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("MP-120"));
    assert!(e.message().contains("register"), "{e}");
}

#[test]
fn kid_mode_with_a_registered_key() {
    let sb = sandbox("kid");
    let identity = Identity::load(&sandbox_config(&sb, ORG_A).credentials.key).unwrap();
    let rsa = identity.private_key.rsa().unwrap();
    let b64 = |b: Vec<u8>| efm_core::auth::jws::b64url(&b);
    admin(
        &sb,
        "/admin/clients",
        json!({
            "client_id": "kid-client-910075918",
            "organisation_number": ORG_A,
            "jwk": {"kty": "RSA", "kid": "efm-test-key", "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec())},
        }),
    );
    let mut v = sandbox_config_json(&sb, ORG_A);
    v["credentials"]["client_id"] = json!("kid-client-910075918");
    v["credentials"]["kid"] = json!("efm-test-key");
    let config = Config::from_json(&v.to_string()).unwrap();
    let token = tokens(&config)
        .maskinporten(&TokenRequest::for_scopes(&["move/dpo.read"]))
        .unwrap();
    assert!(token.remaining() > Duration::from_secs(30));
    // And the registry accepts that token too.
    let mut r = Registry::new(&config, Http::new(&config).unwrap(), tokens(&config));
    r.set_retry_policy(quick_retries());
    assert!(r.lookup(&org(ORG_B), None).is_ok());

    // A kid the client does not have.
    v["credentials"]["kid"] = json!("some-other-key");
    let config = Config::from_json(&v.to_string()).unwrap();
    let e = tokens(&config)
        .maskinporten(&TokenRequest::for_scopes(&["move/dpo.read"]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthCertificateNotRegistered, "{e}");
}

#[test]
fn clock_skew_expiry_and_replay() {
    let sb = sandbox("clock");
    let config = sandbox_config(&sb, ORG_A);
    let identity = Identity::load(&config.credentials.key).unwrap();
    let signer = GrantSigner::from_config(&config, &identity).unwrap();
    let http = Http::new(&config).unwrap();
    let caller = Caller {
        client_id: signer.client_id(),
        audience: signer.audience(),
        scopes: "move/dpo.read",
    };
    let req = TokenRequest::for_scopes(&["move/dpo.read"]);
    let url = &config.urls.maskinporten_token;

    // Our clock 10 minutes ahead of Maskinporten's.
    let ahead = signer.sign(&req, now() + 600).unwrap();
    let e = request_token(&http, url, &ahead, &caller).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthClockSkew, "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("MP-130"));
    assert!(e.message().contains("clock"), "{e}");
    assert_no_secret(&e, &[ahead.assertion()]);

    // A grant sent after it expired.
    let stale = signer.sign(&req, now() - 200).unwrap();
    let e = request_token(&http, url, &stale, &caller).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthClockSkew, "{e}");

    // The same grant twice.
    let grant = signer.sign(&req, now()).unwrap();
    let token = request_token(&http, url, &grant, &caller).unwrap();
    let e = request_token(&http, url, &grant, &caller).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("MP-012"));
    assert_no_secret(&e, &[grant.assertion(), token.secret()]);
}

#[test]
fn scope_not_granted() {
    let sb = sandbox("scope");
    let config = sandbox_config(&sb, ORG_A);
    let e = tokens(&config)
        .maskinporten(&TokenRequest::for_scopes(&[
            "move/dpo.read",
            "eformidling:dpi",
        ]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthScopeNotGranted, "{e}");
    assert!(e.message().contains("eformidling:dpi"), "{e}");
    assert!(
        e.detail()
            .remote_code
            .as_deref()
            .unwrap_or("")
            .starts_with("MP-2"),
        "{e:?}"
    );
}

#[test]
fn token_endpoint_outages_are_retried() {
    let sb = sandbox("mp-retry");
    let config = sandbox_config(&sb, ORG_A);
    let t = tokens(&config);
    fault(
        &sb,
        "/maskinporten/token",
        json!({"kind": "status", "status": 503}),
        1,
    );
    fault(
        &sb,
        "/maskinporten/token",
        json!({"kind": "rate_limit", "retry_after": 1}),
        1,
    );
    assert!(t
        .maskinporten(&TokenRequest::for_scopes(&["move/dpo.read"]))
        .is_ok());
    // More failures than attempts: the last one is reported, marked retryable.
    fault(
        &sb,
        "/maskinporten/token",
        json!({"kind": "status", "status": 503}),
        3,
    );
    let e = t
        .maskinporten(&TokenRequest::for_scopes(&["eformidling:dpo"]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteUnavailable, "{e}");
    assert!(e.retryable());
}

#[test]
fn registry_lookup_and_dpo_record() {
    let sb = sandbox("registry");
    let config = sandbox_config(&sb, ORG_A);
    let r = registry(&config);
    let caps = r.lookup(&org(ORG_B), None).unwrap();
    assert_eq!(caps.organisation_number, ORG_B);
    assert!(caps.signed);
    assert!(caps.organisation_name.is_some());
    assert!(caps.has_dpo(DEFAULT_PROCESS));
    assert!(caps.has_dpo(RESPONSE_PROCESS));
    assert!(caps
        .capabilities
        .iter()
        .all(|c| c.certificate.is_some() && c.certificate_problem.is_none()));
    let json = caps.to_json();
    assert_eq!(json["organisation_number"], ORG_B);
    assert!(json["capabilities"][0]["document_types"].is_array());

    let only = r.lookup(&org(ORG_B), Some(RESPONSE_PROCESS)).unwrap();
    assert_eq!(only.capabilities.len(), 1);
    assert!(only.capabilities[0]
        .document_types
        .iter()
        .any(|d| d == "urn:no:difi:eformidling:xsd::status"));

    let record = r.dpo_record(&org(ORG_B), DEFAULT_PROCESS).unwrap();
    assert!(record.accepts("urn:no:difi:arkivmelding:xsd::arkivmelding"));
    assert!(record.resource.is_some());
    let status = r
        .dpo_record_for_document(
            &org(ORG_B),
            RESPONSE_PROCESS,
            "urn:no:difi:eformidling:xsd::status",
        )
        .unwrap();
    assert_eq!(status.process, RESPONSE_PROCESS);
    let e = r
        .dpo_record_for_document(
            &org(ORG_B),
            DEFAULT_PROCESS,
            "urn:no:difi:eformidling:xsd::status",
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverLacksDpo, "{e}");
    assert!(e.message().contains("does not accept document type"), "{e}");
    // The certificate is the receiver's own (as in its sandbox configuration).
    let theirs = Identity::load(&sandbox_config(&sb, ORG_B).credentials.key).unwrap();
    assert_eq!(
        record.certificate.to_der().unwrap(),
        theirs.certificate.to_der().unwrap()
    );
}

#[test]
fn registry_answers_are_cached() {
    let sb = sandbox("registry-cache");
    let config = sandbox_config(&sb, ORG_A);
    let r = registry(&config);
    r.lookup(&org(ORG_B), None).unwrap();
    // While cached, an outage is not noticed.
    fault(
        &sb,
        "/serviceregistry/identifier/910076787",
        json!({"kind": "status", "status": 500}),
        10,
    );
    r.lookup(&org(ORG_B), None).unwrap();
    r.clear_cache();
    let e = r.lookup(&org(ORG_B), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteService, "{e}");
    assert_eq!(e.detail().http_status, Some(500));
}

#[test]
fn unknown_receiver_and_missing_process() {
    let sb = sandbox("registry-404");
    let config = sandbox_config(&sb, ORG_A);
    let r = registry(&config);
    let e = r.lookup(&org("974720760"), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverNotFound, "{e}");
    assert_eq!(e.detail().http_status, Some(404));
    assert!(e.message().contains("974720760"), "{e}");
    let e = r
        .dpo_record(&org("974720760"), DEFAULT_PROCESS)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverNotFound, "{e}");

    let process = "urn:no:difi:profile:einnsyn:journalpost:ver1.0";
    let e = r.dpo_record(&org(ORG_B), process).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReceiverLacksDpo, "{e}");
    assert!(
        e.message().contains(ORG_B) && e.message().contains(process),
        "{e}"
    );
    let e = r.lookup(&org(ORG_B), Some("not a urn")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn registry_refuses_unsigned_and_forged_answers() {
    let sb = sandbox("registry-jws");
    let config = sandbox_config(&sb, ORG_A);
    let t = tokens(&config);
    // A genuine signed answer, fetched by hand.
    let http = Http::new(&config).unwrap();
    let token = t
        .maskinporten(&TokenRequest::for_scopes(&config.registry_scopes))
        .unwrap();
    let url = format!("{}/identifier/{ORG_B}", config.urls.service_registry);
    let genuine = http
        .get(&url)
        .bearer(token.secret())
        .header("Accept", "application/jose")
        .call()
        .unwrap()
        .read_text(1 << 22)
        .unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    assert_eq!(parts.len(), 3);

    // One byte of the payload changed.
    let mut payload = parts[1].as_bytes().to_vec();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        String::from_utf8(payload).unwrap(),
        parts[2]
    );
    // The same payload, unsigned (alg none), and "signed" with HS256 using the public key as secret.
    let claims_json =
        String::from_utf8(efm_core::auth::jws::b64url_decode(parts[1]).unwrap()).unwrap();
    let none = format!(
        "{}.{}.",
        efm_core::auth::jws::b64url(br#"{"alg":"none"}"#),
        parts[1]
    );
    let jwks = http
        .get(&format!("{}/jwk", config.urls.service_registry))
        .call()
        .unwrap()
        .read_text(1 << 20)
        .unwrap();
    let hs256 = python(
        "import sys, json, jwt\nfrom jwt.algorithms import RSAAlgorithm\nfrom cryptography.hazmat.primitives import serialization\nk = RSAAlgorithm.from_jwk(json.dumps(json.loads(sys.argv[2])['keys'][0]))\npem = k.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)\nimport hmac, hashlib, base64\nb = lambda x: base64.urlsafe_b64encode(x).rstrip(b'=').decode()\nsi = b(b'{\"alg\":\"HS256\"}') + '.' + b(sys.argv[1].encode())\nprint(si + '.' + b(hmac.new(pem, si.encode(), hashlib.sha256).digest()))",
        &[&claims_json, &jwks],
    );
    let path = format!("/serviceregistry/identifier/{ORG_B}");
    let r = registry(&config);
    for (name, body) in [
        ("tampered", tampered),
        ("none", none),
        ("hs256", hs256.trim().to_string()),
        ("unsigned JSON", claims_json.clone()),
    ] {
        fault(
            &sb,
            &path,
            json!({"kind": "status", "status": 200, "body": body}),
            1,
        );
        let e = r.lookup(&org(ORG_B), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SignatureInvalid, "{name}: {e}");
    }
    // The genuine answer passes (and nothing bad was cached).
    assert!(r.lookup(&org(ORG_B), None).is_ok());
    // A genuine answer about another organisation is not accepted for this one.
    fault(
        &sb,
        &format!("/serviceregistry/identifier/{ORG_A}"),
        json!({"kind": "status", "status": 200, "body": genuine}),
        1,
    );
    let e = r.lookup(&org(ORG_A), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteBadResponse, "{e}");
}

#[test]
fn registry_recovers_from_401_and_outages() {
    let sb = sandbox("registry-retry");
    let config = sandbox_config(&sb, ORG_A);
    let r = registry(&config);
    let path = format!("/serviceregistry/identifier/{ORG_B}");
    // One 401: the token is dropped and the lookup retried once with a new one.
    fault(&sb, &path, json!({"kind": "status", "status": 401}), 1);
    r.lookup(&org(ORG_B), None).unwrap();
    r.clear_cache();
    // 401 every time: a clear error.
    fault(&sb, &path, json!({"kind": "status", "status": 401}), 2);
    let e = r.lookup(&org(ORG_B), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    // A 503, then a 429 with Retry-After, then a dropped connection: retried.
    fault(&sb, &path, json!({"kind": "status", "status": 503}), 1);
    r.lookup(&org(ORG_B), None).unwrap();
    r.clear_cache();
    fault(
        &sb,
        &path,
        json!({"kind": "rate_limit", "retry_after": 1}),
        1,
    );
    r.lookup(&org(ORG_B), None).unwrap();
    r.clear_cache();
    fault(&sb, &path, json!({"kind": "drop", "after_bytes": 10}), 1);
    r.lookup(&org(ORG_B), None).unwrap();
    r.clear_cache();
    fault(&sb, &path, json!({"kind": "drop", "after_bytes": 10}), 5);
    let e = r.lookup(&org(ORG_B), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionDropped, "{e}");
}

#[test]
fn registry_needs_a_token_of_this_environment() {
    let sb = sandbox("registry-auth");
    let other = sandbox("registry-auth-other");
    // Tokens from another sandbox's Maskinporten (another issuer and key).
    let mut v = sandbox_config_json(&sb, ORG_A);
    v["urls"] = json!({
        "maskinporten_token": format!("{}/maskinporten/token", other.base_url()),
        "maskinporten_audience": format!("{}/maskinporten/", other.base_url()),
    });
    let config = Config::from_json(&v.to_string()).unwrap();
    let e = registry(&config).lookup(&org(ORG_B), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    assert_eq!(e.detail().http_status, Some(401));
}
