//! CMS EnvelopedData interop: our streaming encryptor/decryptor against the `openssl cms` CLI and
//! Python's `cryptography` (both must be installed: the tests fail, not skip, without them).

use efm_core::config::KeySource;
use efm_core::crypto::cms::{self, CmsDecryptor, CmsEncryptor};
use efm_core::crypto::Identity;
use efm_core::ErrorKind;
use openssl::x509::X509;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A test CA and two organisation certificates, made once per test run.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn p(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
    fn cert(&self, who: &str) -> X509 {
        X509::from_pem(&std::fs::read(self.path(&format!("{who}.pem"))).unwrap()).unwrap()
    }
    fn identity(&self, who: &str) -> Identity {
        Identity::load(&KeySource::Pem {
            certificate: self.path(&format!("{who}.pem")),
            private_key: self.path(&format!("{who}.key")),
        })
        .unwrap()
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI must be installed for these tests");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cms_interop_pki");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-subj",
            "/C=NO/O=efm test/CN=Test CA",
            "-days",
            "2",
        ]);
        std::fs::write(dir.join("ext.cnf"), "subjectKeyIdentifier=hash\n").unwrap();
        // Serial of A has the high bit set (needs a leading zero in DER); B's is short. A2 is a
        // certificate with A's issuer and serial but another key (a botched re-issue).
        for (who, serial, org) in [
            ("a", "0x8A1B2C3D4E5F", "910000009"),
            ("b", "0x1234", "920000004"),
            ("a2", "0x8A1B2C3D4E5F", "910000009"),
        ] {
            openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &p(&format!("{who}.key")),
                "-out",
                &p(&format!("{who}.csr")),
                "-subj",
                &format!("/C=NO/O=Org {who}/serialNumber={org}/CN=Org {who}"),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &p(&format!("{who}.csr")),
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-set_serial",
                serial,
                "-days",
                "2",
                "-extfile",
                &p("ext.cnf"),
                "-out",
                &p(&format!("{who}.pem")),
            ]);
        }
        Pki { dir }
    })
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    openssl::rand::rand_bytes(&mut v).unwrap();
    v
}

