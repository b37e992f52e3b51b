//! Interop with the Java side as the integration point runs it: BouncyCastle (CMS signing,
//! verification, EnvelopedData streaming) and `java.util.zip` (ZipInputStream/ZipOutputStream).
//! `tests/java/Interop.java` runs as a single-file program. Needs `java` (OpenJDK 17) and
//! Debian's `libbcprov-java`, `libbcpkix-java`, `libbcutil-java` jars in /usr/share/java.

mod support;

use efm_core::asic::{DocumentSource, SignatureDigest};
use efm_core::ident::OrgNumber;
use efm_core::package::{self, CreateOptions, OpenOptions, PackageInput};
use efm_core::sbd::{now_oslo, ArkivmeldingSbd};
use std::path::Path;
use std::process::Command;
use support::*;

fn java(args: &[&str]) -> String {
    let jars = ["bcprov", "bcpkix", "bcutil"].map(|j| format!("/usr/share/java/{j}.jar"));
    for j in &jars {
        assert!(
            Path::new(j).exists(),
            "{j} is missing: install libbcprov-java, libbcpkix-java and libbcutil-java"
        );
    }
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/Interop.java");
    run_ok(
        Command::new("java")
            .arg("-cp")
            .arg(jars.join(":"))
            .arg(program)
            .args(args),
    )
}

/// arkivmelding.xml and a 1.5 MB incompressible brev.pdf: over the 1 MiB from which packing runs
/// in the threaded pipeline, where the encrypting thread hashes the documents (so the digests
/// BouncyCastle checks here come from that path).
fn documents(dir: &Path) -> Vec<DocumentSource> {
    let arkiv = fixture("altinn-soap/arkivmelding.xml");
    let pdf = dir.join("brev.pdf");
    std::fs::write(
        &pdf,
        (0..1_500_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    vec![
        DocumentSource::new("arkivmelding.xml", arkiv),
        DocumentSource::new("brev.pdf", pdf),
    ]
}

#[test]
fn bouncycastle_opens_our_packages() {
    let dir = tempfile::tempdir().unwrap();
    let sbd = ArkivmeldingSbd::new(
        OrgNumber::parse("910077473").unwrap(),
        OrgNumber::parse("910075918").unwrap(),
    )
    .build(now_oslo());
    for (digest, oid) in [
        (SignatureDigest::Sha1, "1.3.14.3.2.26"),
        (SignatureDigest::Sha256, "2.16.840.1.101.3.4.2.1"),
    ] {
        let path = dir.path().join(format!("{oid}.zip"));
        let input = PackageInput {
            sbd: sbd.clone(),
            documents: documents(dir.path()),
        };
        let opts = CreateOptions {
            signature_digest: digest,
            ..Default::default()
        };
        package::create_file(&path, &input, &pki().identity("a"), &pki().x509("b"), &opts).unwrap();
        let out = java(&[
            "open-package",
            path.to_str().unwrap(),
            pki().p12("b").to_str().unwrap(),
            "testpass",
        ]);
        assert!(
            out.contains("WIRE manifest.xml,recipients.xml,sbd.json,asic.zip"),
            "{out}"
        );
        assert!(out.contains("OK signer=C=NO,O=Test org a"), "{out}");
        assert!(
            out.contains(&format!("digest={oid} sigalg=1.2.840.113549.1.1.1")),
            "{out}"
        );
        assert!(out.contains("entries=mimetype,manifest.xml,arkivmelding.xml,brev.pdf,META-INF/ASiCManifest.xml,META-INF/signature-"), "{out}");
    }
}

#[test]
fn we_open_packages_made_like_the_integration_point() {
    let dir = tempfile::tempdir().unwrap();
    let sbd = ArkivmeldingSbd::new(
        OrgNumber::parse("910077473").unwrap(),
        OrgNumber::parse("910075918").unwrap(),
    )
    .build(now_oslo());
    let sbd_path = dir.path().join("sbd.json");
    std::fs::write(&sbd_path, sbd.to_json_pretty()).unwrap();
    let docs = documents(dir.path());
    let wire = dir.path().join("from-java.zip");
    let mut args = vec![
        "make-package".to_string(),
        wire.to_string_lossy().into_owned(),
        sbd_path.to_string_lossy().into_owned(),
        pki().p12("a").to_string_lossy().into_owned(),
        "testpass".to_string(),
        pki().cert("b").to_string_lossy().into_owned(),
    ];
    args.extend(docs.iter().map(|d| d.path.to_string_lossy().into_owned()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    java(&argv);
    let mut opts = OpenOptions::default();
    opts.asic.expected_signer = Some(pki().x509("a"));
    let target = dir.path().join("in");
    let opened = package::open(&wire, &pki().identity("b"), &target, &opts).unwrap();
    assert_eq!(opened.sbd, sbd);
    for d in &docs {
        assert_eq!(
            std::fs::read(target.join(&d.name)).unwrap(),
            std::fs::read(&d.path).unwrap()
        );
    }
    let info = package::inspect(&wire).unwrap();
    assert!(
        info.entries.iter().all(|e| e.deflated),
        "java.util.zip deflates every entry"
    );
}
