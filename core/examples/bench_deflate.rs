//! Deflate speed and ratio of efm's backend (flate2 on zlib-rs) at levels 1-6 on incompressible
//! and XML-like data, beside `gzip` (the system's zlib-based tool) at the same level on the same
//! bytes in the same run: what chose the default document level and why sampling matters.
//!
//! `cargo run --release -p efm-core --example bench_deflate -- [size_mib]` (default 64)

use flate2::{Compress, Compression, FlushCompress, Status};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

fn deflate(data: &[u8], level: u32) -> (f64, u64) {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = vec![0u8; 256 * 1024];
    let t = Instant::now();
    for chunk in data.chunks(256 * 1024) {
        let mut input = chunk;
        while !input.is_empty() {
            let before = c.total_in();
            c.compress(input, &mut out, FlushCompress::None).unwrap();
            input = &input[(c.total_in() - before) as usize..];
        }
    }
    while c.compress(&[], &mut out, FlushCompress::Finish).unwrap() != Status::StreamEnd {}
    (t.elapsed().as_secs_f64(), c.total_out())
}

/// gzip -<level> reading from a pipe, output counted; None when gzip is missing.
fn gzip(data: &[u8], level: u32) -> Option<(f64, u64)> {
    let t = Instant::now();
    let mut child = Command::new("gzip")
        .arg(format!("-{level}"))
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let feed = std::thread::scope(|s| {
        // The feeder owns stdin, so gzip sees the end of its input when the feeder is done.
        s.spawn(move || stdin.write_all(data));
        child.wait_with_output()
    })
    .ok()?;
    Some((t.elapsed().as_secs_f64(), feed.stdout.len() as u64))
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("size in MiB"))
        .unwrap_or(64);
    let mut random = vec![0u8; mib << 20];
    openssl::rand::rand_bytes(&mut random).unwrap();
    let mut xml = Vec::with_capacity(mib << 20);
    let mut i = 0u64;
    while xml.len() < mib << 20 {
        xml.extend_from_slice(
            format!(
                "<journalpost><id>{i}</id><tittel>Vedtak i sak {}</tittel><dato>2026-12-{:02}</dato></journalpost>\n",
                i * 7919 % 100_000,
                i % 28 + 1
            )
            .as_bytes(),
        );
        i += 1;
    }
    xml.truncate(mib << 20);
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average: {}",
            load.split(' ').take(3).collect::<Vec<_>>().join(" ")
        );
    }
    println!("{mib} MiB each; best of 3; MB/s of input, ratio = output/input");
    println!(
        "{:<8} {:>5} {:>14} {:>8} {:>14} {:>8}",
        "data", "level", "efm MB/s", "ratio", "gzip MB/s", "ratio"
    );
    for (name, data) in [("random", &random), ("xml", &xml)] {
        for level in [1, 2, 3, 6] {
            let best = |f: &dyn Fn() -> Option<(f64, u64)>| {
                (0..3)
                    .filter_map(|_| f())
                    .min_by(|a, b| a.0.total_cmp(&b.0))
            };
            let ours = best(&|| Some(deflate(data, level))).unwrap();
            let theirs = best(&|| gzip(data, level));
            let mb = |s: f64| data.len() as f64 / 1e6 / s;
            let ratio = |n: u64| n as f64 / data.len() as f64;
            let (gs, gr) = theirs
                .map(|(s, n)| (format!("{:.0}", mb(s)), format!("{:.3}", ratio(n))))
                .unwrap_or(("n/a".into(), "n/a".into()));
            println!(
                "{name:<8} {level:>5} {:>14.0} {:>8.3} {gs:>14} {gr:>8}",
                mb(ours.0),
                ratio(ours.1)
            );
        }
    }
}
