//! Many small messages through the sandbox from one process: how many messages per second one
//! client sends, receives (poll: download, store, confirm, MOTTATT back) and collects statuses
//! for, with the CPU time per message, beside the ceiling measured in the same run: the sandbox's
//! own request rate (one authenticated broker listing after another from this process, the
//! cheapest call a flow makes) divided by the requests each message costs.
//!
//! Sending is measured twice: `send` calls `Client::send` from one thread, one message after
//! another; `send N threads` calls it from N threads sharing the one `Client` (as an application
//! may: `Client` is `Send + Sync`), each thread sending its share, so one message's packing
//! overlaps another's network and disk waits. Polls run one at a time in a `Client` (its poll
//! lock), so poll and statuses are measured from one thread; they collect the messages of both
//! send runs.
//!
//! ```sh
//! cargo run --release -p efm-core --example bench_messages -- 300      # messages, on disk
//! cargo run --release -p efm-core --example bench_messages -- 300 --kib 20 --threads 2
//! TMPDIR=/dev/shm cargo run --release -p efm-core --example bench_messages -- 300  # RAM disk
//! ```
//!
//! The sandbox runs in a child process (this program again, `bench_messages sandbox DIR`), so
//! the CPU time printed for efm is the client's alone; the sandbox's is printed beside it.
//! CPU times come from /proc (Linux only), in clock ticks of 10 ms.

use efm_core::client::{Client, ClientContext, ClientOptions, SendDocument, SendRequest};
use efm_core::config::Config;
use efm_core::transport::altinn3::Altinn3Broker;
use efm_core::transport::{SystemUserTokens, Transport};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SENDER: &str = "910075918";
const RECEIVER: &str = "910076787";

const ARKIVMELDING: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<arkivmelding xmlns=\"http://www.arkivverket.no/standarder/noark5/arkivmelding\"><system>efm bench_messages</system></arkivmelding>\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("sandbox") {
        return sandbox_child(Path::new(&args[1]));
    }
    let mut messages = 300usize;
    let mut kib = 20usize;
    let mut threads = 2usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kib" => kib = it.next().and_then(|v| v.parse().ok()).expect("--kib N"),
            "--threads" => {
                threads = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--threads N (1 or more)")
            }
            n => {
                messages = n
                    .parse()
                    .expect("usage: bench_messages [MESSAGES] [--kib N] [--threads N]")
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("efm-bench-messages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let result = std::panic::catch_unwind(|| run(&dir, messages, kib, threads));
    let _ = std::fs::remove_dir_all(&dir);
    if result.is_err() {
        std::process::exit(1);
    }
}

/// The sandbox, in its own process: prints its base URL and the two configurations, then serves
/// until stdin closes.
fn sandbox_child(dir: &Path) {
    let sb = efm_sandbox::Sandbox::start(efm_sandbox::SandboxOptions {
        dir: dir.to_path_buf(),
        virus_scan_delay_ms: Some(0),
        ..Default::default()
    })
    .expect("the sandbox starts");
    println!("{}", sb.base_url());
    println!("{}", sb.config_path(SENDER).display());
    println!("{}", sb.config_path(RECEIVER).display());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    while matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0) {}
    sb.stop();
}

struct SandboxProcess {
    child: Child,
    base_url: String,
    configs: [PathBuf; 2],
}

impl SandboxProcess {
    fn start(dir: &Path) -> SandboxProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("sandbox")
            .arg(dir.join("sandbox"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the sandbox process");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = || {
            let mut l = String::new();
            out.read_line(&mut l).expect("the sandbox answers");
            l.trim().to_string()
        };
        let base_url = line();
        let configs = [PathBuf::from(line()), PathBuf::from(line())];
        SandboxProcess {
            child,
            base_url,
            configs,
        }
    }

