//! The message flow from the command line: `efm send`, `efm poll`, `efm inbox`, `efm status`.
//! Each is one call on efm-core's `client::Client`; state lives in the configuration's data_dir.

use crate::doctor_cmd::{config_path, load_config, take_config_arg};
use efm_core::client::{Client, SendDocument, SendRequest};
use efm_core::store::MessageFilter;
use efm_core::{Error, ErrorKind};
use std::path::PathBuf;

const SEND_USAGE: &str = "usage: efm send --to ORGNR --doc NAME=PATH [--doc NAME=PATH...] [--process URN] [--conversation UUID] [--config PATH]

Sends an arkivmelding: the first --doc is the main document (normally arkivmelding.xml). Prints the
message as JSON (message_id, status). The configuration is PATH, else $EFM_CONFIG, else ./efm.json.";

const POLL_USAGE: &str = "usage: efm poll [--config PATH]

Fetches what waits at the broker: new messages go to the incoming queue (MOTTATT is sent back),
statuses update our sent messages. Prints a summary as JSON.";

const INBOX_USAGE: &str = "usage: efm inbox [--into DIR] [--keep] [--config PATH]

Takes every message from the incoming queue, oldest first: decrypts, verifies and unpacks it into
DIR/<message id> (default ./inbox), then deletes it from the queue (LEVERT is sent back) unless
--keep is given. Prints each opened message as JSON.";

const STATUS_USAGE: &str = "usage: efm status [MESSAGE_ID] [--config PATH]

The status history of one message, or the latest messages with their current status.";

fn usage(text: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, text)
}

fn client(config: Option<&str>) -> Result<Client, Error> {
    Client::new(load_config(&config_path(config))?)
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("\"{e}\""))
    );
}

fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}

pub fn send(args: &[String]) -> Result<(), Error> {
    if wants_help(args) {
        println!("{SEND_USAGE}");
        return Ok(());
    }
    let (config, rest) = take_config_arg(args)?;
    let mut request = SendRequest::default();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| usage(SEND_USAGE));
        match a.as_str() {
            "--to" => request.receiver = Some(value()?),
            "--process" => request.process = Some(value()?),
            "--conversation" => request.conversation_id = Some(value()?),
            "--doc" => {
                let v = value()?;
                let (name, path) = v.split_once('=').ok_or_else(|| {
                    usage(&format!("--doc takes NAME=PATH, not {v:?}\n\n{SEND_USAGE}"))
                })?;
                request.documents.push(SendDocument {
                    name: name.to_string(),
                    path: PathBuf::from(path),
                    mime: None,
                });
            }
            other => {
                return Err(usage(&format!(
                    "unknown argument {other:?}\n\n{SEND_USAGE}"
                )))
            }
        }
    }
    if request.receiver.is_none() || request.documents.is_empty() {
        return Err(usage(SEND_USAGE));
    }
    let client = client(config.as_deref())?;
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

pub fn poll(args: &[String]) -> Result<(), Error> {
    if wants_help(args) {
        println!("{POLL_USAGE}");
        return Ok(());
    }
    let (config, rest) = take_config_arg(args)?;
    if !rest.is_empty() {
        return Err(usage(POLL_USAGE));
    }
    print_json(&client(config.as_deref())?.poll()?);
    Ok(())
}

pub fn inbox(args: &[String]) -> Result<(), Error> {
    if wants_help(args) {
        println!("{INBOX_USAGE}");
        return Ok(());
    }
    let (config, rest) = take_config_arg(args)?;
    let mut into = PathBuf::from("inbox");
    let mut keep = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--into" => {
                into = it
                    .next()
                    .map(PathBuf::from)
                    .ok_or_else(|| usage(INBOX_USAGE))?
            }
            "--keep" => keep = true,
            other => {
                return Err(usage(&format!(
                    "unknown argument {other:?}\n\n{INBOX_USAGE}"
                )))
            }
        }
    }
    let client = client(config.as_deref())?;
    let mut seen = std::collections::HashSet::new();
    while let Some(message) = client.peek()? {
        let id = message.info.message_id.clone();
        // With --keep a message comes back once its lock runs out; one pass is enough.
        if !seen.insert(id.clone()) {
            break;
        }
        let opened = client.pop(&id, &into.join(&id))?;
        print_json(&opened);
        if !keep {
            client.delete(&id)?;
        }
    }
    Ok(())
}

pub fn status(args: &[String]) -> Result<(), Error> {
    if wants_help(args) {
        println!("{STATUS_USAGE}");
        return Ok(());
    }
    let (config, rest) = take_config_arg(args)?;
    let client = client(config.as_deref())?;
    match rest.as_slice() {
        [] => print_json(&client.messages(&MessageFilter {
            limit: Some(20),
            ..MessageFilter::default()
        })?),
        [id] => print_json(&client.status(id)?),
        _ => return Err(usage(STATUS_USAGE)),
    }
    Ok(())
}