fn our_encrypt(plain: &[u8], to: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let n = cms::encrypt(&mut &plain[..], &mut out, &pki().cert(to)).unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

fn our_decrypt(data: &[u8], who: &str) -> efm_core::Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = cms::decrypt(&mut &data[..], &mut out, &pki().identity(who))?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

fn openssl_decrypt(dir: &Path, data: &[u8], who: &str) -> Vec<u8> {
    let pki = pki();
    let input = dir.join("in.cms");
    let output = dir.join("out.bin");
    std::fs::write(&input, data).unwrap();
    openssl(&[
        "cms",
        "-decrypt",
        "-binary",
        "-inform",
        "DER",
        "-in",
        input.to_str().unwrap(),
        "-recip",
        &pki.p(&format!("{who}.pem")),
        "-inkey",
        &pki.p(&format!("{who}.key")),
        "-out",
        output.to_str().unwrap(),
    ]);
    std::fs::read(output).unwrap()
}

/// `openssl cms -encrypt` of `plain` with extra options; `recipients` are (name, oaep?) pairs.
fn openssl_encrypt(
    dir: &Path,
    plain: &[u8],
    opts: &[&str],
    recipients: &[(&str, bool)],
) -> Vec<u8> {
    let pki = pki();
    let input = dir.join("plain.bin");
    let output = dir.join("openssl.cms");
    std::fs::write(&input, plain).unwrap();
    let mut args: Vec<String> = ["cms", "-encrypt", "-binary", "-outform", "DER", "-in"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(input.to_str().unwrap().into());
    args.extend(["-out".to_string(), output.to_str().unwrap().into()]);
    args.extend(opts.iter().map(|s| s.to_string()));
    for (who, oaep) in recipients {
        args.extend(["-recip".to_string(), pki.p(&format!("{who}.pem"))]);
        if *oaep {
            for k in [
                "rsa_padding_mode:oaep",
                "rsa_oaep_md:sha256",
                "rsa_mgf1_md:sha256",
            ] {
                args.extend(["-keyopt".to_string(), k.to_string()]);
            }
        }
    }
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    openssl(&args);
    std::fs::read(output).unwrap()
}

fn cert_serial_hex(who: &str) -> String {
    let out = String::from_utf8(openssl(&[
        "x509",
        "-noout",
        "-serial",
        "-in",
        &pki().p(&format!("{who}.pem")),
    ]))
    .unwrap();
    out.trim()
        .trim_start_matches("serial=")
        .trim_start_matches('0')
        .to_string()
}

#[test]
fn openssl_decrypts_what_we_encrypt() {
    let tmp = tempfile::tempdir().unwrap();
    for size in [0usize, 1, 15, 16, 999, 1000, 70_001, 200_000] {
        let plain = random(size);
        let data = our_encrypt(&plain, "a");
        assert_eq!(
            openssl_decrypt(tmp.path(), &data, "a"),
            plain,
            "size {size}"
        );
        assert_eq!(our_decrypt(&data, "a").unwrap(), plain, "size {size}");
    }
}

/// The two-thread encryptor (AES here, framing and writing on a second thread) at sizes around
/// the AES block, the 1000-byte segment and the 256 KiB chunk, fed in chunks of varied and odd
/// sizes (empty ones too): `openssl cms -decrypt` and our decryptor get the plaintext back, and
/// the output has the same length as the one-thread encryptor's (same framing).
#[test]
fn openssl_decrypts_the_split_encryptor() {
    let tmp = tempfile::tempdir().unwrap();
    let chunk = cms::CHUNK;
    for (size, piece) in [
        (0usize, 7usize),
        (1, 1),
        (15, 16),
        (16, 16),
        (17, 1000),
        (999, 999),
        (1000, 1000),
        (1001, 333),
        (chunk - 1, chunk),
        (chunk, chunk),
        (chunk + 1, chunk),
        (3 * chunk + 12_345, 100_003),
        (2 * 1024 * 1024 + 5, chunk + 16),
    ] {
        let plain = random(size);
        let mut pieces: Vec<Vec<u8>> = plain.chunks(piece).map(<[u8]>::to_vec).collect();
        pieces.insert(pieces.len() / 2, Vec::new());
        let mut feed = pieces.into_iter();
        let mut spent = 0usize;
        let (data, n) = cms::encrypt_split(
            &pki().cert("a"),
            Vec::new(),
            &mut || Ok(feed.next().map(unmarked)),
            &mut |_| spent += 1,
            None,
        )
        .unwrap();
        assert_eq!(n, data.len() as u64, "size {size}");
        assert_eq!(data.len(), our_encrypt(&plain, "a").len(), "size {size}");
        assert_eq!(
            openssl_decrypt(tmp.path(), &data, "a"),
            plain,
            "size {size}"
        );
        assert_eq!(our_decrypt(&data, "a").unwrap(), plain, "size {size}");
        assert!(spent > 0, "chunks are handed back for reuse");
    }
}

fn unmarked(bytes: Vec<u8>) -> cms::Plaintext {
    cms::Plaintext {
        bytes,
        marks: Vec::new(),
    }
}

/// The split encryptor hashes the ranges its source announces while it encrypts: the digests
/// are those of the ranges (OpenSSL's SHA-256), the ciphertext what `openssl cms` decrypts,
/// with ranges cut across pieces, marks sent early, documents ending mid-piece, and an empty
/// document.
#[test]
fn split_encryptor_hashes_the_announced_ranges_as_it_encrypts() {
    use cms::ContentMark::{Content, DocumentEnd};
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(700_001);
    // Document 1: three ranges with gaps (as between stored blocks), document 2: empty,
    // document 3: one range reaching to the last byte.
    let marks = vec![
        Content {
            offset: 40,
            len: 65535,
        },
        Content {
            offset: 65580,
            len: 65535,
        },
        Content {
            offset: 131120,
            len: 1000,
        },
        DocumentEnd,
        DocumentEnd,
        Content {
            offset: 200_000,
            len: 500_001,
        },
        DocumentEnd,
    ];
    let range = |o: usize, l: usize| &plain[o..o + l];
    let mut first = openssl::sha::Sha256::new();
    first.update(range(40, 65535));
    first.update(range(65580, 65535));
    first.update(range(131120, 1000));
    let want = vec![
        first.finish(),
        openssl::sha::sha256(b""),
        openssl::sha::sha256(range(200_000, 500_001)),
    ];
    for piece in [1000usize, 65536, 262_144, 700_001] {
        // All marks go with the first piece: announced early, as the zip writer does.
        let mut pieces = plain.chunks(piece).map(<[u8]>::to_vec).map(unmarked);
        let mut first_piece = pieces.next().unwrap();
        first_piece.marks = marks.clone();
        let mut feed = std::iter::once(first_piece).chain(pieces);
        let (tx, rx) = std::sync::mpsc::channel();
        let (data, _) = cms::encrypt_split(
            &pki().cert("a"),
            Vec::new(),
            &mut || Ok(feed.next()),
            &mut |_| {},
            Some(tx),
        )
        .unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), want, "pieces of {piece}");
        assert_eq!(
            openssl_decrypt(tmp.path(), &data, "a"),
            plain,
            "pieces of {piece}"
        );
    }
}

