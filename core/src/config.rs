//! The client configuration: one JSON document, the same from C, Python, C# and the CLI.
//!
//! ```json
//! {
//!   "organisation_number": "910075918",
//!   "environment": "sandbox",
//!   "sandbox_url": "http://127.0.0.1:7450",
//!   "credentials": {
//!     "client_id": "efm-sandbox-910075918",
//!     "pkcs12": "certs/910075918.p12",
//!     "pkcs12_password_env": "EFM_PKCS12_PASSWORD"
//!   },
//!   "data_dir": "efm-data/910075918",
//!   "transport": "altinn3"
//! }
//! ```
//!
//! Unknown keys are rejected (a typo must not silently fall back to a default). Relative paths are
//! resolved against `base_dir` when given, else against the current directory. Secrets (the PKCS#12
//! password, the Altinn 2 password) are read from an environment variable or a file named here, or
//! given inline; `Debug` never prints them.

use crate::error::{Error, ErrorKind, Result};
use crate::ident::OrgNumber;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod summary;
pub use summary::*;

/// Which set of external services to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Production,
    Test,
    /// The local efm-sandbox (or any stand-in) at one base URL.
    Sandbox,
}

/// The DPO service in Altinn 2 (ExternalServiceCode), the same in every environment.
pub const DPO_SERVICE_CODE: &str = "4192";

impl Environment {
    /// The DPO service edition in Altinn 2 (ExternalServiceEditionCode): 170101 in production,
    /// 270815 in TT02 (the integration point's `ManualResourceTest`; the sandbox serves TT02's).
    pub fn dpo_service_edition(self) -> &'static str {
        match self {
            Environment::Production => "170101",
            Environment::Test | Environment::Sandbox => "270815",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "production" | "prod" => Ok(Environment::Production),
            "test" | "tt02" | "staging" => Ok(Environment::Test),
            "sandbox" => Ok(Environment::Sandbox),
            other => Err(Error::new(
                ErrorKind::ConfigUnknownEnvironment,
                format!(
                    "unknown environment {}: use \"production\", \"test\" or \"sandbox\" (with \"sandbox_url\")", crate::input::quote(other)
                ),
            )
            .with_field("environment")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Test => "test",
            Environment::Sandbox => "sandbox",
        }
    }
}

/// Which Altinn broker carries DPO messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Altinn 3 Broker REST (today's route).
    Altinn3,
    /// Altinn 2 SOAP broker service (BrokerServiceExternalBasic/Streamed).
    Altinn2,
}

/// Every URL the client calls, resolved from the environment preset and any overrides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Urls {
    pub maskinporten_token: String,
    /// The grant's `aud`: the issuer string exactly, trailing slash included.
    pub maskinporten_audience: String,
    pub service_registry: String,
    pub altinn3_broker: String,
    pub altinn_token_exchange: String,
    pub altinn2_broker_basic: String,
    pub altinn2_broker_streamed: String,
}

impl Urls {
    pub fn production() -> Self {
        Urls {
            maskinporten_token: "https://maskinporten.no/token".into(),
            maskinporten_audience: "https://maskinporten.no/".into(),
            service_registry: "https://eformidling.no/adressetjeneste".into(),
            altinn3_broker: "https://platform.altinn.no/broker/api/v1".into(),
            altinn_token_exchange:
                "https://platform.altinn.no/authentication/api/v1/exchange/maskinporten".into(),
            altinn2_broker_basic:
                "https://www.altinn.no/ServiceEngineExternal/BrokerServiceExternalBasic.svc".into(),
            altinn2_broker_streamed:
                "https://www.altinn.no/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc"
                    .into(),
        }
    }

    pub fn test() -> Self {
        Urls {
            maskinporten_token: "https://test.maskinporten.no/token".into(),
            maskinporten_audience: "https://test.maskinporten.no/".into(),
            service_registry: "https://test.eformidling.no/adressetjeneste".into(),
            altinn3_broker: "https://platform.tt02.altinn.no/broker/api/v1".into(),
            altinn_token_exchange:
                "https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten"
                    .into(),
            altinn2_broker_basic:
                "https://tt02.altinn.no/ServiceEngineExternal/BrokerServiceExternalBasic.svc".into(),
            altinn2_broker_streamed:
                "https://tt02.altinn.no/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc"
                    .into(),
        }
    }

