//! `efm`: the command-line tool for operators and for trying efm out.
//!
//! Commands dispatch to one module each; protocol logic stays in efm-core.

mod config_cmd;
mod demo_cmd;
mod doctor_cmd;
mod lookup_cmd;
mod messages_cmd;
mod package_cmd;

use std::process::ExitCode;

const USAGE: &str = "\
efm: eFormidling DPO as a library, and this tool to drive it

usage: efm <command> [args]

commands:
  demo                 run the whole flow against the embedded sandbox
  sandbox --dir DIR    serve the local Maskinporten, Service Registry and Altinn brokers
  send --to ORGNR --doc NAME=PATH...
                       send an arkivmelding (state in the configuration's data_dir)
  poll                 fetch incoming messages and statuses from the broker
  inbox [--into DIR]   unpack every incoming message and acknowledge it (LEVERT)
  status [MESSAGE_ID]  a message's status history, or the latest messages
  lookup ORGNR         a receiver's capabilities from the Service Registry (--process, --json)
  doctor               check the configuration end to end, step by step
  package create|inspect|open
                       build, look into and open DPO packages (the zip on the wire)
  config check PATH    validate a configuration file and print the resolved settings
  version              print the library version
  help                 this text

Each command takes --help.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd {
        "demo" => demo_cmd::run(rest),
        "sandbox" => {
            return match efm_sandbox::run_cli(rest) {
                0 => ExitCode::SUCCESS,
                n => ExitCode::from(u8::try_from(n).unwrap_or(1)),
            };
        }
        "config" => config_cmd::run(rest),
        "lookup" => lookup_cmd::run(rest),
        "send" => messages_cmd::send(rest),
        "poll" => messages_cmd::poll(rest),
        "inbox" => messages_cmd::inbox(rest),
        "status" => messages_cmd::status(rest),
        "package" => package_cmd::run(rest),
        "doctor" => doctor_cmd::run(rest),
        "version" | "--version" | "-V" => {
            println!("efm {}", efm_core::VERSION);
            Ok(())
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("efm: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm {cmd}: error {}: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
