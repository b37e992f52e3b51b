//! The Altinn 3 broker stand-in and the token exchange, rule by rule, as the broker service
//! (github.com/Altinn/altinn-broker) and Altinn's authentication service behave.

mod common;
use common::*;
use serde_json::{json, Value};

const RESOURCE: &str = "eformidling-dpo-meldingsutveksling";

struct Party {
    org: Org,
    write: String,
    read: String,
}

fn party(sb: &efm_sandbox::Sandbox, orgnr: &str) -> Party {
    let org = org(sb, orgnr);
    let write = altinn_token(&org, "altinn:broker.write");
    let read = altinn_token(&org, "altinn:broker.read");
    Party { org, write, read }
}

fn url(p: &Party, rest: &str) -> String {
    format!("{}/filetransfer{rest}", p.org.config.urls.altinn3_broker)
}

struct Resp {
    status: u16,
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut r = r.unwrap();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.body_mut().read_to_vec().unwrap();
    Resp {
        status: r.status().as_u16(),
        content_type,
        headers,
        body,
    }
}

fn init_body(sender: &str, recipient: &str) -> Value {
    json!({"fileName":"sbd.zip","resourceId":RESOURCE,
        "sendersFileTransferReference":uuid::Uuid::new_v4().to_string(),
        "sender":format!("0192:{sender}"),"recipients":[format!("0192:{recipient}")],
        "propertyList":{},"checksum":null,"disableVirusScan":null})
}

fn initialize(p: &Party, body: &Value) -> Resp {
    finish(
        agent()
            .post(&url(p, "/"))
            .header("Authorization", &format!("Bearer {}", p.write))
            .header("Accept", "application/json")
            .send_json(body),
    )
}

fn upload(p: &Party, id: &str, bytes: &[u8]) -> Resp {
    finish(
        agent()
            .post(&url(p, &format!("/{id}/upload")))
            .header("Authorization", &format!("Bearer {}", p.write))
            .header("Accept", "application/json")
            .header("Content-Type", "application/octet-stream")
            .send(bytes),
    )
}

fn get(p: &Party, token: &str, rest: &str) -> Resp {
    finish(
        agent()
            .get(&url(p, rest))
            .header("Authorization", &format!("Bearer {token}"))
            .call(),
    )
}

fn confirm(p: &Party, id: &str) -> Resp {
    finish(
        agent()
            .post(&url(p, &format!("/{id}/confirmdownload")))
            .header("Authorization", &format!("Bearer {}", p.read))
            .header("Accept", "application/json")
            .send_empty(),
    )
}

fn send(a: &Party, b: &Party, bytes: &[u8]) -> String {
    let r = initialize(a, &init_body(&a.org.orgnr, &b.org.orgnr));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["fileTransferId"].as_str().unwrap().to_string();
    let u = upload(a, &id, bytes);
    assert_eq!(u.status, 200, "{}", String::from_utf8_lossy(&u.body));
    assert_eq!(u.json()["fileTransferId"], id.as_str());
    id
}

fn admin(sb: &efm_sandbox::Sandbox, path: &str, body: Value) -> Value {
    let mut r = agent()
        .post(&format!("{}/admin{path}", sb.base_url()))
        .send_json(body)
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.body_mut().read_json().unwrap()
}

