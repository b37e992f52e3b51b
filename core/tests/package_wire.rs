//! The DPO wire package against independent tools: Python's zipfile reads it, xmllint validates
//! the legacy XML against Altinn's XSDs, `openssl cms -decrypt` opens our asic.zip, and packages
//! whose CMS was made by `openssl cms -encrypt` open with our reader.

mod support;

use efm_core::asic::{DocumentSource, SignatureDigest};
use efm_core::ident::OrgNumber;
use efm_core::package::{self, CreateOptions, OpenOptions, PackageInput};
use efm_core::sbd::{ArkivmeldingSbd, ReceiptStatus, Sbd};
use efm_core::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

struct Case {
    dir: tempfile::TempDir,
    docs: Vec<(String, Vec<u8>)>,
    sources: Vec<DocumentSource>,
    sbd: Sbd,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let arkiv = std::fs::read(fixture("altinn-soap/arkivmelding.xml")).unwrap();
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend((0..300_000u32).map(|i| (i.wrapping_mul(2246822519) >> 11) as u8));
    let docs = vec![
        ("arkivmelding.xml".to_string(), arkiv),
        ("vedtak.pdf".to_string(), pdf),
    ];
    let mut sources = Vec::new();
    for (name, data) in &docs {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        sources.push(DocumentSource::new(name.clone(), p));
    }
    let sbd = ArkivmeldingSbd::new(
        OrgNumber::parse("910077473").unwrap(),
        OrgNumber::parse("910075918").unwrap(),
    )
    .build(efm_core::sbd::now_oslo());
    Case {
        dir,
        docs,
        sources,
        sbd,
    }
}

/// `n` bytes of `line` repeated (compressible).
fn text(n: usize, line: &[u8]) -> Vec<u8> {
    line.iter().copied().cycle().take(n).collect()
}

fn make(c: &Case, opts: &CreateOptions) -> PathBuf {
    let path = c
        .dir
        .path()
        .join(format!("pkg-{}.zip", uuid::Uuid::new_v4().simple()));
    let input = PackageInput {
        sbd: c.sbd.clone(),
        documents: c.sources.clone(),
    };
    let summary =
        package::create_file(&path, &input, &pki().identity("a"), &pki().x509("b"), opts).unwrap();
    assert_eq!(
        summary.entries,
        ["manifest.xml", "recipients.xml", "sbd.json", "asic.zip"]
            [if opts.legacy_xml { 0 } else { 2 }..]
    );
    path
}

const LIST: &str = r#"
import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist():
    print(i.filename, i.compress_type, i.flag_bits & 0x800)
    if len(sys.argv) > 2:
        open(os.path.join(sys.argv[2], i.filename), 'wb').write(z.read(i.filename))
"#;

