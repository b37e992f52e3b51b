//! CMS EnvelopedData interop with BouncyCastle, the library the eFormidling integration point
//! uses: BC's `CMSEnvelopedDataStreamGenerator` set up as the IP does (AES-256-CBC, RSAES-OAEP
//! SHA-256/MGF1-SHA-256) and BC's streaming `CMSEnvelopedDataParser` as the IP decrypts.
//!
//! Needs a JDK (`javac`, `java`) and the BouncyCastle jars (Debian: `libbcprov-java`,
//! `libbcpkix-java`) in `/usr/share/java` or the directory named by `BC_JARS`. Fails without them.

use efm_core::config::KeySource;
use efm_core::crypto::cms;
use efm_core::crypto::Identity;
use openssl::x509::X509;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const JAVA_SOURCE: &str = r#"
import java.io.*;
import java.security.*;
import java.security.cert.*;
import org.bouncycastle.asn1.DERNull;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.pkcs.RSAESOAEPparams;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

public class BcCms {
    public static void main(String[] a) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509")
            .generateCertificate(new FileInputStream(a[1]));
        if (a[0].startsWith("encrypt")) {
            // As efm-common's CmsAlgorithm.RSAES_OAEP and CreateCMSDocument, which the IP uses.
            AlgorithmIdentifier sha256 = new AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256, DERNull.INSTANCE);
            AlgorithmIdentifier oaep = new AlgorithmIdentifier(PKCSObjectIdentifiers.id_RSAES_OAEP,
                new RSAESOAEPparams(sha256, new AlgorithmIdentifier(PKCSObjectIdentifiers.id_mgf1, sha256),
                    RSAESOAEPparams.DEFAULT_P_SOURCE_ALGORITHM));
            JceKeyTransRecipientInfoGenerator rig = a[0].equals("encrypt-pkcs1")
                ? new JceKeyTransRecipientInfoGenerator(cert)
                : new JceKeyTransRecipientInfoGenerator(cert, oaep);
            CMSEnvelopedDataStreamGenerator gen = new CMSEnvelopedDataStreamGenerator();
            gen.addRecipientInfoGenerator(rig.setProvider("BC"));
            try (InputStream in = new FileInputStream(a[2]);
                 OutputStream out = new FileOutputStream(a[3]);
                 OutputStream enc = gen.open(out,
                     new JceCMSContentEncryptorBuilder(CMSAlgorithm.AES256_CBC).setProvider("BC").build())) {
                in.transferTo(enc);
            }
        } else {
            Object pem = new PEMParser(new FileReader(a[4])).readObject();
            PrivateKey key = new JcaPEMKeyConverter().setProvider("BC").getPrivateKey((PrivateKeyInfo) pem);
            // As the IP's DecryptCMSDocument: streaming parser, first RecipientInfo.
            CMSEnvelopedDataParser p = new CMSEnvelopedDataParser(new BufferedInputStream(new FileInputStream(a[2])));
            RecipientInformation ri = p.getRecipientInfos().getRecipients().iterator().next();
            System.out.println(ri.getKeyEncryptionAlgOID() + " " + p.getEncryptionAlgOID());
            CMSTypedStream s = ri.getContentStream(new JceKeyTransEnvelopedRecipient(key).setProvider("BC"));
            try (OutputStream out = new FileOutputStream(a[3])) {
                s.getContentStream().transferTo(out);
            }
        }
    }
}
"#;

struct Env {
    dir: PathBuf,
    classpath: String,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not start (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A key pair, a certificate and the compiled Java helper, made once per run.
fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cms_bouncycastle");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let jars = std::env::var("BC_JARS").unwrap_or_else(|_| "/usr/share/java".into());
        let mut classpath = vec![dir.to_str().unwrap().to_string()];
        for jar in ["bcprov.jar", "bcpkix.jar", "bcutil.jar"] {
            let path = Path::new(&jars).join(jar);
            assert!(
                path.exists(),
                "{} is missing: install libbcprov-java and libbcpkix-java or set BC_JARS",
                path.display()
            );
            classpath.push(path.to_str().unwrap().to_string());
        }
        let classpath = classpath.join(":");
        let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("cert.pem"),
            "-subj",
            "/C=NO/O=Org BC/CN=Org BC",
            "-days",
            "2",
            "-set_serial",
            "0x00C0FFEE",
        ]));
        std::fs::write(dir.join("BcCms.java"), JAVA_SOURCE).unwrap();
        run(Command::new("javac").args(["-cp", &classpath, "-d", &p(""), &p("BcCms.java")]));
        Env { dir, classpath }
    })
}

