//! Altinn 2 broker throughput and client memory, next to a plain file copy of the same bytes.
//!
//! `cargo run --release -p efm-core --example bench_altinn2 -- [size_mib]` (default 256)
//!
//! Starts the sandbox in this process, writes one incompressible file, then runs each phase as a
//! child process so that its peak RSS (VmHWM) is the client's own: a plain streamed file copy
//! (the baseline), the Altinn 2 upload (InitiateBrokerServiceBasic + MTOM UploadFileStreamedBasic
//! from the file) and the download (MTOM DownloadFileStreamedBasic into a file). MB/s are payload
//! bytes per wall-clock second of the child (process start included). The downloaded file is
//! compared with the original by SHA-256.

use efm_core::config::Config;
use efm_core::http::Http;
use efm_core::ident::OrgNumber;
use efm_core::transport::altinn2::Altinn2Broker;
use efm_core::transport::{Outgoing, Transport};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SENDER: &str = "910075918";
const RECEIVER: &str = "910076787";

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

fn load(config: &Path) -> (Config, Http) {
    let config =
        Config::from_json(&std::fs::read_to_string(config).expect("config")).expect("config");
    let http = Http::new(&config).expect("http");
    (config, http)
}

/// One phase in this (child) process; prints `<result> <peak RSS KiB>`.
fn child(args: &[String]) {
    let result = match args[0].as_str() {
        "copy" => {
            let mut from = std::fs::File::open(&args[1]).expect("source");
            let mut to = std::fs::File::create(&args[2]).expect("target");
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = from.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                to.write_all(&buf[..n]).expect("write");
            }
            to.sync_all().expect("sync");
            "-".to_string()
        }
        "upload" => {
            let (config, http) = load(Path::new(&args[1]));
            let broker = Altinn2Broker::from_config(&http, &config).expect("broker");
            let mut file = std::fs::File::open(&args[2]).expect("source");
            let size = file.metadata().expect("size").len();
            broker
                .upload(
                    Outgoing {
                        sender: &config.organisation_number,
                        recipient: &OrgNumber::parse(RECEIVER).unwrap(),
                        senders_reference: &uuid::Uuid::new_v4().to_string(),
                        body: &mut file,
                        size,
                    },
                    &mut |_, _| {},
                )
                .expect("upload")
        }
        "download" => {
            let (config, http) = load(Path::new(&args[1]));
            let broker = Altinn2Broker::from_config(&http, &config).expect("broker");
            let mut out = std::fs::File::create(&args[3]).expect("target");
            broker
                .download(&args[2], &mut out, &mut |_, _| {})
                .expect("download");
            out.sync_all().expect("sync");
            broker.confirm(&args[2]).expect("confirm");
            "-".to_string()
        }
        other => panic!("unknown phase {other}"),
    };
    println!("{result} {}", peak_rss_kib());
}

fn run(phase: &[&str]) -> (f64, String, u64) {
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().expect("own path"))
        .arg("--phase")
        .args(phase)
        .output()
        .expect("child runs");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "phase {phase:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let result = words.next().unwrap_or("").to_string();
    let hwm = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    (secs, result, hwm)
}

fn sha256(path: &Path) -> Vec<u8> {
    let mut h = openssl::sha::Sha256::new();
    let mut f = std::fs::File::open(path).expect("file");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finish().to_vec()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--phase") {
        child(&args[2..]);
        return;
    }
    let mib: u64 = args
        .get(1)
        .map(|s| s.parse().expect("size in MiB"))
        .unwrap_or(256);
    let dir = tempfile::Builder::new()
        .prefix("efm-bench-a2-")
        .tempdir()
        .expect("temp dir");
    let d = dir.path();
    let sb = efm_sandbox::Sandbox::start(efm_sandbox::SandboxOptions {
        dir: d.join("sandbox"),
        port: 0,
        virus_scan_delay_ms: Some(0),
        ..Default::default()
    })
    .expect("sandbox");

    let src = d.join("payload.bin");
    {
        let mut f = std::fs::File::create(&src).expect("payload");
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..mib {
            openssl::rand::rand_bytes(&mut block).expect("random");
            f.write_all(&block).expect("write");
        }
    }
    let bytes = (mib * 1024 * 1024) as f64;
    let mb_s = |secs: f64| bytes / 1e6 / secs;
    println!(
        "payload: {mib} MiB incompressible; sandbox at {}",
        sb.base_url()
    );
    println!(
        "{:<34} {:>8} {:>9} {:>16}",
        "phase", "seconds", "MB/s", "peak RSS (MiB)"
    );
    let show = |name: &str, secs: f64, hwm: u64| {
        println!(
            "{name:<34} {secs:>8.2} {:>9.1} {:>16.1}",
            mb_s(secs),
            hwm as f64 / 1024.0
        )
    };

    let copy = d.join("copy.bin");
    let (secs, _, hwm) = run(&[
        "copy",
        &src.display().to_string(),
        &copy.display().to_string(),
    ]);
    show("baseline: streamed file copy", secs, hwm);
    let _ = std::fs::remove_file(&copy);

    let a = sb.config_path(SENDER).display().to_string();
    let b = sb.config_path(RECEIVER).display().to_string();
    let (secs, id, hwm) = run(&["upload", &a, &src.display().to_string()]);
    show("altinn2 upload (MTOM, streamed)", secs, hwm);
    let dst = d.join("downloaded.bin");
    let (secs, _, hwm) = run(&["download", &b, &id, &dst.display().to_string()]);
    show("altinn2 download + confirm", secs, hwm);
    let same = sha256(&src) == sha256(&dst);
    println!("downloaded file identical to the original: {same}");
    sb.stop();
    assert!(same, "the downloaded file differs");
}