    /// The paths efm-sandbox serves under its one base URL.
    pub fn sandbox(base: &str) -> Self {
        let b = base.trim_end_matches('/');
        Urls {
            maskinporten_token: format!("{b}/maskinporten/token"),
            maskinporten_audience: format!("{b}/maskinporten/"),
            service_registry: format!("{b}/serviceregistry"),
            altinn3_broker: format!("{b}/broker/api/v1"),
            altinn_token_exchange: format!("{b}/authentication/api/v1/exchange/maskinporten"),
            altinn2_broker_basic: format!(
                "{b}/ServiceEngineExternal/BrokerServiceExternalBasic.svc"
            ),
            altinn2_broker_streamed: format!(
                "{b}/ServiceEngineExternal/BrokerServiceExternalBasicStreamed.svc"
            ),
        }
    }
}

/// A secret value and where it came from; `Debug` and `Display` show only the source.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    source: String,
}

impl Secret {
    /// A secret the caller read itself; `source` says from where (shown instead of the value).
    pub fn new(value: String, source: impl Into<String>) -> Secret {
        Secret {
            value,
            source: source.into(),
        }
    }
    pub fn expose(&self) -> &str {
        &self.value
    }
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted>, from {})", self.source)
    }
}

/// How we prove who we are to Maskinporten (and sign packages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Pkcs12 {
        path: PathBuf,
        password: Secret,
    },
    Pem {
        certificate: PathBuf,
        private_key: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The Maskinporten client id (the grant's `iss`).
    pub client_id: String,
    pub key: KeySource,
    /// Set when the client uses a key registered at Maskinporten (header `kid`) instead of the
    /// enterprise certificate (header `x5c`).
    pub kid: Option<String>,
}

/// The Altinn system user a token acts as (`authorization_details`, Maskinporten docs: system
/// user; IP `ClaimsFactory`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct SystemUser {
    /// `0192:<orgnr>`.
    pub org_id: String,
    /// The system user's externalRef.
    pub name: String,
}

/// Altinn 2 SOAP credentials (system user name and password from Altinn's system registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Altinn2Login {
    pub username: String,
    pub password: Secret,
    pub service_code: String,
    pub service_edition_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

/// One organisation a configuration serves: who it is and how it proves it. Everything else
/// (environment, URLs, store, data directory, transport, timeouts, ...) the organisations of one
/// configuration share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub organisation_number: OrgNumber,
    pub credentials: Credentials,
    pub system_user: SystemUser,
    pub altinn2: Option<Altinn2Login>,
    pub message_channel: Option<String>,
}

/// A validated configuration, acting for one organisation ([`Config::organisation_number`]) and
/// naming every organisation that shares its store ([`Config::organisations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The organisation this configuration acts for (a [`Client`](crate::client::Client) made
    /// from it sends and receives as this one); see [`Config::for_organisation`].
    pub organisation_number: OrgNumber,
    pub environment: Environment,
    pub urls: Urls,
    pub credentials: Credentials,
    pub data_dir: PathBuf,
    /// Where the state lives: SQLite in `data_dir` (default) or a shared PostgreSQL database.
    pub store: crate::store::StoreSetting,
    pub transport: TransportKind,
    pub timeouts: Timeouts,
    pub system_user: SystemUser,
    pub altinn2: Option<Altinn2Login>,
    pub message_channel: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    /// The HTTP proxy; defaults to the system's, except in the sandbox (loopback: direct).
    pub proxy: crate::http::ProxySetting,
    pub registry_cache: Duration,
    /// Maskinporten scopes for the Service Registry lookup (default `eformidling:dpo`, what the
    /// integration point asks for since v4).
    pub registry_scopes: Vec<String>,
    /// Scopes to fall back to when Maskinporten refuses `registry_scopes` (`invalid_scope`): by
    /// default `move/dpo.read`, the scope of older integration points that clients registered
    /// before v4 still have; none when `registry_scopes` is configured.
    pub registry_scopes_fallback: Option<Vec<String>>,
    /// Every organisation the configuration names, in order, the one it acts for included: the
    /// top-level `organisation_number` (when given) first, then `"organisations"`. One entry
    /// for a single-organisation configuration.
    pub organisations: Vec<Organisation>,
}

/// The Service Registry scope of integration point v4 and later.
pub const REGISTRY_SCOPE: &str = "eformidling:dpo";
/// The Service Registry scope of older integration points.
pub const REGISTRY_SCOPE_LEGACY: &str = "move/dpo.read";

// ---- the raw JSON shape -------------------------------------------------------------------