#[test]
fn exchange_rules() {
    let sb = start("b3-exchange");
    let a = org(&sb, ORG_A);
    let ex = &a.config.urls.altinn_token_exchange;
    let r = finish(agent().get(ex).call());
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert!(r.body.is_empty());
    let mp = system_user_token(&a, "altinn:broker.read");
    let r = finish(
        agent()
            .get(ex)
            .header("Authorization", &format!("Bearer {mp}"))
            .header("Accept", "text/plain")
            .call(),
    );
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/plain"));
    let t = payload(std::str::from_utf8(&r.body).unwrap());
    assert_eq!(t["urn:altinn:orgNumber"], ORG_A);
    assert_eq!(t["urn:altinn:authlevel"], 3);
    assert_eq!(t["scope"], "altinn:broker.read");
    assert_eq!(
        t["authorization_details"][0]["systemuser_org"]["ID"],
        format!("0192:{ORG_A}")
    );
    assert_eq!(
        t["iss"],
        format!("{}/authentication/api/v1/openid/", sb.base_url())
    );
    assert!(t.get("aud").is_none() && t.get("client_amr").is_none());
    let mp = system_user_token(&a, "altinn:broker.read");
    let r = finish(
        agent()
            .get(ex)
            .header("Authorization", &format!("Bearer {mp}"))
            .header("Accept", "application/json")
            .call(),
    );
    let quoted: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(quoted.as_str().unwrap().split('.').count() == 3);
    // An Altinn token is not a Maskinporten token.
    let altinn = quoted.as_str().unwrap().to_string();
    let r = finish(
        agent()
            .get(ex)
            .header("Authorization", &format!("Bearer {altinn}"))
            .call(),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn send_receive_confirm_round_trip() {
    let sb = start_with("b3-flow", Some(0));
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let payload_bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let id = send(&a, &b, &payload_bytes);

    // The recipient finds it with the integration point's search.
    let s = get(
        &b,
        &b.read,
        &format!("?resourceId={RESOURCE}&status=Published&recipientStatus=Initialized"),
    );
    assert_eq!(s.status, 200);
    assert_eq!(s.json(), json!([id]));
    let o = get(&b, &b.read, &format!("/{id}"));
    assert_eq!(o.status, 200);
    let ov = o.json();
    assert_eq!(ov["fileTransferStatus"], "Published");
    assert_eq!(ov["fileTransferStatusText"], "Ready for download");
    assert_eq!(ov["fileTransferSize"], 70_000);
    assert_eq!(ov["sender"], format!("0192:{ORG_A}"));
    assert_eq!(ov["recipients"][0]["recipient"], format!("0192:{ORG_B}"));
    assert_eq!(
        ov["recipients"][0]["currentRecipientFileTransferStatusCode"],
        "Initialized"
    );
    let md5 = openssl::hash::hash(openssl::hash::MessageDigest::md5(), &payload_bytes).unwrap();
    let hex: String = md5.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(ov["checksum"], hex);

    // Confirm before download is refused.
    let c = confirm(&b, &id);
    assert_eq!((c.status, c.code().as_str()), (400, "BRO-00019"));

    let d = get(&b, &b.read, &format!("/{id}/download"));
    assert_eq!(d.status, 200);
    assert_eq!(d.body, payload_bytes);
    assert_eq!(d.content_type, "application/octet-stream");
    assert!(d
        .header("content-disposition")
        .unwrap()
        .contains("filename=sbd.zip"));
    // DownloadStarted takes it out of the Initialized search.
    let s = get(
        &b,
        &b.read,
        &format!("?resourceId={RESOURCE}&status=Published&recipientStatus=Initialized"),
    );
    assert_eq!(s.json(), json!([]));
    let s = get(
        &b,
        &b.read,
        &format!("?resourceId={RESOURCE}&recipientStatus=DownloadStarted"),
    );
    assert_eq!(s.json(), json!([id]));

    let c = confirm(&b, &id);
    assert_eq!(c.status, 204);
    let ov = get(&b, &b.read, &format!("/{id}")).json();
    assert_eq!(ov["fileTransferStatus"], "AllConfirmedDownloaded");
    assert_eq!(
        ov["recipients"][0]["currentRecipientFileTransferStatusCode"],
        "DownloadConfirmed"
    );
    // A second confirm: BRO-00010, as the real broker answers for a single recipient.
    let c = confirm(&b, &id);
    assert_eq!((c.status, c.code().as_str()), (400, "BRO-00010"));
    // Re-download works until purge, which comes after the grace period (24 h by default).
    assert_eq!(get(&b, &b.read, &format!("/{id}/download")).status, 200);
    admin(&sb, "/settings", json!({"purge_grace_secs": 60}));
    let id2 = send(&a, &b, b"second");
    assert_eq!(get(&b, &b.read, &format!("/{id2}/download")).status, 200);
    assert_eq!(confirm(&b, &id2).status, 204);
    admin(&sb, "/clock/advance", json!({"seconds": 61}));
    let b = party(&sb, ORG_B);
    let a = party(&sb, ORG_A);
    assert_eq!(
        get(&b, &b.read, &format!("/{id2}")).json()["fileTransferStatus"],
        "Purged"
    );
    assert_eq!(
        get(&b, &b.read, &format!("/{id2}/download")).code(),
        "BRO-00007"
    );

    // The sender sees it with a write token; details carry the history.
    let det = get(&a, &a.write, &format!("/{id}/details")).json();
    let hist: Vec<&str> = det["fileTransferStatusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["fileTransferStatus"].as_str().unwrap())
        .collect();
    assert_eq!(
        hist,
        [
            "Initialized",
            "UploadStarted",
            "UploadProcessing",
            "Published",
            "AllConfirmedDownloaded"
        ]
    );
}

#[test]
fn scopes_and_parties() {
    let sb = start("b3-auth");
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let c = party(&sb, ORG_C);
    // Read scope cannot initialize: 403 with an empty body.
    let r = finish(
        agent()
            .post(&url(&a, ""))
            .header("Authorization", &format!("Bearer {}", a.read))
            .send_json(init_body(ORG_A, ORG_B)),
    );
    assert_eq!(r.status, 403);
    assert!(r.body.is_empty());
    // Sending on behalf of someone else: 401 BRO-00006.
    let r = initialize(&a, &init_body(ORG_B, ORG_C));
    assert_eq!((r.status, r.code().as_str()), (401, "BRO-00006"));
    assert!(r.content_type.starts_with("application/problem+json"));
    let id = send(&a, &b, b"hello");
    // Third parties see nothing.
    let r = get(&c, &c.read, &format!("/{id}"));
    assert_eq!((r.status, r.code().as_str()), (401, "BRO-00006"));
    let r = get(&c, &c.read, &format!("/{id}/download"));
    assert_eq!((r.status, r.code().as_str()), (401, "BRO-00006"));
    // The sender cannot download; write scope cannot download.
    let r = get(&b, &b.write, &format!("/{id}/download"));
    assert_eq!(r.status, 403);
    let r = get(&a, &a.read, &format!("/{id}/download"));
    assert_eq!((r.status, r.code().as_str()), (401, "BRO-00006"));
    // Unknown transfer: 404 before authorisation.
    let r = get(&c, &c.read, &format!("/{}", uuid::Uuid::new_v4()));
    assert_eq!((r.status, r.code().as_str()), (404, "BRO-00001"));
    // No token, garbage token.
    let r = finish(
        agent()
            .get(&url(&a, &format!("?resourceId={RESOURCE}")))
            .call(),
    );
    assert_eq!(r.status, 401);
    let r = get(&a, "abc.def.ghi", &format!("?resourceId={RESOURCE}"));
    assert_eq!(r.status, 401);
    // A token without a system user.
    let plain = token(&a.org, "altinn:broker.read");
    let r = get(&a, &plain, &format!("?resourceId={RESOURCE}"));
    assert_eq!((r.status, r.code().as_str()), (401, "BRO-00006"));
    // A raw Maskinporten system-user token is accepted (the broker's second scheme).
    let raw = system_user_token(&b.org, "altinn:broker.read");
    assert_eq!(get(&b, &raw, &format!("/{id}")).status, 200);
    // A system user without the access package.
    admin(
        &sb,
        "/system-users",
        json!({"client_id": format!("MOVE_IP_{ORG_C}"), "org_id": format!("0192:{ORG_C}"),
        "external_ref": format!("{ORG_C}_integrasjonspunkt_systembruker_{ORG_C}"), "has_access": false}),
    );
    let r = get(&c, &c.read, &format!("?resourceId={RESOURCE}"));
    assert_eq!((r.status, r.code().as_str()), (401, "BRO-00006"));
    // Accept header that excludes JSON.
    let r = finish(
        agent()
            .get(&url(&a, &format!("/{id}")))
            .header("Authorization", &format!("Bearer {}", a.write))
            .header("Accept", "text/xml")
            .call(),
    );
    assert_eq!(r.status, 406);
}

#[test]
fn initialize_validation() {
    let sb = start("b3-init");
    let a = party(&sb, ORG_A);
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut b = init_body(ORG_A, ORG_B);
                b.as_object_mut().unwrap().remove("fileName");
                b
            },
            "fileName",
        ),
        (
            {
                let mut b = init_body(ORG_A, ORG_B);
                b["sender"] = json!(ORG_A);
                b
            },
            "sender",
        ),
        (
            {
                let mut b = init_body(ORG_A, ORG_B);
                b["recipients"] = json!([]);
                b
            },
            "recipients",
        ),
        (
            {
                let mut b = init_body(ORG_A, ORG_B);
                b["recipients"] = json!(["0192:12345"]);
                b
            },
            "recipients[0]",
        ),
        (
            {
                let mut b = init_body(ORG_A, ORG_B);
                b["checksum"] = json!("ABC");
                b
            },
            "checksum",
        ),
        (
            {
                let mut b = init_body(ORG_A, ORG_B);
                b["resourceId"] = json!("a:b:c");
                b
            },
            "resourceId",
        ),
        (
            {
                let mut b = init_body(ORG_A, ORG_B);
                b["propertyList"] = json!((0..11)
                    .map(|i| (format!("k{i}"), json!("v")))
                    .collect::<serde_json::Map<_, _>>());
                b
            },
            "propertyList",
        ),
    ];
    for (body, field) in cases {
        let r = initialize(&a, &body);
        assert_eq!(r.status, 400, "{field}");
        let v = r.json();
        assert_eq!(v["title"], "One or more validation errors occurred.");
        assert!(v["errors"].get(field).is_some(), "{field}: {v}");
    }
    // Case-insensitive names, unknown fields ignored, urn forms accepted.
    let body = json!({"FILENAME":"sbd.zip","resourceid":format!("urn:altinn:resource:{RESOURCE}"),"Sender":format!("urn:altinn:organization:identifier-no:{ORG_A}"),
        "recipients":[format!("0192:{ORG_B}")],"whatever":1});
    let r = initialize(&a, &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["fileTransferId"].as_str().unwrap().to_string();
    let ov = get(&a, &a.write, &format!("/{id}")).json();
    assert_eq!(ov["resourceId"], RESOURCE);
    assert_eq!(
        ov["sender"],
        format!("urn:altinn:organization:identifier-no:{ORG_A}")
    );
    assert_eq!(ov["fileTransferStatus"], "Initialized");
    // Unknown resource, virus scan off, wrong media type.
    let mut body = init_body(ORG_A, ORG_B);
    body["resourceId"] = json!("some-other-resource");
    assert_eq!(initialize(&a, &body).code(), "BRO-00025");
    let mut body = init_body(ORG_A, ORG_B);
    body["disableVirusScan"] = json!(true);
    assert_eq!(initialize(&a, &body).code(), "BRO-00020");
    let r = finish(
        agent()
            .post(&url(&a, ""))
            .header("Authorization", &format!("Bearer {}", a.write))
            .header("Content-Type", "text/plain")
            .send(init_body(ORG_A, ORG_B).to_string()),
    );
    assert_eq!(r.status, 415);
}

#[test]
fn upload_rules() {
    let sb = start_with("b3-upload", Some(0));
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let id = send(&a, &b, b"first");
    // Re-upload after publishing: 409 BRO-00004.
    let r = upload(&a, &id, b"again");
    assert_eq!((r.status, r.code().as_str()), (409, "BRO-00004"));
    // Wrong media type.
    let r = initialize(&a, &init_body(ORG_A, ORG_B));
    let id2 = r.json()["fileTransferId"].as_str().unwrap().to_string();
    let r = finish(
        agent()
            .post(&url(&a, &format!("/{id2}/upload")))
            .header("Authorization", &format!("Bearer {}", a.write))
            .header("Content-Type", "application/zip")
            .send(&b"x"[..]),
    );
    assert_eq!(r.status, 415);
    // The recipient may not upload.
    let r = upload(&b, &id2, b"x");
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "BRO-00006"),
        "only the sender uploads"
    );
    // Checksum mismatch fails the transfer.
    let mut body = init_body(ORG_A, ORG_B);
    body["checksum"] = json!("0123456789abcdef0123456789abcdef");
    let id3 = initialize(&a, &body).json()["fileTransferId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = upload(&a, &id3, b"data");
    assert_eq!((r.status, r.code().as_str()), (400, "BRO-00009"));
    let ov = get(&a, &a.write, &format!("/{id3}")).json();
    assert_eq!(ov["fileTransferStatus"], "Failed");
    assert_eq!(ov["fileTransferStatusText"], "Checksum mismatch");
    // Size limit.
    admin(&sb, "/settings", json!({"max_file_size": 10}));
    let id4 = initialize(&a, &init_body(ORG_A, ORG_B)).json()["fileTransferId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = upload(&a, &id4, b"eleven bytes");
    assert_eq!((r.status, r.code().as_str()), (400, "BRO-00016"));
}

#[test]
fn virus_scan_gates_download_and_malware_fails() {
    let sb = start_with("b3-scan", Some(600_000));
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let id = send(&a, &b, b"scanned");
    let ov = get(&b, &b.read, &format!("/{id}")).json();
    assert_eq!(ov["fileTransferStatus"], "UploadProcessing");
    let r = get(&b, &b.read, &format!("/{id}/download"));
    assert_eq!((r.status, r.code().as_str()), (403, "BRO-00007"));
    let r = confirm(&b, &id);
    assert_eq!((r.status, r.code().as_str()), (400, "BRO-00010"));
    admin(&sb, "/clock/advance", json!({"seconds": 601}));
    assert_eq!(
        get(&b, &b.read, &format!("/{id}")).json()["fileTransferStatus"],
        "Published"
    );

    admin(
        &sb,
        "/faults",
        json!({"path": "/broker/api/v1/filetransfer/", "kind": "malware", "times": 1}),
    );
    let id2 = send(&a, &b, b"evil");
    admin(&sb, "/clock/advance", json!({"seconds": 601}));
    let ov = get(&b, &b.read, &format!("/{id2}")).json();
    assert_eq!(ov["fileTransferStatus"], "Failed");
    assert!(ov["fileTransferStatusText"]
        .as_str()
        .unwrap()
        .starts_with("Malware scan failed"));
    let r = get(&b, &b.read, &format!("/{id2}/download"));
    assert_eq!(r.code(), "BRO-00007");
}

#[test]
fn ranges_and_expiry() {
    let sb = start_with("b3-range", Some(0));
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let id = send(&a, &b, b"0123456789");
    let r = finish(
        agent()
            .get(&url(&b, &format!("/{id}/download")))
            .header("Authorization", &format!("Bearer {}", b.read))
            .header("Range", "bytes=2-5")
            .call(),
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, b"2345");
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
    let r = finish(
        agent()
            .get(&url(&b, &format!("/{id}/download")))
            .header("Authorization", &format!("Bearer {}", b.read))
            .header("Range", "bytes=20-")
            .call(),
    );
    assert_eq!((r.status, r.code().as_str()), (416, "BRO-00029"));
    // Expiry (30 days by default) purges the file; the clock is the sandbox's.
    admin(&sb, "/clock/advance", json!({"seconds": 30 * 86400 + 1}));
    // Tokens expire with the clock too.
    let r = get(&b, &b.read, &format!("/{id}"));
    assert_eq!(r.status, 401);
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let ov = get(&b, &b.read, &format!("/{id}")).json();
    assert_eq!(ov["fileTransferStatus"], "Purged");
    let r = get(&b, &b.read, &format!("/{id}/download"));
    assert_eq!(r.code(), "BRO-00007");
    // Admin expiry of a single transfer.
    let id2 = send(&a, &b, b"x");
    let v = admin(&sb, &format!("/transfers/{id2}/expire"), json!({}));
    assert_eq!(v["fileTransferStatus"], "Purged");
}

#[test]
fn search_filters_order_and_limit() {
    let sb = start_with("b3-search", Some(0));
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let c = party(&sb, ORG_C);
    let mut ids = Vec::new();
    for _ in 0..103 {
        let r = initialize(&a, &init_body(ORG_A, ORG_B));
        ids.push(r.json()["fileTransferId"].as_str().unwrap().to_string());
    }
    let s = get(&b, &b.read, &format!("?resourceId={RESOURCE}")).json();
    let got: Vec<String> = s
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got.len(), 100, "the broker returns at most 100");
    assert_eq!(got[0], ids[102], "newest first");
    let s = get(
        &b,
        &b.read,
        &format!("?resourceId={RESOURCE}&orderAscending=true"),
    )
    .json();
    assert_eq!(s[0], ids[0].as_str());
    // Role, status and recipientStatus filters.
    assert_eq!(
        get(&b, &b.read, &format!("?resourceId={RESOURCE}&role=Sender")).json(),
        json!([])
    );
    assert_eq!(
        get(&a, &a.read, &format!("?resourceId={RESOURCE}&role=Sender"))
            .json()
            .as_array()
            .unwrap()
            .len(),
        100
    );
    assert_eq!(
        get(
            &b,
            &b.read,
            &format!("?resourceId={RESOURCE}&status=Published")
        )
        .json(),
        json!([])
    );
    upload(&a, &ids[5], b"now published");
    assert_eq!(
        get(
            &b,
            &b.read,
            &format!("?resourceId={RESOURCE}&status=published&recipientStatus=Initialized")
        )
        .json(),
        json!([ids[5]])
    );
    // Unknown actor gets [].
    assert_eq!(
        get(&c, &c.read, &format!("?resourceId={RESOURCE}")).json(),
        json!([])
    );
    // from/to on created.
    let future = "2999-01-01T00:00:00Z";
    assert_eq!(
        get(
            &b,
            &b.read,
            &format!("?resourceId={RESOURCE}&from={future}")
        )
        .json(),
        json!([])
    );
    assert_eq!(
        get(&b, &b.read, &format!("?resourceId={RESOURCE}&to={future}"))
            .json()
            .as_array()
            .unwrap()
            .len(),
        100
    );
    // Errors.
    let r = get(&b, &b.read, "?status=Published");
    assert_eq!(r.status, 400);
    let r = get(&b, &b.read, &format!("?resourceId={RESOURCE}&status=Bogus"));
    assert_eq!(r.status, 400);
    assert!(r.json()["errors"]["status"].is_array());
    let r = get(&b, &b.read, "?resourceId=other");
    assert_eq!((r.status, r.code().as_str()), (403, "BRO-00005"));
}

