//! The Altinn 2 SOAP broker client against efm-sandbox's SOAP endpoints: a package sent by one
//! organisation is found, downloaded byte for byte and confirmed by the other; files cross between
//! the Altinn 2 and Altinn 3 APIs (one store); faults, cut downloads and 500s give specific errors;
//! and the envelopes we build validate against the reference WSDLs' schemas (Python lxml).

mod common;

use common::{
    fault, python, reference, sandbox, sandbox_config, sandbox_config_json, ORG_A, ORG_B, ORG_C,
};
use efm_core::auth::Tokens;
use efm_core::config::Config;
use efm_core::http::Http;
use efm_core::ident::OrgNumber;
use efm_core::transport::altinn2::{soap, Altinn2Broker};
use efm_core::transport::altinn3::Altinn3Broker;
use efm_core::transport::{Outgoing, SystemUserTokens, Transport};
use efm_core::ErrorKind;
use serde_json::json;

const STREAMED: &str = "/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc";
const BASIC: &str = "/ServiceEngineExternal/BrokerServiceExternalBasic.svc";

struct Party {
    config: Config,
    http: Http,
}

impl Party {
    fn new(config: Config) -> Party {
        let http = Http::new(&config).unwrap();
        Party { config, http }
    }
    fn a2(&self) -> Altinn2Broker<'_> {
        Altinn2Broker::from_config(&self.http, &self.config).unwrap()
    }
    fn a2_channel(&self, channel: Option<&str>) -> Altinn2Broker<'_> {
        let c = &self.config;
        Altinn2Broker::new(
            &self.http,
            &c.urls.altinn2_broker_basic,
            &c.urls.altinn2_broker_streamed,
            c.altinn2.as_ref().unwrap(),
            &c.organisation_number,
            channel.map(str::to_string),
        )
        .unwrap()
    }
}

fn payload(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

fn send(broker: &dyn Transport, from: &Party, to: &str, reference: &str, data: &[u8]) -> String {
    let mut body = data;
    let mut last = (0, 0);
    let id = broker
        .upload(
            Outgoing {
                sender: &from.config.organisation_number,
                recipient: &OrgNumber::parse(to).unwrap(),
                senders_reference: reference,
                body: &mut body,
                size: data.len() as u64,
            },
            &mut |done, total| last = (done, total),
        )
        .unwrap();
    assert_eq!(
        last,
        (data.len() as u64, data.len() as u64),
        "progress reached the end"
    );
    id
}

fn fetch(broker: &dyn Transport, id: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let n = broker.download(id, &mut got, &mut |_, _| {}).unwrap();
    assert_eq!(n, got.len() as u64);
    got
}

#[test]
fn round_trip_over_altinn2() {
    let sb = sandbox("a2-roundtrip");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let data = payload(300_000, 1);
    let reference = "5b9e0a3c-2f47-4f4e-9a5b-0d1c7e9b2a11";
    assert!(b.a2().available().unwrap().is_empty());
    let id = send(&a.a2(), &a, ORG_B, reference, &data);

    let found = b.a2().available().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].sender, format!("0192:{ORG_A}"));
    assert_eq!(found[0].senders_reference.as_deref(), Some(reference));
    assert_eq!(found[0].size, data.len() as u64);
    assert!(!found[0].created.is_empty());

    // Nobody else sees it, and the sender cannot fetch it.
    let c = Party::new(sandbox_config(&sb, ORG_C));
    assert!(c.a2().available().unwrap().is_empty());
    let e = a
        .a2()
        .download(&id, &mut Vec::new(), &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteService, "{e}");
    assert_eq!(e.detail().http_status, Some(500));
    assert!(e.detail().remote_code.is_some(), "{e:?}");

    assert_eq!(fetch(&b.a2(), &id), data);
    b.a2().confirm(&id).unwrap();
    // Confirm is idempotent.
    b.a2().confirm(&id).unwrap();
    assert!(b.a2().available().unwrap().is_empty());
}