fn java(args: &[&str]) -> String {
    let e = env();
    run(Command::new("java")
        .args(["-cp", &e.classpath, "BcCms"])
        .args(args))
}

fn identity() -> Identity {
    let d = &env().dir;
    Identity::load(&KeySource::Pem {
        certificate: d.join("cert.pem"),
        private_key: d.join("key.pem"),
    })
    .unwrap()
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    openssl::rand::rand_bytes(&mut v).unwrap();
    v
}

/// The RSAES-OAEP AlgorithmIdentifier as efm-common's `CmsAlgorithm.RSAES_OAEP` encodes it:
/// SHA-256 and MGF1-SHA-256 with NULL parameters, the default pSource left out (BouncyCastle's
/// `RSAESOAEPparams` omits members equal to their defaults).
const OAEP_SHA256_ALG_ID: &str = "303c06092a864886f70d010107302fa00f300d06096086480165030402010500\
                                  a11c301a06092a864886f70d010108300d06096086480165030402010500";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn bouncycastle_writes_what_we_read_and_the_same_shape_we_write() {
    let d = env().dir.clone();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    let plain = random(54_321);
    std::fs::write(d.join("plain1.bin"), &plain).unwrap();
    java(&["encrypt", &p("cert.pem"), &p("plain1.bin"), &p("bc1.cms")]);
    let theirs = std::fs::read(d.join("bc1.cms")).unwrap();
    let mut out = Vec::new();
    cms::decrypt(&mut &theirs[..], &mut out, &identity()).unwrap();
    assert_eq!(out, plain);

    let cert = X509::from_pem(&std::fs::read(d.join("cert.pem")).unwrap()).unwrap();
    let mut ours = Vec::new();
    cms::encrypt(&mut &plain[..], &mut ours, &cert).unwrap();
    // Same skeleton byte for byte up to the recipient SET, the same OAEP identifier, the same
    // segmenting, the same size (only keys, IV and ciphertext differ).
    assert_eq!(hex(&ours[..24]), hex(&theirs[..24]));
    for data in [&ours, &theirs] {
        assert!(hex(data).contains(OAEP_SHA256_ALG_ID));
        assert!(hex(data).contains("a080048203e8"));
    }
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(
        cms::inspect(&mut &ours[..]).unwrap(),
        cms::inspect(&mut &theirs[..]).unwrap()
    );
}

#[test]
fn bouncycastle_reads_what_we_write() {
    let d = env().dir.clone();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    let cert = X509::from_pem(&std::fs::read(d.join("cert.pem")).unwrap()).unwrap();
    let plain = random(70_007);
    let mut ours = Vec::new();
    cms::encrypt(&mut &plain[..], &mut ours, &cert).unwrap();
    std::fs::write(d.join("ours2.cms"), &ours).unwrap();
    let printed = java(&[
        "decrypt",
        &p("cert.pem"),
        &p("ours2.cms"),
        &p("out2.bin"),
        &p("key.pem"),
    ]);
    assert_eq!(
        printed.trim(),
        "1.2.840.113549.1.1.7 2.16.840.1.101.3.4.1.42"
    );
    assert_eq!(std::fs::read(d.join("out2.bin")).unwrap(), plain);
}

#[test]
fn we_read_bouncycastle_pkcs1_v15() {
    let d = env().dir.clone();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    let plain = random(3000);
    std::fs::write(d.join("plain3.bin"), &plain).unwrap();
    java(&[
        "encrypt-pkcs1",
        &p("cert.pem"),
        &p("plain3.bin"),
        &p("bc3.cms"),
    ]);
    let theirs = std::fs::read(d.join("bc3.cms")).unwrap();
    let info = cms::inspect(&mut &theirs[..]).unwrap();
    assert_eq!(info.recipients[0].key_transport, "RSA PKCS#1 v1.5");
    let mut out = Vec::new();
    cms::decrypt(&mut &theirs[..], &mut out, &identity()).unwrap();
    assert_eq!(out, plain);
}
