//! Secrets (tokens, grants) never reach a log line: every record logged during token fetches,
//! the Altinn exchange, registry lookups and failures is captured at TRACE, and after the filter
//! a logger bridge must apply (`efm_core::http::log_record_allowed`) none holds a token or a JWS.

mod common;

use common::{sandbox, sandbox_config, sandbox_config_json, ORG_A, ORG_B};
use efm_core::auth::{TokenRequest, Tokens, SCOPE_BROKER_READ};
use efm_core::config::Config;
use efm_core::http::{log_record_allowed, Http};
use efm_core::ident::OrgNumber;
use efm_core::registry::Registry;
use std::sync::{Arc, Mutex};

struct Capture(Mutex<Vec<(String, log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((r.target().to_string(), r.level(), r.args().to_string()));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn no_token_or_grant_in_allowed_log_records() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let sb = sandbox("logs");
    let config = sandbox_config(&sb, ORG_A);
    let http = Http::new(&config).unwrap();
    let tokens = Arc::new(Tokens::new(&config, http.clone()).unwrap());
    let mp = tokens
        .maskinporten(&TokenRequest::for_scopes(&config.registry_scopes))
        .unwrap();
    let altinn = tokens
        .altinn(&TokenRequest::for_system_user(
            &[SCOPE_BROKER_READ],
            &config.system_user,
        ))
        .unwrap();
    let registry = Registry::new(&config, http, tokens.clone());
    registry
        .lookup(&OrgNumber::parse(ORG_B).unwrap(), None)
        .unwrap();
    let _ = registry.lookup(&OrgNumber::parse("974720760").unwrap(), None);
    // A failing token call too.
    let mut v = sandbox_config_json(&sb, ORG_A);
    v["credentials"]["client_id"] = serde_json::json!("MOVE_IP_974720760");
    let bad = Config::from_json(&v.to_string()).unwrap();
    let _ = Tokens::new(&bad, Http::new(&bad).unwrap())
        .unwrap()
        .maskinporten(&TokenRequest::for_scopes(&["move/dpo.read"]));

    let records = CAPTURE.0.lock().unwrap().clone();
    let ours: Vec<_> = records
        .iter()
        // The sandbox's own server logs are not the client's.
        .filter(|(t, _, _)| !t.starts_with("efm_sandbox"))
        .collect();
    assert!(
        ours.iter().any(|(t, _, _)| t.starts_with("efm_core")),
        "the client logged nothing; the test would prove nothing"
    );
    let secrets = [mp.secret(), altinn.secret()];
    for (target, level, msg) in &ours {
        let holds_secret = secrets.iter().any(|s| msg.contains(*s)) || msg.contains("eyJ");
        if log_record_allowed(target, *level) {
            assert!(
                !holds_secret,
                "secret in an allowed log record [{target} {level}]: {msg}"
            );
        }
    }
    // The HTTP stack dumps raw request bytes (headers and forms, 16 bytes a record) at TRACE;
    // those records exist, and the filter holds every one of them back.
    let raw: Vec<_> = ours
        .iter()
        .filter(|(t, l, _)| *l == log::Level::Trace && t.starts_with("ureq_proto"))
        .collect();
    assert!(!raw.is_empty(), "expected ureq_proto TRACE records");
    assert!(raw.iter().all(|(t, l, _)| !log_record_allowed(t, *l)));
}
