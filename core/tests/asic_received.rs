//! Containers the Java side wrote (the ASiC library the integration point uses, and an older
//! integration point), read as that library reads them: what it accepts opens, what its own
//! tests expect it to refuse is refused, and the SHA1withRSA signatures integration points
//! write verify even where OpenSSL may not compute SHA-1 at all.

use efm_core::asic::{extract_asic, AsicReadOptions, ExtractedAsic};
use efm_core::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    efm_test_support::fixture(&format!("asic/{name}"))
}

fn open(name: &str, target: &Path) -> efm_core::Result<ExtractedAsic> {
    let staging = target.with_extension("staging");
    let opts = AsicReadOptions {
        staging: Some(staging.clone()),
        ..AsicReadOptions::default()
    };
    let out = extract_asic(std::fs::File::open(fixture(name)).unwrap(), target, &opts);
    // Nothing stays behind in the staging area, whatever the outcome.
    assert!(
        std::fs::read_dir(&staging).unwrap().next().is_none(),
        "staging left behind"
    );
    out
}

fn sha256_b64(path: &Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(openssl::sha::sha256(&std::fs::read(path).unwrap()))
}

#[test]
fn the_asic_librarys_reference_container_opens() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let x = open("asic-cades-test-valid.asice", &target).unwrap();
    let names: Vec<_> = x.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["bii-envelope.xml", "bii-message.xml"]);
    // The digests its (signed) manifest lists, with the xmldsig#sha256 method URI.
    assert_eq!(
        sha256_b64(&target.join("bii-envelope.xml")),
        "8A8ScSgd289FuAlzNX70A9LkpUu8wcseYTiSS1GESZc="
    );
    assert_eq!(x.files[1].mime, "application/xml");
    let subject = efm_core::crypto::keys::subject_line(&x.signer);
    assert!(
        subject.contains("DIREKTORATET FOR FORVALTNING"),
        "{subject}"
    );
    assert_eq!(
        x.signature_name,
        "META-INF/signature-f741f40a-bfa5-477b-83ca-384ae074e002.p7s"
    );
    assert!(x.warnings.is_empty(), "{:?}", x.warnings);
}

#[test]
fn a_container_an_older_integration_point_wrote_opens() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let x = open("ip-messageIP2.asice", &target).unwrap();
    let names: Vec<_> = x.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["manifest.xml", "eInnsynJornalfil.json"]);
    let manifest = std::fs::read_to_string(target.join("manifest.xml")).unwrap();
    assert!(manifest.contains("9908:910094092"), "{manifest}");
}

#[test]
fn what_the_asic_library_refuses_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, kind, says) in [
        (
            "asic-cades-test-invalid-signature.asice",
            ErrorKind::SignatureInvalid,
            "signature",
        ),
        (
            "asic-cades-test-invalid-manifest.asice",
            ErrorKind::PackageInvalid,
            "AsicManifest",
        ),
        (
            "asic-cades-test-invalid-sigreference.asice",
            ErrorKind::SignatureInvalid,
            "signature-f741f40a-bfa5-477b-83ca-384ae074e002.p7s",
        ),
        (
            "asic-cades-test-invalid-metadata-file.asice",
            ErrorKind::PackageInvalid,
            "signature.malformed",
        ),
        (
            "asic-general-test-invalid-mime.asice",
            ErrorKind::PackageInvalid,
            "mimetype",
        ),
        // The first 16 bytes overwritten (the IP's MOVE-610): not read as a zip at all.
        ("ip-buggyAsic.asice", ErrorKind::PackageInvalid, "zip"),
    ] {
        let target = dir.path().join(name);
        let e = open(name, &target).unwrap_err();
        assert_eq!(e.kind(), kind, "{name}: {e}");
        assert!(e.to_string().contains(says), "{name}: {e}");
        let left: Vec<_> = std::fs::read_dir(&target)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{name} left {left:?}");
    }
}

/// Set in the child process that runs with an OpenSSL configuration under which no algorithm
/// can be fetched (so no SHA-1 signature, as on RHEL 9 with its default policy, and more).
const NO_EVP: &str = "EFM_TEST_OPENSSL_HAS_NO_ALGORITHMS";

#[test]
fn sha1_signatures_verify_where_openssl_refuses_sha1() {
    if std::env::var_os(NO_EVP).is_some() {
        // The restriction is in force: OpenSSL cannot even hash with SHA-1 ...
        assert!(
            openssl::hash::hash(openssl::hash::MessageDigest::sha1(), b"x").is_err(),
            "the OpenSSL configuration did not take effect"
        );
        // ... yet the SHA1withRSA container verifies and opens.
        let dir = tempfile::tempdir().unwrap();
        let x = open("asic-cades-test-valid.asice", &dir.path().join("out")).unwrap();
        assert_eq!(x.files.len(), 2);
        // And a tampered one still fails.
        let e = open(
            "asic-cades-test-invalid-signature.asice",
            &dir.path().join("bad"),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SignatureInvalid);
        println!("verified without OpenSSL algorithms");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cnf = dir.path().join("openssl.cnf");
    std::fs::write(
        &cnf,
        "openssl_conf = openssl_init\n[openssl_init]\nalg_section = evp_properties\n\
         [evp_properties]\ndefault_properties = \"provider=efm-test-none\"\n",
    )
    .unwrap();
    // The configuration really stops OpenSSL's own verifier.
    let content = dir.path().join("manifest.xml");
    let p7s = dir.path().join("signature.p7s");
    let zip = std::fs::read(fixture("asic-cades-test-valid.asice")).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile, io\nz = zipfile.ZipFile(io.BytesIO(open(sys.argv[1],'rb').read()))\n\
             open(sys.argv[2],'wb').write(z.read('META-INF/asicmanifest.xml'))\n\
             open(sys.argv[3],'wb').write(z.read([n for n in z.namelist() if n.endswith('.p7s')][0]))",
        )
        .arg(fixture("asic-cades-test-valid.asice"))
        .arg(&content)
        .arg(&p7s)
        .status()
        .unwrap();
    assert!(out.success() && !zip.is_empty());
    let openssl = |conf: Option<&Path>| {
        let mut c = Command::new("openssl");
        c.args(["cms", "-verify", "-inform", "DER", "-noverify", "-binary"])
            .arg("-in")
            .arg(&p7s)
            .arg("-content")
            .arg(&content)
            .args(["-out", "/dev/null"]);
        if let Some(conf) = conf {
            c.env("OPENSSL_CONF", conf);
        }
        c.output().unwrap().status.success()
    };
    assert!(openssl(None), "openssl verifies the fixture normally");
    assert!(
        !openssl(Some(&cnf)),
        "the configuration stops openssl's verifier"
    );
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sha1_signatures_verify_where_openssl_refuses_sha1",
            "--nocapture",
        ])
        .env("OPENSSL_CONF", &cnf)
        .env(NO_EVP, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success() && stdout.contains("verified without OpenSSL algorithms"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
}
