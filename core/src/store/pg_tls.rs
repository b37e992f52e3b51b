//! TLS to the PostgreSQL store: the same rule as for HTTP (TLS always, except to this machine).
//!
//! Workers on other machines send the store's password and every message's metadata to the
//! server, so a server that is not on loopback or a Unix socket is reached only over TLS with a
//! verified certificate and host name: `sslmode=prefer` (the default) becomes `require`, and
//! `sslmode=disable` is refused with the reason. On this machine the connection stays plain
//! unless the URL asks for `sslmode=require`. The server certificate is checked against the
//! system's roots plus the configuration's `ca_bundle` (an in-house CA, as for the brokers).

use crate::error::{Error, ErrorKind, Result};
use postgres::config::{Host, SslMode};
use postgres_native_tls::MakeTlsConnector;
use std::net::IpAddr;
use std::path::Path;

/// How a store connects: plain (only ever to this machine) or TLS with verification.
#[derive(Clone)]
pub enum Connector {
    Plain,
    Tls(MakeTlsConnector),
}

/// Whether `host` is this machine: a Unix socket, `localhost`, or a loopback address.
fn is_local(host: &Host) -> bool {
    match host {
        #[cfg(unix)]
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

fn shown(host: &Host) -> String {
    match host {
        #[cfg(unix)]
        Host::Unix(p) => p.display().to_string(),
        Host::Tcp(h) => h.clone(),
    }
}

/// Decide how to reach the server `config` names, adjusting its `sslmode` (see the module notes).
pub fn connector(config: &mut postgres::Config, ca_bundle: Option<&Path>) -> Result<Connector> {
    let field = "store.postgres";
    // postgres::Config defaults to localhost when no host is given.
    let remote = config.get_hosts().iter().find(|h| !is_local(h)).cloned();
    match (remote, config.get_ssl_mode()) {
        (Some(host), SslMode::Disable) => Err(Error::new(
            ErrorKind::ConfigInvalid,
            format!(
                "\"{field}\" says sslmode=disable for {}, which is not this machine: the store's password and the messages' metadata would cross the network in clear. Remove sslmode=disable and give the server a certificate (trusted by the system or by \"ca_bundle\")",
                shown(&host)
            ),
        )
        .with_field(field)),
        (Some(_), _) => {
            config.ssl_mode(SslMode::Require);
            Ok(Connector::Tls(tls(ca_bundle)?))
        }
        (None, SslMode::Require) => Ok(Connector::Tls(tls(ca_bundle)?)),
        (None, _) => {
            // Prefer would try TLS first; without a connector it cannot, which on loopback is
            // what plain means anyway.
            config.ssl_mode(SslMode::Disable);
            Ok(Connector::Plain)
        }
    }
}

/// A verifying TLS connector: the system's roots, and those in `ca_bundle` besides.
fn tls(ca_bundle: Option<&Path>) -> Result<MakeTlsConnector> {
    let mut builder = native_tls::TlsConnector::builder();
    builder.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    if let Some(path) = ca_bundle {
        let certs = crate::http::roots::read_pem_der(path, "ca_bundle")?;
        if certs.is_empty() {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("ca_bundle {} holds no certificate", path.display()),
            )
            .with_field("ca_bundle"));
        }
        for der in certs {
            let cert = native_tls::Certificate::from_der(&der).map_err(|e| {
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!("ca_bundle {}: {e}", path.display()),
                )
                .with_field("ca_bundle")
            })?;
            builder.add_root_certificate(cert);
        }
    }
    let connector = builder.build().map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("setting up TLS for the PostgreSQL store: {e}"),
        )
    })?;
    Ok(MakeTlsConnector::new(connector))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(url: &str) -> Result<(bool, SslMode)> {
        let mut config: postgres::Config = url.parse().unwrap();
        let c = connector(&mut config, None)?;
        Ok((matches!(c, Connector::Tls(_)), config.get_ssl_mode()))
    }

    #[test]
    fn plain_only_on_this_machine() {
        for url in [
            "postgresql://efm@127.0.0.1:5432/efm",
            "postgresql://efm@localhost/efm",
            "postgresql://efm@[::1]:5432/efm",
            "host=/var/run/postgresql user=efm dbname=efm",
        ] {
            assert_eq!(decide(url).unwrap(), (false, SslMode::Disable), "{url}");
        }
        assert_eq!(
            decide("postgresql://efm@127.0.0.1/efm?sslmode=require").unwrap(),
            (true, SslMode::Require)
        );
        // Another machine: TLS even when the URL does not ask for it.
        for url in [
            "postgresql://efm@db.example.org/efm",
            "postgresql://efm@192.0.2.10:5432/efm?sslmode=prefer",
            "postgresql://efm@127.0.0.1,db.example.org/efm",
        ] {
            assert_eq!(decide(url).unwrap(), (true, SslMode::Require), "{url}");
        }
        let e = decide("postgresql://efm@db.example.org/efm?sslmode=disable").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(e.message().contains("db.example.org"), "{e}");
        assert_eq!(e.detail().field.as_deref(), Some("store.postgres"));
    }
}
