//! `efm config check PATH`: validate a configuration file and print what it resolves to.

use efm_core::config::Config;
use efm_core::{Error, ErrorKind};

const USAGE: &str = "usage: efm config check PATH\n\nValidates the configuration file and prints the resolved settings as JSON (no secrets).";

pub fn run(args: &[String]) -> Result<(), Error> {
    match args {
        [sub, path] if sub == "check" => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::io(format!("reading configuration {path}"), e))?;
            let config = Config::from_json(&text)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&config.summary_json()).expect("JSON value")
            );
            Ok(())
        }
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(Error::new(ErrorKind::InvalidArgument, USAGE)),
    }
}