#[test]
fn message_channel_filter() {
    let sb = sandbox("a2-channel");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let for_channel = send(&a.a2(), &a, ORG_B, "arkiv-2", b"to a channel");
    let for_anyone = send(
        &a.a2(),
        &a,
        ORG_B,
        "2b1e6c1a-8a3e-4c53-8d0f-2b7a5b6c9d10",
        b"no channel",
    );
    let ids = |ch: Option<&str>| {
        b.a2_channel(ch)
            .available()
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(None), vec![for_anyone]);
    assert_eq!(ids(Some("arkiv-2")), vec![for_channel]);
    assert!(ids(Some("arkiv-3")).is_empty());
}

#[test]
fn files_cross_between_altinn2_and_altinn3() {
    let sb = sandbox("a2-cross");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let tokens_a = Tokens::new(&a.config, Http::new(&a.config).unwrap()).unwrap();
    let source_a = SystemUserTokens {
        tokens: &tokens_a,
        user: a.config.system_user.clone(),
    };
    let a3 = Altinn3Broker::new(&a.http, &a.config.urls.altinn3_broker, &source_a, None);

    // Altinn 3 -> Altinn 2.
    let there = payload(120_000, 2);
    let id = send(
        &a3,
        &a,
        ORG_B,
        "7d1c3a52-9a0e-4f1b-8b6e-0f2d9c4e5a61",
        &there,
    );
    let found = b.a2().available().unwrap();
    assert_eq!(found.iter().map(|f| &f.id).collect::<Vec<_>>(), vec![&id]);
    assert_eq!(found[0].sender, format!("0192:{ORG_A}"));
    assert_eq!(fetch(&b.a2(), &id), there);
    b.a2().confirm(&id).unwrap();
    assert!(b.a2().available().unwrap().is_empty());

    // Altinn 2 -> Altinn 3.
    let back = payload(90_000, 3);
    let id = send(
        &b.a2(),
        &b,
        ORG_A,
        "c3f1e2d4-5b6a-4c7d-8e9f-a0b1c2d3e4f5",
        &back,
    );
    let found = a3.available().unwrap();
    assert_eq!(found.iter().map(|f| &f.id).collect::<Vec<_>>(), vec![&id]);
    assert_eq!(found[0].sender, format!("0192:{ORG_B}"));
    assert_eq!(found[0].size, back.len() as u64);
    assert_eq!(fetch(&a3, &id), back);
    a3.confirm(&id).unwrap();
    assert!(a3.available().unwrap().is_empty());
}

#[test]
fn wrong_password_is_auth_failed_with_the_fault_id() {
    let sb = sandbox("a2-password");
    let mut raw = sandbox_config_json(&sb, ORG_A);
    let wrong = "not-the-right-password-4711";
    raw["altinn2"]
        .as_object_mut()
        .unwrap()
        .remove("password_file");
    raw["altinn2"]["password"] = json!(wrong);
    let a = Party::new(Config::from_json(&raw.to_string()).unwrap());
    let broker = a.a2();
    let mut errors = vec![
        broker.available().unwrap_err(),
        broker
            .confirm("0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21")
            .unwrap_err(),
        broker
            .download(
                "0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21",
                &mut Vec::new(),
                &mut |_, _| {},
            )
            .unwrap_err(),
    ];
    let mut body: &[u8] = b"data";
    errors.push(
        broker
            .upload(
                Outgoing {
                    sender: &a.config.organisation_number,
                    recipient: &OrgNumber::parse(ORG_B).unwrap(),
                    senders_reference: "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                    body: &mut body,
                    size: 4,
                },
                &mut |_, _| {},
            )
            .unwrap_err(),
    );
    for e in errors {
        assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
        assert_eq!(e.detail().remote_code.as_deref(), Some("989"), "{e:?}");
        assert_eq!(e.detail().http_status, Some(500));
        let shown = format!("{e} {e:?} {}", e.detail_json());
        assert!(!shown.contains(wrong), "the password leaked: {shown}");
        assert!(shown.contains("altinn2.username"), "{shown}");
    }
}

#[test]
fn a_download_cut_mid_body_is_an_error_not_a_short_file() {
    let sb = sandbox("a2-drop");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let data = payload(400_000, 4);
    let id = send(
        &a.a2(),
        &a,
        ORG_B,
        "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
        &data,
    );
    fault(
        &sb,
        STREAMED,
        json!({"kind": "drop", "after_bytes": 150_000}),
        1,
    );
    let mut partial = Vec::new();
    let e = b
        .a2()
        .download(&id, &mut partial, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionDropped, "{e}");
    assert!(e.retryable());
    assert!(partial.len() < data.len());
    // The file is still there and comes whole the next time.
    assert_eq!(fetch(&b.a2(), &id), data);
}

