//! `efm lookup ORGNR [--process URN] [--json] [--config PATH]`: what the Service Registry says an
//! organisation can receive, from a signed answer.

use crate::doctor_cmd::ConfigArg;
use efm_core::client::ClientContext;
use efm_core::ident::OrgNumber;
use efm_core::registry::Capabilities;
use efm_core::{Error, ErrorKind};

/// A receiver's capabilities from the Service Registry, from a signed answer.
///
/// Asks the Service Registry what organisation ORGNR can receive (all processes, or only URN) and
/// prints it.
#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    /// The organisation to look up
    #[arg(value_name = "ORGNR")]
    orgnr: String,
    /// Only this process
    #[arg(long, value_name = "URN")]
    process: Option<String>,
    /// Print the capabilities as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub fn run(args: LookupArgs) -> Result<(), Error> {
    let LookupArgs {
        orgnr,
        process,
        json,
        config,
    } = args;
    let org = OrgNumber::parse(&orgnr)?;

    let config = config.load()?;
    let context = ClientContext::new(&config)?;
    let capabilities = context.registry().lookup(&org, process.as_deref())?;
    if json {
        let text = serde_json::to_string_pretty(&capabilities)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("printing JSON: {e}")))?;
        println!("{text}");
    } else {
        print_human(&capabilities);
    }
    Ok(())
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
