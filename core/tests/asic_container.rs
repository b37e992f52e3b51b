//! ASiC-E writer and reader against independent tools: the openssl CLI verifies our CAdES
//! signature, xmllint validates our manifests against the reference XSDs, Python's zipfile reads
//! the container and builds tampered and malicious ones.

mod support;

use efm_core::asic::*;
use efm_core::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

struct Built {
    _dir: tempfile::TempDir,
    asic: PathBuf,
    docs: Vec<(String, Vec<u8>)>,
    work: PathBuf,
}

fn build(digest: SignatureDigest) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let arkiv = std::fs::read(fixture("altinn-soap/arkivmelding.xml")).unwrap();
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    let text = "Hei på deg, æøå\n".repeat(5000).into_bytes();
    let docs = vec![
        ("test.pdf".to_string(), pdf),
        ("arkivmelding.xml".to_string(), arkiv),
        ("vedlegg æøå.txt".to_string(), text),
    ];
    let mut sources = Vec::new();
    for (name, data) in &docs {
        let p = src.join(name);
        std::fs::write(&p, data).unwrap();
        sources.push(DocumentSource::new(name.clone(), p));
    }
    let asic = dir.path().join("asic.asice");
    let out = std::fs::File::create(&asic).unwrap();
    let opts = AsicWriteOptions {
        signature_digest: digest,
        ..Default::default()
    };
    let (summary, _) = write_asic(
        &sources,
        Some("arkivmelding.xml"),
        "0192:910077473",
        "0192:910075918",
        &pki().identity("a"),
        &opts,
        out,
    )
    .unwrap();
    assert_eq!(summary.hoveddokument, "arkivmelding.xml");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    Built {
        asic,
        docs,
        work,
        _dir: dir,
    }
}

const LIST: &str = r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist():
    print(i.filename, i.compress_type, i.flag_bits & 0x08, i.comment.decode())
print("%", z.comment.decode())
"#;

const EXTRACT: &str = r#"
import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
for i in z.infolist():
    p = os.path.join(sys.argv[2], i.filename.replace('/', '__'))
    open(p, 'wb').write(z.read(i.filename))
"#;

#[test]
fn layout_read_by_python_zipfile() {
    let b = build(SignatureDigest::Sha256);
    let out = python(LIST, &[b.asic.to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "mimetype 0 0 mimetype=application/vnd.etsi.asic-e+zip",
        "{out}"
    );
    let names: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        &names[1..4],
        &["manifest.xml", "arkivmelding.xml", "test.pdf"]
    );
    assert!(names[4].starts_with("vedlegg"));
    assert_eq!(names[5], "META-INF/ASiCManifest.xml");
    assert!(names[6].starts_with("META-INF/signature-") && names[6].ends_with(".p7s"));
    assert_eq!(names[7], "META-INF/manifest.xml");
    // The pdf is not compressed (deflate's stored blocks, one pass over it), text is; both are
    // DEFLATED with a data descriptor, as the IP writes every document.
    assert!(lines[3].starts_with("test.pdf 8 8"), "{out}");
    assert!(lines[2].starts_with("arkivmelding.xml 8 8"), "{out}");
    assert_eq!(
        lines.last().unwrap(),
        &"% mimetype=application/vnd.etsi.asic-e+zip"
    );
}

fn extracted_meta(b: &Built) -> (PathBuf, PathBuf, PathBuf) {
    let x = b.work.join("x");
    std::fs::create_dir_all(&x).unwrap();
    python(EXTRACT, &[b.asic.to_str().unwrap(), x.to_str().unwrap()]);
    let sig = std::fs::read_dir(&x)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".p7s"))
        .unwrap();
    (
        x.join("META-INF__ASiCManifest.xml"),
        sig,
        x.join("META-INF__manifest.xml"),
    )
}