#[test]
fn faults_are_injected() {
    let sb = start_with("b3-faults", Some(0));
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let id = send(&a, &b, &vec![7u8; 200_000]);
    admin(
        &sb,
        "/faults",
        json!({"path": "/broker/api/v1/filetransfer", "method": "GET", "kind": "rate_limit", "retry_after": 7, "times": 1}),
    );
    let r = get(&b, &b.read, &format!("/{id}"));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(get(&b, &b.read, &format!("/{id}")).status, 200, "only once");
    admin(
        &sb,
        "/faults",
        json!({"path": "/broker/api/v1/filetransfer", "kind": "status", "status": 503, "times": 1}),
    );
    assert_eq!(get(&b, &b.read, &format!("/{id}")).status, 503);
    admin(
        &sb,
        "/faults",
        json!({"path": format!("/broker/api/v1/filetransfer/{id}/download"), "kind": "drop", "after_bytes": 1000, "times": 1}),
    );
    let r = agent()
        .get(&url(&b, &format!("/{id}/download")))
        .header("Authorization", &format!("Bearer {}", b.read))
        .call();
    let short = match r {
        Ok(mut resp) => resp.body_mut().read_to_vec().is_err(),
        Err(_) => true,
    };
    assert!(short, "the body must be cut off");
    // The download was recorded before the bytes went out: the Initialized search misses it now.
    let s = get(
        &b,
        &b.read,
        &format!("?resourceId={RESOURCE}&recipientStatus=Initialized"),
    );
    assert_eq!(s.json(), json!([]));
    let ov = get(&b, &b.read, &format!("/{id}")).json();
    assert_eq!(
        ov["recipients"][0]["currentRecipientFileTransferStatusCode"],
        "DownloadStarted"
    );
    let t0 = std::time::Instant::now();
    admin(
        &sb,
        "/faults",
        json!({"path": "/serviceregistry/jwk", "kind": "slow", "delay_ms": 300, "times": 1}),
    );
    agent()
        .get(&format!("{}/serviceregistry/jwk", sb.base_url()))
        .call()
        .unwrap();
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));
}