#[test]
fn http_500_and_faults_are_remote_service_errors() {
    let sb = sandbox("a2-500");
    let b = Party::new(sandbox_config(&sb, ORG_B));
    // A bare 500 (no SOAP fault): the HTTP status, retryable.
    fault(
        &sb,
        BASIC,
        json!({"kind": "status", "status": 500, "body": "Internal Server Error"}),
        1,
    );
    let e = b.a2().available().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteService, "{e}");
    assert_eq!(e.detail().http_status, Some(500));
    assert!(e.retryable());
    // 503 from a front end: unavailable.
    fault(&sb, STREAMED, json!({"kind": "status", "status": 503}), 1);
    let e = b
        .a2()
        .download(
            "0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21",
            &mut Vec::new(),
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteUnavailable, "{e}");
    // An AltinnFault that is not about credentials: RemoteService with the ErrorID.
    let e = b
        .a2()
        .confirm("0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteService, "{e}");
    assert_eq!(e.detail().http_status, Some(500));
    assert!(
        e.detail()
            .remote_code
            .as_deref()
            .is_some_and(|c| c.parse::<i64>().is_ok()),
        "{e:?}"
    );
    // And the broker works again afterwards.
    assert!(b.a2().available().unwrap().is_empty());
}

#[test]
fn configuration_errors_are_specific() {
    let sb = sandbox("a2-config");
    let mut raw = sandbox_config_json(&sb, ORG_A);
    raw.as_object_mut().unwrap().remove("altinn2");
    let config = Config::from_json(&raw.to_string()).unwrap();
    let http = Http::new(&config).unwrap();
    let e = Altinn2Broker::from_config(&http, &config).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e}");
    assert_eq!(e.detail().field.as_deref(), Some("altinn2"));

    let mut raw = sandbox_config_json(&sb, ORG_A);
    raw["altinn2"]["service_edition_code"] = json!("edition-1");
    let config = Config::from_json(&raw.to_string()).unwrap();
    let e = Altinn2Broker::from_config(&http, &config).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e}");
    assert_eq!(
        e.detail().field.as_deref(),
        Some("altinn2.service_edition_code")
    );

    // An edition the broker does not serve: Altinn's fault, not a crash.
    let mut raw = sandbox_config_json(&sb, ORG_A);
    raw["altinn2"]["service_edition_code"] = json!("170101");
    let config = Config::from_json(&raw.to_string()).unwrap();
    let e = Altinn2Broker::from_config(&http, &config)
        .unwrap()
        .available()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteService, "{e}");
    assert!(e.message().contains("170101"), "{e}");
}

#[test]
fn a_package_shorter_than_its_size_is_refused() {
    let sb = sandbox("a2-short");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let mut body: &[u8] = b"only ten b";
    let e = a
        .a2()
        .upload(
            Outgoing {
                sender: &a.config.organisation_number,
                recipient: &OrgNumber::parse(ORG_B).unwrap(),
                senders_reference: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
                body: &mut body,
                size: 20,
            },
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("before the size"), "{e}");
    // Nothing half-uploaded is offered to the recipient.
    assert!(b.a2().available().unwrap().is_empty());
}

/// An AltinnFault as the sandbox (and Altinn) shape it, with our own ErrorID and message.
fn altinn_fault(error_id: u32, message: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>{message}</faultstring><detail><AltinnFault xmlns="http://www.altinn.no/services/common/fault/2009/10"><AltinnErrorMessage>{message}</AltinnErrorMessage><ErrorID>{error_id}</ErrorID></AltinnFault></detail></s:Fault></s:Body></s:Envelope>"#
    )
}

#[test]
fn a_refused_repeat_confirm_counts_as_done_when_the_file_is_downloaded() {
    let sb = sandbox("a2-confirm");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let done = send(
        &a.a2(),
        &a,
        ORG_B,
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        b"first",
    );
    let waiting = send(
        &a.a2(),
        &a,
        ORG_B,
        "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        b"second",
    );
    b.a2().confirm(&done).unwrap();
    // A broker that refuses the repeat (as a real one may): the file is listed as Downloaded
    // for us, so the earlier confirm went through.
    let state_fault = json!({"kind": "status", "status": 500, "body": altinn_fault(30011, "File already confirmed")});
    fault(&sb, BASIC, state_fault.clone(), 1);
    b.a2().confirm(&done).unwrap();
    // The same refusal for a file we never confirmed is an error.
    fault(&sb, BASIC, state_fault, 1);
    let e = b.a2().confirm(&waiting).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteService, "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("30011"));
    assert!(e.message().contains("File already confirmed"), "{e}");
}

