//! The Altinn 2 SOAP broker stand-in, with envelopes written as the integration point sends them,
//! and the store it shares with the Altinn 3 broker.

mod common;
use common::*;
use serde_json::{json, Value};

const BS: &str = "http://www.altinn.no/services/ServiceEngine/Broker/2015/06";
const ACTION: &str =
    "http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasic/";
const ACTION_STREAMED: &str =
    "http://www.altinn.no/services/ServiceEngine/Broker/2015/06/IBrokerServiceExternalBasicStreamed/";

struct Login {
    user: String,
    password: String,
    basic: String,
    streamed: String,
}

fn login(o: &Org) -> Login {
    let a = o.config.altinn2.as_ref().unwrap();
    Login {
        user: a.username.clone(),
        password: a.password.expose().to_string(),
        basic: o.config.urls.altinn2_broker_basic.clone(),
        streamed: o.config.urls.altinn2_broker_streamed.clone(),
    }
}

fn soap(url: &str, action: &str, body: &str) -> (u16, String) {
    let env = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bs="{BS}" xmlns:bse="http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06" xmlns:bp="http://schemas.altinn.no/services/ServiceEngine/Broker/2020/01" xmlns:arr="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><soap:Body>{body}</soap:Body></soap:Envelope>"#
    );
    raw(
        url,
        Some(action),
        "text/xml; charset=utf-8",
        env.into_bytes(),
    )
}

fn raw(url: &str, action: Option<&str>, ctype: &str, body: Vec<u8>) -> (u16, String) {
    let mut req = agent().post(url).header("Content-Type", ctype);
    if let Some(a) = action {
        req = req.header("SOAPAction", &format!("\"{a}\""));
    }
    let mut r = req.send(&body[..]).unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn initiate_body(l: &Login, reportee: &str, recipient: &str, reference: &str) -> String {
    format!(
        "<bs:InitiateBrokerServiceBasic><bs:systemUserName>{}</bs:systemUserName><bs:systemPassword>{}</bs:systemPassword><bs:brokerServiceInitiation><bse:Manifest><bse:ExternalServiceCode>4192</bse:ExternalServiceCode><bse:ExternalServiceEditionCode>270815</bse:ExternalServiceEditionCode><bse:ArrayOfFile><bse:File><bse:FileName>sbd.zip</bse:FileName></bse:File></bse:ArrayOfFile><bse:Reportee>{reportee}</bse:Reportee><bse:SendersReference>{reference}</bse:SendersReference></bse:Manifest><bse:RecipientList><bse:Recipient><bse:PartyNumber>{recipient}</bse:PartyNumber></bse:Recipient></bse:RecipientList></bs:brokerServiceInitiation></bs:InitiateBrokerServiceBasic>",
        l.user, l.password
    )
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let i = s.find(a)? + a.len();
    let j = s[i..].find(b)? + i;
    Some(&s[i..j])
}

fn initiate(l: &Login, reportee: &str, recipient: &str) -> String {
    let (s, body) = soap(
        &l.basic,
        &format!("{ACTION}InitiateBrokerServiceBasic"),
        &initiate_body(l, reportee, recipient, "ref-1"),
    );
    assert_eq!(s, 200, "{body}");
    between(
        &body,
        "<InitiateBrokerServiceBasicResult>",
        "</InitiateBrokerServiceBasicResult>",
    )
    .unwrap()
    .to_string()
}

fn upload_mtom(l: &Login, reportee: &str, reference: &str, data: &[u8]) -> (u16, String) {
    let boundary = "uuid:7d8c1e1a-test+id=1";
    let root = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bs="{BS}"><soap:Header><bs:FileName>sbd.zip</bs:FileName><bs:Reference>{reference}</bs:Reference><bs:Reportee>{reportee}</bs:Reportee><bs:SystemPassword>{}</bs:SystemPassword><bs:SystemUserName>{}</bs:SystemUserName></soap:Header><soap:Body><bs:StreamedPayloadBasicBE><bs:DataStream><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:payload.1%40dpo"/></bs:DataStream></bs:StreamedPayloadBasicBE></soap:Body></soap:Envelope>"#,
        l.password, l.user
    );
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/xop+xml; charset=utf-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <root.0@dpo>\r\n\r\n{root}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <payload.1@dpo>\r\n\r\n").as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    raw(
        &l.streamed,
        Some(&format!("{ACTION_STREAMED}UploadFileStreamedBasic")),
        &format!("multipart/related; type=\"application/xop+xml\"; start=\"<root.0@dpo>\"; start-info=\"text/xml\"; boundary=\"{boundary}\""),
        body,
    )
}

