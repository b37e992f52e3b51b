//! Several processes on one data directory: they poll, pop and delete at once, one of them is
//! killed in the middle, and nothing is lost, doubled or left behind. The processes are this test
//! binary run again in a child role, each with its own `Client` on the receiver's data directory.
//! Also: a pop repeated after a crash between pop and delete, and what crashes leave in the data
//! directory, collected on the next open.

mod common;

use common::{sandbox, sandbox_config, ORG_A, ORG_B};
use efm_core::client::{
    Client, ClientOptions, Direction, MessageFilter, SendDocument, SendRequest,
};
use efm_core::sbd::ReceiptStatus;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a child process: the receiver's configuration JSON.
const CHILD_CONFIG: &str = "EFM_TEST_CHILD_CONFIG";
/// Set in a child process: how many messages the receiver must end up with.
const CHILD_EXPECT: &str = "EFM_TEST_CHILD_EXPECT";
/// Set in a child process: where popped messages go.
const CHILD_INBOX: &str = "EFM_TEST_CHILD_INBOX";

fn documents(dir: &Path, i: usize) -> Vec<SendDocument> {
    std::fs::create_dir_all(dir).unwrap();
    let arkiv = dir.join("arkivmelding.xml");
    std::fs::write(&arkiv, format!("<arkivmelding><nr>{i}</nr></arkivmelding>")).unwrap();
    let pdf = dir.join("brev.pdf");
    std::fs::write(&pdf, format!("%PDF-1.4 message {i}\n").repeat(200)).unwrap();
    vec![
        SendDocument {
            name: "arkivmelding.xml".into(),
            path: arkiv,
            mime: None,
        },
        SendDocument {
            name: "brev.pdf".into(),
            path: pdf,
            mime: None,
        },
    ]
}

fn delivered(c: &Client) -> usize {
    c.messages(&MessageFilter {
        direction: Some(Direction::Incoming),
        status: Some(ReceiptStatus::InnkommendeLevert),
        ..Default::default()
    })
    .unwrap()
    .len()
}