#[test]
fn wire_zip_layout_and_legacy_xml() {
    let c = case();
    let opts = CreateOptions {
        senders_reference: Some("19efbd4c-413d-4e2c-bbc5-257ef4a65b38".into()),
        ..Default::default()
    };
    let path = make(&c, &opts);
    let x = c.dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let out = python(LIST, &[path.to_str().unwrap(), x.to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "manifest.xml 8 2048",
            "recipients.xml 8 2048",
            "sbd.json 8 2048",
            "asic.zip 0 2048"
        ]
    );
    // Exactly the shape the SOAP-era IP's own test expects (`nextmove_send_dpo.feature`).
    assert_eq!(
        std::fs::read_to_string(x.join("manifest.xml")).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BrokerServiceManifest xmlns=\"http://schema.altinn.no/services/ServiceEngine/Broker/2015/06\">\n   <ExternalServiceCode>v3888</ExternalServiceCode>\n   <ExternalServiceEditionCode>70515</ExternalServiceEditionCode>\n   <SendersReference>19efbd4c-413d-4e2c-bbc5-257ef4a65b38</SendersReference>\n   <Reportee>910077473</Reportee>\n   <FileList>\n      <File>\n         <FileName>sbd.json</FileName>\n      </File>\n   </FileList>\n</BrokerServiceManifest>\n"
    );
    assert_eq!(
        std::fs::read_to_string(x.join("recipients.xml")).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BrokerServiceRecipientList xmlns=\"http://schema.altinn.no/services/ServiceEngine/Broker/2015/06\">\n   <Recipient>\n      <PartyNumber>910075918</PartyNumber>\n   </Recipient>\n</BrokerServiceRecipientList>\n"
    );
    let xsd = fixture("altinn-soap");
    for (file, schema) in [
        ("manifest.xml", "BrokerServiceManifest.xsd"),
        ("recipients.xml", "BrokerServiceRecipientList.xsd"),
    ] {
        let out = run(Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd.join(schema))
            .arg(x.join(file)));
        assert!(
            out.status.success(),
            "{schema}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // sbd.json is the SBD, pretty-printed.
    let sbd = Sbd::from_json(&std::fs::read(x.join("sbd.json")).unwrap()).unwrap();
    assert_eq!(sbd, c.sbd);

    // openssl decrypts asic.zip with B's key; the plaintext is the ASiC-E.
    let asice = c.dir.path().join("plain.asice");
    run_ok(
        Command::new("openssl")
            .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
            .arg(x.join("asic.zip"))
            .arg("-inkey")
            .arg(pki().key("b"))
            .arg("-recip")
            .arg(pki().cert("b"))
            .arg("-out")
            .arg(&asice),
    );
    let inner = python(LIST, &[asice.to_str().unwrap()]);
    let first = inner.lines().next().unwrap();
    assert_eq!(first, "mimetype 0 2048");
    // The pdf is not compressed: deflate's stored blocks, DEFLATED as the IP writes documents.
    assert!(inner.contains("vedtak.pdf 8"), "{inner}");
}

#[test]
fn read_sbd_and_inspect_need_no_key() {
    let c = case();
    let path = make(&c, &CreateOptions::default());
    assert_eq!(package::read_sbd(&path).unwrap(), c.sbd);
    let info = package::inspect(&path).unwrap();
    assert_eq!(info.sbd, c.sbd);
    let names: Vec<&str> = info.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["manifest.xml", "recipients.xml", "sbd.json", "asic.zip"]
    );
    let cms = info.cms.unwrap();
    assert_eq!(cms.content_cipher, "AES-256-CBC");
    let r = &cms.recipients[0];
    let serial = pki()
        .x509("b")
        .serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string();
    assert_eq!(
        r.serial.as_deref().map(|s| s.trim_start_matches('0')),
        Some(serial.trim_start_matches('0'))
    );
    assert!(r.key_transport.contains("OAEP"), "{r:?}");
    assert!(info
        .broker_manifest
        .unwrap()
        .contains("<Reportee>910077473</Reportee>"));
}

