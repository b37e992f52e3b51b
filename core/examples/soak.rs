//! Soak test: messages both ways between two organisations on the sandbox, several processes per
//! data directory, faults firing on every endpoint and workers killed with SIGKILL at random.
//! Afterwards every message must have been delivered exactly once and byte-identical, every
//! conversation must have reached a final status (LEVERT), and nothing may be left in a spool,
//! lock or staging directory. Prints the counts; exits non-zero when a check fails.
//!
//! ```sh
//! cargo run --release -p efm-core --example soak                       # 100 messages, 2 processes each
//! cargo run --release -p efm-core --example soak -- --messages 400 --processes 3 --seconds 900
//! cargo run --release -p efm-core --example soak -- --shared-store    # both organisations, one store
//! ```
//!
//! Each worker is this program again (`soak worker`, configured through the environment): it sends
//! its share of the messages (deterministic message ids and contents, so a restarted worker knows
//! what it already sent and the receiver's copy can be checked), and otherwise does what an
//! archive system does: `run_due`, `poll`, `peek`, `pop` into the archive folder, `delete`.

use efm_core::client::{
    Client, ClientOptions, Direction, MessageFilter, SendDocument, SendRequest, SendRetry,
};
use efm_core::config::Config;
use efm_core::sbd::ReceiptStatus;
use efm_core::ErrorKind;
use efm_sandbox::{Sandbox, SandboxOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORGS: [&str; 2] = ["910075918", "910076787"];

struct Args {
    messages: usize,
    processes: usize,
    kills: usize,
    /// Time between two kills.
    kill_every: Duration,
    faults: bool,
    seconds: u64,
    dir: Option<PathBuf>,
    seed: u64,
    /// Each organisation's state in the PostgreSQL server `EFM_TEST_POSTGRES` names (a schema
    /// each) instead of SQLite; the data directory keeps the payload files.
    postgres: bool,
    /// Both organisations in one configuration (`"organisations"`) and so one store: one SQLite
    /// file and data directory, or one PostgreSQL schema.
    shared: bool,
    /// Run the benchmark instead (`bench`).
    bench: bool,
}

fn args() -> Args {
    let mut a = Args {
        messages: 100,
        processes: 2,
        kills: 10,
        kill_every: Duration::from_millis(1500),
        faults: true,
        seconds: 170,
        dir: None,
        postgres: false,
        shared: false,
        bench: false,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--messages" => a.messages = value().parse().unwrap_or_else(|_| usage("--messages N")),
            "--processes" => {
                a.processes = value().parse().unwrap_or_else(|_| usage("--processes N"))
            }
            "--kills" => a.kills = value().parse().unwrap_or_else(|_| usage("--kills N")),
            "--kill-every-ms" => {
                a.kill_every = Duration::from_millis(
                    value()
                        .parse()
                        .unwrap_or_else(|_| usage("--kill-every-ms N")),
                )
            }
            "--seconds" => a.seconds = value().parse().unwrap_or_else(|_| usage("--seconds N")),
            "--seed" => a.seed = value().parse().unwrap_or_else(|_| usage("--seed N")),
            "--dir" => a.dir = Some(PathBuf::from(value())),
            "--no-faults" => a.faults = false,
            "--postgres" => a.postgres = true,
            "--shared-store" => a.shared = true,
            "--bench" => a.bench = true,
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!(
        "{why}\nusage: soak [--messages N] [--processes N] [--kills N] [--kill-every-ms N] [--seconds N] [--seed N] [--dir DIR] [--no-faults] [--postgres] [--shared-store] [--bench]"
    );
    std::process::exit(2)
}

/// A small xorshift generator: reproducible runs from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The messageId of the `i`th message `from` sends (the same in every process and restart).
fn message_id(from: &str, i: usize) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("efm-soak/{from}/{i}").as_bytes(),
    )
    .to_string()
}