/// The child role: poll, and pop and delete what the queue hands out, until the receiver has
/// every message delivered. Prints one `DELIVERED <id>` line per message this process deleted.
fn run_child(config: &str) {
    let config = efm_core::config::Config::from_json(config).unwrap();
    let expect: usize = std::env::var(CHILD_EXPECT).unwrap().parse().unwrap();
    let inbox = PathBuf::from(std::env::var(CHILD_INBOX).unwrap());
    let c = Client::with_options(
        config,
        ClientOptions {
            // A killed process's lock must not hold its message for long.
            lock_timeout: Duration::from_secs(2),
            ..Default::default()
        },
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while delivered(&c) < expect {
        assert!(
            Instant::now() < deadline,
            "the receiver never got everything"
        );
        c.poll().unwrap();
        while let Some(m) = c.peek().unwrap() {
            let id = m.info.message_id.clone();
            c.pop(&id, &inbox.join(&id)).unwrap();
            // The lock may have run out and another process deleted it meanwhile.
            if c.delete(&id).is_ok() {
                println!("DELIVERED {id}");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_child(config: &str, expect: usize, inbox: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "three_processes_poll_pop_and_delete_one_directory_and_lose_nothing",
            "--nocapture",
        ])
        .env(CHILD_CONFIG, config)
        .env(CHILD_EXPECT, expect.to_string())
        .env(CHILD_INBOX, inbox)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
                out.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn three_processes_poll_pop_and_delete_one_directory_and_lose_nothing() {
    if let Ok(config) = std::env::var(CHILD_CONFIG) {
        run_child(&config);
        return;
    }
    const N: usize = 24;
    let sb = sandbox("concurrent-pollers");
    let a = Client::new(sandbox_config(&sb, ORG_A)).unwrap();
    let work = common::temp_dir("concurrent-work");
    let mut sent = HashSet::new();
    for i in 0..N {
        let m = a
            .send(
                SendRequest {
                    receiver: Some(ORG_B.into()),
                    documents: documents(&work.join(format!("out{i}")), i),
                    ..Default::default()
                },
                &mut |_, _| {},
            )
            .unwrap();
        sent.insert(m.message_id);
    }
    let config = common::sandbox_config_json(&sb, ORG_B).to_string();
    let inbox = work.join("inbox");
    // A fourth process starts with them and is killed (SIGKILL) in the middle of its work.
    let mut doomed = spawn_child(&config, N, &inbox);
    let children: Vec<_> = (0..3).map(|_| spawn_child(&config, N, &inbox)).collect();
    std::thread::sleep(Duration::from_millis(700));
    doomed.kill().unwrap();
    let doomed_out = doomed.wait_with_output().unwrap();
    let mut deliveries = Vec::new();
    for d in String::from_utf8_lossy(&doomed_out.stdout).lines() {
        if let Some(id) = d.strip_prefix("DELIVERED ") {
            deliveries.push(id.to_string());
        }
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a poller failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(id) = line.strip_prefix("DELIVERED ") {
                deliveries.push(id.to_string());
            }
        }
    }
    // No message deleted twice. The killed process may have committed a delete and died before
    // printing its line, so the lines may miss one of its deliveries: the store below is the
    // judge of "every message delivered" (all N INNKOMMENDE_LEVERT, each extracted intact).
    let unique: HashSet<_> = deliveries.iter().cloned().collect();
    assert_eq!(deliveries.len(), unique.len(), "doubled: {deliveries:?}");
    assert!(unique.is_subset(&sent), "{deliveries:?}");
    assert!(deliveries.len() >= N - 1, "{deliveries:?}");
    let b = Client::new(sandbox_config(&sb, ORG_B)).unwrap();
    let incoming = b
        .messages(&MessageFilter {
            direction: Some(Direction::Incoming),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(incoming.len(), N);
    let stored: HashSet<_> = incoming.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(stored, sent, "the receiver's store has every message sent");
    for m in &incoming {
        assert_eq!(m.status, ReceiptStatus::InnkommendeLevert, "{m:?}");
        let i: usize = std::fs::read_to_string(inbox.join(&m.message_id).join("arkivmelding.xml"))
            .unwrap()
            .trim_start_matches("<arkivmelding><nr>")
            .split('<')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            std::fs::read(inbox.join(&m.message_id).join("brev.pdf")).unwrap(),
            format!("%PDF-1.4 message {i}\n").repeat(200).into_bytes()
        );
    }
    // Nothing waits at the broker; every receipt went.
    let s = b.poll().unwrap();
    assert!(s.received.is_empty() && s.errors.is_empty(), "{s:?}");
    // The sender saw MOTTATT and LEVERT for every message, each once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        a.poll().unwrap();
        let done = sent
            .iter()
            .all(|id| a.message(id).unwrap().status == ReceiptStatus::Levert);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every message reached LEVERT"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for id in &sent {
        let mut h: Vec<_> = a
            .status_of(Direction::Outgoing, id)
            .unwrap()
            .iter()
            .map(|e| e.status.name())
            .collect();
        // MOTTATT may arrive after LEVERT when the process that owed it was the one killed.
        h.sort();
        assert_eq!(h, ["LEVERT", "MOTTATT", "OPPRETTET", "SENDT"], "{id}");
    }
    // Nothing left behind in the receiver's data directory: no spool file, no staging, no lock
    // (the killed process's are collected when `b` opened it).
    let data = sandbox_config(&sb, ORG_B).data_dir;
    drop(b);
    let b = Client::new(sandbox_config(&sb, ORG_B)).unwrap();
    let mut left: Vec<_> = ["spool", "staging", "owners"]
        .iter()
        .flat_map(|d| files_under(&data.join(d)))
        .filter(|p| !p.is_dir())
        .collect();
    // This process's own lock, while `b` is open.
    left.retain(|p| {
        !p.starts_with(data.join("owners"))
            || p.file_stem().unwrap().to_string_lossy() != b.store().owner_id()
    });
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A crash between pop and delete: the next pop, by a new process, into the same directory
/// finds the files the first one moved there and finishes; delete then sends LEVERT.
#[test]
fn pop_after_a_crash_between_pop_and_delete_finishes() {
    let sb = sandbox("pop-again");
    let a = Client::new(sandbox_config(&sb, ORG_A)).unwrap();
    let work = common::temp_dir("pop-again-work");
    let sent = a
        .send(
            SendRequest {
                receiver: Some(ORG_B.into()),
                documents: documents(&work.join("out"), 7),
                ..Default::default()
            },
            &mut |_, _| {},
        )
        .unwrap();
    // Long enough for peek-then-pop on a busy machine with the PostgreSQL store too.
    let short = ClientOptions {
        lock_timeout: Duration::from_millis(1000),
        ..Default::default()
    };
    let b = Client::with_options(sandbox_config(&sb, ORG_B), short.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.poll().unwrap().received.is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    let inbox = work.join("inbox");
    let m = b.peek().unwrap().unwrap();
    let first = b.pop(&m.info.message_id, &inbox).unwrap();
    // Half of what a pop does, as a crash would leave it: one file moved, the rest not.
    std::fs::remove_file(inbox.join("brev.pdf")).unwrap();
    drop(b);
    std::thread::sleep(Duration::from_millis(1100));
    let b = Client::with_options(sandbox_config(&sb, ORG_B), short).unwrap();
    let m = b.peek().unwrap().expect("still queued");
    assert_eq!(m.info.message_id, sent.message_id);
    let again = b.pop(&m.info.message_id, &inbox).unwrap();
    assert_eq!(again.files, first.files);
    assert_eq!(
        std::fs::read(inbox.join("brev.pdf")).unwrap(),
        std::fs::read(work.join("out/brev.pdf")).unwrap()
    );
    b.delete(&m.info.message_id).unwrap();
    assert_eq!(
        b.message(&sent.message_id).unwrap().status,
        ReceiptStatus::InnkommendeLevert
    );
    // The staging area inside the data directory is empty again.
    let staging = sandbox_config(&sb, ORG_B).data_dir.join("staging");
    assert!(
        files_under(&staging).iter().all(|p| p.is_dir()),
        "{:?}",
        files_under(&staging)
    );
}

/// What a killed process leaves (its lock file, temporary downloads and packages, a staging
/// directory with partly extracted files) goes when the data directory is next opened; what a
/// running process writes stays, however new.
#[test]
fn crash_leftovers_are_collected_on_open_and_live_files_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let live = efm_core::store::Store::open(dir.path(), &ORG_A.parse().unwrap()).unwrap();
    let dead = "0123456789abcdef0123456789abcdef";
    std::fs::write(dir.path().join(format!("owners/{dead}.lock")), b"").unwrap();
    let leftovers = [
        format!("spool/in/t1.{dead}.zip"),
        format!("spool/in/t1.{dead}.a1b2c3d4e5f6.part"),
        format!("spool/out/receipt-m1-MOTTATT.{dead}.a1b2c3d4e5f6.zip"),
        format!("spool/out/m2.{dead}.zip"),
        format!("staging/{dead}/.efm-extract-x/0"),
    ];
    let own = live.owner_id().to_string();
    let keep = [
        format!("spool/in/t2.{own}.a1b2c3d4e5f6.part"),
        format!("spool/out/m3.{own}.zip"),
        // From an older efm, without an owner: kept until it is a day old.
        "spool/in/legacy.zip".to_string(),
    ];
    for f in leftovers.iter().chain(keep.iter()) {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"x").unwrap();
    }
    let other = efm_core::store::Store::open(dir.path(), &ORG_A.parse().unwrap()).unwrap();
    for f in &leftovers {
        assert!(!dir.path().join(f).exists(), "{f} stayed");
    }
    assert!(!dir.path().join(format!("staging/{dead}")).exists());
    assert!(!dir.path().join(format!("owners/{dead}.lock")).exists());
    for f in &keep {
        assert!(dir.path().join(f).exists(), "{f} went");
    }
    drop(other);
    drop(live);
}