/// A writer with `Write`'s default `write_vectored` (one slice per call) that also writes at most
/// 777 bytes per call.
struct OneSliceShort(Vec<u8>);

impl Write for OneSliceShort {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(777);
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The framing writes its segments with vectored writes; into a writer that takes one short
/// slice per call it falls back to copying, and both encryptors still produce what openssl and
/// our decryptor read, around the segment and chunk sizes.
#[test]
fn framing_works_with_writers_that_take_one_slice_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let chunk = cms::CHUNK;
    for size in [0usize, 1, 999, 1000, 1001, 4000, chunk + 1, 3 * chunk + 777] {
        let plain = random(size);
        let mut split_feed = plain.chunks(chunk).map(<[u8]>::to_vec);
        let (split, n) = cms::encrypt_split(
            &pki().cert("a"),
            OneSliceShort(Vec::new()),
            &mut || Ok(split_feed.next().map(unmarked)),
            &mut |_| {},
            None,
        )
        .unwrap();
        assert_eq!(n, split.0.len() as u64, "size {size}");
        let mut serial = OneSliceShort(Vec::new());
        let m = cms::encrypt(&mut &plain[..], &mut serial, &pki().cert("a")).unwrap();
        assert_eq!(m, serial.0.len() as u64, "size {size}");
        for data in [&split.0, &serial.0] {
            assert_eq!(data.len(), our_encrypt(&plain, "a").len(), "size {size}");
            assert_eq!(openssl_decrypt(tmp.path(), data, "a"), plain, "size {size}");
            assert_eq!(our_decrypt(data, "a").unwrap(), plain, "size {size}");
        }
    }
}

/// A source that fails mid-way makes the split encryptor fail with the source's error.
#[test]
fn split_encryptor_reports_a_failing_source() {
    let mut calls = 0;
    let err = cms::encrypt_split(
        &pki().cert("a"),
        Vec::new(),
        &mut || {
            calls += 1;
            if calls < 3 {
                Ok(Some(unmarked(vec![7u8; 5000])))
            } else {
                Err(std::io::Error::other("the disk went away"))
            }
        },
        &mut |_| {},
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("the disk went away"), "{err}");
}