fn openssl_verifies(digest: SignatureDigest, md_name: &str) {
    let b = build(digest);
    let (manifest, sig, _) = extracted_meta(&b);
    let out = run(Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(&sig)
        .arg("-content")
        .arg(&manifest)
        .arg("-CAfile")
        .arg(pki().ca())
        .args(["-purpose", "any", "-out", "/dev/null"]));
    assert!(
        out.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The signer certificate is inside, and the digest is the one asked for.
    let printed = run_ok(
        Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
            .arg(&sig),
    );
    assert!(printed.contains("Test org a"), "{printed}");
    assert!(printed.contains(md_name), "{printed}");
    assert!(printed.contains("signingTime"), "{printed}");
    assert!(
        printed.contains("id-smime-aa-CMSAlgorithmProtection")
            || printed.contains("1.2.840.113549.1.9.52"),
        "{printed}"
    );
    // A changed manifest fails openssl's verification too.
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&manifest, bytes).unwrap();
    let out = run(Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(&sig)
        .arg("-content")
        .arg(&manifest)
        .arg("-CAfile")
        .arg(pki().ca())
        .args(["-purpose", "any", "-out", "/dev/null"]));
    assert!(!out.status.success());
}

#[test]
fn openssl_verifies_sha256_signature() {
    openssl_verifies(SignatureDigest::Sha256, "sha256");
}

#[test]
fn openssl_verifies_sha1_signature() {
    openssl_verifies(SignatureDigest::Sha1, "sha1");
}

