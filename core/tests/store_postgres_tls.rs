//! The PostgreSQL store over TLS, against the server scripts/test.sh starts (a certificate for
//! 127.0.0.1 from a throwaway CA, made with the openssl command line): with `sslmode=require`
//! and that CA in `ca_bundle` the client's connection is encrypted, as the server itself reports
//! (`pg_stat_ssl`, asked with `psql`); without the CA the certificate is refused with an error
//! that says what to do and holds no password. Skipped, with a note, when no server is given.

mod common;

use common::{sandbox, sandbox_config_json, ORG_A};
use efm_core::client::{Client, MessageFilter};
use efm_core::config::Config;
use efm_core::ErrorKind;
use serde_json::json;
use std::process::Command;

struct Server {
    url: String,
    password_file: String,
    ca: String,
}

fn server() -> Option<Server> {
    let get = |k: &str| std::env::var(k).ok();
    match (
        get("EFM_TEST_POSTGRES"),
        get("EFM_TEST_POSTGRES_PASSWORD_FILE"),
        get("EFM_TEST_POSTGRES_CA"),
    ) {
        (Some(url), Some(password_file), Some(ca)) => Some(Server {
            url,
            password_file,
            ca,
        }),
        _ => {
            eprintln!(
                "NOTE: EFM_TEST_POSTGRES(_PASSWORD_FILE, _CA) unset, so TLS to PostgreSQL is NOT \
                 tested here (scripts/test.sh starts a server and sets them)"
            );
            None
        }
    }
}

/// The server's own view: how many connections named `application` use TLS, and how many not.
fn ssl_connections(s: &Server, application: &str) -> (u32, u32) {
    let password = std::fs::read_to_string(&s.password_file).unwrap();
    let out = Command::new("psql")
        .arg(&s.url)
        .args(["-X", "-A", "-t", "-c"])
        .arg(format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = '{application}'"
        ))
        .env("PGPASSWORD", password.trim())
        .env("PGSSLMODE", "disable")
        .output()
        .expect("psql (Debian's postgresql-client) runs");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (on, off) = text.trim().split_once('|').expect("two counts");
    (on.parse().unwrap(), off.parse().unwrap())
}

fn config(s: &Server, sb: &efm_sandbox::Sandbox, application: &str, ca: bool) -> Config {
    let mut c = sandbox_config_json(sb, ORG_A);
    c["store"] = json!({
        "postgres": format!("{}?sslmode=require&application_name={application}", s.url),
        "password_file": s.password_file,
        "schema": application,
    });
    if ca {
        c["ca_bundle"] = json!(s.ca);
    } else {
        c.as_object_mut().unwrap().remove("ca_bundle");
    }
    Config::from_json(&c.to_string()).unwrap()
}

#[test]
fn the_store_is_reached_over_verified_tls() {
    let Some(s) = server() else { return };
    let sb = sandbox("pg-tls");
    let application = format!("efm_tls_{}", std::process::id());

    let client = Client::new(config(&s, &sb, &application, true)).unwrap();
    client.messages(&MessageFilter::default()).unwrap();
    let (tls, plain) = ssl_connections(&s, &application);
    assert!(
        tls >= 1,
        "no TLS connection from the client: {tls} TLS, {plain} plain"
    );
    assert_eq!(plain, 0, "a plain connection from the client");
    drop(client);

    // The server's certificate comes from a CA the system does not trust: refused.
    let e = match Client::new(config(&s, &sb, &format!("{application}_x"), false)) {
        Ok(_) => panic!("an untrusted server certificate was accepted"),
        Err(e) => e,
    };
    eprintln!("without the CA: {e}");
    assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
    let text = e.to_string();
    assert!(text.contains("certificate verify failed"), "{text}");
    assert!(
        text.contains("ca_bundle"),
        "the error says what to do: {text}"
    );
    let password = std::fs::read_to_string(&s.password_file).unwrap();
    assert!(!text.contains(password.trim()), "the password leaked");
}