#[test]
fn a_password_echoed_in_a_fault_is_blanked() {
    let sb = sandbox("a2-echo");
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let password = b
        .config
        .altinn2
        .as_ref()
        .unwrap()
        .password
        .expose()
        .to_string();
    assert!(password.len() >= 8);
    let body = altinn_fault(
        989,
        &format!("Incorrect username/password/pin given for user (got {password})"),
    );
    fault(
        &sb,
        BASIC,
        json!({"kind": "status", "status": 500, "body": body}),
        1,
    );
    let e = b.a2().available().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("989"));
    let shown = format!("{e} {e:?} {}", e.detail_json());
    assert!(!shown.contains(&password), "the password leaked: {shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn eight_mib_streams_through_files() {
    let sb = sandbox("a2-large");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let dir = common::temp_dir("a2-large-files");
    let src = dir.join("out.zip");
    let data = payload(8 * 1024 * 1024 + 12_345, 5);
    std::fs::write(&src, &data).unwrap();
    let mut file = std::fs::File::open(&src).unwrap();
    let id = a
        .a2()
        .upload(
            Outgoing {
                sender: &a.config.organisation_number,
                recipient: &OrgNumber::parse(ORG_B).unwrap(),
                senders_reference: "e2d3c4b5-a697-4887-9a0b-1c2d3e4f5a6b",
                body: &mut file,
                size: data.len() as u64,
            },
            &mut |_, _| {},
        )
        .unwrap();
    let dst = dir.join("in.zip");
    let mut out = std::fs::File::create(&dst).unwrap();
    let mut calls = 0u32;
    let n = b
        .a2()
        .download(&id, &mut out, &mut |_, _| calls += 1)
        .unwrap();
    drop(out);
    assert_eq!(n, data.len() as u64);
    assert!(
        calls > 10,
        "progress is reported while streaming ({calls} calls)"
    );
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "the downloaded file differs"
    );
    b.a2().confirm(&id).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Validates the Body (and Header) elements of SOAP envelopes against the schemas embedded in a
/// WSDL, with lxml (libxml2). `xop:Include` is replaced by base64 content first, as XOP
/// reconstitution does. Prints one line per envelope: `ok` or `invalid: <reason>`.
const VALIDATE: &str = r#"
import sys, copy, os
from lxml import etree
XS = "http://www.w3.org/2001/XMLSchema"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XOP = "http://www.w3.org/2004/08/xop/include"
wsdl_path, workdir = sys.argv[1], sys.argv[2]
wsdl = etree.parse(wsdl_path, etree.XMLParser(resolve_entities=False, no_network=True))
root = wsdl.getroot()
files = {}
schemas = root.findall(".//{%s}schema" % XS)
for i, s in enumerate(schemas):
    files[s.get("targetNamespace")] = "s%d.xsd" % i
for i, s in enumerate(schemas):
    nsmap = dict(root.nsmap)
    nsmap.update(s.nsmap)
    nsmap.pop(None, None)
    out = etree.Element(s.tag, nsmap=nsmap)
    for k, v in s.attrib.items():
        out.set(k, v)
    for c in s:
        c = copy.deepcopy(c)
        if c.tag == "{%s}import" % XS and c.get("namespace") in files:
            c.set("schemaLocation", files[c.get("namespace")])
        out.append(c)
    etree.ElementTree(out).write(os.path.join(workdir, "s%d.xsd" % i))
main = etree.Element("{%s}schema" % XS, nsmap={"xs": XS})
for ns, f in files.items():
    etree.SubElement(main, "{%s}import" % XS, namespace=ns, schemaLocation=f)