/// Download over MTOM; the binary part's bytes.
fn download(l: &Login, reportee: &str, id: &str) -> Result<Vec<u8>, String> {
    let env = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bs="{BS}"><soap:Body><bs:DownloadFileStreamedBasic><bs:systemUserName>{}</bs:systemUserName><bs:systemPassword>{}</bs:systemPassword><bs:fileReference>{id}</bs:fileReference><bs:reportee>{reportee}</bs:reportee></bs:DownloadFileStreamedBasic></soap:Body></soap:Envelope>"#,
        l.user, l.password
    );
    let mut r = agent()
        .post(&l.streamed)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(
            "SOAPAction",
            &format!("\"{ACTION_STREAMED}DownloadFileStreamedBasic\""),
        )
        .send(env.as_bytes())
        .unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = r.body_mut().read_to_vec().unwrap();
    if r.status().as_u16() != 200 {
        return Err(String::from_utf8_lossy(&body).to_string());
    }
    assert!(ct.starts_with("multipart/related"), "{ct}");
    let boundary = between(&ct, "boundary=\"", "\"").unwrap().to_string();
    let text = String::from_utf8_lossy(&body).to_string();
    let cid = between(&text, "href=\"cid:", "\"").unwrap().to_string();
    let marker = format!("Content-ID: <{cid}>");
    let start = find(&body, marker.as_bytes()).unwrap();
    let data_start = find(&body[start..], b"\r\n\r\n").unwrap() + start + 4;
    let end = find(
        &body[data_start..],
        format!("\r\n--{boundary}--").as_bytes(),
    )
    .unwrap()
        + data_start;
    Ok(body[data_start..end].to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn available(l: &Login, reportee: &str, status: &str) -> (u16, String) {
    soap(&l.basic, &format!("{ACTION}GetAvailableFilesBasic"), &format!(
        "<bs:GetAvailableFilesBasic><bs:systemUserName>{}</bs:systemUserName><bs:systemPassword>{}</bs:systemPassword><bs:searchParameters><bse:ExternalServiceCode>4192</bse:ExternalServiceCode><bse:ExternalServiceEditionCode>270815</bse:ExternalServiceEditionCode><bse:FileStatus>{status}</bse:FileStatus><bse:Reportee>{reportee}</bse:Reportee></bs:searchParameters></bs:GetAvailableFilesBasic>",
        l.user, l.password))
}

fn check(l: &Login, reportee: &str) -> (u16, String) {
    soap(&l.basic, &format!("{ACTION}CheckIfAvailableFilesBasic"), &format!(
        "<bs:CheckIfAvailableFilesBasic><bs:systemUserName>{}</bs:systemUserName><bs:systemPassword>{}</bs:systemPassword><bs:pollParameters><bp:ExternalServiceCode>4192</bp:ExternalServiceCode><bp:ExternalServiceEditionCode>270815</bp:ExternalServiceEditionCode><bp:Recipients><arr:string>{reportee}</arr:string></bp:Recipients></bs:pollParameters></bs:CheckIfAvailableFilesBasic>",
        l.user, l.password))
}

fn confirm(l: &Login, reportee: &str, id: &str) -> (u16, String) {
    soap(&l.basic, &format!("{ACTION}ConfirmDownloadedBasic"), &format!(
        "<bs:ConfirmDownloadedBasic><bs:systemUserName>{}</bs:systemUserName><bs:systemPassword>{}</bs:systemPassword><bs:fileReference>{id}</bs:fileReference><bs:reportee>{reportee}</bs:reportee></bs:ConfirmDownloadedBasic>",
        l.user, l.password))
}

#[test]
fn send_list_download_confirm_over_soap() {
    let sb = start_with("a2-flow", Some(0));
    let a = login(&org(&sb, ORG_A));
    let b = login(&org(&sb, ORG_B));
    let id = initiate(&a, ORG_A, ORG_B);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let (s, body) = upload_mtom(&a, ORG_A, &id, &data);
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains("<ReceiptStatusCode>OK</ReceiptStatusCode>"),
        "{body}"
    );
    // A second upload for the same reference is refused.
    let (s, body) = upload_mtom(&a, ORG_A, &id, b"again");
    assert_eq!(s, 500);
    assert!(body.contains("AltinnFault"), "{body}");

    let (s, body) = check(&b, ORG_B);
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains("<CheckIfAvailableFilesBasicResult>true<"),
        "{body}"
    );
    let (s, body) = available(&b, ORG_B, "Uploaded");
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains(&format!("<a:FileReference>{id}</a:FileReference>")),
        "{body}"
    );
    assert!(body.contains("<a:FileSize>100000</a:FileSize>"), "{body}");
    assert!(
        body.contains(&format!("<a:Reportee>{ORG_A}</a:Reportee>")),
        "{body}"
    );
    assert!(
        body.contains("<a:SendersReference>ref-1</a:SendersReference>"),
        "{body}"
    );

    assert_eq!(download(&b, ORG_B, &id).unwrap(), data);
    // The sender cannot download its own file.
    assert!(download(&a, ORG_A, &id)
        .unwrap_err()
        .contains("AltinnFault"));

    let (s, body) = confirm(&b, ORG_B, &id);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("ConfirmDownloadedBasicResponse"));
    let (_, body) = available(&b, ORG_B, "Uploaded");
    assert!(!body.contains(&id), "{body}");
    let (_, body) = available(&b, ORG_B, "Downloaded");
    assert!(body.contains(&id), "{body}");
    let (_, body) = check(&b, ORG_B);
    assert!(body.contains(">false<"), "{body}");
}

