//! `efm config check PATH`: validate a configuration file and print what it resolves to.

use efm_core::config::Config;
use efm_core::Error;
use std::path::PathBuf;

/// Work with configuration files.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and print the resolved settings as JSON (no secrets).
    Check {
        /// The configuration file
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
}

pub fn run(command: ConfigCommand) -> Result<(), Error> {
    match command {
        ConfigCommand::Check { path } => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading configuration {}", path.display()), e))?;
            let config = Config::from_json(&text)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&config.summary_json()).expect("JSON value")
            );
            Ok(())
        }
    }
}
