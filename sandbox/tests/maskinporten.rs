//! The Maskinporten stand-in accepts the integration point's grants and refuses wrong ones with
//! Maskinporten's error format.

mod common;
use common::*;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::{json, Value};

fn refused(org: &Org, header: &Value, claims: &Value) -> (u16, String, String) {
    let (s, b) = post_grant(org, &sign(&org.identity.private_key, header, claims));
    (
        s,
        b["error"].as_str().unwrap_or("").to_string(),
        b["error_description"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn good_grant_gives_a_signed_token_with_consumer_and_scope() {
    let sb = start("mp-good");
    let a = org(&sb, ORG_A);
    let (s, b) = post_grant(
        &a,
        &sign(
            &a.identity.private_key,
            &x5c_header(&a),
            &claims(&a, "move/dpo.read eformidling:dpo"),
        ),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["scope"], "move/dpo.read eformidling:dpo");
    assert!(b["expires_in"].as_i64().unwrap() > 0);
    let t = payload(b["access_token"].as_str().unwrap());
    assert_eq!(t["consumer"]["ID"], format!("0192:{ORG_A}"));
    assert_eq!(t["consumer"]["authority"], "iso6523-actorid-upis");
    assert_eq!(t["client_id"], format!("MOVE_IP_{ORG_A}"));
    assert_eq!(t["iss"], format!("{}/maskinporten/", sb.base_url()));
    assert_eq!(t["scope"], "move/dpo.read eformidling:dpo");
    assert!(t["exp"].as_i64().unwrap() > now());
    // The token verifies against the published key.
    let mut r = agent()
        .get(&format!("{}/maskinporten/jwk", sb.base_url()))
        .call()
        .unwrap();
    let jwks: Value = r.body_mut().read_json().unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
}

#[test]
fn system_user_grant_carries_authorization_details() {
    let sb = start("mp-su");
    let a = org(&sb, ORG_A);
    let t = payload(&system_user_token(&a, "altinn:broker.read"));
    let d = &t["authorization_details"][0];
    assert_eq!(d["type"], "urn:altinn:systemuser");
    assert_eq!(d["systemuser_org"]["ID"], format!("0192:{ORG_A}"));
    assert!(d["systemuser_id"][0].as_str().unwrap().len() == 36);
    assert_eq!(d["system_id"], format!("{ORG_A}_integrasjonspunkt"));
}

#[test]
fn refusals_name_the_problem() {
    let sb = start("mp-bad");
    let a = org(&sb, ORG_A);
    let b = org(&sb, ORG_B);
    let h = x5c_header(&a);

    // Wrong audience: no trailing slash, token endpoint, other host.
    for aud in [
        format!("{}/maskinporten", sb.base_url()),
        format!("{}/maskinporten/token", sb.base_url()),
        "https://test.maskinporten.no/".to_string(),
    ] {
        let mut c = claims(&a, "move/dpo.read");
        c["aud"] = json!(aud);
        let (s, e, d) = refused(&a, &h, &c);
        assert_eq!((s, e.as_str()), (400, "invalid_grant"), "{d}");
        assert!(d.contains("MP-110") && d.contains("aud"), "{d}");
    }
    let mut c = claims(&a, "move/dpo.read");
    c["aud"] = json!([a.config.urls.maskinporten_audience]);
    assert_eq!(refused(&a, &h, &c).1, "invalid_grant");

    // Unknown client.
    let mut c = claims(&a, "move/dpo.read");
    c["iss"] = json!("MOVE_IP_000000000");
    let (s, e, d) = refused(&a, &h, &c);
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    assert!(d.contains("MP-100"), "{d}");

    // Another organisation's certificate for this client.
    let (s, e, d) = refused(&b, &x5c_header(&b), &claims(&a, "move/dpo.read"));
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    assert!(d.contains("MP-120"), "{d}");

    // Bad signature: signed by a key that is not the certificate's.
    let other = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let (s, body) = post_grant(&a, &sign(&other, &h, &claims(&a, "move/dpo.read")));
    assert_eq!(s, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("MP-124"),
        "{body}"
    );

    // Lifetime over 120 s.
    let mut c = claims(&a, "move/dpo.read");
    c["exp"] = json!(c["iat"].as_i64().unwrap() + 121);
    let (s, e, d) = refused(&a, &h, &c);
    assert_eq!((s, e.as_str()), (400, "invalid_grant"));
    assert!(d.contains("120"), "{d}");

    // Issued in the future, and expired.
    let mut c = claims(&a, "move/dpo.read");
    c["iat"] = json!(now() + 60);
    c["exp"] = json!(now() + 120);
    let (_, e, d) = refused(&a, &h, &c);
    assert_eq!(e, "invalid_grant");
    assert!(d.contains("MP-130") && d.contains("Issue time"), "{d}");
    let mut c = claims(&a, "move/dpo.read");
    c["iat"] = json!(now() - 5);
    c["exp"] = json!(now() - 1);
    let (_, _, d) = refused(&a, &h, &c);
    assert!(d.contains("expired"), "{d}");

    // Scope not allowed for the client.
    let (s, e, d) = refused(
        &a,
        &h,
        &claims(&a, "move/dpo.read global/kontaktinformasjon.read"),
    );
    assert_eq!((s, e.as_str()), (400, "invalid_scope"));
    assert!(
        d.contains("MP-200") && d.contains("global/kontaktinformasjon.read"),
        "{d}"
    );

    // Both x5c and kid, neither.
    let mut both = h.clone();
    both["kid"] = json!("k1");
    assert!(refused(&a, &both, &claims(&a, "move/dpo.read"))
        .2
        .contains("MP-123"));
    assert!(
        refused(&a, &json!({"alg":"RS256"}), &claims(&a, "move/dpo.read"))
            .2
            .contains("MP-123")
    );
    // x5c as a string instead of an array.
    let mut s5 = h.clone();
    s5["x5c"] = h["x5c"][0].clone();
    assert!(refused(&a, &s5, &claims(&a, "move/dpo.read"))
        .2
        .contains("MP-123"));

    // An unknown claim.
    let mut c = claims(&a, "move/dpo.read");
    c["colour"] = json!("blue");
    let (s, e, d) = refused(&a, &h, &c);
    assert_eq!((s, e.as_str()), (400, "invalid_request"));
    assert!(d.contains("Invalid assertion"), "{d}");

    // Not a JWS at all.
    let (s, body) = post_grant(&a, "not-a-jwt");
    assert_eq!(s, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("MP-011"));
}

#[test]
fn replayed_jti_is_refused() {
    let sb = start("mp-replay");
    let a = org(&sb, ORG_A);
    let grant = sign(
        &a.identity.private_key,
        &x5c_header(&a),
        &claims(&a, "move/dpo.read"),
    );
    assert_eq!(post_grant(&a, &grant).0, 200);
    let (s, b) = post_grant(&a, &grant);
    assert_eq!(s, 400);
    assert_eq!(b["error"], "invalid_grant");
    assert!(
        b["error_description"].as_str().unwrap().contains("MP-012"),
        "{b}"
    );
}

#[test]
fn wrong_grant_type_and_form() {
    let sb = start("mp-form");
    let a = org(&sb, ORG_A);
    let mut r = agent()
        .post(&a.config.urls.maskinporten_token)
        .send_form([("grant_type", "client_credentials"), ("assertion", "x")])
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.body_mut().read_json().unwrap();
    assert_eq!(b["error"], "unsupported_grant_type");
    let mut r = agent()
        .post(&a.config.urls.maskinporten_token)
        .send_json(json!({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.body_mut().read_json().unwrap();
    assert_eq!(b["error"], "invalid_request");
}

#[test]
fn system_user_details_are_checked() {
    let sb = start("mp-rar");
    let a = org(&sb, ORG_A);
    let h = x5c_header(&a);
    let base = system_user_claims(&a, "altinn:broker.write");

    let mut c = base.clone();
    c["authorization_details"][0]["externalRef"] = json!("someone_else");
    let (s, e, d) = refused(&a, &h, &c);
    assert_eq!((s, e.as_str()), (400, "invalid_authorization_details"));
    assert!(d.contains("someone_else"), "{d}");

    let mut c = base.clone();
    c["authorization_details"][0]["type"] = json!("urn:altinn:other");
    assert!(refused(&a, &h, &c).2.contains("MP-301"));

    let mut c = base.clone();
    c["authorization_details"][0]["extra"] = json!(1);
    assert!(refused(&a, &h, &c).2.contains("MP-302"));

    let mut c = base.clone();
    c["authorization_details"][0]["systemuser_org"]["authority"] = json!("other");
    assert!(refused(&a, &h, &c).2.contains("MP-303"));

    let mut c = base.clone();
    c["authorization_details"][0]["systemuser_org"]["ID"] = json!("910075918");
    assert!(refused(&a, &h, &c).2.contains("MP-303"));

    // A system user of another organisation is not registered on this client.
    let mut c = base.clone();
    c["authorization_details"][0]["systemuser_org"]["ID"] = json!(format!("0192:{ORG_B}"));
    assert_eq!(refused(&a, &h, &c).1, "invalid_authorization_details");

    let mut c = base.clone();
    c["authorization_details"] = json!([
        base["authorization_details"][0],
        base["authorization_details"][0]
    ]);
    assert!(refused(&a, &h, &c).2.contains("MP-303"));
}

#[test]
fn consumer_org_and_kid_grants() {
    let sb = start("mp-kid");
    let a = org(&sb, ORG_A);
    let h = x5c_header(&a);
    let mut c = claims(&a, "move/dpo.read");
    c["consumer_org"] = json!(ORG_A);
    let (s, e, _) = refused(&a, &h, &c);
    assert_eq!((s, e.as_str()), (400, "invalid_request"));
    let mut c = claims(&a, "move/dpo.read");
    c["consumer_org"] = json!(ORG_B);
    let (s, e, d) = refused(&a, &h, &c);
    assert_eq!((s, e.as_str()), (403, "access_denied"));
    assert!(d.contains("MP-251"), "{d}");

    // A registered key (kid) instead of the certificate.
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let rsa = key.rsa().unwrap();
    let jwk = json!({"kty":"RSA","kid":"k-1","n":b64url(&rsa.n().to_vec()),"e":b64url(&rsa.e().to_vec())});
    let mut r = agent()
        .post(&format!("{}/admin/clients", sb.base_url()))
        .send_json(json!({"client_id": a.config.credentials.client_id, "organisation_number": ORG_A, "jwk": jwk}))
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let (s, b) = post_grant(
        &a,
        &sign(
            &key,
            &json!({"alg":"RS256","kid":"k-1"}),
            &claims(&a, "move/dpo.read"),
        ),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        payload(b["access_token"].as_str().unwrap())["client_amr"],
        "private_key_jwt"
    );
    let (s, _) = post_grant(
        &a,
        &sign(
            &key,
            &json!({"alg":"RS256","kid":"k-2"}),
            &claims(&a, "move/dpo.read"),
        ),
    );
    assert_eq!(s, 400);
}
