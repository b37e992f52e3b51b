//! The Altinn 2 SOAP broker client against efm-sandbox's SOAP endpoints: a package sent by one
//! organisation is found, downloaded byte for byte and confirmed by the other; files cross between
//! the Altinn 2 and Altinn 3 APIs (one store); faults, cut downloads and 500s give specific errors;
//! and the envelopes we build validate against the reference WSDLs' schemas (Python lxml).

mod common;

use common::{
    fault, fixture, python, sandbox, sandbox_config, sandbox_config_json, ORG_A, ORG_B, ORG_C,
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
const SCHEMA_LIB: &str = r#"
import sys, copy, os
from lxml import etree
XS = "http://www.w3.org/2001/XMLSchema"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XOP = "http://www.w3.org/2004/08/xop/include"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"

def load(wsdl_path, workdir):
    """The WSDL's embedded schemas as one lxml XMLSchema, and its SOAPAction per operation."""
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
    actions = {}
    for op in root.iterfind("{%s}binding/{%s}operation" % (WSDL, WSDL)):
        so = op.find("{%s}operation" % WSDL_SOAP)
        if so is not None:
            actions[op.get("name")] = so.get("soapAction")
    return etree.XMLSchema(etree.parse(main_path)), actions

def check(env, schema):
    """Problems of one envelope: its Body element and Header elements checked against the schema,
    with xop:Include replaced by base64 content (XOP reconstitution)."""
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
    return problems
"#;

/// Validates envelope files; prints one line per envelope: `ok` or `invalid: <reason>`.
const VALIDATE: &str = r#"
schema, _ = load(sys.argv[1], sys.argv[2])
for path in sys.argv[3:]:
    problems = check(etree.parse(path).getroot(), schema)
    print("invalid: " + "; ".join(problems) if problems else "ok")
"#;

fn validate(wsdl: &str, envelopes: &[String]) -> Vec<String> {
    let dir = common::temp_dir("a2-xsd");
    let mut args = vec![
        fixture(&format!("altinn-soap/{wsdl}"))
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
    let out = python(&format!("{SCHEMA_LIB}{VALIDATE}"), &refs);
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

/// A loopback relay in front of the sandbox that records the bytes each client connection sends.
fn recording_relay(target: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    let target = target.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let connections = log.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut upstream) = TcpStream::connect(&target) else {
                return;
            };
            let index = {
                let mut l = connections.lock().unwrap();
                l.push(Vec::new());
                l.len() - 1
            };
            let (mut back_from, mut back_to) =
                (upstream.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut back_from, &mut back_to);
                let _ = back_to.shutdown(Shutdown::Write);
            });
            let connections = connections.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = client.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    connections.lock().unwrap()[index].extend_from_slice(&buf[..n]);
                    if upstream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = upstream.shutdown(Shutdown::Write);
            });
        }
    });
    (url, log)
}

/// Parses recorded HTTP requests with Python's own HTTP-head and MIME (email) parsers: each MTOM
/// request's root part must be the `start` part, each xop:Include must name an
/// application/octet-stream part, the SOAPAction must be the WSDL binding's for the operation,
/// and every envelope must validate against its WSDL's schema. Prints `<operation> ok` per
/// request and `payload <n> bytes identical` per binary part equal to the expected payload.
const WIRE: &str = r#"
import email, email.policy, urllib.parse
basic = load(sys.argv[1], sys.argv[3])
streamed = load(sys.argv[2], sys.argv[4])
payload = open(sys.argv[5], "rb").read()
for path in sys.argv[6:]:
    data = open(path, "rb").read()
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, "an incomplete request head"
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers["content-length"])
        body, data = rest[:n], rest[n:]
        assert len(body) == n, "the request body is shorter than its Content-Length"
        ct = headers["content-type"]
        action = headers["soapaction"].strip('"')
        if ct.startswith("multipart/related"):
            msg = email.message_from_bytes(
                b"Content-Type: " + ct.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + body,
                policy=email.policy.HTTP)
            assert msg.is_multipart() and not msg.defects, msg.defects
            assert msg.get_param("type") == "application/xop+xml"
            assert msg.get_param("start-info") == "text/xml"
            parts = list(msg.iter_parts())
            root = parts[0]
            assert root.get("Content-ID") == msg.get_param("start"), (root.get("Content-ID"), msg.get_param("start"))
            assert root.get_content_type() == "application/xop+xml"
            assert root.get_param("type") == "text/xml"
            env = etree.fromstring(root.get_payload(decode=True))
            for inc in env.iter("{%s}Include" % XOP):
                cid = "<" + urllib.parse.unquote(inc.get("href")[len("cid:"):]) + ">"
                named = [p for p in parts if p.get("Content-ID") == cid]
                assert len(named) == 1, cid
                assert named[0].get_content_type() == "application/octet-stream"
                got = named[0].get_payload(decode=True)
                if got == payload:
                    print("payload %d bytes identical" % len(got))
                else:
                    print("payload differs: %d bytes" % len(got))
            schema, actions = streamed
        else:
            assert ct.lower().replace(" ", "") == "text/xml;charset=utf-8", ct
            env = etree.fromstring(body)
            schema, actions = basic
        names = [name for name, a in actions.items() if a == action]
        assert len(names) == 1, "SOAPAction %r is not in the WSDL binding" % action
        problems = check(env, schema)
        print("%s %s" % (names[0], "ok" if not problems else "invalid: " + "; ".join(problems)))