/// The configuration document (README "Configuration"); its JSON Schema is `schema/config.schema.json`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "efm configuration")]
struct RawConfig {
    organisation_number: Option<String>,
    #[schemars(extend("enum" = ["production", "test", "sandbox"]))]
    environment: Option<String>,
    sandbox_url: Option<String>,
    #[serde(default)]
    urls: RawUrls,
    credentials: Option<RawCredentials>,
    data_dir: Option<String>,
    store: Option<RawStore>,
    base_dir: Option<String>,
    #[schemars(extend("enum" = ["altinn3", "altinn2"]))]
    transport: Option<String>,
    #[serde(default)]
    timeouts: RawTimeouts,
    system_user: Option<RawSystemUser>,
    altinn2: Option<RawAltinn2>,
    message_channel: Option<String>,
    ca_bundle: Option<String>,
    proxy: Option<String>,
    #[schemars(range(max = 604800))]
    registry_cache_secs: Option<u64>,
    registry_scopes: Option<Vec<String>>,
    /// Further organisations served from the same store and process, each with its own
    /// identity; everything not given here is shared with the top level.
    organisations: Option<Vec<RawOrganisation>>,
}

/// One more organisation in the same store: its number and, where they differ from the top
/// level's, its credentials, system user, Altinn 2 login and message channel.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawOrganisation {
    organisation_number: String,
    /// Absent: the top level's (one Maskinporten client acting for several organisations through
    /// their system users).
    credentials: Option<RawCredentials>,
    /// Absent: `0192:<organisation_number>` / `<orgnr>_integrasjonspunkt_systembruker_<orgnr>`.
    system_user: Option<RawSystemUser>,
    /// Absent: the top level's.
    altinn2: Option<RawAltinn2>,
    /// Absent: the top level's.
    message_channel: Option<String>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawUrls {
    maskinporten_token: Option<String>,
    maskinporten_audience: Option<String>,
    service_registry: Option<String>,
    altinn3_broker: Option<String>,
    altinn_token_exchange: Option<String>,
    altinn2_broker_basic: Option<String>,
    altinn2_broker_streamed: Option<String>,
}

#[derive(Deserialize, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    client_id: Option<String>,
    pkcs12: Option<String>,
    pkcs12_password: Option<String>,
    pkcs12_password_env: Option<String>,
    pkcs12_password_file: Option<String>,
    certificate_pem: Option<String>,
    private_key_pem: Option<String>,
    kid: Option<String>,
}

/// `"store": {"postgres": "postgresql://efm@db.example/efm", "password_env": "EFM_PG_PASSWORD"}`:
/// the state in a PostgreSQL database shared by several workers (absent: SQLite in `data_dir`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawStore {
    postgres: String,
    schema: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    #[schemars(range(min = 1, max = 604800))]
    connect_secs: Option<u64>,
    #[schemars(range(min = 1, max = 604800))]
    request_secs: Option<u64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSystemUser {
    org_id: Option<String>,
    name: String,
}

#[derive(Deserialize, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawAltinn2 {
    username: String,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    service_code: Option<String>,
    service_edition_code: Option<String>,
}

/// The longest timeout or cache lifetime accepted: long enough for any transfer, short enough that
/// adding it to an `Instant` can never overflow.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 60 * 60;

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, message).with_field(field)
}

fn required<T>(value: Option<T>, field: &str, hint: &str) -> Result<T> {
    value.ok_or_else(|| invalid(field, format!("configuration lacks \"{field}\": {hint}")))
}

struct Resolver {
    base: PathBuf,
}

impl Resolver {
    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// A path that must name an existing file.
    fn existing_file(&self, p: &str, field: &str) -> Result<PathBuf> {
        let path = self.path(p);
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::new(
                ErrorKind::ConfigMissingFile,
                format!(
                    "\"{field}\" names {}, which is not a readable file; fix the path (relative paths resolve against {})",
                    path.display(),
                    self.base.display()
                ),
            )
            .with_field(field))
        }
    }

    fn secret(
        &self,
        inline: Option<String>,
        env: Option<String>,
        file: Option<String>,
        field: &str,
    ) -> Result<Secret> {
        let given = [inline.is_some(), env.is_some(), file.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if given != 1 {
            return Err(Error::new(
                ErrorKind::ConfigCredential,
                format!(
                    "give exactly one of \"{field}\", \"{field}_env\" (an environment variable) or \"{field}_file\""
                ),
            )
            .with_field(field));
        }
        if let Some(value) = inline {
            return Ok(Secret {
                value,
                source: format!("\"{field}\" in the configuration"),
            });
        }
        if let Some(var) = env {
            return match std::env::var(&var) {
                Ok(value) => Ok(Secret {
                    value,
                    source: format!("environment variable {var}"),
                }),
                Err(_) => Err(Error::new(
                    ErrorKind::ConfigCredential,
                    format!("environment variable {var} (named by \"{field}_env\") is not set"),
                )
                .with_field(format!("{field}_env"))),
            };
        }
        let file_field = format!("{field}_file");
        let path = self.existing_file(file.as_deref().unwrap_or_default(), &file_field)?;
        let value = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading \"{file_field}\" {}", path.display()), e))?;
        Ok(Secret {
            value: value.trim_end_matches(['\r', '\n']).to_string(),
            source: format!("file {}", path.display()),
        })
    }
}

