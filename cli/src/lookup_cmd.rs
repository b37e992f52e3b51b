//! `efm lookup ORGNR [--process URN] [--json] [--config PATH]`: what the Service Registry says an
//! organisation can receive, from a signed answer.

use crate::doctor_cmd::{config_path, load_config, take_config_arg};
use efm_core::auth::Tokens;
use efm_core::http::Http;
use efm_core::ident::OrgNumber;
use efm_core::registry::{Capabilities, Registry};
use efm_core::{Error, ErrorKind};
use std::sync::Arc;

const USAGE: &str = "usage: efm lookup ORGNR [--process URN] [--json] [--config PATH]

Asks the Service Registry what organisation ORGNR can receive (all processes, or only URN) and
prints it; --json prints the capabilities as JSON. The configuration is PATH, else $EFM_CONFIG,
else ./efm.json.";

pub fn run(args: &[String]) -> Result<(), Error> {
    let (config_arg, rest) = take_config_arg(args)?;
    let mut orgnr = None;
    let mut process = None;
    let mut json = false;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--json" => json = true,
            "--process" => {
                process = Some(
                    it.next()
                        .ok_or_else(|| usage("--process needs a process URN"))?
                        .clone(),
                )
            }
            s if s.starts_with("--process=") => process = Some(s["--process=".len()..].to_string()),
            s if s.starts_with('-') => return Err(usage(&format!("unknown option {s:?}"))),
            s if orgnr.is_none() => orgnr = Some(s.to_string()),
            s => return Err(usage(&format!("unexpected argument {s:?}"))),
        }
    }
    let orgnr = orgnr.ok_or_else(|| usage("give the organisation number to look up"))?;
    let org = OrgNumber::parse(&orgnr)?;

    let config = load_config(&config_path(config_arg.as_deref()))?;
    let http = Http::new(&config)?;
    let tokens = Arc::new(Tokens::new(&config, http.clone())?);
    let registry = Registry::new(&config, http, tokens);
    let capabilities = registry.lookup(&org, process.as_deref())?;
    if json {
        let text = serde_json::to_string_pretty(&capabilities)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("printing JSON: {e}")))?;
        println!("{text}");
    } else {
        print_human(&capabilities);
    }
    Ok(())
}

fn usage(why: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{why}\n\n{USAGE}"))
}

fn print_human(c: &Capabilities) {
    let name = c.organisation_name.as_deref().unwrap_or("(no name)");
    match &c.entity_type {
        Some(t) => println!("{} {name} ({t})", c.organisation_number),
        None => println!("{} {name}", c.organisation_number),
    }
    if let Some(a) = &c.postal_address {
        let parts: Vec<&str> = [&a.address, &a.postal_code, &a.postal_area, &a.country]
            .iter()
            .filter_map(|p| p.as_deref())
            .collect();
        if !parts.is_empty() {
            println!("  address: {}", parts.join(", "));
        }
    }
    println!("  answer signed by the Service Registry: verified");
    if c.capabilities.is_empty() {
        println!("  no service records");
    }
    for cap in &c.capabilities {
        println!("  {:<4} {}", cap.service_identifier, cap.process);
        if !cap.document_types.is_empty() {
            println!("       document types: {}", cap.document_types.join(", "));
        }
        let mut service = Vec::new();
        if let Some(r) = &cap.resource {
            service.push(format!("resource {r}"));
        }
        if let (Some(code), Some(edition)) = (&cap.service_code, &cap.service_edition_code) {
            service.push(format!("Altinn 2 service {code}/{edition}"));
        }
        if let Some(level) = cap.security_level {
            service.push(format!("security level {level}"));
        }
        if let Some(url) = &cap.endpoint_url {
            service.push(format!("endpoint {url}"));
        }
        if !service.is_empty() {
            println!("       {}", service.join(", "));
        }
        if let Some(cert) = &cap.certificate {
            println!(
                "       certificate: {} (valid {} to {})",
                cert.subject, cert.not_before, cert.not_after
            );
        }
        if let Some(problem) = &cap.certificate_problem {
            println!("       certificate problem: {problem}");
        }
    }
}
