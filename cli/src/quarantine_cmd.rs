//! `efm quarantine`: what was downloaded but could not be used (a package that cannot be read, a
//! message that cannot be opened, a status not from the organisation it concerns), kept with its
//! bytes and the reason until an operator decides.

use crate::doctor_cmd::ConfigArg;
use efm_core::client::Client;
use efm_core::Error;
use std::path::PathBuf;

/// List, export, retry or delete quarantined packages and statuses.
#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCommand {
    /// List everything in quarantine as JSON (id, kind, transfer, message, sender as the broker
    /// authenticated it, reason, the kept package).
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Copy a quarantined package, as downloaded, to a file (which must not exist).
    Export {
        /// The entry (from `efm quarantine list`)
        #[arg(value_name = "ID")]
        id: i64,
        /// Where to write the package
        #[arg(value_name = "FILE")]
        dest: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Try an entry again: read the package anew (after an upgrade), put the message back in the
    /// queue (after fixing a key), or judge the status anew. Prints the outcome as JSON.
    Retry {
        #[arg(value_name = "ID")]
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Delete an entry and its kept package.
    Delete {
        #[arg(value_name = "ID")]
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub fn run(command: QuarantineCommand) -> Result<(), Error> {
    let open = |c: &ConfigArg| -> Result<Client, Error> { Client::new(c.load()?) };
    match command {
        QuarantineCommand::List { config } => {
            let entries = open(&config)?.quarantine()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&entries).expect("entries serialise")
            );
        }
        QuarantineCommand::Export { id, dest, config } => {
            let n = open(&config)?.quarantine_export(id, &dest)?;
            eprintln!("wrote {n} bytes to {}", dest.display());
        }
        QuarantineCommand::Retry { id, config } => {
            let outcome = open(&config)?.quarantine_retry(id)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&outcome).expect("outcome serialises")
            );
        }
        QuarantineCommand::Delete { id, config } => {
            open(&config)?.quarantine_delete(id)?;
            eprintln!("deleted quarantine entry {id}");
        }
    }
    Ok(())
}
