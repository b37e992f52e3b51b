//! `efm doctor [--config PATH]`: check a configuration end to end and say which step fails and
//! why: the configuration parses, the key and certificate load and belong together, the
//! certificate is valid, a Maskinporten token can be had, the Service Registry answers with a
//! signed answer, and (for the Altinn 3 transport) the Altinn token exchange works.

use efm_core::auth::{TokenRequest, Tokens, SCOPE_BROKER_READ};
use efm_core::config::{Config, TransportKind};
use efm_core::crypto::keys::{subject_line, Identity};
use efm_core::http::Http;
use efm_core::registry::{certificate_info, check_validity_period, days_until_expiry, Registry};
use efm_core::transport::altinn2::Altinn2Broker;
use efm_core::transport::altinn3::Altinn3Broker;
use efm_core::transport::{SystemUserTokens, Transport};
use efm_core::{Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Check the configuration end to end, step by step.
///
/// Reports each step: the configuration parses, the key and certificate load and belong together,
/// the certificate is valid, a Maskinporten token can be had, the Service Registry answers with a
/// signed answer, the Altinn token exchange works, the broker answers and the data directory takes
/// files. Relative paths inside the configuration are resolved against the file's directory
/// unless it sets "base_dir".
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    config: ConfigArg,
}

/// `--config PATH` and `--org ORGNR`, for the commands that act as one organisation.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The configuration file [default: $EFM_CONFIG, else ./efm.json]
    #[arg(long = "config", value_name = "PATH")]
    explicit: Option<PathBuf>,
    /// The organisation to act for, when the configuration names several ("organisations")
    /// [default: its first]
    #[arg(long = "org", value_name = "ORGNR")]
    org: Option<String>,
}

impl ConfigArg {
    /// The configuration file to use (see [`config_path`]).
    pub fn path(&self) -> PathBuf {
        config_path(self.explicit.as_deref())
    }

    /// Read and parse the configuration file (see [`load_config`]), acting for `--org`.
    pub fn load(&self) -> Result<Config, Error> {
        self.choose(load_config(&self.path())?)
    }

    /// The configuration acting for `--org`, when given.
    pub fn choose(&self, config: Config) -> Result<Config, Error> {
        match &self.org {
            Some(org) => config.for_organisation(org),
            None => Ok(config),
        }
    }

    /// Whether `--org` picked one organisation.
    pub fn picks_one(&self) -> bool {
        self.org.is_some()
    }
}

/// The configuration file to use: `--config`, else `$EFM_CONFIG`, else `./efm.json`.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("EFM_CONFIG") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("efm.json"),
        },
    }
}

/// Read and parse a configuration file; relative paths resolve against its directory unless it
/// names a `base_dir`.
pub fn load_config(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::io(
            format!(
                "reading the configuration {} (give --config PATH or set EFM_CONFIG)",
                path.display()
            ),
            e,
        )
    })?;
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidJson,
            format!("{} is not valid JSON: {e}", path.display()),
        )
    })?;
    if let Some(obj) = value.as_object_mut() {
        if !obj.contains_key("base_dir") {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let dir = dir.canonicalize().unwrap_or(dir);
            obj.insert(
                "base_dir".into(),
                serde_json::Value::String(dir.to_string_lossy().into_owned()),
            );
        }
    }
    Config::from_json(&value.to_string()).map_err(|e| e.context(path.display()))
}

struct Report {
    failed: Option<(String, Error)>,
}

impl Report {
    fn ok(&self, step: &str, detail: impl AsRef<str>) {
        println!("[ ok ] {step}: {}", detail.as_ref());
    }
    fn warn(&self, step: &str, detail: impl AsRef<str>) {
        println!("[warn] {step}: {}", detail.as_ref());
    }
    fn fail(&mut self, step: &str, e: Error) {
        println!("[FAIL] {step}: {e}");
        if let Some(s) = e.detail().http_status {
            println!("       HTTP status {s}");
        }
        if let Some(c) = &e.detail().remote_code {
            println!("       remote code {c}");
        }
        println!("       (error {} {:?})", e.code(), e.kind());
        self.failed = Some((step.to_string(), e));
    }
    fn skip(&self, step: &str) {
        println!("[skip] {step}");
    }
}

