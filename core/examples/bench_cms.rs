//! Throughput and peak memory of our streaming CMS encrypt/decrypt next to `openssl cms`, on the
//! same random file in the same run.
//!
//! `cargo run --release -p efm-core --example bench_cms -- [size_mib]` (default 256).
//!
//! Each of the four runs is a child process under `/usr/bin/time` (our side re-runs this binary
//! with `--child`), so the peak RSS figures are measured the same way for both.

use efm_core::config::KeySource;
use efm_core::crypto::cms;
use efm_core::crypto::Identity;
use efm_test_support::pki::{Ca, Issue};
use openssl::x509::X509;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TIME: &str = "/usr/bin/time";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2..]);
        return;
    }
    let mib: u64 = args
        .get(1)
        .map(|s| s.parse().expect("size in MiB"))
        .unwrap_or(256);
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();

    let (cert, key) = Ca::new().issue(Issue::org("910075918"));
    std::fs::write(p("cert.pem"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(p("key.pem"), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    eprintln!("writing {mib} MiB of random data ...");
    write_random(&d.join("plain.bin"), mib << 20);
    let bytes = (mib << 20) as f64;
    let have_time = Path::new(TIME).exists();
    if !have_time {
        eprintln!("{TIME} is not installed: peak RSS is not measured");
    }
    let me = std::env::current_exe().unwrap();
    let me = me.to_str().unwrap();

    let runs: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "efm encrypt",
            argv(&[
                me,
                "--child",
                "encrypt",
                &p("plain.bin"),
                &p("ours.cms"),
                &p("cert.pem"),
            ]),
            "ours.cms",
        ),
        (
            "openssl cms -encrypt",
            argv(&[
                "openssl",
                "cms",
                "-encrypt",
                "-binary",
                "-aes-256-cbc",
                "-recip",
                &p("cert.pem"),
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
                "-stream",
                "-outform",
                "DER",
                "-in",
                &p("plain.bin"),
                "-out",
                &p("theirs.cms"),
            ]),
            "theirs.cms",
        ),
        (
            "efm decrypt",
            argv(&[
                me,
                "--child",
                "decrypt",
                &p("ours.cms"),
                &p("ours.out"),
                &p("cert.pem"),
                &p("key.pem"),
            ]),
            "ours.out",
        ),
        (
            "openssl cms -decrypt",
            argv(&[
                "openssl",
                "cms",
                "-decrypt",
                "-binary",
                "-inform",
                "DER",
                "-recip",
                &p("cert.pem"),
                "-inkey",
                &p("key.pem"),
                "-in",
                &p("theirs.cms"),
                "-out",
                &p("theirs.out"),
            ]),
            "theirs.out",
        ),
    ];
    println!("CMS EnvelopedData, AES-256-CBC + RSAES-OAEP-SHA256, {mib} MiB random input");
    println!(
        "{:<22} {:>10} {:>10} {:>14}",
        "run", "seconds", "MB/s", "peak RSS MiB"
    );
    let mut results = Vec::new();
    for (name, cmd, output) in &runs {
        let (secs, rss_kib) = timed(cmd, have_time);
        let mbs = bytes / 1e6 / secs;
        let rss = rss_kib
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or("n/a".into());
        println!("{name:<22} {secs:>10.2} {mbs:>10.1} {rss:>14}");
        results.push((name.to_string(), mbs, output.to_string()));
    }
    println!(
        "efm/openssl throughput: encrypt {:.2}x, decrypt {:.2}x",
        results[0].1 / results[1].1,
        results[2].1 / results[3].1
    );
    for out in ["ours.out", "theirs.out"] {
        assert!(
            same(&d.join("plain.bin"), &d.join(out)),
            "{out} differs from the input"
        );
    }
    // Cross-check at full size: openssl opens ours and we open openssl's.
    let ident = Identity::load(&KeySource::Pem {
        certificate: d.join("cert.pem"),
        private_key: d.join("key.pem"),
    })
    .unwrap();
    let mut out = File::create(d.join("cross.out")).unwrap();
    cms::decrypt(
        &mut File::open(d.join("theirs.cms")).unwrap(),
        &mut out,
        &ident,
    )
    .unwrap();
    assert!(same(&d.join("plain.bin"), &d.join("cross.out")));
    println!("outputs verified (including efm decrypting openssl's file)");
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Wall seconds and (with /usr/bin/time) the peak RSS in KiB.
fn timed(cmd: &[String], have_time: bool) -> (f64, Option<u64>) {
    let mut c = if have_time {
        let mut c = Command::new(TIME);
        c.args(["-f", "%M"]).args(cmd);
        c
    } else {
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..]);
        c
    };
    let start = Instant::now();
    let out = c.output().expect("run benchmark command");
    let secs = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}: {stderr}");
    let rss = stderr.lines().last().and_then(|l| l.trim().parse().ok());
    (secs, rss.filter(|_| have_time))
}

fn write_random(path: &PathBuf, size: u64) {
    let mut f = File::create(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        openssl::rand::rand_bytes(&mut buf[..n]).unwrap();
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
}

fn same(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (
        BufReader::new(File::open(a).unwrap()),
        BufReader::new(File::open(b).unwrap()),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut a, &mut x);
        let m = read_full(&mut b, &mut y);
        if n != m || x[..n] != y[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    n
}

/// The measured side: plain files in, plain files out, as `efm` would use it.
fn child(args: &[String]) {
    let mut input = File::open(&args[1]).unwrap();
    let mut output = File::create(&args[2]).unwrap();
    let cert = X509::from_pem(&std::fs::read(&args[3]).unwrap()).unwrap();
    match args[0].as_str() {
        "encrypt" => {
            cms::encrypt(&mut input, &mut output, &cert).unwrap();
        }
        "decrypt" => {
            let ident = Identity::new(
                cert,
                openssl::pkey::PKey::private_key_from_pem(&std::fs::read(&args[4]).unwrap())
                    .unwrap(),
                Vec::new(),
            )
            .unwrap();
            cms::decrypt(&mut input, &mut output, &ident).unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}