#[test]
fn faults_for_bad_requests() {
    let sb = start_with("a2-faults", Some(0));
    let a = login(&org(&sb, ORG_A));
    let action = format!("{ACTION}InitiateBrokerServiceBasic");

    // Wrong password: Altinn's ErrorID 989.
    let bad = Login {
        password: "wrong".into(),
        ..login(&org(&sb, ORG_A))
    };
    let (s, body) = soap(&a.basic, &action, &initiate_body(&bad, ORG_A, ORG_B, "r"));
    assert_eq!(s, 500);
    assert!(
        body.contains("<ErrorID>989</ErrorID>") && body.contains("Incorrect username/password"),
        "{body}"
    );
    assert!(body.contains("<faultcode>s:Client</faultcode>"));
    assert!(!body.contains(&a.password));

    // Elements out of WSDL order (Reportee before ExternalServiceCode).
    let swapped = initiate_body(&a, ORG_A, ORG_B, "r")
        .replace(
            "<bse:ExternalServiceCode>4192</bse:ExternalServiceCode>",
            "",
        )
        .replace(
            "<bse:Reportee>",
            "<bse:ExternalServiceCode>4192</bse:ExternalServiceCode><bse:Reportee>",
        );
    let (s, body) = soap(&a.basic, &action, &swapped);
    assert_eq!(s, 500);
    assert!(body.contains("ExternalServiceCode"), "{body}");

    // Wrong namespace on a child.
    let wrong_ns =
        initiate_body(&a, ORG_A, ORG_B, "r").replace("bs:systemUserName", "bse:systemUserName");
    let (s, _) = soap(&a.basic, &action, &wrong_ns);
    assert_eq!(s, 500);

    // SOAPAction missing or for another operation.
    let env_body = initiate_body(&a, ORG_A, ORG_B, "r");
    let (s, body) = soap(
        &a.basic,
        &format!("{ACTION}GetAvailableFilesBasic"),
        &env_body,
    );
    assert_eq!(s, 500);
    assert!(
        body.contains("SOAPAction") || body.contains("Action"),
        "{body}"
    );

    // Acting for an organisation that has not delegated.
    let (s, body) = soap(&a.basic, &action, &initiate_body(&a, ORG_B, ORG_C, "r"));
    assert_eq!(s, 500);
    assert!(body.contains("not authorised"), "{body}");
    // After delegation it works.
    let mut r = agent()
        .post(&format!("{}/admin/altinn2/reportees", sb.base_url()))
        .send_json(json!({"username": a.user, "organisation_number": ORG_B}))
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    initiate(&a, ORG_B, ORG_C);

    // Unknown service edition.
    let (s, body) = soap(
        &a.basic,
        &action,
        &initiate_body(&a, ORG_A, ORG_B, "r").replace("270815", "1"),
    );
    assert_eq!(s, 500);
    assert!(body.contains("edition"), "{body}");

    // A DTD (entity expansion) is refused outright.
    let evil = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>&a;</soap:Body></soap:Envelope>".to_string();
    let (s, body) = raw(
        &a.basic,
        Some(&action),
        "text/xml; charset=utf-8",
        evil.into_bytes(),
    );
    assert_eq!(s, 500);
    assert!(
        body.contains("well-formed") || body.contains("DTD"),
        "{body}"
    );

    // SOAP 1.2 envelope.
    let (s, body) = raw(
        &a.basic,
        Some(&action),
        "text/xml; charset=utf-8",
        b"<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body/></e:Envelope>"
            .to_vec(),
    );
    assert_eq!(s, 500);
    assert!(body.contains("VersionMismatch"), "{body}");

    // Unknown file reference on download.
    assert!(download(&a, ORG_A, &uuid::Uuid::new_v4().to_string()).is_err());
}