pub fn run(args: DoctorArgs) -> Result<(), Error> {
    let path = args.config.path();
    let mut report = Report { failed: None };
    let steps = [
        "configuration",
        "key and certificate",
        "certificate validity",
        "HTTP client",
        "Maskinporten token",
        "Service Registry",
        "Altinn token exchange",
        "broker",
        "data directory",
        "state store",
    ];
    let skip_from = |report: &Report, i: usize| {
        for s in &steps[i..] {
            report.skip(s);
        }
    };

    // 1. The configuration.
    let config = match load_config(&path).and_then(|c| args.config.choose(c)) {
        Ok(c) => {
            report.ok(
                steps[0],
                format!(
                    "{} (organisation {}, environment {}, client {})",
                    path.display(),
                    c.organisation_number,
                    c.environment.name(),
                    c.credentials.client_id
                ),
            );
            c
        }
        Err(e) => {
            report.fail(steps[0], e);
            skip_from(&report, 1);
            return finish(report);
        }
    };
    if config.transport == TransportKind::Altinn2 {
        report.warn(
            steps[0],
            format!(
                "transport altinn2: Altinn 2 was switched off in production in June 2026; it serves only test (TT02) and legacy installations{}; use \"transport\": \"altinn3\"",
                if config.environment == efm_core::config::Environment::Production {
                    ", so this configuration cannot send or receive in production"
                } else {
                    ""
                }
            ),
        );
    }

    // 2. Key and certificate load and belong together.
    let identity = match Identity::load(&config.credentials.key) {
        Ok(id) => {
            report.ok(
                steps[1],
                format!(
                    "RSA key {} bits, matches certificate {}",
                    id.private_key.bits(),
                    subject_line(&id.certificate)
                ),
            );
            id
        }
        Err(e) => {
            report.fail(steps[1], e);
            skip_from(&report, 2);
            return finish(report);
        }
    };

    // 3. The certificate is within its validity (and for whom it is).
    let info = certificate_info(&identity.certificate);
    match check_own_certificate(&identity) {
        Ok(days_left) => {
            report.ok(
                steps[2],
                format!("valid from {} to {}", info.not_before, info.not_after),
            );
            if days_left < 30 {
                report.warn(
                    steps[2],
                    format!("the certificate expires in {days_left} days; renew it"),
                );
            }
            if !subject_line(&identity.certificate).contains(config.organisation_number.as_str()) {
                report.warn(
                    steps[2],
                    format!(
                        "the certificate's subject does not name organisation {}; Maskinporten refuses a certificate of another organisation (MP-122)",
                        config.organisation_number
                    ),
                );
            }
        }
        Err(e) => {
            report.fail(steps[2], e);
            skip_from(&report, 3);
            return finish(report);
        }
    }

    // 4. The HTTP client (CA bundle).
    let http = match Http::new(&config) {
        Ok(h) => {
            report.ok(
                steps[3],
                match &config.ca_bundle {
                    Some(p) => format!("system roots plus {}", p.display()),
                    None => "system roots".to_string(),
                },
            );
            h
        }
        Err(e) => {
            report.fail(steps[3], e);
            skip_from(&report, 4);
            return finish(report);
        }
    };

    // 5. A Maskinporten token for the registry scopes.
    let tokens = match Tokens::with_identity(&config, http.clone(), &identity) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            report.fail(steps[4], e);
            skip_from(&report, 5);
            return finish(report);
        }
    };
    // The registry's scopes, with its fallback (eformidling:dpo, else move/dpo.read).
    let registry = Registry::new(&config, http.clone(), tokens.clone());
    match registry.token() {
        Ok((t, request)) => {
            let detail = format!(
                "from {} for scopes {:?}, valid {} s more",
                config.urls.maskinporten_token,
                t.scope().unwrap_or(&request.scopes.join(" ")),
                t.remaining().as_secs()
            );
            if request.scopes == config.registry_scopes {
                report.ok(steps[4], detail);
            } else {
                report.warn(
                    steps[4],
                    format!(
                        "{detail}: the client lacks {:?}, the scope of integration point v4; ask Digdir to add it",
                        config.registry_scopes.join(" ")
                    ),
                );
            }
        }
        Err(e) => {
            report.fail(steps[4], e);
            skip_from(&report, 5);
            return finish(report);
        }
    }

    // 6. The Service Registry answers, signed, for our own organisation.
    match registry.lookup(&config.organisation_number, None) {
        Ok(c) => {
            let dpo = c
                .capabilities
                .iter()
                .filter(|r| r.service_identifier == "DPO")
                .count();
            report.ok(
                steps[5],
                format!(
                    "{} answered with a verified signature: {} service records for {} ({} DPO)",
                    config.urls.service_registry,
                    c.capabilities.len(),
                    config.organisation_number,
                    dpo
                ),
            );
            if dpo == 0 {
                report.warn(
                    steps[5],
                    "the registry lists no DPO process for this organisation: others cannot send DPO to it",
                );
            }
        }
        Err(e) => {
            report.fail(steps[5], e);
            skip_from(&report, 6);
            return finish(report);
        }
    }

    // 7. For Altinn 3: a system-user token exchanged at Altinn.
    let mut broker_usable = true;
    if config.transport == TransportKind::Altinn3 {
        let request = TokenRequest::for_system_user(&[SCOPE_BROKER_READ], &config.system_user);
        match tokens.altinn(&request) {
            Ok(t) => report.ok(
                steps[6],
                format!(
                    "system user {} ({}), Altinn token valid {} s more",
                    config.system_user.name,
                    config.system_user.org_id,
                    t.remaining().as_secs()
                ),
            ),
            Err(e) => {
                report.fail(steps[6], e);
                broker_usable = false;
            }
        }
    } else {
        println!("[ -- ] {}: not used with transport altinn2", steps[6]);
    }

    // 8. The broker answers a search for what waits for us (read only: nothing is downloaded).
    if broker_usable {
        let listed = match config.transport {
            TransportKind::Altinn3 => {
                let source = SystemUserTokens {
                    tokens: &tokens,
                    user: config.system_user.clone(),
                };
                Altinn3Broker::new(
                    &http,
                    &config.urls.altinn3_broker,
                    &source,
                    config.message_channel.clone(),
                )
                .available()
            }
            TransportKind::Altinn2 => {
                Altinn2Broker::from_config(&http, &config).and_then(|b| b.available())
            }
        };
        match listed {
            Ok(files) => report.ok(
                steps[7],
                format!(
                    "{} answered; {} file(s) wait for {}",
                    match config.transport {
                        TransportKind::Altinn3 => &config.urls.altinn3_broker,
                        TransportKind::Altinn2 => &config.urls.altinn2_broker_basic,
                    },
                    files.len(),
                    config.organisation_number
                ),
            ),
            Err(e) => report.fail(steps[7], e),
        }
    } else {
        report.skip(steps[7]);
    }

    // 9. The data directory takes files (state and spool files live there).
    match check_data_dir(&config.data_dir) {
        Ok(()) => report.ok(
            steps[8],
            format!("{} is writable", config.data_dir.display()),
        ),
        Err(e) => report.fail(steps[8], e),
    }

    // 10. The state store opens (and is brought to the current schema, as a client would).
    match efm_core::store::Store::open_with(
        &config.data_dir,
        &config.store,
        &config.organisation_number,
    ) {
        Ok(store) => report.ok(steps[9], store.describe()),
        Err(e) => report.fail(steps[9], e),
    }
    finish(report)
}