fn check_url(field: &str, url: &str) -> Result<()> {
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        // Plain HTTP only to loopback: TLS is always on for anything that leaves the machine.
        let host = r.split(['/', ':']).next().unwrap_or("");
        let host = if r.starts_with('[') {
            r.split(']').next().unwrap_or("").trim_start_matches('[')
        } else {
            host
        };
        if !(host == "127.0.0.1" || host == "localhost" || host == "::1") {
            return Err(invalid(
                field,
                format!("\"{field}\" is {}: plain http is allowed only to loopback (127.0.0.1, ::1, localhost); use https", crate::input::quote(url)),
            ));
        }
        r
    } else {
        return Err(invalid(
            field,
            format!(
                "\"{field}\" is {}, which is not an http(s) URL",
                crate::input::quote(url)
            ),
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid(
            field,
            format!("\"{field}\" is {}: no host", crate::input::quote(url)),
        ));
    }
    Ok(())
}

impl Config {
    /// Parse and validate a configuration document.
    /// The JSON Schema of the configuration document.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(RawConfig)
    }

    pub fn from_json(json: &str) -> Result<Config> {
        let raw: RawConfig =
            crate::input::parse_json(json, "configuration", ErrorKind::ConfigInvalid)?;
        Config::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Config> {
        let base = match raw.base_dir {
            Some(b) => PathBuf::from(b),
            None => std::env::current_dir().map_err(|e| Error::io("current directory", e))?,
        };
        let r = Resolver { base };

        let extra = raw.organisations.unwrap_or_default();
        match &raw.organisation_number {
            // Checked first, as always; resolved with the other organisations below.
            Some(n) => {
                OrgNumber::parse(n).map_err(|e| e.with_field("organisation_number"))?;
            }
            None if extra.is_empty() => {
                required(
                    None::<String>,
                    "organisation_number",
                    "your organisation's 9-digit number, e.g. \"910075918\" (or \"organisations\", a list of them)",
                )?;
            }
            None => {}
        }

        let environment = Environment::parse(&required(
            raw.environment,
            "environment",
            "\"production\", \"test\" or \"sandbox\"",
        )?)?;

        let mut urls = match environment {
            Environment::Production => Urls::production(),
            Environment::Test => Urls::test(),
            Environment::Sandbox => {
                let base = required(
                    raw.sandbox_url,
                    "sandbox_url",
                    "the base URL efm-sandbox printed, e.g. \"http://127.0.0.1:7450\"",
                )?;
                check_url("sandbox_url", &base)?;
                Urls::sandbox(&base)
            }
        };
        let o = raw.urls;
        for (field, over, slot) in [
            (
                "urls.maskinporten_token",
                o.maskinporten_token,
                &mut urls.maskinporten_token,
            ),
            (
                "urls.maskinporten_audience",
                o.maskinporten_audience,
                &mut urls.maskinporten_audience,
            ),
            (
                "urls.service_registry",
                o.service_registry,
                &mut urls.service_registry,
            ),
            (
                "urls.altinn3_broker",
                o.altinn3_broker,
                &mut urls.altinn3_broker,
            ),
            (
                "urls.altinn_token_exchange",
                o.altinn_token_exchange,
                &mut urls.altinn_token_exchange,
            ),
            (
                "urls.altinn2_broker_basic",
                o.altinn2_broker_basic,
                &mut urls.altinn2_broker_basic,
            ),
            (
                "urls.altinn2_broker_streamed",
                o.altinn2_broker_streamed,
                &mut urls.altinn2_broker_streamed,
            ),
        ] {
            if let Some(u) = over {
                check_url(field, &u)?;
                *slot = u;
            }
        }

        let data_dir = r.path(&required(
            raw.data_dir,
            "data_dir",
            "a directory efm may write its state and spool files to",
        )?);

        let transport = match raw.transport.as_deref().unwrap_or("altinn3") {
            "altinn3" => TransportKind::Altinn3,
            "altinn2" => TransportKind::Altinn2,
            other => {
                return Err(invalid(
                    "transport",
                    format!(
                        "unknown transport {}: use \"altinn3\" (REST) or \"altinn2\" (SOAP)",
                        crate::input::quote(other)
                    ),
                ))
            }
        };

        let secs = |v: Option<u64>, default: u64, field: &str| -> Result<Duration> {
            match v.unwrap_or(default) {
                s @ 1..=MAX_TIMEOUT_SECS => Ok(Duration::from_secs(s)),
                _ => Err(invalid(
                    field,
                    format!(
                        "\"{field}\" must be between 1 and {MAX_TIMEOUT_SECS} seconds (7 days)"
                    ),
                )),
            }
        };
        let timeouts = Timeouts {
            connect: secs(raw.timeouts.connect_secs, 10, "timeouts.connect_secs")?,
            request: secs(raw.timeouts.request_secs, 120, "timeouts.request_secs")?,
        };

        // The organisations: the top level's first (when it names one), then the list; each
        // takes what it does not give from the top level.
        let mut entries: Vec<(String, RawOrganisation)> = Vec::new();
        if raw.organisation_number.is_none() && raw.system_user.is_some() {
            return Err(invalid(
                "system_user",
                "\"system_user\" at the top level belongs to the top level's \"organisation_number\", which is absent: give each entry of \"organisations\" its own \"system_user\"",
            ));
        }
        if let Some(n) = raw.organisation_number {
            entries.push((
                String::new(),
                RawOrganisation {
                    organisation_number: n,
                    credentials: None,
                    system_user: raw.system_user,
                    altinn2: None,
                    message_channel: None,
                },
            ));
        }
        for (i, e) in extra.into_iter().enumerate() {
            entries.push((format!("organisations[{i}]."), e));
        }
        let mut organisations: Vec<Organisation> = Vec::with_capacity(entries.len());
        for (prefix, e) in entries {
            let org = resolve_organisation(
                &r,
                &prefix,
                e,
                &Shared {
                    credentials: raw.credentials.as_ref(),
                    altinn2: raw.altinn2.as_ref(),
                    message_channel: raw.message_channel.as_deref(),
                    environment,
                    transport,
                },
            )?;
            if organisations
                .iter()
                .any(|o| o.organisation_number == org.organisation_number)
            {
                return Err(invalid(
                    &format!("{prefix}organisation_number"),
                    format!(
                        "organisation {} is named twice in the configuration",
                        org.organisation_number
                    ),
                ));
            }
            organisations.push(org);
        }
        let acting = organisations[0].clone();

        let ca_bundle = match raw.ca_bundle {
            Some(p) => Some(r.existing_file(&p, "ca_bundle")?),
            None => None,
        };

        let proxy = match (&raw.proxy, environment == Environment::Sandbox) {
            (Some(p), _) => crate::http::ProxySetting::parse(p, "proxy")?,
            // The sandbox lives on loopback; a system proxy must not capture it.
            (None, true) => crate::http::ProxySetting::None,
            (None, false) => crate::http::ProxySetting::System,
        };

        let store = match raw.store {
            None => crate::store::StoreSetting::Sqlite,
            Some(s) => crate::store::StoreSetting::Postgres {
                url: s.postgres,
                schema: s.schema,
                ca_bundle: ca_bundle.clone(),
                // No password: the server trusts the connection (a Unix socket, peer auth).
                password: match (&s.password, &s.password_env, &s.password_file) {
                    (None, None, None) => None,
                    _ => Some(r.secret(
                        s.password,
                        s.password_env,
                        s.password_file,
                        "store.password",
                    )?),
                },
            },
        };

        Ok(Config {
            organisation_number: acting.organisation_number,
            environment,
            urls,
            credentials: acting.credentials,
            data_dir,
            store,
            transport,
            timeouts,
            system_user: acting.system_user,
            altinn2: acting.altinn2,
            message_channel: acting.message_channel,
            ca_bundle,
            proxy,
            registry_cache: match raw.registry_cache_secs.unwrap_or(300) {
                s @ 0..=MAX_TIMEOUT_SECS => Duration::from_secs(s),
                _ => {
                    return Err(invalid(
                        "registry_cache_secs",
                        format!("\"registry_cache_secs\" must be between 0 and {MAX_TIMEOUT_SECS} seconds (7 days)"),
                    ))
                }
            },
            registry_scopes_fallback: raw
                .registry_scopes
                .is_none()
                .then(|| vec![REGISTRY_SCOPE_LEGACY.to_string()]),
            registry_scopes: raw
                .registry_scopes
                .unwrap_or_else(|| vec![REGISTRY_SCOPE.to_string()]),
            organisations,
        })
    }

    /// The organisation numbers the configuration names, in order.
    pub fn organisation_numbers(&self) -> Vec<OrgNumber> {
        self.organisations
            .iter()
            .map(|o| o.organisation_number.clone())
            .collect()
    }

    /// The same configuration acting for another of its organisations (`ConfigInvalid`, field
    /// `organisation_number`, naming the ones it has when `orgnr` is not among them).
    pub fn for_organisation(&self, orgnr: &str) -> Result<Config> {
        let found = self
            .organisations
            .iter()
            .find(|o| o.organisation_number.as_str() == orgnr.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .organisations
                    .iter()
                    .map(|o| o.organisation_number.as_str())
                    .collect();
                Error::new(
                    ErrorKind::ConfigInvalid,
                    format!(
                        "the configuration does not name organisation {}: it has {}; add it to \"organisations\"",
                        crate::input::quote(orgnr),
                        known.join(", ")
                    ),
                )
                .with_field("organisation_number")
            })?
            .clone();
        let mut config = self.clone();
        config.organisation_number = found.organisation_number;
        config.credentials = found.credentials;
        config.system_user = found.system_user;
        config.altinn2 = found.altinn2;
        config.message_channel = found.message_channel;
        Ok(config)
    }

    /// One configuration per organisation, each acting for its own, in order (what `efm run`
    /// serves).
    pub fn each_organisation(&self) -> Vec<Config> {
        self.organisations
            .iter()
            .filter_map(|o| self.for_organisation(o.organisation_number.as_str()).ok())
            .collect()
    }
}

