//! The sandbox writes a usable PKI and client configuration per organisation, and reuses them.

mod common;
use common::*;
use efm_core::config::{Config, KeySource};
use efm_core::crypto::Identity;
use openssl::nid::Nid;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509StoreContext, X509};

#[test]
fn writes_a_loadable_config_and_key_for_every_organisation() {
    let sandbox = start("pki");
    let orgs = sandbox.organisations();
    for o in [ORG_A, ORG_B, ORG_C] {
        assert!(orgs.contains(&o.to_string()), "{o} registered: {orgs:?}");
    }
    let ca = X509::from_pem(&std::fs::read(sandbox.dir().join("ca/ca.pem")).unwrap()).unwrap();
    for o in &orgs {
        let text = std::fs::read_to_string(sandbox.config_path(o)).unwrap();
        let config = Config::from_json(&text).unwrap_or_else(|e| panic!("{o}: {e}"));
        assert_eq!(config.organisation_number.as_str(), o);
        assert_eq!(config.environment.name(), "sandbox");
        assert_eq!(
            config.urls.maskinporten_audience,
            format!("{}/maskinporten/", sandbox.base_url())
        );
        assert!(matches!(config.credentials.key, KeySource::Pkcs12 { .. }));
        let altinn2 = config.altinn2.as_ref().expect("altinn2 login");
        assert!(!altinn2.password.expose().is_empty());
        assert!(config.data_dir.is_absolute() && config.data_dir.is_dir());
        let text2 =
            std::fs::read_to_string(sandbox.dir().join(o).join("config-altinn2.json")).unwrap();
        let config2 = Config::from_json(&text2).unwrap();
        assert_eq!(config2.transport, efm_core::config::TransportKind::Altinn2);
        assert_eq!(config2.credentials, config.credentials);

        let id = Identity::load(&config.credentials.key).unwrap();
        let cert = &id.certificate;
        let serial = cert
            .subject_name()
            .entries_by_nid(Nid::SERIALNUMBER)
            .next()
            .unwrap()
            .data()
            .as_slice()
            .to_vec();
        assert_eq!(String::from_utf8(serial).unwrap(), *o);
        assert_eq!(id.private_key.rsa().unwrap().size(), 256, "RSA 2048");
        // Chains to the sandbox CA.
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(ca.clone()).unwrap();
        let store = store.build();
        let mut ctx = X509StoreContext::new().unwrap();
        let chain = openssl::stack::Stack::new().unwrap();
        assert!(ctx.init(&store, cert, &chain, |c| c.verify_cert()).unwrap());
        // The PEM pair next to it is the same identity.
        let pem = Identity::load(&KeySource::Pem {
            certificate: sandbox.dir().join(o).join("certificate.pem"),
            private_key: sandbox.dir().join(o).join("certificate-key.pem"),
        })
        .unwrap();
        assert_eq!(pem.certificate.to_der().unwrap(), cert.to_der().unwrap());
    }
}

#[test]
fn key_usage_is_signature_and_key_encipherment() {
    let sandbox = start("keyusage");
    let pem = sandbox.dir().join(ORG_A).join("certificate.pem");
    // Read the extensions with the openssl CLI, an independent parser.
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&pem)
        .output()
        .expect("openssl CLI");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(text.contains("Key Encipherment"), "{text}");
    assert!(
        text.contains("serialNumber = 910075918") || text.contains("serialNumber=910075918"),
        "{text}"
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
}

#[test]
fn second_start_reuses_the_pki() {
    let dir = temp_dir("reuse");
    let first = efm_sandbox::Sandbox::start(efm_sandbox::SandboxOptions {
        dir: dir.clone(),
        ..Default::default()
    })
    .unwrap();
    let cert1 = std::fs::read(first.dir().join(ORG_A).join("certificate.pem")).unwrap();
    let p12_1 = std::fs::read(first.dir().join(ORG_A).join(format!("{ORG_A}.p12"))).unwrap();
    first.stop();
    let second = efm_sandbox::Sandbox::start(efm_sandbox::SandboxOptions {
        dir: dir.clone(),
        ..Default::default()
    })
    .unwrap();
    let cert2 = std::fs::read(second.dir().join(ORG_A).join("certificate.pem")).unwrap();
    let p12_2 = std::fs::read(second.dir().join(ORG_A).join(format!("{ORG_A}.p12"))).unwrap();
    assert_eq!(cert1, cert2);
    assert_eq!(p12_1, p12_2);
    // The configuration follows the new port and still loads.
    let a = org(&second, ORG_A);
    assert_eq!(
        a.config.urls.maskinporten_token,
        format!("{}/maskinporten/token", second.base_url())
    );
    // And the client still gets tokens.
    token(&a, "move/dpo.read");
}

#[test]
fn binary_prints_the_base_url_first_and_stops_when_stdin_closes() {
    let dir = temp_dir("binary");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_efm-sandbox"))
        .arg("--dir")
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("efm-sandbox listening on http://127.0.0.1:"),
        "{line}"
    );
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    let r = agent()
        .get(&format!("{base}/serviceregistry/jwk"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn bad_arguments_are_refused() {
    assert_eq!(efm_sandbox::run_cli(&["--port".into(), "x".into()]), 2);
    assert_eq!(efm_sandbox::run_cli(&["--bogus".into()]), 2);
    assert_eq!(efm_sandbox::run_cli(&[]), 2);
}

#[test]
fn admin_adds_an_organisation_with_a_working_config() {
    let sb = start("admin-org");
    let url = format!("{}/admin/organisations", sb.base_url());
    let mut r = agent()
        .post(&url)
        .send_json(serde_json::json!({"organisation_number": "974760673", "name": "NY KOMMUNE"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: serde_json::Value = r.body_mut().read_json().unwrap();
    assert_eq!(v["client_id"], "MOVE_IP_974760673");
    assert!(sb.organisations().contains(&"974760673".to_string()));
    let o = org(&sb, "974760673");
    // The new client gets tokens and is found in the registry.
    let t = token(&o, "move/dpo.read");
    let mut r = agent()
        .get(&format!(
            "{}/info/974760673",
            o.config.urls.service_registry
        ))
        .header("Authorization", &format!("Bearer {t}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.body_mut().read_json().unwrap();
    assert_eq!(v["infoRecord"]["organizationName"], "NY KOMMUNE");
    // A bad check digit is refused with a reason.
    let mut r = agent()
        .post(&url)
        .send_json(serde_json::json!({"organisation_number": "974760674"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.body_mut().read_to_string().unwrap().contains("mod-11"));
    // It is remembered for the next start in the same directory.
    let dir = sb.dir().to_path_buf();
    sb.stop();
    let again = efm_sandbox::Sandbox::start(efm_sandbox::SandboxOptions {
        dir,
        ..Default::default()
    })
    .unwrap();
    assert!(again.organisations().contains(&"974760673".to_string()));
}

#[test]
fn stop_does_not_wait_for_a_hanging_request() {
    let sb = start("stop-slow");
    let base = sb.base_url();
    agent()
        .post(&format!("{base}/admin/faults"))
        .send_json(
            serde_json::json!({"path": "/serviceregistry/jwk", "kind": "slow", "delay_ms": 60000}),
        )
        .unwrap();
    let t = std::thread::spawn(move || {
        agent()
            .get(&format!("{base}/serviceregistry/jwk"))
            .call()
            .is_err()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    sb.stop();
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t0.elapsed()
    );
    assert!(t.join().unwrap(), "the hanging request is cut off");
}