fn admin_get(sb: &efm_sandbox::Sandbox, path: &str) -> Value {
    agent()
        .get(&format!("{}/admin{path}", sb.base_url()))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

#[test]
fn both_brokers_share_one_store() {
    let sb = start_with("a2-shared", Some(0));
    let oa = org(&sb, ORG_A);
    let ob = org(&sb, ORG_B);
    let lb = login(&ob);

    // Altinn 3 → Altinn 2.
    let w = altinn_token(&oa, "altinn:broker.write");
    let mut r = agent().post(&format!("{}/filetransfer/", oa.config.urls.altinn3_broker))
        .header("Authorization", &format!("Bearer {w}"))
        .send_json(json!({"fileName":"sbd.zip","resourceId":"eformidling-dpo-meldingsutveksling","sendersFileTransferReference":"chan-1",
            "sender":format!("0192:{ORG_A}"),"recipients":[format!("0192:{ORG_B}")],"propertyList":{}})).unwrap();
    let id: Value = r.body_mut().read_json().unwrap();
    let id = id["fileTransferId"].as_str().unwrap().to_string();
    let r = agent()
        .post(&format!(
            "{}/filetransfer/{id}/upload",
            oa.config.urls.altinn3_broker
        ))
        .header("Authorization", &format!("Bearer {w}"))
        .header("Content-Type", "application/octet-stream")
        .send(&b"from altinn 3"[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, body) = available(&lb, ORG_B, "Uploaded");
    assert!(body.contains(&id), "{body}");
    assert_eq!(download(&lb, ORG_B, &id).unwrap(), b"from altinn 3");
    assert_eq!(confirm(&lb, ORG_B, &id).0, 200);
    let rt = altinn_token(&ob, "altinn:broker.read");
    let mut r = agent()
        .get(&format!(
            "{}/filetransfer/{id}",
            ob.config.urls.altinn3_broker
        ))
        .header("Authorization", &format!("Bearer {rt}"))
        .call()
        .unwrap();
    let ov: Value = r.body_mut().read_json().unwrap();
    assert_eq!(ov["fileTransferStatus"], "AllConfirmedDownloaded");

    // Altinn 2 → Altinn 3.
    let id2 = initiate(&lb, ORG_B, ORG_A);
    assert_eq!(upload_mtom(&lb, ORG_B, &id2, b"from altinn 2").0, 200);
    let ra = altinn_token(&oa, "altinn:broker.read");
    let mut r = agent().get(&format!("{}/filetransfer?resourceId=eformidling-dpo-meldingsutveksling&status=Published&recipientStatus=Initialized", oa.config.urls.altinn3_broker))
        .header("Authorization", &format!("Bearer {ra}")).call().unwrap();
    let ids: Value = r.body_mut().read_json().unwrap();
    assert_eq!(ids, json!([id2]));
    let mut r = agent()
        .get(&format!(
            "{}/filetransfer/{id2}/download",
            oa.config.urls.altinn3_broker
        ))
        .header("Authorization", &format!("Bearer {ra}"))
        .call()
        .unwrap();
    assert_eq!(r.body_mut().read_to_vec().unwrap(), b"from altinn 2");
    let list = admin_get(&sb, "/transfers");
    let origins: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["origin"].as_str().unwrap())
        .collect();
    assert!(origins.contains(&"altinn2") && origins.contains(&"altinn3"));
}

#[test]
fn inline_base64_upload_and_test_operation() {
    use base64::Engine;
    let sb = start_with("a2-inline", Some(0));
    let a = login(&org(&sb, ORG_A));
    let b = login(&org(&sb, ORG_B));
    let id = initiate(&a, ORG_A, ORG_B);
    let data = b"inline payload, no MTOM";
    let env = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bs="{BS}"><soap:Header><bs:FileName>other.zip</bs:FileName><bs:Reference>{id}</bs:Reference><bs:Reportee>{ORG_A}</bs:Reportee><bs:SystemPassword>{}</bs:SystemPassword><bs:SystemUserName>{}</bs:SystemUserName></soap:Header><soap:Body><bs:StreamedPayloadBasicBE><bs:DataStream>{}</bs:DataStream></bs:StreamedPayloadBasicBE></soap:Body></soap:Envelope>"#,
        a.password,
        a.user,
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    let (s, body) = raw(
        &a.streamed,
        Some(&format!("{ACTION_STREAMED}UploadFileStreamedBasic")),
        "text/xml; charset=utf-8",
        env.into_bytes(),
    );
    assert_eq!(s, 200, "{body}");
    let (_, list) = available(&b, ORG_B, "Uploaded");
    assert!(
        list.contains("<a:FileName>other.zip</a:FileName>"),
        "{list}"
    );
    assert_eq!(download(&b, ORG_B, &id).unwrap(), data);

    // Upload headers missing the password.
    let env = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bs="{BS}"><soap:Header><bs:Reference>{id}</bs:Reference><bs:SystemUserName>{}</bs:SystemUserName></soap:Header><soap:Body><bs:StreamedPayloadBasicBE><bs:DataStream>AA==</bs:DataStream></bs:StreamedPayloadBasicBE></soap:Body></soap:Envelope>"#,
        a.user
    );
    let (s, body) = raw(
        &a.streamed,
        Some(&format!("{ACTION_STREAMED}UploadFileStreamedBasic")),
        "text/xml; charset=utf-8",
        env.into_bytes(),
    );
    assert_eq!(s, 500);
    assert!(body.contains("SystemPassword"), "{body}");

    // The Test operation on the Basic port.
    let (s, body) = raw(
        &a.basic,
        Some("http://www.altinn.no/services/2009/10/IAltinnContractBase/Test"),
        "text/xml; charset=utf-8",
        br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><Test xmlns="http://www.altinn.no/services/2009/10"/></soap:Body></soap:Envelope>"#.to_vec(),
    );
    assert_eq!(s, 200);
    assert!(body.contains("TestResponse"));
}