/// What the organisations of one configuration take from its top level unless they give their own.
struct Shared<'a> {
    credentials: Option<&'a RawCredentials>,
    altinn2: Option<&'a RawAltinn2>,
    message_channel: Option<&'a str>,
    environment: Environment,
    transport: TransportKind,
}

/// One organisation resolved: its own settings, else the shared ones. `prefix` names where it
/// is in the document (`""` for the top level, `organisations[1].`), for the errors' fields.
fn resolve_organisation(
    r: &Resolver,
    prefix: &str,
    e: RawOrganisation,
    shared: &Shared<'_>,
) -> Result<Organisation> {
    let organisation_number = OrgNumber::parse(&e.organisation_number)
        .map_err(|err| err.with_field(format!("{prefix}organisation_number")))?;
    // The top level's credentials are the top level's own: their errors name the top level.
    let (c, cprefix) = match e.credentials {
        Some(c) => (c, prefix),
        None => (
            required(
                shared.credentials.cloned(),
                &format!("{prefix}credentials"),
                "an object with \"client_id\" and either \"pkcs12\" or \"certificate_pem\" + \"private_key_pem\"",
            )?,
            "",
        ),
    };
    let credentials = resolve_credentials(r, cprefix, c)?;

    let system_user = match e.system_user {
        Some(s) => SystemUser {
            org_id: s.org_id.unwrap_or_else(|| organisation_number.iso6523()),
            name: s.name,
        },
        None => SystemUser {
            org_id: organisation_number.iso6523(),
            name: format!(
                "{0}_integrasjonspunkt_systembruker_{0}",
                organisation_number.as_str()
            ),
        },
    };
    OrgNumber::parse(&system_user.org_id)
        .map_err(|err| err.with_field(format!("{prefix}system_user.org_id")))?;

    let (a2, a2prefix) = match e.altinn2 {
        Some(a) => (Some(a), prefix),
        None => (shared.altinn2.cloned(), ""),
    };
    let altinn2 = match a2 {
        Some(a) => Some(Altinn2Login {
            username: a.username,
            password: r.secret(
                a.password,
                a.password_env,
                a.password_file,
                &format!("{a2prefix}altinn2.password"),
            )?,
            service_code: a.service_code.unwrap_or_else(|| DPO_SERVICE_CODE.into()),
            service_edition_code: a
                .service_edition_code
                .unwrap_or_else(|| shared.environment.dpo_service_edition().into()),
        }),
        None => None,
    };
    if shared.transport == TransportKind::Altinn2 && altinn2.is_none() {
        return Err(invalid(
            &format!("{prefix}altinn2"),
            "transport \"altinn2\" needs an \"altinn2\" object with \"username\" and a password source",
        ));
    }

    let (message_channel, mcprefix) = match e.message_channel {
        Some(ch) => (Some(ch), prefix),
        None => (shared.message_channel.map(str::to_string), ""),
    };
    if let Some(ch) = &message_channel {
        let ok = ch.len() <= 25
            && ch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(invalid(
                &format!("{mcprefix}message_channel"),
                format!("message channel {} must be at most 25 characters of a-z, A-Z, 0-9, '-' and '_'", crate::input::quote(ch)),
            ));
        }
    }
    Ok(Organisation {
        organisation_number,
        credentials,
        system_user,
        altinn2,
        message_channel,
    })
}

