//! `efm demo`: the main job. Runs what efm can do end to end, offline.
//!
//! Today that is the foundation: a configuration for a sandbox organisation is written, validated
//! and resolved. It grows with the library (sandbox, lookup, packaging, send and receive).

use efm_core::config::Config;
use efm_core::Error;

pub fn run(args: &[String]) -> Result<(), Error> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: efm demo\n\nRuns the whole flow against the embedded sandbox, offline.");
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("efm-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating the demo directory", e))?;
    std::fs::write(dir.join("cert.pem"), "placeholder")
        .map_err(|e| Error::io("writing demo files", e))?;
    std::fs::write(dir.join("key.pem"), "placeholder")
        .map_err(|e| Error::io("writing demo files", e))?;
    let json = serde_json::json!({
        "organisation_number": "910075918",
        "environment": "sandbox",
        "sandbox_url": "http://127.0.0.1:7450",
        "base_dir": dir,
        "data_dir": "data",
        "credentials": {"client_id": "demo", "certificate_pem": "cert.pem", "private_key_pem": "key.pem"},
    });
    println!("1. configuration for organisation 910075918 on the sandbox");
    let config = Config::from_json(&json.to_string())?;
    println!(
        "   resolved: {}",
        serde_json::to_string_pretty(&config.summary_json()).expect("JSON value")
    );
    println!("2. a configuration with a mistyped organisation number is refused:");
    let mut bad = json.clone();
    bad["organisation_number"] = "910075919".into();
    match Config::from_json(&bad.to_string()) {
        Err(e) => println!("   error {}: {e}", e.code()),
        Ok(_) => println!("   unexpectedly accepted"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("demo finished");
    Ok(())
}