#[test]
fn manifests_validate_against_reference_xsds() {
    let b = build(SignatureDigest::Sha1);
    let (asic_manifest, _, oasis) = extracted_meta(&b);
    let xsd = fixture("altinn-soap");
    for (file, schema) in [
        (&asic_manifest, "ts_102918v010201.xsd"),
        (&oasis, "OpenDocument_manifest.xsd"),
    ] {
        let out = run(Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd.join(schema))
            .arg(file));
        assert!(
            out.status.success(),
            "{schema}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The eFormidling manifest.xml is exactly the IP's shape (`nextmove_send_dpo.feature`).
    let x = b.work.join("x");
    let m = std::fs::read_to_string(x.join("manifest.xml")).unwrap();
    assert_eq!(
        m,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest>\n   <mottaker>\n      <organisasjon authority=\"iso6523-actorid-upis\">0192:910075918</organisasjon>\n   </mottaker>\n   <avsender>\n      <organisasjon authority=\"iso6523-actorid-upis\">0192:910077473</organisasjon>\n   </avsender>\n   <hoveddokument href=\"arkivmelding.xml\" mime=\"application/xml\">\n      <tittel lang=\"no\">Hoveddokument</tittel>\n   </hoveddokument>\n</manifest>\n"
    );
    // Digests in ASiCManifest are the SHA-256 of the documents, as Python computes them.
    let check = r#"
import sys, hashlib, base64, zipfile
from xml.etree import ElementTree as ET
z = zipfile.ZipFile(sys.argv[1])
ns = {'a': 'http://uri.etsi.org/02918/v1.2.1#', 'ds': 'http://www.w3.org/2000/09/xmldsig#'}
root = ET.fromstring(z.read('META-INF/ASiCManifest.xml'))
refs = root.findall('a:DataObjectReference', ns)
for r in refs:
    want = base64.b64decode(r.find('ds:DigestValue', ns).text)
    assert hashlib.sha256(z.read(r.get('URI'))).digest() == want, r.get('URI')
print(len(refs))
"#;
    assert_eq!(python(check, &[b.asic.to_str().unwrap()]).trim(), "4");
}

#[test]
fn round_trip_extracts_and_verifies() {
    for digest in [SignatureDigest::Sha256, SignatureDigest::Sha1] {
        let b = build(digest);
        let target = b.work.join("out");
        let opts = AsicReadOptions {
            expected_signer: Some(pki().x509("a")),
            ..Default::default()
        };
        let got = extract_asic(std::fs::File::open(&b.asic).unwrap(), &target, &opts).unwrap();
        assert_eq!(
            got.signer.to_der().unwrap(),
            pki().x509("a").to_der().unwrap()
        );
        for (name, data) in &b.docs {
            assert_eq!(&std::fs::read(target.join(name)).unwrap(), data, "{name}");
            let f = got.files.iter().find(|f| &f.name == name).unwrap();
            assert_eq!(f.size, data.len() as u64);
        }
        assert_eq!(
            got.files
                .iter()
                .find(|f| f.name == "test.pdf")
                .unwrap()
                .mime,
            "application/pdf"
        );
        // Only the data files, no staging leftovers.
        let mut listing: Vec<String> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        listing.sort();
        assert_eq!(
            listing,
            vec![
                "arkivmelding.xml",
                "manifest.xml",
                "test.pdf",
                "vedlegg æøå.txt"
            ]
        );
        // Extracting again into the same place (a pop repeated after a crash) finds the same
        // files there and succeeds; a file there with other content is never overwritten.
        extract_asic(std::fs::File::open(&b.asic).unwrap(), &target, &opts).unwrap();
        std::fs::write(target.join("test.pdf"), b"something else").unwrap();
        let e = extract_asic(std::fs::File::open(&b.asic).unwrap(), &target, &opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
        assert_eq!(
            std::fs::read(target.join("test.pdf")).unwrap(),
            b"something else"
        );
    }
}

#[test]
fn wrong_signer_is_refused() {
    let b = build(SignatureDigest::Sha256);
    let opts = AsicReadOptions {
        expected_signer: Some(pki().x509("b")),
        ..Default::default()
    };
    let e = extract_asic(
        std::fs::File::open(&b.asic).unwrap(),
        &b.work.join("out"),
        &opts,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignatureInvalid, "{e}");
    assert_no_files(&b.work.join("out"));
}

/// Rebuild a zip with Python, keeping order and compression, applying changes.
const REBUILD: &str = r#"
import sys, zipfile, json
src, dst, ops = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
zin = zipfile.ZipFile(src)
zout = zipfile.ZipFile(dst, 'w')
for info in zin.infolist():
    name = info.filename
    if name.startswith('META-INF/signature') and 'signature' in ops.get('drop', []):
        continue
    if name in ops.get('drop', []):
        continue
    data = zin.read(name)
    if name in ops.get('flip', []):
        b = bytearray(data); b[len(b) // 2] ^= 1; data = bytes(b)
    zi = zipfile.ZipInfo(name, date_time=info.date_time)
    zi.compress_type = info.compress_type
    zout.writestr(zi, data)
for name, text in ops.get('add', {}).items():
    zout.writestr(name, text)
zout.close()
"#;

fn rebuilt(b: &Built, ops: serde_json::Value) -> PathBuf {
    let dst = b.work.join(format!("rebuilt-{}.zip", rand_suffix()));
    python(
        REBUILD,
        &[
            b.asic.to_str().unwrap(),
            dst.to_str().unwrap(),
            &ops.to_string(),
        ],
    );
    dst
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn assert_no_files(target: &Path) {
    if target.exists() {
        let left: Vec<_> = std::fs::read_dir(target)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

fn open_err(path: &Path, target: &Path, opts: &AsicReadOptions) -> efm_core::Error {
    let e = extract_asic(std::fs::File::open(path).unwrap(), target, opts).unwrap_err();
    assert_no_files(target);
    e
}

#[test]
fn python_rebuilt_container_still_opens() {
    // Sanity for the tamper tests: an untouched rebuild (Python's own zip writer) is accepted.
    let b = build(SignatureDigest::Sha256);
    let same = rebuilt(&b, serde_json::json!({}));
    extract_asic(
        std::fs::File::open(&same).unwrap(),
        &b.work.join("ok"),
        &AsicReadOptions::default(),
    )
    .unwrap();
}

#[test]
fn tampering_is_detected() {
    let b = build(SignatureDigest::Sha256);
    let opts = AsicReadOptions::default();
    let cases = [
        (
            serde_json::json!({"flip": ["META-INF/ASiCManifest.xml"]}),
            ErrorKind::SignatureInvalid,
        ),
        (
            serde_json::json!({"flip": ["test.pdf"]}),
            ErrorKind::DigestMismatch,
        ),
        (
            serde_json::json!({"flip": ["arkivmelding.xml"]}),
            ErrorKind::DigestMismatch,
        ),
        (
            serde_json::json!({"drop": ["test.pdf"]}),
            ErrorKind::PackageInvalid,
        ),
        (
            serde_json::json!({"add": {"extra.txt": "not listed"}}),
            ErrorKind::PackageInvalid,
        ),
        (
            serde_json::json!({"add": {"META-INF/other.xml": "<x/>"}}),
            ErrorKind::PackageInvalid,
        ),
        (
            serde_json::json!({"drop": ["signature"]}),
            ErrorKind::SignatureInvalid,
        ),
    ];
    for (ops, kind) in cases {
        let path = rebuilt(&b, ops.clone());
        let target = b.work.join(format!("t-{}", rand_suffix()));
        let e = open_err(&path, &target, &opts);
        assert_eq!(e.kind(), kind, "{ops}: {e}");
    }
}

/// Write a zip with `mimetype` first and then one crafted entry.
const MALICIOUS: &str = r#"
import sys, zipfile
dst, kind, name = sys.argv[1], sys.argv[2], sys.argv[3]
z = zipfile.ZipFile(dst, 'w')
z.writestr(zipfile.ZipInfo('mimetype'), 'application/vnd.etsi.asic-e+zip')
if kind == 'name':
    z.writestr(zipfile.ZipInfo(name), 'owned')
elif kind == 'symlink':
    zi = zipfile.ZipInfo(name)
    zi.create_system = 3
    zi.external_attr = (0o120777 << 16)
    z.writestr(zi, '/etc/passwd')
elif kind == 'duplicate':
    z.writestr(zipfile.ZipInfo(name), 'one')
    z.writestr(zipfile.ZipInfo(name), 'two')
elif kind == 'bomb':
    zi = zipfile.ZipInfo(name)
    zi.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(zi, b'\0' * (64 * 1024 * 1024))
z.close()
"#;

#[test]
fn unsafe_entries_are_refused_and_nothing_escapes() {
    let base = tempfile::tempdir().unwrap();
    let cases = [
        ("name", "../evil.txt"),
        ("name", "a/../../evil.txt"),
        ("name", "/tmp/evil-abs.txt"),
        ("name", "..\\evil.txt"),
        ("name", "C:/evil.txt"),
        ("name", "C:\\evil.txt"),
        ("name", "\\evil.txt"),
        ("symlink", "link.txt"),
        ("duplicate", "twice.txt"),
    ];
    for (i, (kind, name)) in cases.iter().enumerate() {
        let zip = base.path().join(format!("m{i}.zip"));
        python(MALICIOUS, &[zip.to_str().unwrap(), kind, name]);
        let target = base.path().join(format!("target{i}"));
        let e = open_err(&zip, &target, &AsicReadOptions::default());
        assert_eq!(e.kind(), ErrorKind::UnsafeEntry, "{kind} {name}: {e}");
    }
    assert!(!base.path().join("evil.txt").exists());
    assert!(!Path::new("/tmp/evil-abs.txt").exists());
    // Only our zips and the (empty) targets are there.
    for entry in std::fs::read_dir(base.path()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".zip") || name.starts_with("target"),
            "unexpected {name}"
        );
    }
}

#[test]
fn size_limits_count_decompressed_bytes() {
    let base = tempfile::tempdir().unwrap();
    let zip = base.path().join("bomb.zip");
    python(MALICIOUS, &[zip.to_str().unwrap(), "bomb", "zeros.bin"]);
    assert!(std::fs::metadata(&zip).unwrap().len() < 1024 * 1024);
    let opts = AsicReadOptions {
        max_entry_size: 8 * 1024 * 1024,
        ..Default::default()
    };
    let e = open_err(&zip, &base.path().join("t1"), &opts);
    assert_eq!(e.kind(), ErrorKind::EntryTooLarge, "{e}");
    let opts = AsicReadOptions {
        max_total_size: 16 * 1024 * 1024,
        ..Default::default()
    };
    let e = open_err(&zip, &base.path().join("t2"), &opts);
    assert_eq!(e.kind(), ErrorKind::EntryTooLarge, "{e}");
}

#[test]
fn writer_refuses_bad_document_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.txt");
    std::fs::write(&p, "x").unwrap();
    for name in ["../f.txt", "META-INF/x.xml", "manifest.xml", "mimetype"] {
        let e = write_asic(
            &[DocumentSource::new(name, &p)],
            None,
            "0192:910077473",
            "0192:910075918",
            &pki().identity("a"),
            &AsicWriteOptions::default(),
            Vec::new(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::UnsafeEntry | ErrorKind::InvalidArgument
            ),
            "{name}: {e}"
        );
    }
}

const ZIP64_CHECK: &str = r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist():
    print(i.filename, len(z.read(i.filename)), i.extract_version)
"#;

const ZIP64_MAKE: &str = r#"
import sys, zipfile, io
class Unseekable(io.RawIOBase):
    def __init__(self, f): self.f = f; self.n = 0
    def writable(self): return True
    def write(self, b): self.f.write(b); self.n += len(b); return len(b)
    def tell(self): return self.n
out = open(sys.argv[1], 'wb')
target = out if sys.argv[2] == 'seekable' else Unseekable(out)
z = zipfile.ZipFile(target, 'w', zipfile.ZIP_DEFLATED)
with z.open('mimetype', 'w', force_zip64=True) as f:
    f.write(b'application/vnd.etsi.asic-e+zip')
with z.open('big.bin', 'w', force_zip64=True) as f:
    for _ in range(10):
        f.write(bytes(range(256)) * 400)
z.close()
out.close()
"#;

#[test]
fn zip64_interoperates_with_python() {
    use efm_core::asic::zipfmt::{Method, ReadLimits, ZipStreamReader, ZipWriter};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // Ours, with Zip64 forced on small data: Python reads it.
    let path = dir.path().join("ours64.zip");
    let mut w = ZipWriter::new(std::fs::File::create(&path).unwrap());
    w.force_zip64();
    w.add_bytes(
        "mimetype",
        ASIC_MIMETYPE.as_bytes(),
        false,
        MIMETYPE_COMMENT,
    )
    .unwrap();
    w.start_entry("doc.txt", Method::Deflated(6), "").unwrap();
    w.write_all(&b"zip64 ".repeat(10_000)).unwrap();
    w.finish_entry().unwrap();
    w.start_patched_entry("asic.zip", 0).unwrap();
    w.write_all(&[1u8; 5000]).unwrap();
    w.finish_patched_entry().unwrap();
    w.finish("").unwrap();
    let out = python(ZIP64_CHECK, &[path.to_str().unwrap()]);
    assert_eq!(out, "mimetype 31 45\ndoc.txt 60000 45\nasic.zip 5000 45\n");
    // Python's Zip64 (sizes in the local header, and in 8-byte data descriptors): we read it.
    let limits = ReadLimits {
        max_entry_size: 1 << 20,
        max_total_size: 1 << 21,
        max_entries: 10,
    };
    for mode in ["seekable", "unseekable"] {
        let p = dir.path().join(format!("py64-{mode}.zip"));
        python(ZIP64_MAKE, &[p.to_str().unwrap(), mode]);
        let file = std::io::BufReader::new(std::fs::File::open(&p).unwrap());
        let mut zr = ZipStreamReader::new(file, limits);
        let mut sizes = Vec::new();
        while let Some(e) = zr.next_entry().unwrap() {
            sizes.push((
                e.name.clone(),
                zr.read_data(&e, &mut std::io::sink()).unwrap().size,
            ));
        }
        zr.expect_end().unwrap();
        assert_eq!(
            sizes,
            [
                ("mimetype".to_string(), 31),
                ("big.bin".to_string(), 1_024_000)
            ],
            "{mode}"
        );
    }
}

/// Python reads the container and gives each entry's method and SHA-256.
const METHODS: &str = r#"
import sys, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist():
    print(i.filename, i.compress_type, hashlib.sha256(z.read(i.filename)).hexdigest(), i.file_size, i.compress_size)
"#;

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    openssl::rand::rand_bytes(&mut v).unwrap();
    v
}

fn text_bytes(n: usize) -> Vec<u8> {
    let line = "<journalpost><tittel>Vedtak i sak 2026/1234</tittel><dato>2026-12-03</dato>\n";
    line.repeat(n / line.len() + 1).into_bytes()[..n].to_vec()
}

/// Deflate only what shrinks: names of compressed formats are not compressed (deflate's stored
/// blocks), other documents are judged by a sample (the whole file up to 256 KiB, pieces beyond),
/// at sizes around the sample, block and stored-block boundaries; Python's zipfile reads every
/// entry back intact.
#[test]
fn compression_is_chosen_by_content() {
    const K: usize = 1024;
    let mut half_and_half = text_bytes(600 * K);
    half_and_half.extend(random_bytes(600 * K));
    // (name, content, compressed); every document is DEFLATED, the uncompressed ones as stored
    // blocks.
    let docs: Vec<(&str, Vec<u8>, bool)> = vec![
        ("random.bin", random_bytes(3 * 256 * K + 7), false),
        ("text.dat", text_bytes(3 * 256 * K + 7), true),
        ("text-named.pdf", text_bytes(100 * K), false),
        ("empty.txt", Vec::new(), false),
        ("one.txt", b"x".to_vec(), false),
        ("tiny-random", random_bytes(100), false),
        ("sample-exact.bin", random_bytes(256 * K), false),
        ("sample-plus-one.xml", text_bytes(256 * K + 1), true),
        ("block-minus-one.bin", random_bytes(256 * K - 1), false),
        ("stored-block.bin", random_bytes(65_535), false),
        ("stored-block-plus-one.bin", random_bytes(65_536), false),
        // Large, with an odd size.
        (
            "large-random.dat",
            random_bytes(8 * 1024 * K + 12_345),
            false,
        ),
        ("large-text.log", text_bytes(8 * 1024 * K + 1), true),
        // Half text: two of four sample pieces shrink, which pays for the whole.
        ("mixed.bin", half_and_half, true),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for (name, data, _) in &docs {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        sources.push(DocumentSource::new(*name, p));
    }
    let asic = dir.path().join("c.asice");
    let summary = write_default(&sources, &asic);
    let expected: Vec<bool> = docs.iter().map(|(_, _, c)| *c).collect();
    assert_eq!(summary.deflated, expected);
    let out = python(METHODS, &[asic.to_str().unwrap()]);
    for (name, data, compressed) in &docs {
        let line = out
            .lines()
            .find(|l| l.split(' ').next() == Some(*name))
            .unwrap_or_else(|| panic!("{name} missing: {out}"));
        let sha = hex(&openssl::sha::sha256(data));
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[..4], [*name, "8", &sha, &data.len().to_string()], "{out}");
        let packed: usize = f[4].parse().unwrap();
        if *compressed {
            assert!(packed < data.len() * 9 / 10, "{line}");
        } else {
            // Stored blocks: the data and a 5-byte header per block of at most 64 KiB.
            assert!(
                packed >= data.len() + 5 && packed <= data.len() + 5 * (data.len() / 1000 + 2),
                "{line}"
            );
        }
    }
    // And our reader agrees.
    let target = dir.path().join("out");
    let got = extract_asic(
        std::fs::File::open(&asic).unwrap(),
        &target,
        &AsicReadOptions::default(),
    )
    .unwrap();
    for (name, data, _) in &docs {
        assert_eq!(&std::fs::read(target.join(name)).unwrap(), data, "{name}");
    }
    assert_eq!(got.files.len(), docs.len() + 1);
}

/// Forced methods are kept whatever the content: DEFLATED random data, STORED text and a large
/// STORED file.
#[test]
fn forced_compression_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let random = random_bytes(300_001);
    let text = text_bytes(300_001);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::write(&a, &random).unwrap();
    std::fs::write(&b, &text).unwrap();
    let mut da = DocumentSource::new("a.txt", &a);
    da.compression = Compression::Deflated;
    let mut db = DocumentSource::new("b.txt", &b);
    db.compression = Compression::Stored;
    // Large enough for the two-thread CRC pass of a STORED entry (8 MiB and up), odd-sized.
    let large = random_bytes(8 * 1024 * 1024 + 12_345);
    let c = dir.path().join("c");
    std::fs::write(&c, &large).unwrap();
    let mut dc = DocumentSource::new("c.pdf", &c);
    dc.compression = Compression::Stored;
    let asic = dir.path().join("c.asice");
    let summary = write_default(&[da, db, dc], &asic);
    assert_eq!(summary.deflated, vec![true, false, false]);
    let out = python(METHODS, &[asic.to_str().unwrap()]);
    assert!(
        out.contains(&format!("c.pdf 0 {}", hex(&openssl::sha::sha256(&large)))),
        "{out}"
    );
    assert!(
        out.contains(&format!("a.txt 8 {}", hex(&openssl::sha::sha256(&random)))),
        "{out}"
    );
    assert!(
        out.contains(&format!("b.txt 0 {}", hex(&openssl::sha::sha256(&text)))),
        "{out}"
    );
}

/// An ASiC-E of `sources` from A to B with the default options, written to `path`.
fn write_default(sources: &[DocumentSource], path: &Path) -> AsicSummary {
    let (summary, _) = write_asic(
        sources,
        None,
        "0192:910077473",
        "0192:910075918",
        &pki().identity("a"),
        &AsicWriteOptions::default(),
        std::fs::File::create(path).unwrap(),
    )
    .unwrap();
    summary
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