#[test]
fn our_output_has_the_integration_point_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(5000);
    let data = our_encrypt(&plain, "a");
    // BER with indefinite lengths all the way down, 1000-byte segments, five end markers.
    assert_eq!(&data[..2], &[0x30, 0x80]);
    assert_eq!(&data[data.len() - 10..], &[0u8; 10]);
    let first_segment = [0xA0, 0x80, 0x04, 0x82, 0x03, 0xE8];
    assert!(
        data.windows(6).any(|w| w == first_segment),
        "no 1000-byte segment"
    );
    let path = tmp.path().join("ours.cms");
    std::fs::write(&path, &data).unwrap();
    let printed = String::from_utf8(openssl(&[
        "cms",
        "-cmsout",
        "-print",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
    ]))
    .unwrap();
    for needle in [
        "rsaesOaep",
        "sha256",
        "mgf1",
        "aes-256-cbc",
        "pkcs7-data",
        "CN=Test CA",
        "issuerAndSerialNumber",
    ] {
        assert!(
            printed.contains(needle),
            "{needle} missing from:\n{printed}"
        );
    }
}

/// A second, independent reader: Python parses our BER, unwraps the key with `cryptography`'s
/// OAEP(SHA-256, MGF1-SHA-256) and decrypts AES-256-CBC.
#[test]
fn python_cryptography_reads_our_output() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(12_345);
    let data = our_encrypt(&plain, "b");
    std::fs::write(tmp.path().join("ours.cms"), &data).unwrap();
    std::fs::write(tmp.path().join("plain.bin"), &plain).unwrap();
    let script = r#"
import sys
from cryptography.hazmat.primitives import hashes, serialization, padding as sympad
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

def tlv(b, i):
    tag = b[i]; i += 1
    n = b[i]; i += 1
    if n == 0x80:
        kids = []
        while b[i:i+2] != b"\x00\x00":
            k, i = tlv(b, i)
            kids.append(k)
        return (tag, kids), i + 2
    if n > 0x80:
        k = n & 0x7f; n = int.from_bytes(b[i:i+k], "big"); i += k
    body = b[i:i+n]
    if tag & 0x20:
        kids, j = [], 0
        while j < n:
            k, j = tlv(body, j)
            kids.append(k)
        return (tag, kids), i + n
    return (tag, body), i + n

def octets(t):
    return t[1] if isinstance(t[1], bytes) else b"".join(octets(k) for k in t[1])