/// The document of a message: 1-48 KiB whose bytes depend on the message id.
fn document(id: &str) -> Vec<u8> {
    let seed = id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let mut rng = Rng(seed | 1);
    let len = 1024 + rng.below(47 * 1024);
    (0..len).map(|_| rng.next() as u8).collect()
}

const ARKIVMELDING: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<arkivmelding xmlns=\"http://www.arkivverket.no/standarder/noark5/arkivmelding\"><system>efm soak</system></arkivmelding>\n";

fn client_options() -> ClientOptions {
    ClientOptions {
        lock_timeout: Duration::from_secs(3),
        send_retry: SendRetry {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            follow_first_delay: Duration::from_millis(100),
            follow_max_delay: Duration::from_secs(1),
            lease: Duration::from_secs(4),
        },
        ..Default::default()
    }
}

/// The configuration in `config`, acting for `org`.
fn load(config: &Path, org: &str) -> Config {
    Config::from_json(&std::fs::read_to_string(config).expect("config"))
        .expect("config parses")
        .for_organisation(org)
        .expect("the configuration names the organisation")
}

// ---- worker ------------------------------------------------------------------------------

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"))
}

fn worker() {
    let config = PathBuf::from(env("SOAK_CONFIG"));
    let org = env("SOAK_ORG");
    let peer = env("SOAK_PEER");
    let count: usize = env("SOAK_COUNT").parse().unwrap();
    let index: usize = env("SOAK_INDEX").parse().unwrap();
    let workers: usize = env("SOAK_WORKERS").parse().unwrap();
    let archive = PathBuf::from(env("SOAK_ARCHIVE"));
    let stop = PathBuf::from(env("SOAK_STOP"));
    let scratch = archive.join(format!(".docs-{org}-{index}-{}", std::process::id()));
    let client = loop {
        match Client::with_options(load(&config, &org), client_options()) {
            Ok(c) => break c,
            Err(e) => {
                eprintln!("worker {org}/{index}: opening the client: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let mut to_send: Vec<usize> = (0..count).filter(|i| i % workers == index).collect();
    while !stop.exists() {
        // Send what is not in the store yet (a restarted worker skips what it sent before).
        to_send.retain(|&i| !send_one(&client, &org, &peer, i, &scratch));
        if let Err(e) = client.run_due() {
            eprintln!("worker {org}/{index}: run_due: {e}");
        }
        if let Err(e) = client.poll() {
            eprintln!("worker {org}/{index}: poll: {e}");
        }
        loop {
            let m = match client.peek() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("worker {org}/{index}: peek: {e}");
                    break;
                }
            };
            let id = m.info.message_id.clone();
            if let Err(e) = client.pop(&id, &archive.join(&org).join(&id)) {
                eprintln!("worker {org}/{index}: pop {id}: {e}");
                continue;
            }
            if let Err(e) = client.delete(&id) {
                eprintln!("worker {org}/{index}: delete {id}: {e}");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Send message `i` unless the store has it; true when it is in the store now.
fn send_one(client: &Client, org: &str, peer: &str, i: usize, scratch: &Path) -> bool {
    let id = message_id(org, i);
    if client.message(&id).is_ok() {
        return true;
    }
    let dir = scratch.join(i.to_string());
    let written = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("arkivmelding.xml"), ARKIVMELDING))
        .and_then(|_| std::fs::write(dir.join("dokument.bin"), document(&id)));
    if let Err(e) = written {
        eprintln!("soak: writing documents: {e}");
        return false;
    }
    let request = SendRequest {
        receiver: Some(peer.to_string()),
        message_id: Some(id.clone()),
        documents: SendDocument::in_folder(&dir, &["arkivmelding.xml", "dokument.bin"]),
        ..Default::default()
    };
    let done = match client.send(request, &mut |_, _| {}) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => true,
        // Refused before it was stored (e.g. the registry answered with an error): try again.
        Err(e) => {
            eprintln!("soak: send {id}: {e}");
            client.message(&id).is_ok()
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    done
}

// ---- orchestrator ------------------------------------------------------------------------

/// Whether `store` has no transfer, receipt, queued message or send in progress.
fn no_open_work(store: &efm_core::store::Store) -> bool {
    store
        .transaction(|tx| tx.open_work())
        .is_ok_and(|open| open == efm_core::store::OpenWork::default())
}

struct Worker {
    org: usize,
    index: usize,
    child: Child,
}

/// The configuration the workers of organisation `org` use: the sandbox's, or with `--postgres`
/// the same with `"store"` naming a schema of its own in the test PostgreSQL server. With
/// `--shared-store`, one configuration for both (the first's, the second in `"organisations"`
/// with its own credentials), so both share the first's data directory and store.
fn config_path(sb: &Sandbox, org: usize, args: &Args) -> PathBuf {
    let org = if args.shared { 0 } else { org };
    let path = sb.config_path(ORGS[org]);
    if !args.postgres && !args.shared {
        return path;
    }
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let mut config = read(&path);
    if args.shared {
        config["organisations"] = serde_json::json!([{
            "organisation_number": ORGS[1],
            "credentials": read(&sb.config_path(ORGS[1]))["credentials"],
        }]);
    }
    if args.postgres {
        let url = std::env::var("EFM_TEST_POSTGRES").unwrap_or_else(|_| {
            usage("--postgres needs EFM_TEST_POSTGRES (and EFM_TEST_POSTGRES_PASSWORD_FILE); scripts/postgres-lib.sh starts a server")
        });
        let mut store = serde_json::json!({
            "postgres": url,
            "schema": format!(
                "soak_{}_{}",
                if args.shared { "shared" } else { ORGS[org] },
                args.seed % 1_000_000_007
            ),
        });
        if let Ok(f) = std::env::var("EFM_TEST_POSTGRES_PASSWORD_FILE") {
            store["password_file"] = serde_json::json!(f);
        }
        config["store"] = store;
    }
    // Written once per run, complete before anyone reads it (workers start while it is asked for).
    let out = path.with_file_name(if args.postgres {
        "config-postgres.json"
    } else {
        "config-shared.json"
    });
    if !out.exists() {
        let tmp = path.with_file_name(format!("config-postgres.{}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        std::fs::rename(&tmp, &out).unwrap();
    }
    out
}

fn spawn(sb: &Sandbox, run: &Path, org: usize, index: usize, args: &Args) -> Worker {
    let per_org = args.messages / 2;
    let child = Command::new(std::env::current_exe().unwrap())
        .arg("worker")
        .env("SOAK_CONFIG", config_path(sb, org, args))
        .env("SOAK_ORG", ORGS[org])
        .env("SOAK_PEER", ORGS[1 - org])
        .env("SOAK_COUNT", per_org.to_string())
        .env("SOAK_INDEX", index.to_string())
        .env("SOAK_WORKERS", args.processes.to_string())
        .env("SOAK_ARCHIVE", run.join("archive"))
        .env("SOAK_STOP", run.join("stop"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(run.join(format!("worker-{}-{index}.log", ORGS[org])))
                .unwrap(),
        ))
        .spawn()
        .expect("spawning a worker");
    Worker { org, index, child }
}

fn admin(
    sb: &Sandbox,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let http = efm_core::http::Http::with_settings(&Default::default()).unwrap();
    let url = format!("{}{path}", sb.base_url());
    let r = match (method, body) {
        ("POST", Some(b)) => http.post(&url).send_json(&b),
        ("DELETE", _) => http.delete(&url).call(),
        _ => http.get(&url).call(),
    }
    .expect("the sandbox's admin API answers");
    serde_json::from_str(&r.read_text(1 << 24).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null)
}

/// One fault on one endpoint, chosen at random; fires once.
fn random_fault(rng: &mut Rng) -> serde_json::Value {
    let endpoints: &[(&str, Option<&str>, Option<&str>)] = &[
        ("/maskinporten/token", None, None),
        ("/authentication/api/v1/exchange", None, None),
        ("/serviceregistry/identifier", None, None),
        ("/broker/api/v1/filetransfer", Some("GET"), None),
        ("/broker/api/v1/filetransfer/", Some("POST"), None),
        (
            "/broker/api/v1/filetransfer/",
            Some("POST"),
            Some("/upload"),
        ),
        (
            "/broker/api/v1/filetransfer/",
            Some("GET"),
            Some("/download"),
        ),
        (
            "/broker/api/v1/filetransfer/",
            Some("POST"),
            Some("/confirmdownload"),
        ),
    ];
    let (path, method, suffix) = endpoints[rng.below(endpoints.len())];
    let mut f = match rng.below(4) {
        0 => serde_json::json!({"kind": "status", "status": 500}),
        1 => serde_json::json!({"kind": "status", "status": 503}),
        2 => serde_json::json!({"kind": "rate_limit", "retry_after": 1}),
        _ => serde_json::json!({"kind": "drop", "after_bytes": rng.below(200)}),
    };
    f["path"] = serde_json::json!(path);
    f["times"] = serde_json::json!(1);
    if let Some(m) = method {
        f["method"] = serde_json::json!(m);
    }
    if let Some(s) = suffix {
        f["path_suffix"] = serde_json::json!(s);
    }
    f
}

/// Whether every message has reached its final status on both sides.
fn settled(clients: &[Client], per_org: usize) -> (usize, usize) {
    let mut levert = 0;
    let mut delivered = 0;
    for c in clients {
        let all = c.messages(&MessageFilter::default()).unwrap_or_default();
        levert += all
            .iter()
            .filter(|m| {
                m.direction == Direction::Outgoing
                    && m.document_type == "arkivmelding"
                    && m.status == ReceiptStatus::Levert
            })
            .count();
        delivered += all
            .iter()
            .filter(|m| {
                m.direction == Direction::Incoming && m.status == ReceiptStatus::InnkommendeLevert
            })
            .count();
    }
    let _ = per_org;
    (levert, delivered)
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        worker();
        return;
    }
    let args = args();
    if args.bench {
        bench(&args);
        return;
    }
    if soak(&args).is_none() {
        std::process::exit(1);
    }
}

/// `--bench`: messages per second through the sandbox (both ways, sent until LEVERT and
/// delivered into the archive), no faults and no kills, with 1, 2 and 4 workers per
/// organisation on PostgreSQL and one process on SQLite, in one run.
fn bench(base: &Args) {
    let runs: [(bool, usize); 4] = [(false, 1), (true, 1), (true, 2), (true, 4)];
    let mut rows = Vec::new();
    for (i, (postgres, processes)) in runs.into_iter().enumerate() {
        let args = Args {
            postgres,
            processes,
            kills: 0,
            faults: false,
            bench: false,
            dir: None,
            seed: base.seed.wrapping_add(i as u64 * 7919),
            ..*base
        };
        let Some(secs) = soak(&args) else {
            eprintln!("bench: the run with {processes} workers failed its checks");
            std::process::exit(1);
        };
        rows.push((postgres, processes, secs));
    }
    println!("\n| store | workers per organisation | messages | seconds | messages/s |");
    println!("|---|---|---|---|---|");
    for (postgres, processes, secs) in rows {
        let n = base.messages / 2 * 2;
        println!(
            "| {} | {processes} | {n} | {secs:.1} | {:.1} |",
            if postgres { "PostgreSQL" } else { "SQLite" },
            n as f64 / secs
        );
    }
}

/// One soak run; the seconds it took, or `None` when a check failed.
fn soak(args: &Args) -> Option<f64> {
    let per_org = args.messages / 2;
    let tmp = tempfile::tempdir().unwrap();
    let run = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(run.join("archive")).unwrap();
    let _ = std::fs::remove_file(run.join("stop"));
    println!(
        "soak: {} messages ({per_org} each way), {} processes per organisation on {}{}, {} kills, faults {}, seed {}, in {}",
        per_org * 2,
        args.processes,
        if args.postgres { "PostgreSQL" } else { "SQLite" },
        if args.shared { " (both organisations in one store)" } else { "" },
        args.kills,
        if args.faults { "on" } else { "off" },
        args.seed,
        run.display()
    );
    let sb = Sandbox::start(SandboxOptions {
        dir: run.join("sandbox"),
        port: 0,
        virus_scan_delay_ms: Some(0),
        ..Default::default()
    })
    .expect("the sandbox starts");
    let mut rng = Rng(args.seed | 1);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut workers: Vec<Worker> = (0..2)
        .flat_map(|org| (0..args.processes).map(move |i| (org, i)))
        .map(|(org, i)| spawn(&sb, &run, org, i, args))
        .collect();
    let watchers: Vec<Client> = (0..ORGS.len())
        .map(|o| {
            Client::with_options(load(&config_path(&sb, o, args), ORGS[o]), client_options())
                .unwrap()
        })
        .collect();

    // A kill every --kill-every-ms until --kills were made; a fault every 100 ms for the first
    // two thirds of the time.
    let kill_every = args.kill_every;
    let mut next_kill = started + kill_every;
    let (mut kills, mut faults) = (0, 0);
    let faults_until = started + Duration::from_secs(args.seconds * 2 / 3);
    let mut last_report = Instant::now();
    let mut all_settled = false;
    loop {
        let (levert, delivered) = settled(&watchers, per_org);
        if levert == 2 * per_org && delivered == 2 * per_org {
            all_settled = true;
            break;
        }
        if Instant::now() > deadline {
            println!(
                "soak: time is up with {levert} of {} LEVERT and {delivered} delivered",
                2 * per_org
            );
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            println!(
                "  {:>4} s: {levert} LEVERT, {delivered} delivered, {kills} kills, {faults} faults",
                started.elapsed().as_secs()
            );
            last_report = Instant::now();
        }
        if args.faults && Instant::now() < faults_until {
            admin(&sb, "POST", "/admin/faults", Some(random_fault(&mut rng)));
            faults += 1;
        }
        if kills < args.kills && Instant::now() > next_kill {
            let w = rng.below(workers.len());
            let (org, index) = (workers[w].org, workers[w].index);
            let _ = workers[w].child.kill(); // SIGKILL
            let _ = workers[w].child.wait();
            workers[w] = spawn(&sb, &run, org, index, args);
            kills += 1;
            next_kill += kill_every;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Every conversation LEVERT does not mean every worker is idle: a follow-up may be due in
    // a moment, and a killed worker's claims are taken over only when their lease runs out. Keep
    // the workers running (faults off) until no organisation has work open, for at most a lease
    // and a follow-up delay with margin; the check below then finds whatever was really left.
    admin(&sb, "DELETE", "/admin/faults", None);
    if all_settled {
        let retry = client_options().send_retry;
        let drain_until =
            Instant::now() + retry.lease + retry.follow_max_delay + Duration::from_secs(10);
        // Each organisation's store is opened once and asked again until it is idle.
        let stores: Vec<_> = (0..ORGS.len())
            .map(|o| {
                let config = load(&config_path(&sb, o, args), ORGS[o]);
                efm_core::store::Store::open_with(
                    &config.data_dir,
                    &config.store,
                    &config.organisation_number,
                )
                .unwrap()
            })
            .collect();
        while Instant::now() < drain_until && !stores.iter().all(no_open_work) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // Stop: workers finish their round and exit.
    std::fs::write(run.join("stop"), b"").unwrap();
    for w in &mut workers {
        let _ = w.child.wait();
    }
    let fired = faults
        - admin(&sb, "GET", "/admin/faults", None)
            .as_array()
            .map_or(0, |a| a.len());
    drop(watchers);

    // Check.
    let mut problems = Vec::new();
    let mut counts = Vec::new();
    for (o, org) in ORGS.iter().enumerate() {
        let peer = ORGS[1 - o];
        let config = load(&config_path(&sb, o, args), ORGS[o]);
        let c = Client::with_options(config.clone(), client_options()).unwrap();
        let all = c.messages(&MessageFilter::default()).unwrap();
        let outgoing: Vec<_> = all
            .iter()
            .filter(|m| m.direction == Direction::Outgoing && m.document_type == "arkivmelding")
            .collect();
        let incoming: Vec<_> = all
            .iter()
            .filter(|m| m.direction == Direction::Incoming)
            .collect();
        let levert = outgoing
            .iter()
            .filter(|m| m.status == ReceiptStatus::Levert)
            .count();
        for i in 0..per_org {
            let id = message_id(org, i);
            match outgoing.iter().find(|m| m.message_id == id) {
                None => problems.push(format!("{org}: message {i} ({id}) was never stored")),
                Some(m) if m.status != ReceiptStatus::Levert => problems.push(format!(
                    "{org}: message {id} ended {} ({:?})",
                    m.status.name(),
                    m.sending
                )),
                Some(_) => {}
            }
        }
        // What this organisation received: exactly the peer's messages, once, byte-identical.
        let mut identical = 0;
        for i in 0..per_org {
            let id = message_id(peer, i);
            let rows = incoming.iter().filter(|m| m.message_id == id).count();
            if rows != 1 {
                problems.push(format!("{org}: received {id} {rows} times"));
                continue;
            }
            let got = std::fs::read(run.join("archive").join(org).join(&id).join("dokument.bin"));
            match got {
                Ok(b) if b == document(&id) => identical += 1,
                Ok(b) => problems.push(format!("{org}: {id} differs ({} bytes)", b.len())),
                Err(e) => problems.push(format!("{org}: {id} not archived: {e}")),
            }
        }
        let unfinished = incoming
            .iter()
            .filter(|m| m.status != ReceiptStatus::InnkommendeLevert)
            .count();
        if unfinished > 0 {
            problems.push(format!(
                "{org}: {unfinished} incoming messages not delivered to the archive"
            ));
        }
        drop(c);
        // No work left open and no lease held (a killed worker's claims were taken over).
        let store = efm_core::store::Store::open_with(
            &config.data_dir,
            &config.store,
            &config.organisation_number,
        )
        .unwrap();
        let open = store.transaction(|tx| tx.open_work()).unwrap();
        drop(store);
        if open != efm_core::store::OpenWork::default() {
            problems.push(format!("{org}: work left open or held: {open:?}"));
        }
        let data = config.data_dir;
        let mut left = Vec::new();
        for sub in ["spool/out", "spool/in", "staging", "locks", "owners"] {
            left.extend(entries(&data.join(sub)));
        }
        if !left.is_empty() {
            problems.push(format!("{org}: left in the data directory: {left:?}"));
        }
        counts.push(format!(
            "{org}: sent {} (LEVERT {levert}), received {} (byte-identical {identical}), left behind {}, leases held {}",
            outgoing.len(),
            incoming.len(),
            left.len(),
            open.transfer_claims + open.queue_locks
        ));
    }
    println!(
        "soak: {} s, {kills} processes killed, {fired} faults fired ({faults} set)",
        started.elapsed().as_secs()
    );
    for c in &counts {
        println!("  {c}");
    }
    if problems.is_empty() {
        println!("soak: every message delivered exactly once, byte-identical; every conversation LEVERT; nothing left behind");
    } else {
        for p in &problems {
            println!("  PROBLEM {p}");
        }
        println!(
            "soak: FAILED ({} problems; worker logs in {})",
            problems.len(),
            run.display()
        );
        if args.dir.is_none() {
            // Keep the evidence.
            let kept = tmp.keep();
            println!("soak: kept {}", kept.display());
        }
        return None;
    }
    Some(started.elapsed().as_secs_f64())
}
