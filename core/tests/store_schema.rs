//! The state database's schema version: a data directory written before the schema was
//! versioned (or by an older efm) opens with every message; one from a newer efm is refused.
//! The databases are built by Python's `sqlite3` from SQL dumps of what efm wrote then.

use efm_core::client::{Direction, MessageFilter};
use efm_core::sbd::ReceiptStatus;
use efm_core::store::{Store, SCHEMA_VERSION};
use efm_core::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The organisation of the configuration that opens the old data directories.
const ORG: &str = "910075918";

fn org(n: &str) -> efm_core::ident::OrgNumber {
    n.parse().unwrap()
}

fn fixture(name: &str) -> PathBuf {
    efm_test_support::fixture(&format!("store/{name}"))
}

fn sqlite(db: &Path, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nexec(sys.argv[2])\nc.commit()")
        .arg(db)
        .arg(script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A data directory holding the database the dump describes.
fn data_dir_from(dump: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("efm.sqlite");
    sqlite(
        &db,
        &format!(
            "c.executescript(open({:?}).read())",
            fixture(dump).to_str().unwrap()
        ),
    );
    dir
}

fn user_version(dir: &Path) -> u32 {
    sqlite(
        &dir.join("efm.sqlite"),
        "print(c.execute('PRAGMA user_version').fetchone()[0])",
    )
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn a_receivers_unversioned_data_directory_opens_with_every_message() {
    let dir = data_dir_from("v0-receiver.sql");
    assert_eq!(user_version(dir.path()), 0);
    let store = Store::open(dir.path(), &org(ORG)).unwrap();
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION);
    let all = store
        .transaction(|tx| tx.messages(&MessageFilter::default()))
        .unwrap();
    assert_eq!(all.len(), 3);
    for m in &all {
        assert_eq!(m.direction, Direction::Incoming);
        assert_eq!(m.status, ReceiptStatus::InnkommendeMottatt);
        assert!(m.payload.is_some(), "{m:?}");
        let history = store
            .transaction(|tx| tx.history(Direction::Incoming, &m.message_id))
            .unwrap();
        let names: Vec<_> = history.iter().map(|h| h.status.name()).collect();
        assert_eq!(names, ["OPPRETTET", "INNKOMMENDE_MOTTATT"]);
    }
    // The queue survived: all three are handed out, oldest first.
    let now = time::OffsetDateTime::now_utc();
    let later = now + time::Duration::minutes(5);
    let mut queued = Vec::new();
    while let Some(m) = store.transaction(|tx| tx.lock_oldest(now, later)).unwrap() {
        queued.push(m.message_id);
    }
    let mut expected: Vec<_> = all.iter().map(|m| m.message_id.clone()).collect();
    expected.reverse();
    assert_eq!(queued, expected);
    // The transfers are known, so a broker offering one again does not store it twice.
    for m in &all {
        let t = store
            .transaction(|tx| tx.transfer(m.transfer_id.as_deref().unwrap()))
            .unwrap()
            .expect("transfer row");
        assert_eq!(t.message_id.as_deref(), Some(m.message_id.as_str()));
    }
}

#[test]
fn a_senders_unversioned_data_directory_opens_with_every_message() {
    let dir = data_dir_from("v0-sender.sql");
    let store = Store::open(dir.path(), &org(ORG)).unwrap();
    let all = store
        .transaction(|tx| tx.messages(&MessageFilter::default()))
        .unwrap();
    assert_eq!(all.len(), 3);
    for m in &all {
        assert_eq!(m.direction, Direction::Outgoing);
        assert_eq!(m.status, ReceiptStatus::Mottatt);
        let history = store
            .transaction(|tx| tx.history(Direction::Outgoing, &m.message_id))
            .unwrap();
        let names: Vec<_> = history.iter().map(|h| h.status.name()).collect();
        assert_eq!(names, ["OPPRETTET", "SENDT", "MOTTATT"]);
    }
    // Opening again changes nothing (every migration runs once).
    drop(store);
    let store = Store::open(dir.path(), &org(ORG)).unwrap();
    assert_eq!(
        store
            .transaction(|tx| tx.messages(&MessageFilter::default()))
            .unwrap(),
        all
    );
    assert_eq!(user_version(dir.path()), SCHEMA_VERSION);
}

/// The old rows became the organisation's that opened the directory first after the upgrade: a
/// second organisation sharing the directory afterwards starts empty, and the first keeps all.
#[test]
fn an_upgraded_data_directory_belongs_to_the_organisation_that_opened_it() {
    let dir = data_dir_from("v0-receiver.sql");
    let first = Store::open(dir.path(), &org(ORG)).unwrap();
    let other = Store::open(dir.path(), &org("910076787")).unwrap();
    let count = |s: &Store| {
        s.transaction(|tx| tx.messages(&MessageFilter::default()))
            .unwrap()
            .len()
    };
    assert_eq!((count(&first), count(&other)), (3, 0));
    let now = time::OffsetDateTime::now_utc();
    assert!(other
        .transaction(|tx| tx.lock_oldest(now, now))
        .unwrap()
        .is_none());
    let all = first
        .transaction(|tx| tx.messages(&MessageFilter::default()))
        .unwrap();
    for m in &all {
        let transfer = m.transfer_id.as_deref().unwrap();
        assert!(other
            .transaction(|tx| tx.transfer(transfer))
            .unwrap()
            .is_none());
        assert!(first
            .transaction(|tx| tx.transfer(transfer))
            .unwrap()
            .is_some());
    }
    // Reopened by the other organisation first: nothing changes hands.
    drop((first, other));
    let other = Store::open(dir.path(), &org("910076787")).unwrap();
    assert_eq!(count(&other), 0);
}

#[test]
fn a_data_directory_from_a_newer_efm_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), &org(ORG)).unwrap());
    sqlite(
        &dir.path().join("efm.sqlite"),
        &format!("c.execute('PRAGMA user_version = {}')", SCHEMA_VERSION + 1),
    );
    let e = Store::open(dir.path(), &org(ORG)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Storage);
    assert!(e.to_string().contains("newer efm"), "{e}");
}