def oid(t):
    b = t[1]; arcs = [b[0] // 40, b[0] % 40]; v = 0
    for x in b[1:]:
        v = (v << 7) | (x & 0x7f)
        if not x & 0x80: arcs.append(v); v = 0
    return ".".join(map(str, arcs))

data = open(sys.argv[1], "rb").read()
ci, end = tlv(data, 0)
assert end == len(data)
assert oid(ci[1][0]) == "1.2.840.113549.1.7.3"
ed = ci[1][1][1][0]
version, ris, eci = ed[1]
assert version[1] == b"\x00"
ktri = ris[1][0]
alg = ktri[1][2]
assert oid(alg[1][0]) == "1.2.840.113549.1.1.7", "not RSAES-OAEP"
params = alg[1][1][1]
assert [p[0] for p in params] == [0xa0, 0xa1], "OAEP params are not exactly [0] and [1]"
assert oid(params[0][1][0][1][0]) == "2.16.840.1.101.3.4.2.1", "hash is not SHA-256"
mgf = params[1][1][0]
assert oid(mgf[1][0]) == "1.2.840.113549.1.1.8", "mask generation is not MGF1"
assert oid(mgf[1][1][1][0]) == "2.16.840.1.101.3.4.2.1", "MGF1 hash is not SHA-256"
key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
cek = key.decrypt(octets(ktri[1][3]), padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
assert len(cek) == 32
calg = eci[1][1]
assert oid(calg[1][0]) == "2.16.840.1.101.3.4.1.42", "not AES-256-CBC"
iv = octets(calg[1][1])
content = eci[1][2]
assert content[0] == 0xa0 and all(len(s[1]) == 1000 for s in content[1][:-1])
d = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
p = d.update(octets(content)) + d.finalize()
u = sympad.PKCS7(128).unpadder()
p = u.update(p) + u.finalize()
assert p == open(sys.argv[3], "rb").read(), "plaintext differs"
print("ok")
"#;
    std::fs::write(tmp.path().join("check.py"), script).unwrap();
    let out = Command::new("python3")
        .arg(tmp.path().join("check.py"))
        .arg(tmp.path().join("ours.cms"))
        .arg(pki().path("b.key"))
        .arg(tmp.path().join("plain.bin"))
        .output()
        .expect("python3 with the cryptography package must be installed");
    assert!(
        out.status.success() && out.stdout.starts_with(b"ok"),
        "python check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn we_decrypt_openssl_streamed_ber_with_oaep_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(100_003);
    let data = openssl_encrypt(
        tmp.path(),
        &plain,
        &["-stream", "-aes-256-cbc"],
        &[("a", true)],
    );
    assert_eq!(
        &data[..2],
        &[0x30, 0x80],
        "expected indefinite-length BER from -stream"
    );
    assert_eq!(our_decrypt(&data, "a").unwrap(), plain);
    let info = cms::inspect(&mut &data[..]).unwrap();
    assert!(info.indefinite_length);
    assert_eq!(
        info.recipients[0].key_transport,
        "RSAES-OAEP (SHA-256, MGF1-SHA-256)"
    );
}

#[test]
fn we_decrypt_openssl_default_pkcs1_v15() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(4096);
    let data = openssl_encrypt(
        tmp.path(),
        &plain,
        &["-stream", "-aes-256-cbc"],
        &[("a", false)],
    );
    let info = cms::inspect(&mut &data[..]).unwrap();
    assert_eq!(info.recipients[0].key_transport_oid, "1.2.840.113549.1.1.1");
    assert_eq!(our_decrypt(&data, "a").unwrap(), plain);
}

#[test]
fn we_decrypt_openssl_der_with_each_aes_key_size() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(33_333);
    for (opt, name) in [
        ("-aes128", "AES-128-CBC"),
        ("-aes192", "AES-192-CBC"),
        ("-aes256", "AES-256-CBC"),
    ] {
        let data = openssl_encrypt(tmp.path(), &plain, &[opt], &[("a", true)]);
        // Definite lengths: SEQUENCE with a long-form length.
        assert_eq!(data[0], 0x30);
        assert_ne!(data[1], 0x80, "expected DER without -stream");
        let info = cms::inspect(&mut &data[..]).unwrap();
        assert!(!info.indefinite_length);
        assert_eq!(info.content_cipher, name);
        assert_eq!(our_decrypt(&data, "a").unwrap(), plain, "{name}");
    }
}

#[test]
fn we_pick_our_recipient_among_several() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(2048);
    let data = openssl_encrypt(
        tmp.path(),
        &plain,
        &["-stream"],
        &[("b", true), ("a", true)],
    );
    let info = cms::inspect(&mut &data[..]).unwrap();
    assert_eq!(info.recipients.len(), 2);
    assert_eq!(
        info.recipients[1].serial.as_deref(),
        Some(cert_serial_hex("a").as_str())
    );
    assert_eq!(our_decrypt(&data, "a").unwrap(), plain);
    assert_eq!(our_decrypt(&data, "b").unwrap(), plain);
    // Named by subjectKeyIdentifier instead of issuer and serial.
    let data = openssl_encrypt(
        tmp.path(),
        &plain,
        &["-keyid"],
        &[("b", false), ("a", true)],
    );
    let info = cms::inspect(&mut &data[..]).unwrap();
    assert!(info.recipients[1].subject_key_id.is_some());
    assert_eq!(our_decrypt(&data, "a").unwrap(), plain);
}

