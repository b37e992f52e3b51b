//! The message flow from the command line: `efm send`, `efm poll`, `efm inbox`, `efm status`,
//! and for operators `efm resend` and `efm expire`.
//! Each is one call on efm-core's `client::Client`; state lives in the configuration's data_dir.

use crate::doctor_cmd::ConfigArg;
use efm_core::client::{Client, SendDocument, SendRequest};
use efm_core::sbd::ReceiptStatus;
use efm_core::store::MessageFilter;
use efm_core::{Error, ErrorGroup, ErrorKind};
use std::path::PathBuf;

/// Send an arkivmelding.
///
/// The first --doc is the main document (normally arkivmelding.xml). Prints the message as JSON
/// (message_id, status); upload progress goes to standard error.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The receiver's organisation number
    #[arg(long, value_name = "ORGNR")]
    to: String,
    /// A document: its name in the message and the file to read (repeatable, at least one)
    #[arg(long = "doc", value_name = "NAME=PATH", required = true, value_parser = parse_doc)]
    docs: Vec<SendDocument>,
    /// The process (default: the arkivmelding administration process)
    #[arg(long, value_name = "URN")]
    process: Option<String>,
    /// The conversation to send in (default: a new one)
    #[arg(long, value_name = "UUID")]
    conversation: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

fn parse_doc(value: &str) -> Result<SendDocument, String> {
    let (name, path) = value
        .split_once('=')
        .ok_or_else(|| format!("--doc takes NAME=PATH, not {value:?}"))?;
    Ok(SendDocument {
        name: name.to_string(),
        path: PathBuf::from(path),
        mime: None,
    })
}

/// Fetch incoming messages and statuses from the broker.
///
/// New messages go to the incoming queue (MOTTATT is sent back), statuses update our sent
/// messages. Prints a summary as JSON. Exits with status 1 when a transfer or receipt failed or a
/// package was quarantined (see `efm quarantine list`); says so on standard error when more waits
/// at the broker (it asked us to slow down, or kept receiving).
#[derive(Debug, clap::Args)]
pub struct PollArgs {
    #[command(flatten)]
    config: ConfigArg,
}

/// Unpack every incoming message and acknowledge it (LEVERT).
///
/// Takes every message from the incoming queue, oldest first: decrypts, verifies and unpacks it
/// into DIR/<message id>, then deletes it from the queue (LEVERT is sent back) unless --keep is
/// given. Prints each opened message as JSON.
#[derive(Debug, clap::Args)]
pub struct InboxArgs {
    /// Where to unpack the messages
    #[arg(long, value_name = "DIR", default_value = "inbox")]
    into: PathBuf,
    /// Leave the messages in the queue (no LEVERT)
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    config: ConfigArg,
}

/// A message's status history, or the latest messages with their current status.
///
/// With a MESSAGE_ID, the history goes to standard output as JSON and the message's warnings
/// (what was unusual but accepted) to standard error; the list shows them in `warnings`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The message (default: list the latest messages)
    #[arg(value_name = "MESSAGE_ID")]
    message_id: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

/// Send a failed (FEIL) or pending (OPPRETTET) message again now.
///
/// Prints the message as JSON. Exits non-zero when it could not be sent this time (a message
/// that failed transiently is tried again later by `efm run` or `efm poll`).
#[derive(Debug, clap::Args)]
pub struct ResendArgs {
    /// The outgoing message
    #[arg(value_name = "MESSAGE_ID")]
    message_id: String,
    #[command(flatten)]
    config: ConfigArg,
}

/// Mark outgoing messages whose deadline passed unfinished as LEVETID_UTLOPT.
///
/// Their sending stops and their packages are removed. Prints the message ids as JSON.
/// (`efm run` and `efm poll` do this too.)
#[derive(Debug, clap::Args)]
pub struct ExpireArgs {
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn client(config: &ConfigArg) -> Result<Client, Error> {
    Client::new(config.load()?)
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("\"{e}\""))
    );
}