"#;

#[test]
fn the_requests_on_the_wire_match_the_wsdls() {
    let sb = sandbox("a2-wire");
    let (relay, log) = recording_relay(&sb.base_url());
    let through_relay = |org: &str| {
        let mut raw = sandbox_config_json(&sb, org);
        raw["urls"]["altinn2_broker_basic"] = json!(format!("{relay}{BASIC}"));
        raw["urls"]["altinn2_broker_streamed"] = json!(format!("{relay}{STREAMED}"));
        Party::new(Config::from_json(&raw.to_string()).unwrap())
    };
    let a = through_relay(ORG_A);
    let b = through_relay(ORG_B);
    // Bytes that look like MIME framing inside the payload.
    let mut data = payload(70_000, 6);
    data.extend_from_slice(b"\r\n--uuid:00000000-0000-0000-0000-000000000000--\r\n\r\n");
    data.extend_from_slice(&payload(1_000, 7));
    let id = send(
        &a.a2(),
        &a,
        ORG_B,
        "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a",
        &data,
    );
    assert_eq!(b.a2().available().unwrap().len(), 1);
    assert_eq!(fetch(&b.a2(), &id), data);
    b.a2().confirm(&id).unwrap();

    let dir = common::temp_dir("a2-wire-check");
    let payload_path = dir.join("payload.bin");
    std::fs::write(&payload_path, &data).unwrap();
    let mut args = vec![
        fixture("altinn-soap/BrokerServiceExternalBasic.wsdl")
            .display()
            .to_string(),
        fixture("altinn-soap/BrokerServiceExternalBasicStreamed.wsdl")
            .display()
            .to_string(),
    ];
    for sub in ["basic", "streamed"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).unwrap();
        args.push(d.display().to_string());
    }
    args.push(payload_path.display().to_string());
    for (i, bytes) in log.lock().unwrap().iter().enumerate() {
        let p = dir.join(format!("connection{i}.bin"));
        std::fs::write(&p, bytes).unwrap();
        args.push(p.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(&format!("{SCHEMA_LIB}{WIRE}"), &refs);
    let _ = std::fs::remove_dir_all(&dir);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "CheckIfAvailableFilesBasic ok",
            "ConfirmDownloadedBasic ok",
            "DownloadFileStreamedBasic ok",
            "GetAvailableFilesBasic ok",
            "InitiateBrokerServiceBasic ok",
            "UploadFileStreamedBasic ok",
            &format!("payload {} bytes identical", data.len()),
        ],
        "{out}"
    );
}

/// Records what the client side logs (efm_core and the HTTP stack), after the filter a logger
/// bridge must apply.
struct Capture(std::sync::Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        let target = r.target();
        let ours = target.starts_with("efm_core") || target.starts_with("ureq");
        if ours && efm_core::http::log_record_allowed(target, r.level()) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{target} {}: {}", r.level(), r.args()));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(std::sync::Mutex::new(Vec::new()));

#[test]
fn the_password_never_reaches_a_log_line() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let sb = sandbox("a2-logs");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let id = send(
        &a.a2(),
        &a,
        ORG_B,
        "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        b"logged?",
    );
    fetch(&b.a2(), &id);
    b.a2().confirm(&id).unwrap();
    let mut raw = sandbox_config_json(&sb, ORG_B);
    raw["altinn2"]
        .as_object_mut()
        .unwrap()
        .remove("password_file");
    raw["altinn2"]["password"] = json!("wrong-password-0815");
    let wrong = Party::new(Config::from_json(&raw.to_string()).unwrap());
    assert!(wrong.a2().available().is_err());

    let records = CAPTURE.0.lock().unwrap();
    assert!(
        records.iter().any(|r| r.starts_with("efm_core")),
        "nothing was logged: {records:?}"
    );
    for password in [
        a.config.altinn2.as_ref().unwrap().password.expose(),
        b.config.altinn2.as_ref().unwrap().password.expose(),
        "wrong-password-0815",
    ] {
        assert!(password.len() >= 8);
        for r in records.iter() {
            assert!(!r.contains(password), "a password in a log line: {r}");
        }
    }
}