#[test]
fn wrong_key_is_not_for_us_and_names_both_sides() {
    let data = our_encrypt(&random(100), "b");
    let err = our_decrypt(&data, "a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotForUs, "{err}");
    let msg = err.message();
    assert!(msg.contains(&cert_serial_hex("b")), "{msg}");
    assert!(msg.contains("Org a"), "{msg}");
    assert!(!msg.contains("PRIVATE KEY"));
    // The Read adapter reports it at construction.
    assert_eq!(
        CmsDecryptor::new(&data[..], &pki().identity("a"))
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NotForUs
    );
}

#[test]
fn tampered_padding_is_decrypt_failed() {
    // 4500 bytes of plaintext: 4512 of ciphertext, the last segment holds 512 of them, and the
    // data ends with the ten end-of-contents octets.
    let plain = random(4500);
    let mut data = our_encrypt(&plain, "a");
    let last_ct = data.len() - 11;
    // Flipping the last byte of the next-to-last block flips the same byte of the last
    // plaintext block (CBC), which is the padding length: always invalid afterwards.
    data[last_ct - 16] ^= 0xFF;
    let err = our_decrypt(&data, "a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DecryptFailed, "{err}");
    assert!(err.message().contains("padding"), "{err}");
}

#[test]
fn truncated_input_is_an_error_wherever_it_is_cut() {
    let plain = random(5000);
    let data = our_encrypt(&plain, "a");
    for cut in [
        0,
        1,
        40,
        400,
        1000,
        3000,
        data.len() - 600,
        data.len() - 11,
        data.len() - 4,
        data.len() - 1,
    ] {
        let err = our_decrypt(&data[..cut], "a").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PackageInvalid, "cut at {cut}: {err}");
        assert!(
            err.message().contains("truncated") || err.message().contains("empty"),
            "{err}"
        );
    }
    // DER from openssl, cut inside the content.
    let tmp = tempfile::tempdir().unwrap();
    let der = openssl_encrypt(tmp.path(), &plain, &[], &[("a", true)]);
    let err = our_decrypt(&der[..der.len() - 100], "a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PackageInvalid, "{err}");
}

#[test]
fn garbage_and_other_content_types_are_errors() {
    let a = pki().identity("a");
    for junk in [
        random(3000),
        b"PK\x03\x04 not cms".to_vec(),
        vec![0x30, 0x03, 0x02, 0x01, 0x00],
    ] {
        let mut out = Vec::new();
        let err = cms::decrypt(&mut &junk[..], &mut out, &a).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::PackageInvalid),
            "{junk:?}: {err}"
        );
        assert!(cms::inspect(&mut &junk[..]).is_err());
    }
    // A SignedData is well-formed CMS, but not encrypted.
    let tmp = tempfile::tempdir().unwrap();
    let pki = pki();
    let input = tmp.path().join("p");
    std::fs::write(&input, b"hello").unwrap();
    let signed = openssl(&[
        "cms",
        "-sign",
        "-binary",
        "-outform",
        "DER",
        "-in",
        input.to_str().unwrap(),
        "-signer",
        &pki.p("a.pem"),
        "-inkey",
        &pki.p("a.key"),
    ]);
    let err = our_decrypt(&signed, "a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PackageInvalid);
    assert!(err.message().contains("SignedData"), "{err}");
    // Structure damaged after the content (a wrong end marker).
    let mut data = our_encrypt(b"x", "a");
    let n = data.len();
    data[n - 3] = 0x05;
    assert_eq!(
        our_decrypt(&data, "a").unwrap_err().kind(),
        ErrorKind::PackageInvalid
    );
}

#[test]
fn inspect_reports_recipient_and_cipher() {
    let data = our_encrypt(&random(10), "a");
    let info = cms::inspect(&mut &data[..]).unwrap();
    assert_eq!(info.content_cipher, "AES-256-CBC");
    assert_eq!(info.content_cipher_oid, "2.16.840.1.101.3.4.1.42");
    assert_eq!(info.version, 0);
    assert_eq!(info.recipients.len(), 1);
    let r = &info.recipients[0];
    assert_eq!(r.serial.as_deref(), Some(cert_serial_hex("a").as_str()));
    let issuer = r.issuer.as_deref().unwrap();
    assert!(
        issuer.contains("CN=Test CA") && issuer.contains("C=NO"),
        "{issuer}"
    );
    assert_eq!(r.key_transport_oid, "1.2.840.113549.1.1.7");
    assert_eq!(r.key_transport, "RSAES-OAEP (SHA-256, MGF1-SHA-256)");
}

#[test]
fn adapters_stream_with_any_write_and_read_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(150_000);
    let mut enc = CmsEncryptor::new(Vec::new(), &pki().cert("a")).unwrap();
    let mut rest = &plain[..];
    for size in [1usize, 7, 16, 999, 70_000].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = (*size).min(rest.len());
        enc.write_all(&rest[..n]).unwrap();
        enc.flush().unwrap();
        rest = &rest[n..];
    }
    let data = enc.finish().unwrap();
    assert_eq!(openssl_decrypt(tmp.path(), &data, "a"), plain);

    let ident = pki().identity("a");
    let mut dec = CmsDecryptor::new(&data[..], &ident).unwrap();
    assert_eq!(dec.info().recipients.len(), 1);
    let mut got = Vec::new();
    let mut buf = [0u8; 4099];
    let mut sizes = [1usize, 13, 4099, 512].iter().cycle();
    loop {
        let n = dec.read(&mut buf[..*sizes.next().unwrap()]).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, plain);
    // The Read adapter also decrypts openssl's stream, read to the end with std's helpers.
    let theirs = openssl_encrypt(tmp.path(), &plain, &["-stream"], &[("a", true)]);
    let mut got = Vec::new();
    CmsDecryptor::new(&theirs[..], &ident)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, plain);
}