fn resolve_credentials(r: &Resolver, prefix: &str, c: RawCredentials) -> Result<Credentials> {
    let field = |name: &str| format!("{prefix}credentials{name}");
    let client_id = required(
        c.client_id,
        &field(".client_id"),
        "the client id Maskinporten gave your integration",
    )?;
    if client_id.trim().is_empty() {
        return Err(invalid(
            &field(".client_id"),
            format!("\"{}\" is empty", field(".client_id")),
        ));
    }
    let key = match (c.pkcs12, c.certificate_pem, c.private_key_pem) {
        (Some(p12), None, None) => KeySource::Pkcs12 {
            path: r.existing_file(&p12, &field(".pkcs12"))?,
            password: r.secret(
                c.pkcs12_password,
                c.pkcs12_password_env,
                c.pkcs12_password_file,
                &field(".pkcs12_password"),
            )?,
        },
        (None, Some(cert), Some(key)) => KeySource::Pem {
            certificate: r.existing_file(&cert, &field(".certificate_pem"))?,
            private_key: r.existing_file(&key, &field(".private_key_pem"))?,
        },
        _ => {
            return Err(Error::new(
                ErrorKind::ConfigCredential,
                "credentials need either \"pkcs12\" (with a password source) or both \"certificate_pem\" and \"private_key_pem\", not a mix",
            )
            .with_field(field("")))
        }
    };
    Ok(Credentials {
        client_id,
        key,
        kid: c.kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dir_with_key() -> (PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("efm-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), "x").unwrap();
        std::fs::write(dir.join("key.pem"), "x").unwrap();
        let base = dir.to_string_lossy().to_string();
        (dir, base)
    }

    fn good(base: &str) -> serde_json::Value {
        json!({
            "organisation_number": "910075918",
            "environment": "sandbox",
            "sandbox_url": "http://127.0.0.1:7450",
            "base_dir": base,
            "credentials": {"client_id": "c1", "certificate_pem": "cert.pem", "private_key_pem": "key.pem"},
            "data_dir": "data",
        })
    }

    #[test]
    fn accepts_good_config() {
        let (_d, base) = dir_with_key();
        let c = Config::from_json(&good(&base).to_string()).unwrap();
        assert_eq!(
            c.urls.maskinporten_audience,
            "http://127.0.0.1:7450/maskinporten/"
        );
        assert_eq!(c.transport, TransportKind::Altinn3);
        assert_eq!(c.system_user.org_id, "0192:910075918");
    }

    #[test]
    fn production_defaults() {
        let (_d, base) = dir_with_key();
        let mut v = good(&base);
        v["altinn2"] = json!({"username": "u", "password": "p"});
        let c = Config::from_json(&v.to_string()).unwrap();
        let a2 = c.altinn2.as_ref().unwrap();
        assert_eq!(
            (a2.service_code.as_str(), a2.service_edition_code.as_str()),
            ("4192", "270815")
        );
        assert_eq!(c.registry_scopes, ["eformidling:dpo"]);
        assert_eq!(
            c.registry_scopes_fallback.as_deref(),
            Some(&["move/dpo.read".to_string()][..])
        );
        v.as_object_mut().unwrap().remove("sandbox_url");
        v["environment"] = json!("production");
        let c = Config::from_json(&v.to_string()).unwrap();
        assert_eq!(c.altinn2.unwrap().service_edition_code, "170101");
        v["environment"] = json!("test");
        let c = Config::from_json(&v.to_string()).unwrap();
        assert_eq!(c.altinn2.unwrap().service_edition_code, "270815");
        v["registry_scopes"] = json!(["move/dpo.read"]);
        let c = Config::from_json(&v.to_string()).unwrap();
        assert_eq!(c.registry_scopes, ["move/dpo.read"]);
        assert!(
            c.registry_scopes_fallback.is_none(),
            "configured: no fallback"
        );
    }

    #[test]
    fn rejects_with_field() {
        let (_d, base) = dir_with_key();
        let mut v = good(&base);
        v["organisation_number"] = json!("910075919");
        let e = Config::from_json(&v.to_string()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOrganisationNumber);
        assert_eq!(e.detail().field.as_deref(), Some("organisation_number"));

        let mut v = good(&base);
        v["environment"] = json!("staging2");
        let e = Config::from_json(&v.to_string()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigUnknownEnvironment);

        let mut v = good(&base);
        v["credentials"]["private_key_pem"] = json!("nope.pem");
        let e = Config::from_json(&v.to_string()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigMissingFile);
        assert!(e.message().contains("nope.pem"));

        let mut v = good(&base);
        v["sandbox_url"] = json!("http://10.0.0.1:80");
        let e = Config::from_json(&v.to_string()).unwrap_err();
        assert!(e.message().contains("loopback"), "{e}");

        let e = Config::from_json("{\"organisation_number\": ").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidJson);

        let mut v = good(&base);
        v["colour"] = json!("blue");
        let e = Config::from_json(&v.to_string()).unwrap_err();
        assert!(e.message().contains("colour"), "{e}");
    }

    #[test]
    fn several_organisations_share_everything_but_their_identity() {
        let (dir, base) = dir_with_key();
        std::fs::write(dir.join("b.p12"), "x").unwrap();
        let mut v = good(&base);
        v["message_channel"] = json!("kanal-a");
        v["organisations"] = json!([
            {"organisation_number": "910076787",
             "credentials": {"client_id": "cb", "pkcs12": "b.p12", "pkcs12_password": "hunter2-secret"}},
            {"organisation_number": "984661185",
             "system_user": {"name": "vendor_system_984661185"}, "message_channel": "kanal-c"}
        ]);
        let c = Config::from_json(&v.to_string()).unwrap();
        assert_eq!(c.organisation_number.as_str(), "910075918");
        let numbers: Vec<String> = c
            .organisation_numbers()
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(numbers, ["910075918", "910076787", "984661185"]);
        let b = c.for_organisation("910076787").unwrap();
        assert_eq!(b.organisation_number.as_str(), "910076787");
        assert_eq!(b.credentials.client_id, "cb");
        assert_eq!(b.system_user.org_id, "0192:910076787");
        assert_eq!(b.message_channel.as_deref(), Some("kanal-a"));
        assert_eq!(
            (&b.data_dir, &b.store, &b.urls),
            (&c.data_dir, &c.store, &c.urls)
        );
        let third = c.for_organisation("984661185").unwrap();
        assert_eq!(
            third.credentials, c.credentials,
            "the top level's, inherited"
        );
        assert_eq!(third.system_user.name, "vendor_system_984661185");
        assert_eq!(third.system_user.org_id, "0192:984661185");
        assert_eq!(third.message_channel.as_deref(), Some("kanal-c"));
        assert_eq!(c.each_organisation().len(), 3);
        assert_eq!(c.each_organisation()[2], third);
        let e = c.for_organisation("974760673").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        assert!(e.message().contains("910076787"), "{e}");
        // The summary names every organisation, without the secret.
        let summary = c.summary_json().to_string();
        assert!(
            summary.contains("984661185") && !summary.contains("hunter2"),
            "{summary}"
        );

        // Without a top-level organisation, the list's first is the one acted for.
        let mut v2 = v.clone();
        v2.as_object_mut().unwrap().remove("organisation_number");
        let c2 = Config::from_json(&v2.to_string()).unwrap();
        assert_eq!(c2.organisation_number.as_str(), "910076787");
        assert_eq!(c2.organisations.len(), 2);
    }

    #[test]
    fn organisations_are_checked_like_the_top_level() {
        let (_d, base) = dir_with_key();
        let refused = |entries: serde_json::Value, field: &str| {
            let mut v = good(&base);
            v["organisations"] = entries;
            let e = Config::from_json(&v.to_string()).unwrap_err();
            assert_eq!(e.detail().field.as_deref(), Some(field), "{e}");
            e
        };
        refused(
            json!([{"organisation_number": "910076788"}]),
            "organisations[0].organisation_number",
        );
        let e = refused(
            json!([{"organisation_number": "910075918"}]),
            "organisations[0].organisation_number",
        );
        assert!(e.message().contains("twice"), "{e}");
        refused(
            json!([{"organisation_number": "910076787", "credentials": {"client_id": "c", "pkcs12": "nope.p12", "pkcs12_password": "x"}}]),
            "organisations[0].credentials.pkcs12",
        );
        let e = refused(
            json!([{"organisation_number": "910076787", "colour": "blue"}]),
            "organisations[0].colour",
        );
        assert!(e.message().contains("colour"), "{e}");
        // No organisation at all.
        let mut v = good(&base);
        v.as_object_mut().unwrap().remove("organisation_number");
        let e = Config::from_json(&v.to_string()).unwrap_err();
        assert_eq!(e.detail().field.as_deref(), Some("organisation_number"));
        v["organisations"] = json!([]);
        assert!(Config::from_json(&v.to_string()).is_err());
    }

    #[test]
    fn secret_never_printed() {
        let (dir, base) = dir_with_key();
        std::fs::write(dir.join("k.p12"), "x").unwrap();
        let mut v = good(&base);
        v["credentials"] =
            json!({"client_id": "c", "pkcs12": "k.p12", "pkcs12_password": "hunter2-secret"});
        let c = Config::from_json(&v.to_string()).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.summary_json().to_string().contains("hunter2"));
    }
}
