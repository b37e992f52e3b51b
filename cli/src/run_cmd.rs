//! `efm run`: efm as a long-running service for one organisation, or several: every organisation
//! its configuration names (`"organisations"`, sharing one store), and those of the further
//! configurations given with `--also` (each with its own store). Every interval it does what is
//! due for sending (retries with backoff, transfers followed to Published or Failed, expiry,
//! receipts owed) and polls the broker, logging one line per state change, until SIGINT or
//! SIGTERM stops it between two steps.

use crate::doctor_cmd::{load_config, ConfigArg};
use efm_core::Error;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Run as a service: poll, retry failed sends, follow transfers and expire, at an interval.
///
/// Logs one line per state change of a message (and warnings) to standard output, and stops
/// cleanly on SIGINT or SIGTERM (finishing the step it is in). Another `efm run`, `efm poll` or
/// program on the same data directory may run at the same time.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Seconds between two rounds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    interval: u64,
    /// One round, then exit (for cron and scripts)
    #[arg(long)]
    once: bool,
    /// Another configuration file whose organisations this process serves too (repeatable); each
    /// file keeps its own state (its data_dir, or its own PostgreSQL schema). The organisations
    /// of one file (its "organisations") share its store and are all served without this
    #[arg(long = "also", value_name = "PATH")]
    also: Vec<std::path::PathBuf>,
    #[command(flatten)]
    config: ConfigArg,
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Set STOP on SIGINT or SIGTERM (Ctrl-C elsewhere), from a thread of its own.
fn catch_stop_signals() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        });
        STOP.store(true, Ordering::SeqCst);
    });
}

/// The library's log lines a service log wants: each state change (the store logs one per
/// status it records) and every warning or error; none of the HTTP stack's detail.
struct ServiceLog;

impl log::Log for ServiceLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
            || (m.level() <= log::Level::Info && m.target().starts_with("efm_core::store"))
    }
    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) || !efm_core::http::log_record_allowed(r.target(), r.level())
        {
            return;
        }
        line(&format!("{:<5} {}", r.level(), r.args()));
    }
    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

static LOG: ServiceLog = ServiceLog;

fn line(text: &str) {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{now} {text}");
    let _ = out.flush();
}

pub fn run(args: RunArgs) -> Result<(), Error> {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Info);
    catch_stop_signals();
    // Every organisation of the configuration (only `--org`'s when given), then every one of
    // each `--also` file: one client each, on its configuration's store.
    let first = args.config.load()?;
    let mut configs = if args.config.picks_one() {
        vec![first]
    } else {
        first.each_organisation()
    };
    for path in &args.also {
        configs.extend(load_config(path)?.each_organisation());
    }
    let clients = configs
        .into_iter()
        .map(efm_core::client::Client::new)
        .collect::<Result<Vec<_>, Error>>()?;
    let orgs: Vec<String> = clients
        .iter()
        .map(|c| c.config().organisation_number.to_string())
        .collect();
    let interval = Duration::from_secs(args.interval.max(1));
    line(&format!(
        "INFO  efm run for {}: every {} s, until SIGINT or SIGTERM",
        orgs.join(", "),
        interval.as_secs()
    ));
    loop {
        let started = Instant::now();
        for client in &clients {
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            round(client, clients.len() > 1);
        }
        if args.once || STOP.load(Ordering::SeqCst) {
            break;
        }
        while started.elapsed() < interval && !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if STOP.load(Ordering::SeqCst) {
            break;
        }
    }
    line("INFO  efm run stopped");
    Ok(())
}

/// One organisation's round: what is due for sending, then the broker's new messages. With
/// several organisations, each line names the one it is about.
fn round(client: &efm_core::client::Client, name_org: bool) {
    let org = if name_org {
        format!("[{}] ", client.config().organisation_number)
    } else {
        String::new()
    };
    // "LEVEL text" -> "LEVEL [org] text".
    let say = |level: &str, text: String| line(&format!("{level:<5} {org}{text}"));
    // Sends first: they do not depend on the broker's listing, which may be what is down.
    match client.run_due() {
        Ok(w) if !w.retrying.is_empty() => say(
            "INFO",
            format!(
                "{} outgoing message(s) waiting for their next attempt",
                w.retrying.len()
            ),
        ),
        Ok(_) => {}
        Err(e) => say("ERROR", format!("sending: error {}: {e}", e.code())),
    }
    if !STOP.load(Ordering::SeqCst) {
        match client.poll() {
            Ok(s) => {
                for e in &s.errors {
                    say("WARN", format!("poll: error {}: {}", e.code, e.message));
                }
            }
            Err(e) => say("ERROR", format!("poll: error {}: {e}", e.code())),
        }
    }
}