#[test]
fn read_adapter_errors_carry_the_kind() {
    let mut data = our_encrypt(&random(4500), "a");
    let n = data.len();
    data[n - 27] ^= 0xFF;
    let mut dec = CmsDecryptor::new(&data[..], &pki().identity("a")).unwrap();
    let mut sink = Vec::new();
    let err = dec.read_to_end(&mut sink).unwrap_err();
    assert_eq!(
        cms::error_from_io(err, "reading").kind(),
        ErrorKind::DecryptFailed
    );
    // The error repeats; the adapter does not pretend the content ended.
    let err = dec.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(
        cms::error_from_io(err, "reading").kind(),
        ErrorKind::DecryptFailed
    );
}

#[test]
fn we_decrypt_other_oaep_parameters_and_3des() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = random(7777);
    let pki = pki();
    let input = tmp.path().join("plain.bin");
    std::fs::write(&input, &plain).unwrap();
    let cases: [(&[&str], &str, &str); 2] = [
        // OAEP with all parameters at their defaults (SHA-1, MGF1-SHA-1), AES-128.
        (
            &["-aes128", "-keyopt", "rsa_padding_mode:oaep"],
            "RSAES-OAEP (SHA-1, MGF1-SHA-1)",
            "AES-128-CBC",
        ),
        // Other hashes, a label, and openssl's default content cipher (3DES).
        (
            &[
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha384",
                "-keyopt",
                "rsa_mgf1_md:sha512",
                "-keyopt",
                "rsa_oaep_label:0102030405",
            ],
            "RSAES-OAEP (SHA-384, MGF1-SHA-512, label of 5 bytes)",
            "3DES-CBC",
        ),
    ];
    for (opts, transport, cipher) in cases {
        let output = tmp.path().join("x.cms");
        let mut args = vec![
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            "-in",
            input.to_str().unwrap(),
            "-out",
            output.to_str().unwrap(),
        ];
        let cert = pki.p("a.pem");
        args.extend(["-recip", &cert]);
        args.extend(opts);
        openssl(&args);
        let data = std::fs::read(&output).unwrap();
        let info = cms::inspect(&mut &data[..]).unwrap();
        assert_eq!(info.recipients[0].key_transport, transport);
        assert_eq!(info.content_cipher, cipher);
        assert_eq!(our_decrypt(&data, "a").unwrap(), plain, "{transport}");
    }
}

