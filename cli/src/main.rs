//! `efm`: the command-line tool for operators and for trying efm out.
//!
//! The command line is declared with clap's derive API: each command's arguments are a struct in
//! the command's module (which also runs it), so `--help` and usage errors are generated from one
//! declaration. Protocol logic stays in efm-core.

#![forbid(unsafe_code)]

mod config_cmd;
mod demo_cmd;
mod doctor_cmd;
mod lookup_cmd;
mod messages_cmd;
mod package_cmd;
mod quarantine_cmd;
mod run_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// efm: eFormidling DPO as a library, and this tool to drive it.
#[derive(Debug, Parser)]
#[command(name = "efm", version = efm_core::VERSION, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(demo_cmd::DemoArgs),
    /// Serve the local Maskinporten, Service Registry and Altinn brokers.
    ///
    /// Writes a test PKI and a client configuration per organisation to DIR/<orgnr>/config.json,
    /// prints `efm-sandbox listening on http://127.0.0.1:PORT` and serves until SIGINT/SIGTERM or,
    /// when standard input is a pipe, until it is closed (--no-stdin: ignore stdin).
    Sandbox(efm_sandbox::SandboxArgs),
    Send(messages_cmd::SendArgs),
    Poll(messages_cmd::PollArgs),
    Inbox(messages_cmd::InboxArgs),
    Status(messages_cmd::StatusArgs),
    Resend(messages_cmd::ResendArgs),
    Expire(messages_cmd::ExpireArgs),
    Run(run_cmd::RunArgs),
    #[command(subcommand)]
    Quarantine(quarantine_cmd::QuarantineCommand),
    Lookup(lookup_cmd::LookupArgs),
    Doctor(doctor_cmd::DoctorArgs),
    #[command(subcommand)]
    Package(package_cmd::PackageCommand),
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Print the library version.
    Version,
}

impl Command {
    /// The command's name, for error messages.
    fn name(&self) -> &'static str {
        match self {
            Command::Demo(_) => "demo",
            Command::Sandbox(_) => "sandbox",
            Command::Send(_) => "send",
            Command::Poll(_) => "poll",
            Command::Inbox(_) => "inbox",
            Command::Status(_) => "status",
            Command::Resend(_) => "resend",
            Command::Expire(_) => "expire",
            Command::Run(_) => "run",
            Command::Quarantine(_) => "quarantine",
            Command::Lookup(_) => "lookup",
            Command::Doctor(_) => "doctor",
            Command::Package(_) => "package",
            Command::Config(_) => "config",
            Command::Version => "version",
        }
    }
}

/// How a command that went through ended.
enum Done {
    All,
    /// It ran to its end, but something in it failed (and it said what on standard error).
    Partly,
}

impl From<()> for Done {
    fn from(_: ()) -> Done {
        Done::All
    }
}

fn complete(r: Result<bool, efm_core::Error>) -> Result<Done, efm_core::Error> {
    r.map(|all| if all { Done::All } else { Done::Partly })
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    let name = command.name();
    let result = match command {
        Command::Demo(args) => demo_cmd::run(args).map(Done::from),
        Command::Sandbox(args) => {
            return match efm_sandbox::run(args) {
                0 => ExitCode::SUCCESS,
                n => ExitCode::from(u8::try_from(n).unwrap_or(1)),
            };
        }
        Command::Send(args) => messages_cmd::send(args).map(Done::from),
        Command::Poll(args) => complete(messages_cmd::poll(args)),
        Command::Inbox(args) => complete(messages_cmd::inbox(args)),
        Command::Status(args) => messages_cmd::status(args).map(Done::from),
        Command::Resend(args) => messages_cmd::resend(args).map(Done::from),
        Command::Expire(args) => messages_cmd::expire(args).map(Done::from),
        Command::Run(args) => run_cmd::run(args).map(Done::from),
        Command::Quarantine(command) => quarantine_cmd::run(command).map(Done::from),
        Command::Lookup(args) => lookup_cmd::run(args).map(Done::from),
        Command::Doctor(args) => doctor_cmd::run(args).map(Done::from),
        Command::Package(command) => package_cmd::run(command).map(Done::from),
        Command::Config(command) => config_cmd::run(command).map(Done::from),
        Command::Version => {
            println!("efm {}", efm_core::VERSION);
            Ok(Done::All)
        }
    };
    match result {
        Ok(Done::All) => ExitCode::SUCCESS,
        Ok(Done::Partly) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("efm {name}: error {}: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