#[test]
fn download_request_as_mtom_like_jax_ws() {
    let sb = start_with("a2-mtom-dl", Some(0));
    let a = login(&org(&sb, ORG_A));
    let b = login(&org(&sb, ORG_B));
    let id = initiate(&a, ORG_A, ORG_B);
    assert_eq!(upload_mtom(&a, ORG_A, &id, b"payload").0, 200);
    let boundary = "uuid:jaxws+id=2";
    let env = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bs="{BS}"><soap:Body><bs:DownloadFileStreamedBasic><bs:systemUserName>{}</bs:systemUserName><bs:systemPassword>{}</bs:systemPassword><bs:fileReference>{id}</bs:fileReference><bs:reportee>{ORG_B}</bs:reportee></bs:DownloadFileStreamedBasic></soap:Body></soap:Envelope>"#,
        b.user, b.password
    );
    let body = format!("--{boundary}\r\nContent-Type: application/xop+xml; charset=utf-8; type=\"text/xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <root@jaxws>\r\n\r\n{env}\r\n--{boundary}--\r\n");
    let mut r = agent()
        .post(&b.streamed)
        .header("Content-Type", &format!("multipart/related; type=\"application/xop+xml\"; start=\"<root@jaxws>\"; start-info=\"text/xml\"; boundary=\"{boundary}\""))
        .header("SOAPAction", &format!("\"{ACTION_STREAMED}DownloadFileStreamedBasic\""))
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.body_mut().read_to_vec().unwrap();
    assert!(find(&bytes, b"\r\n\r\npayload\r\n--").is_some());
}