/// Damage anywhere gives an error or (where CBC cannot tell) wrong bytes, never a panic.
#[test]
fn random_damage_never_panics() {
    let plain = random(3000);
    let data = our_encrypt(&plain, "a");
    let ident = pki().identity("a");
    let pick = random(4 * 400);
    for i in 0..400 {
        let r = u32::from_le_bytes(pick[4 * i..4 * i + 4].try_into().unwrap()) as usize;
        let mut damaged = data.clone();
        // Mostly the header and the trailer, where the structure is.
        let at = match i % 3 {
            0 => r % 420,
            1 => data.len() - 1 - r % 40,
            _ => r % data.len(),
        };
        damaged[at] ^= 1 << (r % 8);
        if i % 5 == 0 {
            damaged.truncate(r % data.len());
        }
        let mut out = Vec::new();
        if cms::decrypt(&mut &damaged[..], &mut out, &ident).is_ok() {
            // CBC has no MAC: a flip may pass (IV, ciphertext) and, rarely, turn the padding into
            // another valid one, which moves the end by less than a block either way (a pad of 8
            // read as a pad of 1 keeps 7 more bytes). The ASiC digests above CMS catch all of it.
            assert!(
                out.len().abs_diff(plain.len()) < 16,
                "damage at {at} changed the length from {} to {}",
                plain.len(),
                out.len()
            );
        }
        let _ = cms::inspect(&mut &damaged[..]);
    }
}

#[test]
fn our_name_but_another_key_is_decrypt_failed() {
    let data = our_encrypt(&random(100), "a");
    let err = our_decrypt(&data, "a2").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DecryptFailed, "{err}");
    assert!(err.message().contains("content key"), "{err}");
}

#[test]
fn a_receiver_certificate_without_rsa_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("ec.key"),
        "-out",
        &p("ec.pem"),
        "-subj",
        "/CN=EC org",
        "-days",
        "1",
    ]);
    let cert = X509::from_pem(&std::fs::read(p("ec.pem")).unwrap()).unwrap();
    let err = CmsEncryptor::new(Vec::new(), &cert).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::CertificateInvalid, "{err}");
    assert!(err.message().contains("RSA"), "{err}");
}

/// The integration point opens the first RecipientInfo without comparing its id with its own
/// certificate (efm-common `DecryptCMSDocument`). A sender that encrypted to a re-issued
/// certificate of ours (same key, new serial) must therefore not lock us out of the message.
#[test]
fn a_reissued_certificate_with_our_key_still_opens() {
    let pki = pki();
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    openssl(&[
        "req",
        "-new",
        "-key",
        &pki.p("a.key"),
        "-out",
        &p("a3.csr"),
        "-subj",
        "/C=NO/O=Org a renewed/serialNumber=910000009/CN=Org a renewed",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("a3.csr"),
        "-CA",
        &pki.p("ca.pem"),
        "-CAkey",
        &pki.p("ca.key"),
        "-set_serial",
        "0x77",
        "-days",
        "2",
        "-out",
        &p("a3.pem"),
    ]);
    let plain = random(5000);
    std::fs::write(p("plain"), &plain).unwrap();
    // Encrypted by an independent implementation, to the renewed certificate.
    openssl(&[
        "cms",
        "-encrypt",
        "-binary",
        "-aes-256-cbc",
        "-in",
        &p("plain"),
        "-outform",
        "DER",
        "-out",
        &p("msg.der"),
        "-recip",
        &p("a3.pem"),
        "-keyopt",
        "rsa_padding_mode:oaep",
        "-keyopt",
        "rsa_oaep_md:sha256",
        "-keyopt",
        "rsa_mgf1_md:sha256",
    ]);
    let data = std::fs::read(p("msg.der")).unwrap();
    assert_eq!(our_decrypt(&data, "a").unwrap(), plain);
    // Someone else's key still gets NotForUs, not a decryption error.
    let err = our_decrypt(&data, "b").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotForUs, "{err}");
}
