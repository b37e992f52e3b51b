//! The resolved configuration as `efm_config_validate`, `efm_client_config_json` and
//! `efm config check` show it: typed, so its JSON Schema (`schema/config_summary.schema.json`)
//! is generated and drift-checked like every other answer, and secrets have no field to land in.

use super::{Config, KeySource, Organisation, SystemUser, TransportKind, Urls};
use serde::Serialize;
use std::path::PathBuf;

/// The resolved configuration: absolute paths, the environment's URLs, no secrets.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "efm configuration summary")]
pub struct ConfigSummary {
    pub organisation_number: String,
    #[schemars(extend("enum" = ["production", "test", "sandbox"]))]
    pub environment: &'static str,
    #[schemars(extend("enum" = ["altinn3", "altinn2"]))]
    pub transport: &'static str,
    pub data_dir: PathBuf,
    pub client_id: String,
    pub key: KeySummary,
    pub kid: Option<String>,
    pub system_user: SystemUser,
    pub message_channel: Option<String>,
    /// `system`, `none` or the proxy URL (a password in it shown as `***`).
    pub proxy: String,
    pub timeouts: TimeoutsSummary,
    pub urls: Urls,
    /// With several organisations in the configuration: each of them (the one above included),
    /// in order; absent for a single organisation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub organisations: Vec<OrganisationSummary>,
}

/// One organisation of a configuration with several: its identity, no secrets.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OrganisationSummary {
    pub organisation_number: String,
    pub client_id: String,
    pub key: KeySummary,
    pub kid: Option<String>,
    pub system_user: SystemUser,
    pub message_channel: Option<String>,
}

fn key_summary(key: &KeySource) -> KeySummary {
    match key {
        KeySource::Pkcs12 { path, password } => KeySummary::Pkcs12 {
            pkcs12: path.clone(),
            password_from: password.source().to_string(),
        },
        KeySource::Pem {
            certificate,
            private_key,
        } => KeySummary::Pem {
            certificate_pem: certificate.clone(),
            private_key_pem: private_key.clone(),
        },
    }
}

impl OrganisationSummary {
    fn of(o: &Organisation) -> OrganisationSummary {
        OrganisationSummary {
            organisation_number: o.organisation_number.as_str().to_string(),
            client_id: o.credentials.client_id.clone(),
            key: key_summary(&o.credentials.key),
            kid: o.credentials.kid.clone(),
            system_user: o.system_user.clone(),
            message_channel: o.message_channel.clone(),
        }
    }
}

/// Where the key comes from: a PKCS#12 file and the source of its password (never the
/// password), or PEM files.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum KeySummary {
    Pkcs12 {
        pkcs12: PathBuf,
        /// Where the password was read from, in words:
        /// `"credentials.pkcs12_password" in the configuration`, `environment variable NAME` or
        /// `file PATH`.
        password_from: String,
    },
    Pem {
        certificate_pem: PathBuf,
        private_key_pem: PathBuf,
    },
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TimeoutsSummary {
    pub connect_secs: u64,
    pub request_secs: u64,
}

impl Config {
    /// The resolved configuration with secrets left out (for `efm doctor`,
    /// `efm_config_validate` and logs).
    pub fn summary(&self) -> ConfigSummary {
        let key = key_summary(&self.credentials.key);
        ConfigSummary {
            organisation_number: self.organisation_number.as_str().to_string(),
            environment: self.environment.name(),
            transport: match self.transport {
                TransportKind::Altinn3 => "altinn3",
                TransportKind::Altinn2 => "altinn2",
            },
            data_dir: self.data_dir.clone(),
            client_id: self.credentials.client_id.clone(),
            key,
            kid: self.credentials.kid.clone(),
            system_user: self.system_user.clone(),
            message_channel: self.message_channel.clone(),
            proxy: without_password(self.proxy.describe()),
            timeouts: TimeoutsSummary {
                connect_secs: self.timeouts.connect.as_secs(),
                request_secs: self.timeouts.request.as_secs(),
            },
            urls: self.urls.clone(),
            organisations: match self.organisations.len() {
                0 | 1 => Vec::new(),
                _ => self
                    .organisations
                    .iter()
                    .map(OrganisationSummary::of)
                    .collect(),
            },
        }
    }

    /// [`Config::summary`] as a JSON value.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::to_value(self.summary()).unwrap_or_default()
    }
}

/// `http://user:secret@proxy:8080` -> `http://user:***@proxy:8080`: a proxy password is a secret.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_proxy_password_is_not_shown() {
        assert_eq!(
            without_password("http://me:hunter2@proxy.example:8080/x@y"),
            "http://me:***@proxy.example:8080/x@y"
        );
        assert_eq!(without_password("http://proxy:8080"), "http://proxy:8080");
        assert_eq!(without_password("system"), "system");
        assert_eq!(without_password("http://me@proxy"), "http://me@proxy");
    }
}