fn assert_empty(dir: &Path) {
    if dir.exists() {
        let left: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

/// Opening the damaged `package` into `target` fails as damage does, and leaves nothing there.
fn refused_leaving_nothing(package: &Path, target: &Path) -> ErrorKind {
    let e = package::open(
        package,
        &pki().identity("b"),
        target,
        &OpenOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::PackageInvalid | ErrorKind::DigestMismatch | ErrorKind::DecryptFailed
        ),
        "{e}"
    );
    assert_empty(target);
    e.kind()
}

#[test]
fn open_round_trip_both_digests_and_streaming_writer() {
    let c = case();
    for (i, digest) in [SignatureDigest::Sha256, SignatureDigest::Sha1]
        .into_iter()
        .enumerate()
    {
        let opts = CreateOptions {
            signature_digest: digest,
            legacy_xml: i == 0,
            ..Default::default()
        };
        let path = make(&c, &opts);
        let target = c.dir.path().join(format!("in-{i}"));
        let mut oo = OpenOptions::default();
        oo.asic.expected_signer = Some(pki().x509("a"));
        let opened = package::open(&path, &pki().identity("b"), &target, &oo).unwrap();
        assert_eq!(opened.sbd, c.sbd);
        assert_eq!(
            opened.signer.unwrap().to_der().unwrap(),
            pki().x509("a").to_der().unwrap()
        );
        for (name, data) in &c.docs {
            assert_eq!(&std::fs::read(target.join(name)).unwrap(), data);
        }
        assert!(opened.files.iter().any(|f| f.name == "manifest.xml"));
    }
    // The streaming writer (asic.zip DEFLATED with a data descriptor, like the IP).
    let input = PackageInput {
        sbd: c.sbd.clone(),
        documents: c.sources.clone(),
    };
    let (summary, bytes) = package::create_streaming(
        &input,
        &pki().identity("a"),
        &pki().x509("b"),
        Vec::new(),
        &CreateOptions::default(),
    )
    .unwrap();
    assert!(summary.cms_bytes > 300_000);
    let path = c.dir.path().join("streamed.zip");
    std::fs::write(&path, bytes).unwrap();
    let out = python(LIST, &[path.to_str().unwrap()]);
    assert!(out.contains("asic.zip 8"), "{out}");
    let opened = package::open(
        &path,
        &pki().identity("b"),
        &c.dir.path().join("in-s"),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(opened.files.len(), 3);
}

#[test]
fn package_for_another_receiver_is_not_for_us() {
    let c = case();
    let path = make(&c, &CreateOptions::default());
    let target = c.dir.path().join("c-in");
    let e = package::open(
        &path,
        &pki().identity("c"),
        &target,
        &OpenOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotForUs, "{e}");
    assert_empty(&target);
    // Wrong expected signer: signature error, nothing extracted.
    let mut oo = OpenOptions::default();
    oo.asic.expected_signer = Some(pki().x509("c"));
    let target = c.dir.path().join("b-in");
    let e = package::open(&path, &pki().identity("b"), &target, &oo).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignatureInvalid, "{e}");
    assert_empty(&target);
}

#[test]
fn status_package_has_no_asic() {
    let c = case();
    let status = c
        .sbd
        .status_reply(ReceiptStatus::Mottatt, efm_core::sbd::now_oslo())
        .unwrap();
    let path = c.dir.path().join("status.zip");
    let summary = package::create_file(
        &path,
        &PackageInput {
            sbd: status.clone(),
            documents: vec![],
        },
        &pki().identity("b"),
        &pki().x509("a"),
        &CreateOptions::default(),
    )
    .unwrap();
    assert_eq!(
        summary.entries,
        ["manifest.xml", "recipients.xml", "sbd.json"]
    );
    let info = package::inspect(&path).unwrap();
    assert!(info.cms.is_none());
    let opened = package::open(
        &path,
        &pki().identity("a"),
        &c.dir.path().join("st"),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(opened.sbd, status);
    assert!(opened.files.is_empty() && opened.signer.is_none());
}

const REZIP: &str = r#"
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
zin = zipfile.ZipFile(src)
zout = zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED)
zout.writestr('README.txt', 'unknown entries are ignored')
for i in zin.infolist():
    if i.filename in ('manifest.xml', 'recipients.xml'):
        continue
    zout.writestr(i.filename, zin.read(i.filename))
zout.writestr('zzz/other.bin', b'\x00' * 10)
zout.close()
"#;

#[test]
fn reader_tolerates_unknown_entries_and_missing_legacy_xml() {
    let c = case();
    let path = make(&c, &CreateOptions::default());
    let re = c.dir.path().join("rezipped.zip");
    python(REZIP, &[path.to_str().unwrap(), re.to_str().unwrap()]);
    assert_eq!(package::read_sbd(&re).unwrap(), c.sbd);
    let opened = package::open(
        &re,
        &pki().identity("b"),
        &c.dir.path().join("re"),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(opened.files.len(), 3);
}

const WRAP: &str = r#"
import sys, zipfile
dst, sbd, cms = sys.argv[1], sys.argv[2], sys.argv[3]
z = zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED)
z.write(sbd, 'sbd.json')
z.write(cms, 'asic.zip')
z.close()
"#;

/// A wire package around the ASiC-E at `asice`: encrypted by the openssl CLI with the IP's
/// parameters, zipped by Python.
fn wire_by_openssl(dir: &Path, sbd: &Sbd, asice: &Path, name: &str) -> PathBuf {
    let cms = dir.join(format!("{name}.cms"));
    run_ok(
        Command::new("openssl")
            .args([
                "cms",
                "-encrypt",
                "-aes-256-cbc",
                "-binary",
                "-stream",
                "-outform",
                "DER",
                "-recip",
            ])
            .arg(pki().cert("b"))
            .args([
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ])
            .arg("-in")
            .arg(asice)
            .arg("-out")
            .arg(&cms),
    );
    let sbd_path = dir.join(format!("{name}.sbd.json"));
    std::fs::write(&sbd_path, sbd.to_json_pretty()).unwrap();
    let wire = dir.join(format!("{name}.zip"));
    python(
        WRAP,
        &[
            wire.to_str().unwrap(),
            sbd_path.to_str().unwrap(),
            cms.to_str().unwrap(),
        ],
    );
    wire
}

#[test]
fn opens_a_package_whose_cms_was_made_by_openssl() {
    let c = case();
    let asice = c.dir.path().join("a.asice");
    let file = std::fs::File::create(&asice).unwrap();
    efm_core::asic::write_asic(
        &c.sources,
        Some("arkivmelding.xml"),
        "0192:910077473",
        "0192:910075918",
        &pki().identity("a"),
        &Default::default(),
        file,
    )
    .unwrap();
    let wire = wire_by_openssl(c.dir.path(), &c.sbd, &asice, "openssl");
    let opened = package::open(
        &wire,
        &pki().identity("b"),
        &c.dir.path().join("o"),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(opened.sbd, c.sbd);
    for (name, data) in &c.docs {
        assert_eq!(
            &std::fs::read(c.dir.path().join("o").join(name)).unwrap(),
            data
        );
    }
}

/// Documents around the sizes where opening changes course: deflate's 65535-byte stored
/// blocks, the 256 KiB decrypted blocks the extractor hashes in place, the 1 MiB after which a
/// second thread writes the file; empty, incompressible (stored blocks), compressible
/// (inflated) and mixed ones, and one packed with method STORED.
fn boundary_documents(dir: &Path) -> (Vec<(String, Vec<u8>)>, Vec<DocumentSource>) {
    let line = b"<journalpost>Vedtak i sak 2026/17</journalpost>\n";
    let noise = |n: usize| noise(n, 0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let mut docs: Vec<(String, Vec<u8>)> = [
        0usize,
        1,
        65_535,
        65_536,
        262_143,
        262_149,
        1_048_575,
        1_048_577,
        (3 << 20) + 17,
    ]
    .into_iter()
    .map(|n| (format!("noise-{n}.bin"), noise(n)))
    .collect();
    docs.push(("tekst.xml".into(), text((2 << 20) + 3, line)));
    let mut mixed = noise(700_001);
    mixed.extend(text(400_000, line));
    docs.push(("blandet.bin".into(), mixed));
    docs.push(("lagret.bin".into(), noise(1_300_007)));
    let mut sources = Vec::new();
    std::fs::create_dir_all(dir).unwrap();
    for (name, data) in &docs {
        std::fs::write(dir.join(name), data).unwrap();
        let mut source = DocumentSource::new(name.clone(), dir.join(name));
        if name == "lagret.bin" {
            source.compression = efm_core::asic::Compression::Stored;
        }
        sources.push(source);
    }
    (docs, sources)
}

fn assert_extracted(target: &Path, docs: &[(String, Vec<u8>)]) {
    for (name, data) in docs {
        let got = std::fs::read(target.join(name)).unwrap();
        assert!(
            &got == data,
            "{name}: {} bytes, not {}",
            got.len(),
            data.len()
        );
    }
}

#[test]
fn open_extracts_documents_at_block_and_buffer_boundaries() {
    let c = case();
    let (docs, sources) = boundary_documents(&c.dir.path().join("docs"));
    let input = PackageInput {
        sbd: c.sbd.clone(),
        documents: sources,
    };
    let path = c.dir.path().join("boundaries.zip");
    package::create_file(
        &path,
        &input,
        &pki().identity("a"),
        &pki().x509("b"),
        &CreateOptions::default(),
    )
    .unwrap();
    let target = c.dir.path().join("in");
    let opened = package::open(
        &path,
        &pki().identity("b"),
        &target,
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(opened.files.len(), docs.len() + 1);
    assert_extracted(&target, &docs);

    // Damaged while the second thread writes the big documents: refused, nothing left.
    let bytes = std::fs::read(&path).unwrap();
    let cut = c.dir.path().join("cut.zip");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 5]).unwrap();
    let kind = refused_leaving_nothing(&cut, &c.dir.path().join("cut"));
    assert_eq!(kind, ErrorKind::PackageInvalid);
    let mut flipped = bytes.clone();
    flipped[bytes.len() * 3 / 5] ^= 0x10;
    let bad = c.dir.path().join("flipped.zip");
    std::fs::write(&bad, &flipped).unwrap();
    refused_leaving_nothing(&bad, &c.dir.path().join("flipped"));
}

/// The ASiC-E's entries rewritten by Python's zipfile with zlib, at level 0 (all stored
/// blocks) and level 6 (zlib's own choice of stored and compressed blocks, which may refer back
/// into stored ones), encrypted by openssl: an independent deflate writer for the stored-block
/// path of opening.
const REPACK: &str = r#"
import sys, zipfile
src, dst, level = sys.argv[1], sys.argv[2], int(sys.argv[3])
zin = zipfile.ZipFile(src)
zout = zipfile.ZipFile(dst, 'w')
for i in zin.infolist():
    data = zin.read(i.filename)
    method = zipfile.ZIP_STORED if i.filename == 'mimetype' else zipfile.ZIP_DEFLATED
    zout.writestr(zipfile.ZipInfo(i.filename, i.date_time), data, compress_type=method, compresslevel=level)
zout.close()
"#;

#[test]
fn opens_documents_deflated_by_zlib() {
    let c = case();
    let (docs, sources) = boundary_documents(&c.dir.path().join("docs"));
    let asice = c.dir.path().join("efm.asice");
    efm_core::asic::write_asic(
        &sources,
        None,
        "0192:910077473",
        "0192:910075918",
        &pki().identity("a"),
        &Default::default(),
        std::fs::File::create(&asice).unwrap(),
    )
    .unwrap();
    for level in ["0", "6"] {
        let repacked = c.dir.path().join(format!("zlib-{level}.asice"));
        python(
            REPACK,
            &[asice.to_str().unwrap(), repacked.to_str().unwrap(), level],
        );
        let wire = wire_by_openssl(c.dir.path(), &c.sbd, &repacked, &format!("zlib-{level}"));
        let target = c.dir.path().join(format!("in-{level}"));
        let opened = package::open(
            &wire,
            &pki().identity("b"),
            &target,
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(opened.files.len(), docs.len() + 1, "level {level}");
        assert_extracted(&target, &docs);
    }
}

#[test]
fn invalid_sbd_is_refused_before_anything_is_written() {
    let c = case();
    let mut bad = c.sbd.clone();
    bad.header.document_identification.instance_identifier = Some("nope".into());
    let path = c.dir.path().join("bad.zip");
    let e = package::create_file(
        &path,
        &PackageInput {
            sbd: bad,
            documents: c.sources.clone(),
        },
        &pki().identity("a"),
        &pki().x509("b"),
        &CreateOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SbdInvalid);
    assert_eq!(
        e.detail().field.as_deref(),
        Some("standardBusinessDocumentHeader.documentIdentification.instanceIdentifier")
    );
    assert!(!path.exists());
    // A package without sbd.json.
    let empty = c.dir.path().join("empty.zip");
    python("import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('x.txt', 'x')\nz.close()", &[empty.to_str().unwrap()]);
    let e = package::read_sbd(&empty).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PackageInvalid);
}

const FLIP_CMS: &str = r#"
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
zin = zipfile.ZipFile(src)
zout = zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED)
for i in zin.infolist():
    data = zin.read(i.filename)
    if i.filename == 'asic.zip':
        b = bytearray(data); b[len(b) // 2] ^= 0x40; data = bytes(b)
    zout.writestr(i.filename, data)
zout.close()
"#;

#[test]
fn damaged_ciphertext_is_refused_and_nothing_is_extracted() {
    let c = case();
    let path = make(&c, &CreateOptions::default());
    let bad = c.dir.path().join("damaged.zip");
    python(FLIP_CMS, &[path.to_str().unwrap(), bad.to_str().unwrap()]);
    refused_leaving_nothing(&bad, &c.dir.path().join("dmg"));
    // The SBD is still readable without a key.
    assert_eq!(package::read_sbd(&bad).unwrap(), c.sbd);
}

#[test]
fn senders_reference_and_on_behalf_of_follow_spec_2_4() {
    let c = case();
    // A reply to a channel-tagged message carries the channel as SendersReference...
    let mut b = ArkivmeldingSbd::new(
        OrgNumber::parse("910077473").unwrap(),
        OrgNumber::parse("910075918").unwrap(),
    );
    b.message_channel = Some("kanal-a".into());
    let original = b.build(efm_core::sbd::now_oslo());
    let status = original
        .status_reply(ReceiptStatus::Levert, efm_core::sbd::now_oslo())
        .unwrap();
    assert_eq!(package::senders_reference(&status, None), "kanal-a");
    assert_eq!(
        package::senders_reference(&status, Some("kanal-b")),
        "kanal-a"
    );
    // ...unless it is our own channel, or the message is not a reply.
    assert!(uuid::Uuid::parse_str(&package::senders_reference(&status, Some("kanal-a"))).is_ok());
    assert!(uuid::Uuid::parse_str(&package::senders_reference(&original, None)).is_ok());
    let path = c.dir.path().join("reply.zip");
    package::create_file(
        &path,
        &PackageInput {
            sbd: status,
            documents: vec![],
        },
        &pki().identity("b"),
        &pki().x509("a"),
        &CreateOptions::default(),
    )
    .unwrap();
    let info = package::inspect(&path).unwrap();
    assert!(info
        .broker_manifest
        .unwrap()
        .contains("<SendersReference>kanal-a</SendersReference>"));

    // On behalf of another organisation: the wire sender and the Reportee are that organisation.
    let mut sbd = c.sbd.clone();
    sbd.header.sender[0].identifier.value = "0192:910077473:991825827".into();
    let path = c.dir.path().join("obo.zip");
    package::create_file(
        &path,
        &PackageInput {
            sbd,
            documents: c.sources.clone(),
        },
        &pki().identity("a"),
        &pki().x509("b"),
        &CreateOptions::default(),
    )
    .unwrap();
    let info = package::inspect(&path).unwrap();
    assert_eq!(info.sbd.sender_identifier(), Some("0192:991825827"));
    assert!(info
        .broker_manifest
        .unwrap()
        .contains("<Reportee>991825827</Reportee>"));
}

/// A seekable output that fails once `limit` bytes have been written.
#[derive(Debug)]
struct FailingOutput {
    inner: std::io::Cursor<Vec<u8>>,
    limit: u64,
}

impl std::io::Write for FailingOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.inner.position() + buf.len() as u64 > self.limit {
            return Err(std::io::Error::other("disk full"));
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for FailingOutput {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn failures_on_either_side_of_the_pipeline_are_reported_not_hung() {
    let c = case();
    let input = PackageInput {
        sbd: c.sbd.clone(),
        documents: c.sources.clone(),
    };
    // The output fails half-way through the CMS.
    let out = FailingOutput {
        inner: std::io::Cursor::new(Vec::new()),
        limit: 100_000,
    };
    let e = package::create(
        &input,
        &pki().identity("a"),
        &pki().x509("b"),
        out,
        &CreateOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("disk full"), "{e}");
    // A document that cannot be read.
    let mut missing = input.clone();
    missing.documents.push(DocumentSource::new(
        "borte.pdf",
        c.dir.path().join("borte.pdf"),
    ));
    let out = std::io::Cursor::new(Vec::new());
    let e = package::create(
        &missing,
        &pki().identity("a"),
        &pki().x509("b"),
        out,
        &CreateOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("borte.pdf"), "{e}");
}

/// Small packages are packed on the calling thread, larger ones in the threaded pipeline (the
/// switch is at 1 MiB of documents), and deflate streams are reused between entries and
/// packages: every size around the switch, with an empty document, odd sizes and compressible
/// and incompressible content, opens to the same bytes.
#[test]
fn serial_and_pipelined_packing_round_trip_around_the_switch() {
    const SWITCH: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let arkiv = std::fs::read(fixture("altinn-soap/arkivmelding.xml")).unwrap();
    let sbd = ArkivmeldingSbd::new(
        OrgNumber::parse("910077473").unwrap(),
        OrgNumber::parse("910075918").unwrap(),
    )
    .build(efm_core::sbd::now_oslo());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = |n: usize| {
        seed += 1;
        noise(n, seed)
    };
    let text = |n: usize| text(n, b"<post>Vedtak i sak 2026/17</post>\n");
    let fixed = arkiv.len() + 3;
    for (round, total) in [0, SWITCH - 1, SWITCH, SWITCH + 1, SWITCH + 4093]
        .into_iter()
        .enumerate()
    {
        // arkivmelding.xml, an empty document, a 3-byte one, and the rest split between
        // incompressible (sampled, stored blocks) and compressible (deflated) bytes.
        let rest = total.saturating_sub(fixed);
        let docs: Vec<(&str, Vec<u8>)> = vec![
            ("arkivmelding.xml", arkiv.clone()),
            ("tom.txt", Vec::new()),
            ("tre.txt", b"abc".to_vec()),
            ("data.bin", noise(rest / 2 + 1)),
            ("vedlegg.xml", text(rest - rest / 2)),
        ];
        let mut sources = Vec::new();
        let src = dir.path().join(format!("src-{round}"));
        std::fs::create_dir_all(&src).unwrap();
        for (name, data) in &docs {
            std::fs::write(src.join(name), data).unwrap();
            sources.push(DocumentSource::new(name.to_string(), src.join(name)));
        }
        let input = PackageInput {
            sbd: sbd.clone(),
            documents: sources,
        };
        let path = dir.path().join(format!("pkg-{round}.zip"));
        let mut reports = Vec::new();
        package::create_file_reporting(
            &path,
            &input,
            &pki().identity("a"),
            &pki().x509("b"),
            &CreateOptions::default(),
            &mut |done, all| reports.push((done, all)),
        )
        .unwrap();
        let size: u64 = docs.iter().map(|(_, d)| d.len() as u64).sum();
        assert!(!reports.is_empty(), "no progress for {total}");
        assert!(
            reports.iter().all(|&(d, t)| t == size && d <= t),
            "{reports:?}"
        );
        assert_eq!(reports.last().unwrap().0, size, "{total}: {reports:?}");
        let target = dir.path().join(format!("in-{round}"));
        let mut oo = OpenOptions::default();
        oo.asic.expected_signer = Some(pki().x509("a"));
        let opened = package::open(&path, &pki().identity("b"), &target, &oo).unwrap();
        assert_eq!(opened.sbd, sbd);
        for (name, data) in &docs {
            assert_eq!(
                &std::fs::read(target.join(name)).unwrap(),
                data,
                "{name} of {total}"
            );
        }
    }
}

/// The zip-bomb caps stay as they are for ordinary packages and grow with a package of several
/// GiB (which the broker took, so its documents are legitimate), without overflowing.
#[test]
fn open_limits_grow_only_with_a_big_package() {
    let default = OpenOptions::default();
    for len in [0, 10 << 20, 512 << 20] {
        let o = OpenOptions::for_package_size(len);
        assert_eq!(o.asic.max_entry_size, default.asic.max_entry_size, "{len}");
        assert_eq!(o.asic.max_total_size, default.asic.max_total_size, "{len}");
        assert_eq!(o.max_package_entry, default.max_package_entry, "{len}");
    }
    let four_gib = 4u64 << 30;
    let big = OpenOptions::for_package_size(four_gib);
    assert!(big.asic.max_entry_size > four_gib);
    assert!(big.asic.max_total_size > four_gib);
    assert!(big.max_package_entry > four_gib);
    assert_eq!(
        OpenOptions::for_package_size(u64::MAX).asic.max_total_size,
        u64::MAX
    );
}