    fn cpu(&self) -> Duration {
        cpu_of(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Requests the sandbox served outside /admin so far.
    fn requests(&self, http: &efm_core::http::Http) -> u64 {
        let r = http
            .get(&format!("{}/admin/state", self.base_url))
            .call()
            .expect("the sandbox's admin API answers");
        let v: serde_json::Value =
            serde_json::from_str(&r.read_text(1 << 24).unwrap_or_default()).unwrap();
        v["requests"].as_u64().expect("requests in /admin/state")
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// User + system CPU time of a process, from its /proc stat line.
fn cpu_of(stat: &str) -> Duration {
    let s = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ")".
    let fields: Vec<&str> = s
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn own_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn client(config: &Path) -> Client {
    let config = Config::from_json(&std::fs::read_to_string(config).unwrap()).unwrap();
    Client::with_options(config, ClientOptions::default()).expect("the client opens")
}

/// One measured step: wall time, CPU of this process and of the sandbox, sandbox requests.
struct Measure {
    wall: Instant,
    cpu: Duration,
    sandbox_cpu: Duration,
    requests: u64,
}

impl Measure {
    fn start(sb: &SandboxProcess, http: &efm_core::http::Http) -> Measure {
        let requests = sb.requests(http);
        Measure {
            wall: Instant::now(),
            cpu: own_cpu(),
            sandbox_cpu: sb.cpu(),
            requests,
        }
    }

    /// Prints the step's figures; returns its rate per unit.
    fn report(
        self,
        sb: &SandboxProcess,
        http: &efm_core::http::Http,
        what: &str,
        units: usize,
        ceiling: f64,
    ) -> f64 {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = (own_cpu() - self.cpu).as_secs_f64();
        let sandbox_cpu = (sb.cpu() - self.sandbox_cpu).as_secs_f64();
        // The admin call that reads the count is not counted (/admin is left out).
        let requests = sb.requests(http) - self.requests;
        let per = requests as f64 / units as f64;
        let rate = units as f64 / wall;
        println!(
            "{what:<16} {rate:>8.0}/s  efm CPU {:>6.2} ms/msg  sandbox CPU {:>6.2} ms/msg  {per:>5.2} requests/msg  ceiling {:>6.0}/s",
            cpu * 1e3 / units as f64,
            sandbox_cpu * 1e3 / units as f64,
            ceiling / per.max(f64::MIN_POSITIVE),
        );
        rate
    }
}

fn run(dir: &Path, messages: usize, kib: usize, threads: usize) {
    let sb = SandboxProcess::start(dir);
    let admin = efm_core::http::Http::with_settings(&Default::default()).unwrap();
    let sender = client(&sb.configs[0]);
    let receiver = client(&sb.configs[1]);
    println!(
        "{messages} messages of {kib} KiB (+ arkivmelding.xml) through the sandbox, data in {}; load average {}",
        dir.display(),
        load_average()
    );

    // The documents: the same files for every message (a send reads them each time).
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("arkivmelding.xml"), ARKIVMELDING).unwrap();
    let mut x = 0x9E3779B97F4A7C15u64;
    let bytes: Vec<u8> = (0..kib * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(docs.join("dokument.bin"), bytes).unwrap();
    let request = || SendRequest {
        receiver: Some(RECEIVER.to_string()),
        documents: SendDocument::in_folder(&docs, &["arkivmelding.xml", "dokument.bin"]),
        ..Default::default()
    };
    // Warm up: tokens, registry lookup, connections; then both sides start empty.
    sender
        .send(request(), &mut |_, _| {})
        .expect("warm-up send");
    wait_for(|| receiver.poll().unwrap().received.len());
    wait_for(|| sender.poll().unwrap().statuses);

    // The ceiling: the sandbox's request rate for one client, one request after another.
    let ceiling = {
        let config = Config::from_json(&std::fs::read_to_string(&sb.configs[1]).unwrap()).unwrap();
        let context = ClientContext::new(&config).unwrap();
        let tokens = SystemUserTokens {
            tokens: context.tokens(),
            user: config.system_user.clone(),
        };
        let broker = Altinn3Broker::new(
            context.http(),
            &config.urls.altinn3_broker,
            &tokens,
            config.message_channel.clone(),
        );
        broker.available().unwrap();
        let n = (messages * 2).max(200);
        let m = Measure::start(&sb, &admin);
        for _ in 0..n {
            broker.available().unwrap();
        }
        let wall = m.wall.elapsed().as_secs_f64();
        let rate = n as f64 / wall;
        let sandbox_cpu = (sb.cpu() - m.sandbox_cpu).as_secs_f64();
        println!(
            "ceiling: the sandbox answers {rate:.0} requests/s (an authenticated broker listing, one after another; sandbox CPU {:.2} ms/request, efm {:.2} ms/request)",
            sandbox_cpu * 1e3 / n as f64,
            (own_cpu() - m.cpu).as_secs_f64() * 1e3 / n as f64,
        );
        rate
    };

    let m = Measure::start(&sb, &admin);
    for _ in 0..messages {
        sender.send(request(), &mut |_, _| {}).expect("send");
    }
    m.report(&sb, &admin, "send", messages, ceiling);
    let mut sent = messages;

    if threads > 1 {
        // The same number of messages again, from `threads` threads sharing the client.
        let m = Measure::start(&sb, &admin);
        std::thread::scope(|s| {
            for t in 0..threads {
                let share = messages / threads + usize::from(t < messages % threads);
                let (sender, request) = (&sender, &request);
                s.spawn(move || {
                    for _ in 0..share {
                        sender.send(request(), &mut |_, _| {}).expect("send");
                    }
                });
            }
        });
        m.report(
            &sb,
            &admin,
            &format!("send {threads} threads"),
            messages,
            ceiling,
        );
        sent += messages;
    }

    let m = Measure::start(&sb, &admin);
    let got = collect(sent, || receiver.poll().unwrap().received.len());
    m.report(&sb, &admin, "poll", got, ceiling);

    let m = Measure::start(&sb, &admin);
    let got = collect(sent, || sender.poll().unwrap().statuses);
    m.report(&sb, &admin, "statuses", got, ceiling);
    println!("load average at the end {}", load_average());
}

/// Polls until `step` has brought `want` in all (or a minute passes without progress).
fn collect(want: usize, mut step: impl FnMut() -> usize) -> usize {
    let mut got = 0;
    let mut idle = Instant::now();
    while got < want {
        let n = step();
        got += n;
        if n > 0 {
            idle = Instant::now();
        } else if idle.elapsed() > Duration::from_secs(60) {
            panic!("only {got} of {want} arrived");
        }
    }
    got
}

fn wait_for(step: impl FnMut() -> usize) {
    collect(1, step);
}
