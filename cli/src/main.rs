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
            Command::Lookup(_) => "lookup",
            Command::Doctor(_) => "doctor",
            Command::Package(_) => "package",
            Command::Config(_) => "config",
            Command::Version => "version",
        }
    }
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    let name = command.name();
    let result = match command {
        Command::Demo(args) => demo_cmd::run(args),
        Command::Sandbox(args) => {
            return match efm_sandbox::run(args) {
                0 => ExitCode::SUCCESS,
                n => ExitCode::from(u8::try_from(n).unwrap_or(1)),
            };
        }
        Command::Send(args) => messages_cmd::send(args),
        Command::Poll(args) => messages_cmd::poll(args),
        Command::Inbox(args) => messages_cmd::inbox(args),
        Command::Status(args) => messages_cmd::status(args),
        Command::Resend(args) => messages_cmd::resend(args),
        Command::Expire(args) => messages_cmd::expire(args),
        Command::Run(args) => run_cmd::run(args),
        Command::Lookup(args) => lookup_cmd::run(args),
        Command::Doctor(args) => doctor_cmd::run(args),
        Command::Package(command) => package_cmd::run(command),
        Command::Config(command) => config_cmd::run(command),
        Command::Version => {
            println!("efm {}", efm_core::VERSION);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm {name}: error {}: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
