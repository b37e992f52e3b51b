//! `efm package create | inspect | open` end to end through the binary, with keys made by the
//! openssl command line (PKCS#12 for the sender, PEM for the receiver).

use efm_test_support::pki::OpensslPki;
use efm_test_support::{run, run_ok as ok, temp_dir};
use std::path::Path;
use std::process::Command;

fn efm(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_efm"));
    c.current_dir(dir).arg("package");
    c
}

#[test]
fn create_inspect_open() {
    let dir = temp_dir("cli-package");
    let d = dir.as_path();
    // Our key and the receiver's, as the openssl command line writes them.
    let pki = OpensslPki::create_in(d);
    let pw = OpensslPki::P12_PASSWORD;
    for who in ["a", "b", "c"] {
        for file in [pki.cert(who), pki.key(who), pki.p12(who)] {
            std::fs::copy(&file, d.join(file.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        d.join("sbd.json"),
        r#"{"standardBusinessDocumentHeader":{"headerVersion":"1.0",
            "receiver":[{"identifier":{"authority":"iso6523-actorid-upis","value":"0192:910075918"}}],
            "documentIdentification":{"standard":"urn:no:difi:arkivmelding:xsd::arkivmelding","type":"arkivmelding","typeVersion":"2.0"},
            "businessScope":{"scope":[{"identifier":"urn:no:difi:profile:arkivmelding:administrasjon:ver1.0","type":"ConversationId"}]}},
            "arkivmelding":{"hoveddokument":"arkivmelding.xml"}}"#,
    )
    .unwrap();
    std::fs::write(d.join("arkivmelding.xml"), "<arkivmelding/>").unwrap();
    std::fs::write(d.join("brev.pdf"), vec![7u8; 50_000]).unwrap();

    let out = ok(efm(d)
        .env("EFM_PKCS12_PASSWORD", pw)
        .args([
            "create",
            "--sbd",
            "sbd.json",
            "--doc",
            "brev.pdf",
            "--doc",
            "arkivmelding.xml",
        ])
        .args([
            "--cert",
            "a.p12",
            "--org",
            "910077473",
            "--receiver-cert",
            "b.pem",
            "-o",
            "out.zip",
            "--sha1",
            "--json",
        ]));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        summary["entries"],
        serde_json::json!(["manifest.xml", "recipients.xml", "sbd.json", "asic.zip"])
    );
    // The main document comes first in the ASiC, after the eFormidling manifest.
    assert_eq!(summary["asic_files"][1]["name"], "arkivmelding.xml");
    assert!(!out.contains(pw));

    let info: serde_json::Value =
        serde_json::from_str(&ok(efm(d).args(["inspect", "out.zip", "--json"]))).unwrap();
    assert_eq!(info["summary"]["sender"], "0192:910077473");
    assert_eq!(info["cms"]["recipients"][0]["issuer"], "CN=efm test CA");
    assert_eq!(info["entries"][3]["name"], "asic.zip");

    let opened = ok(efm(d).args([
        "open",
        "out.zip",
        "--cert",
        "b.pem",
        "--key",
        "b.key",
        "--into",
        "inbox",
        "--expect-signer",
        "a.pem",
    ]));
    assert!(
        opened.contains("signed by: ") && opened.contains("CN=Test org a"),
        "{opened}"
    );
    assert_eq!(
        std::fs::read(d.join("inbox/brev.pdf")).unwrap(),
        vec![7u8; 50_000]
    );

    // Not for us: a clear error, exit status 1, nothing extracted.
    let out = run(efm(d).args([
        "open", "out.zip", "--cert", "c.pem", "--key", "c.key", "--into", "c-inbox",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error 604"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!d.join("c-inbox/brev.pdf").exists());

    // Wrong PKCS#12 password: the password never shows up in the message.
    let out = run(efm(d)
        .env("EFM_PKCS12_PASSWORD", "wrong-pw")
        .args([
            "create",
            "--sbd",
            "sbd.json",
            "--doc",
            "brev.pdf",
            "--cert",
            "a.p12",
            "--org",
            "910077473",
        ])
        .args(["--receiver-cert", "b.pem", "-o", "x.zip"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("wrong password") && !err.contains("wrong-pw"),
        "{err}"
    );

    for cmd in ["create", "inspect", "open"] {
        let help = ok(efm(d).args([cmd, "--help"]));
        assert!(help.contains(&format!("efm package {cmd}")), "{help}");
    }
    std::fs::remove_dir_all(d).ok();
}