#[test]
fn state_survives_a_restart() {
    let sb = start_with("b3-persist", Some(0));
    let a = party(&sb, ORG_A);
    let b = party(&sb, ORG_B);
    let id = send(&a, &b, b"kept across restarts");
    admin(&sb, "/clock/advance", json!({"seconds": 60}));
    let dir = sb.dir().to_path_buf();
    sb.stop();
    let sb = efm_sandbox::Sandbox::start(efm_sandbox::SandboxOptions {
        dir,
        virus_scan_delay_ms: Some(0),
        ..Default::default()
    })
    .unwrap();
    // Tokens are issued afresh (the port changed), the transfer and its bytes are still there.
    let b = party(&sb, ORG_B);
    let ov = get(&b, &b.read, &format!("/{id}")).json();
    assert_eq!(ov["fileTransferStatus"], "Published", "{ov}");
    let d = get(&b, &b.read, &format!("/{id}/download"));
    assert_eq!(d.body, b"kept across restarts");
    let clock: Value = agent()
        .get(&format!("{}/admin/clock", sb.base_url()))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert!(clock["offset_secs"].as_i64().unwrap() >= 60);
}

#[test]
fn rate_limits_and_admin_controls() {
    let sb = start_with("b3-rate", Some(0));
    let b = party(&sb, ORG_B);
    let a = party(&sb, ORG_A);
    admin(&sb, "/settings", json!({"rate_limits": true}));
    let search = format!("?resourceId={RESOURCE}");
    for _ in 0..10 {
        assert_eq!(get(&b, &b.read, &search).status, 200);
    }
    let r = get(&b, &b.read, &search);
    assert_eq!(r.status, 429, "search allows 10 a minute");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Each endpoint and client has its own counter; the next minute starts afresh.
    assert_eq!(get(&a, &a.read, &search).status, 200);
    admin(&sb, "/clock/advance", json!({"seconds": 60}));
    let b = party(&sb, ORG_B);
    assert_eq!(get(&b, &b.read, &search).status, 200);
    admin(&sb, "/settings", json!({"rate_limits": false}));

    // Forcing a status, listing, clearing faults, refusing unknown settings.
    let id = send(&a, &b, b"x");
    let v = admin(
        &sb,
        &format!("/transfers/{id}/status"),
        json!({"status": "Failed", "text": "forced"}),
    );
    assert_eq!(v["fileTransferStatus"], "Failed");
    let ov = get(&b, &b.read, &format!("/{id}")).json();
    assert_eq!(ov["fileTransferStatusText"], "forced");
    admin(
        &sb,
        "/faults",
        json!({"path": "/serviceregistry", "kind": "status", "status": 500}),
    );
    let r = agent()
        .delete(&format!("{}/admin/faults", sb.base_url()))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = agent()
        .get(&format!("{}/serviceregistry/jwk", sb.base_url()))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = agent()
        .post(&format!("{}/admin/settings", sb.base_url()))
        .send_json(json!({"colour": "blue"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = agent()
        .post(&format!("{}/admin/faults", sb.base_url()))
        .send_json(json!({"path": "/x", "kind": "explode"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