pub fn send(args: SendArgs) -> Result<(), Error> {
    let request = SendRequest {
        receiver: Some(args.to),
        process: args.process,
        conversation_id: args.conversation,
        documents: args.docs,
        ..SendRequest::default()
    };
    let client = client(&args.config)?;
    let mut shown = 0;
    let info = client.send(request, &mut |done, total| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if pct >= shown + 10 || done == total {
            shown = pct;
            eprintln!("upload {pct:>3}% ({done}/{total} bytes)");
        }
    })?;
    print_json(&info);
    Ok(())
}

/// Ok(false): done, but something failed (already said on standard error).
pub fn poll(args: PollArgs) -> Result<bool, Error> {
    let summary = client(&args.config)?.poll()?;
    print_json(&summary);
    if summary.more_waiting {
        match summary.retry_after_secs {
            Some(s) => {
                eprintln!("more waits at the broker, which asks for a pause: poll again in {s} s")
            }
            None => eprintln!("more waits at the broker: poll again"),
        }
    }
    if summary.failed() {
        let mut parts = Vec::new();
        if !summary.errors.is_empty() {
            parts.push(format!(
                "{} transfer(s) or receipt(s) failed and will be tried again",
                summary.errors.len()
            ));
        }
        if summary.quarantined > 0 {
            parts.push(format!(
                "{} package(s) could not be read and are in quarantine (efm quarantine list)",
                summary.quarantined
            ));
        }
        eprintln!("efm poll: {}", parts.join("; "));
        return Ok(false);
    }
    Ok(true)
}

/// Ok(false): done, but a message could not be opened (already said on standard error).
pub fn inbox(args: InboxArgs) -> Result<bool, Error> {
    let InboxArgs { into, keep, config } = args;
    let client = client(&config)?;
    let mut seen = std::collections::HashSet::new();
    let mut failed = 0;
    while let Some(message) = client.peek()? {
        let id = message.info.message_id.clone();
        // With --keep a message comes back once its lock runs out; one pass is enough.
        if !seen.insert(id.clone()) {
            break;
        }
        let opened = match client.pop(&id, &into.join(&id)) {
            Ok(o) => o,
            // The message could not be opened: it is FEIL and in quarantine, out of the queue;
            // the others still come.
            Err(e) if matches!(e.kind().group(), ErrorGroup::Crypto | ErrorGroup::Package) => {
                eprintln!("efm inbox: message {id}: error {}: {e}", e.code());
                failed += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        for w in &opened.warnings {
            eprintln!("efm inbox: message {id}: warning: {w}");
        }
        print_json(&opened);
        if !keep {
            client.delete(&id)?;
        }
    }
    if failed > 0 {
        eprintln!("efm inbox: {failed} message(s) could not be opened; they are in quarantine (efm quarantine list)");
        return Ok(false);
    }
    Ok(true)
}

pub fn status(args: StatusArgs) -> Result<(), Error> {
    let client = client(&args.config)?;
    match args.message_id {
        None => print_json(&client.messages(&MessageFilter {
            limit: Some(20),
            ..MessageFilter::default()
        })?),
        Some(id) => {
            print_json(&client.status(&id)?);
            for w in client.message(&id)?.warnings {
                eprintln!("warning: {w}");
            }
        }
    }
    Ok(())
}

pub fn resend(args: ResendArgs) -> Result<(), Error> {
    let client = client(&args.config)?;
    let info = client.resend(&args.message_id, &mut |_, _| {})?;
    print_json(&info);
    if info.status != ReceiptStatus::Opprettet {
        return Ok(());
    }
    let (error, next) = info
        .sending
        .as_ref()
        .map(|s| {
            (
                s.last_error.clone().unwrap_or_default(),
                s.next_attempt.clone().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    Err(Error::new(
        ErrorKind::RemoteUnavailable,
        format!(
            "message {} is not sent yet ({error}); `efm run` or the next `efm poll` tries again at {next}",
            args.message_id
        ),
    ))
}

pub fn expire(args: ExpireArgs) -> Result<(), Error> {
    print_json(&client(&args.config)?.expire()?);
    Ok(())
}