fn check_data_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating the data directory {}", dir.display()), e))?;
    let probe = dir.join(format!(".efm-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(|e| {
        Error::io(
            format!("writing in the data directory {}", dir.display()),
            e,
        )
    })?;
    std::fs::remove_file(&probe).map_err(|e| Error::io(format!("removing {}", probe.display()), e))
}

/// Days left on our certificate, or why it cannot be used now.
fn check_own_certificate(identity: &Identity) -> Result<i64, Error> {
    check_validity_period(
        &identity.certificate,
        "our certificate",
        "get a new enterprise certificate",
    )?;
    Ok(days_until_expiry(&identity.certificate).unwrap_or(0))
}

fn finish(report: Report) -> Result<(), Error> {
    match report.failed {
        None => {
            println!("all checks passed");
            Ok(())
        }
        // The step and its full explanation are printed above; the error repeats the kind and
        // the remote facts for the exit status and for programs, with a short message.
        Some((step, e)) => {
            let mut short = Error::new(
                e.kind(),
                format!("efm doctor: step \"{step}\" failed (see above)"),
            );
            if let Some(s) = e.detail().http_status {
                short = short.with_http_status(s);
            }
            if let Some(c) = &e.detail().remote_code {
                short = short.with_remote_code(c.clone());
            }
            Err(short)
        }
    }
}