main_path = os.path.join(workdir, "main.xsd")
etree.ElementTree(main).write(main_path)
schema = etree.XMLSchema(etree.parse(main_path))
for path in sys.argv[3:]:
    env = etree.parse(path).getroot()
    problems = []
    if env.tag != "{%s}Envelope" % SOAP:
        problems.append("root is %s" % env.tag)
    body = env.find("{%s}Body" % SOAP)
    header = env.find("{%s}Header" % SOAP)
    elements = list(body) if body is not None else []
    if len(elements) != 1:
        problems.append("Body has %d elements" % len(elements))
    if header is not None:
        elements += list(header)
    for el in elements:
        el = etree.fromstring(etree.tostring(el))
        for inc in el.iter("{%s}Include" % XOP):
            parent = inc.getparent()
            parent.remove(inc)
            parent.text = "AAEC"
        if not schema.validate(el):
            problems.append("%s: %s" % (etree.QName(el).localname, schema.error_log.last_error))
    print("invalid: " + "; ".join(problems) if problems else "ok")
"#;

fn validate(wsdl: &str, envelopes: &[String]) -> Vec<String> {
    let dir = common::temp_dir("a2-xsd");
    let mut args = vec![
        reference(&format!("altinn-soap/{wsdl}"))
            .display()
            .to_string(),
        dir.display().to_string(),
    ];
    for (i, e) in envelopes.iter().enumerate() {
        let p = dir.join(format!("env{i}.xml"));
        std::fs::write(&p, e).unwrap();
        args.push(p.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(VALIDATE, &refs);
    let _ = std::fs::remove_dir_all(&dir);
    out.lines().map(str::to_string).collect()
}

#[test]
fn envelopes_validate_against_the_wsdl_schemas() {
    let login = soap::Login {
        username: "2910075918",
        password: "pa<ss>&word",
    };
    let basic = vec![
        soap::initiate(
            login,
            &soap::Initiation {
                service_code: "4192",
                service_edition: 270815,
                file_name: "sbd.zip",
                reportee: ORG_A,
                senders_reference: "5b0d1c8e-2f43-4d3c-9f7e-4f8f2f6f1a11",
                recipients: &[ORG_B],
            },
        ),
        soap::check_if_available(login, "4192", 270815, ORG_B),
        soap::get_available_files(login, "4192", 270815, soap::FileStatus::Uploaded, ORG_B),
        soap::get_available_files(login, "4192", 170101, soap::FileStatus::Downloaded, ORG_B),
        soap::confirm_downloaded(login, "0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21", ORG_B),
    ];
    let results = validate("BrokerServiceExternalBasic.wsdl", &basic);
    assert_eq!(results, vec!["ok"; basic.len()], "{basic:#?}");

    let streamed = vec![
        soap::upload(
            login,
            "sbd.zip",
            "b2f0b9c2-1a5e-4d6f-8f0a-3c7c2f1e9d44",
            ORG_A,
            "payload.1@efm.local",
        ),
        soap::download(login, "0c9d5d5e-6a57-4c1e-a0a4-2b1b0f3c7d21", ORG_B),
    ];
    let results = validate("BrokerServiceExternalBasicStreamed.wsdl", &streamed);
    assert_eq!(results, vec!["ok"; streamed.len()], "{streamed:#?}");

    // The validator is not a rubber stamp: members out of the WSDL order, an edition that is not
    // an int, and the IP's <ArrayOfFile> quirk are all refused.
    let swapped = basic[0].replace(
        "<bse:Reportee>910075918</bse:Reportee><bse:SendersReference>5b0d1c8e-2f43-4d3c-9f7e-4f8f2f6f1a11</bse:SendersReference>",
        "<bse:SendersReference>5b0d1c8e-2f43-4d3c-9f7e-4f8f2f6f1a11</bse:SendersReference><bse:Reportee>910075918</bse:Reportee>",
    );
    assert_ne!(swapped, basic[0]);
    let not_int = basic[1].replace(">270815<", ">27x815<");
    let array_of_file = basic[0].replace("bse:FileList>", "bse:ArrayOfFile>");
    let results = validate(
        "BrokerServiceExternalBasic.wsdl",
        &[swapped, not_int, array_of_file],
    );
    assert_eq!(results.len(), 3);
    for (result, why) in results
        .iter()
        .zip(["SendersReference", "xs:int", "ArrayOfFile"])
    {
        assert!(
            result.starts_with("invalid") && result.contains(why),
            "{result}"
        );
    }
}
