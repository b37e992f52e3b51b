//! The README's main job, `efm demo`, runs end to end in both broker set-ups.

use std::process::Command;

fn demo(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_efm"))
        .args(["demo", "--size-mib", "1", "--dir"])
        .arg(dir.path())
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "efm demo {extra:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn assert_whole_flow(text: &str) {
    for step in [
        "encrypting to C=NO", // the registry lookup gave the receiver's certificate
        "the document arrived byte for byte",
        "910076787 sees OPPRETTET -> INNKOMMENDE_MOTTATT -> INNKOMMENDE_LEVERT",
        "910075918 sees OPPRETTET -> SENDT -> MOTTATT -> LEVERT",
        "demo finished",
    ] {
        assert!(text.contains(step), "missing {step:?} in:\n{text}");
    }
}

#[test]
fn demo_over_altinn3() {
    let text = demo(&[]);
    assert_whole_flow(&text);
    assert!(!text.contains("Altinn 2"), "{text}");
}

#[test]
fn demo_across_the_brokers() {
    let text = demo(&["--altinn2"]);
    assert_whole_flow(&text);
    assert!(
        text.contains("sent over the Altinn 2 broker (SOAP, MTOM)"),
        "{text}"
    );
    assert!(
        text.contains("receiver 910076787 on the Altinn 3 broker (REST)"),
        "{text}"
    );
}
