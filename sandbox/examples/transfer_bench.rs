//! Streams a large file through the sandbox's Altinn 3 broker (upload, then download) and prints
//! throughput and peak memory next to a baseline measured in the same run (writing and reading
//! the same bytes to a local file).
//!
//! `cargo run --release -p efm-sandbox --example transfer_bench -- [MiB]` (default 256).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use efm_core::config::Config;
use efm_core::crypto::Identity;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Instant;

/// Deterministic bytes, generated on the fly (never held in memory).
struct Pattern {
    left: u64,
    counter: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            self.counter = self
                .counter
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1);
            *b = (self.counter >> 33) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn b64url(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn altinn_token(config: &Config, id: &Identity, scope: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg":"RS256","x5c":[STANDARD.encode(id.certificate.to_der().unwrap())]});
    let claims = json!({"aud": config.urls.maskinporten_audience, "iss": config.credentials.client_id,
        "scope": scope, "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 120,
        "authorization_details": [{"type":"urn:altinn:systemuser",
            "systemuser_org":{"authority":"iso6523-actorid-upis","ID":config.system_user.org_id},
            "externalRef": config.system_user.name}]});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut s = Signer::new(MessageDigest::sha256(), &id.private_key).unwrap();
    let grant = format!(
        "{input}.{}",
        b64url(&s.sign_oneshot_to_vec(input.as_bytes()).unwrap())
    );
    let mut r = ureq::post(&config.urls.maskinporten_token)
        .send_form([
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", grant.as_str()),
        ])
        .unwrap();
    let v: Value = r.body_mut().read_json().unwrap();
    let mp = v["access_token"].as_str().unwrap().to_string();
    let mut r = ureq::get(&config.urls.altinn_token_exchange)
        .header("Authorization", &format!("Bearer {mp}"))
        .call()
        .unwrap();
    r.body_mut().read_to_string().unwrap()
}

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
    let dir = std::env::temp_dir().join(format!("efm-sandbox-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sb = efm_sandbox::Sandbox::start(efm_sandbox::SandboxOptions {
        dir: dir.clone(),
        virus_scan_delay_ms: Some(0),
        ..Default::default()
    })
    .unwrap();
    let load = |o: &str| {
        let c = Config::from_json(&std::fs::read_to_string(sb.config_path(o)).unwrap()).unwrap();
        let i = Identity::load(&c.credentials.key).unwrap();
        (c, i)
    };
    let (ca, ia) = load("910075918");
    let (cb, ib) = load("910076787");
    let write = altinn_token(&ca, &ia, "altinn:broker.write");
    let read = altinn_token(&cb, &ib, "altinn:broker.read");
    println!(
        "payload: {mib} MiB; peak RSS at start: {:.1} MiB",
        peak_rss_mib()
    );

    // Baseline: the same bytes to a local file and back.
    let path = dir.join("baseline.bin");
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).unwrap();
    std::io::copy(
        &mut Pattern {
            left: size,
            counter: 1,
        },
        &mut f,
    )
    .unwrap();
    f.sync_all().unwrap();
    let base_w = t.elapsed();
    let t = Instant::now();
    std::io::copy(
        &mut std::fs::File::open(&path).unwrap(),
        &mut std::io::sink(),
    )
    .unwrap();
    let base_r = t.elapsed();
    std::fs::remove_file(&path).unwrap();

    let base = &ca.urls.altinn3_broker;
    let mut r = ureq::post(&format!("{base}/filetransfer/"))
        .header("Authorization", &format!("Bearer {write}"))
        .send_json(
            json!({"fileName":"big.zip","resourceId":"eformidling-dpo-meldingsutveksling",
            "sender":"0192:910075918","recipients":["0192:910076787"],"propertyList":{}}),
        )
        .unwrap();
    let v: Value = r.body_mut().read_json().unwrap();
    let id = v["fileTransferId"].as_str().unwrap().to_string();

    let t = Instant::now();
    let mut pattern = Pattern {
        left: size,
        counter: 1,
    };
    let r = ureq::post(&format!("{base}/filetransfer/{id}/upload"))
        .header("Authorization", &format!("Bearer {write}"))
        .header("Content-Type", "application/octet-stream")
        .send(ureq::SendBody::from_reader(&mut pattern))
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let up = t.elapsed();
    let rss_up = peak_rss_mib();

    let t = Instant::now();
    let mut r = ureq::get(&format!("{base}/filetransfer/{id}/download"))
        .header("Authorization", &format!("Bearer {read}"))
        .call()
        .unwrap();
    let mut reader = r.body_mut().with_config().limit(u64::MAX).reader();
    let mut expected = Pattern {
        left: size,
        counter: 1,
    };
    let (mut got, mut want) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut got).unwrap();
        if n == 0 {
            break;
        }
        expected.read_exact(&mut want[..n]).unwrap();
        assert!(got[..n] == want[..n], "downloaded bytes differ at {total}");
        total += n as u64;
    }
    assert_eq!(total, size);
    let down = t.elapsed();
    let rate = |d: std::time::Duration| mib as f64 / d.as_secs_f64();
    println!(
        "baseline local file: write {:.0} MiB/s, read {:.0} MiB/s",
        rate(base_w),
        rate(base_r)
    );
    println!(
        "sandbox Altinn 3 upload: {:.0} MiB/s ({:.2} s); download + verify: {:.0} MiB/s ({:.2} s)",
        rate(up),
        up.as_secs_f64(),
        rate(down),
        down.as_secs_f64()
    );
    println!(
        "peak RSS (client and server in one process): after upload {:.1} MiB, after download {:.1} MiB",
        rss_up,
        peak_rss_mib()
    );
    let _ = std::io::stdout().flush();
    sb.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
