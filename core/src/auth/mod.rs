//! Who we are to the services: Maskinporten tokens from a JWT grant, Altinn tokens from the token
//! exchange, both cached per identity until shortly before they expire.
//!
//! - [`grant`]: the signed JWT grant (x5c or kid; RFC 7523, Maskinporten docs: JWT grant).
//! - [`maskinporten`]: the token request and its errors (Maskinporten docs: token endpoint).
//! - [`altinn`]: the Altinn token exchange (IP `AltinnTokenExchangeService`).
//! - [`cache`]: the keyed single-flight cache.
//! - [`jws`]: RS256 signing and verification on OpenSSL (also used by the registry).
//!
//! [`Tokens`] ties them together and is what the rest of the core calls. It is `Send + Sync`;
//! share one per configuration (`Arc<Tokens>`). When a service answers 401 to a token, call
//! [`Tokens::invalidate_maskinporten`] / [`Tokens::invalidate_altinn`] with that token and retry
//! once: the next call fetches a fresh one.

pub mod altinn;
pub mod cache;
pub mod grant;
pub mod jws;
pub mod maskinporten;

use crate::config::{Config, SystemUser};
use crate::crypto::keys::Identity;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{with_retries, Http, RetryPolicy};
use cache::{usable_for, SingleFlight};
use grant::GrantSigner;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reuse a Maskinporten token until this long before it expires (30 s, the clock skew of
/// efm-common's `JwtBearerOAuth2AuthorizedClientProvider`).
pub const MASKINPORTEN_MARGIN: Duration = Duration::from_secs(30);
/// Reuse an Altinn token until this long before it expires (our choice: the broker allows no
/// clock skew, `ClockSkew = TimeSpan.Zero` in altinn-broker's `Program.cs`; the IP instead
/// caches Altinn tokens for a fixed 25 min, `CacheConfig`).
pub const ALTINN_MARGIN: Duration = Duration::from_secs(60);

/// Scopes of the Altinn 3 broker (IP `BrokerApiClient`: read to search, look up, download and
/// confirm, write to initialize and upload).
pub const SCOPE_BROKER_READ: &str = "altinn:broker.read";
pub const SCOPE_BROKER_WRITE: &str = "altinn:broker.write";

/// What a token is for: the scopes and, when acting for a system user or another organisation,
/// who for. Everything here is part of the token's identity (and of the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenRequest {
    pub scopes: Vec<String>,
    /// The Altinn system user (`authorization_details`).
    pub system_user: Option<SystemUser>,
    /// Audience restriction (RFC 8707). eFormidling does not use it.
    pub resource: Option<String>,
    /// A customer's organisation number when acting through an Altinn delegation.
    pub consumer_org: Option<String>,
}

impl TokenRequest {
    pub fn for_scopes<S: AsRef<str>>(scopes: &[S]) -> TokenRequest {
        TokenRequest {
            scopes: scopes.iter().map(|s| s.as_ref().to_string()).collect(),
            ..Default::default()
        }
    }

    /// A token acting as `user`, e.g. for the broker with [`SCOPE_BROKER_READ`].
    pub fn for_system_user(scopes: &[&str], user: &SystemUser) -> TokenRequest {
        TokenRequest {
            system_user: Some(user.clone()),
            ..TokenRequest::for_scopes(scopes)
        }
    }

    /// The scopes as the grant's `scope`: sorted, without duplicates, separated by single spaces.
    pub fn scope_string(&self) -> Result<String> {
        let mut scopes: Vec<&str> = self.scopes.iter().map(|s| s.trim()).collect();
        if scopes.is_empty() || scopes.iter().any(|s| s.is_empty()) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "a token request needs at least one scope, and no empty ones",
            ));
        }
        if let Some(bad) = scopes.iter().find(|s| s.chars().any(char::is_whitespace)) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("scope {bad:?} contains whitespace; give each scope separately"),
            ));
        }
        scopes.sort_unstable();
        scopes.dedup();
        Ok(scopes.join(" "))
    }
}

/// The cache key: everything that changes which token Maskinporten (or Altinn) hands out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    token_url: String,
    client_id: String,
    scopes: String,
    system_user: Option<(String, String)>,
    resource: Option<String>,
    consumer_org: Option<String>,
}

/// A bearer token. The value is secret: `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    expires_at: SystemTime,
    scope: Option<String>,
}

impl AccessToken {
    pub fn new(value: String, expires_at: SystemTime, scope: Option<String>) -> AccessToken {
        AccessToken {
            value: value.into(),
            expires_at,
            scope,
        }
    }
    /// The token itself, for an `Authorization: Bearer` header and nothing else.
    pub fn secret(&self) -> &str {
        &self.value
    }
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
    /// The scopes granted, as the service reported them.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
    /// Time left until it expires (zero when expired).
    pub fn remaining(&self) -> Duration {
        self.expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
    fn same_as(&self, other: &AccessToken) -> bool {
        Arc::ptr_eq(&self.value, &other.value) || *self.value == *other.value
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AccessToken(<redacted>, expires in {} s, scope {:?})",
            self.remaining().as_secs(),
            self.scope
        )
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Tokens for one configuration: grant signing, the Maskinporten and Altinn calls, the caches.
pub struct Tokens {
    http: Http,
    signer: GrantSigner,
    token_url: String,
    exchange_url: String,
    retry: RetryPolicy,
    maskinporten: SingleFlight<TokenKey, AccessToken>,
    altinn: SingleFlight<TokenKey, AccessToken>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("signer", &self.signer)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Load the identity the configuration names and get ready to fetch tokens.
    pub fn new(config: &Config, http: Http) -> Result<Tokens> {
        let identity = Identity::load(&config.credentials.key)?;
        Tokens::with_identity(config, http, &identity)
    }

    pub fn with_identity(config: &Config, http: Http, identity: &Identity) -> Result<Tokens> {
        Ok(Tokens {
            http,
            signer: GrantSigner::from_config(config, identity)?,
            token_url: config.urls.maskinporten_token.clone(),
            exchange_url: config.urls.altinn_token_exchange.clone(),
            retry: RetryPolicy::default(),
            maskinporten: SingleFlight::new(),
            altinn: SingleFlight::new(),
        })
    }

    /// Change how network failures and 5xx answers are retried (default: 3 attempts).
    pub fn set_retry_policy(&mut self, policy: RetryPolicy) {
        self.retry = policy;
    }

    pub fn signer(&self) -> &GrantSigner {
        &self.signer
    }

    fn key(&self, request: &TokenRequest) -> Result<TokenKey> {
        Ok(TokenKey {
            token_url: self.token_url.clone(),
            client_id: self.signer.client_id().to_string(),
            scopes: request.scope_string()?,
            system_user: request
                .system_user
                .as_ref()
                .map(|u| (u.org_id.clone(), u.name.clone())),
            resource: request.resource.clone(),
            consumer_org: request.consumer_org.clone(),
        })
    }

    /// A Maskinporten token for `request`, from the cache when one is still good.
    pub fn maskinporten(&self, request: &TokenRequest) -> Result<AccessToken> {
        let key = self.key(request)?;
        self.maskinporten.get_or_fetch(&key, || {
            let token = self.fetch_maskinporten(request)?;
            let fresh = usable_for(token.remaining(), MASKINPORTEN_MARGIN);
            Ok((token, fresh))
        })
    }

    /// A new Maskinporten token, bypassing (and not filling) the cache.
    pub fn fetch_maskinporten(&self, request: &TokenRequest) -> Result<AccessToken> {
        let scopes = request.scope_string()?;
        let caller = maskinporten::Caller {
            client_id: self.signer.client_id(),
            audience: self.signer.audience(),
            scopes: &scopes,
        };
        with_retries(&self.retry, |attempt| {
            // A fresh grant (new jti, iat now) for every attempt.
            let grant = self.signer.sign(request, now_secs())?;
            log::debug!(
                "requesting a Maskinporten token (scopes {scopes:?}, grant {}, attempt {attempt})",
                grant.jti()
            );
            maskinporten::request_token(&self.http, &self.token_url, &grant, &caller)
        })
    }

    /// An Altinn token for `request` (normally with a system user), exchanged from a Maskinporten
    /// token, from the cache when one is still good.
    pub fn altinn(&self, request: &TokenRequest) -> Result<AccessToken> {
        let key = self.key(request)?;
        self.altinn.get_or_fetch(&key, || {
            let token = self.fetch_altinn(request)?;
            let fresh = usable_for(token.remaining(), ALTINN_MARGIN);
            Ok((token, fresh))
        })
    }

    fn fetch_altinn(&self, request: &TokenRequest) -> Result<AccessToken> {
        let mp = self.maskinporten(request)?;
        let exchange = |mp: &AccessToken| {
            with_retries(&self.retry, |_| {
                altinn::exchange(&self.http, &self.exchange_url, mp)
            })
        };
        match exchange(&mp) {
            // The Maskinporten token may have been revoked or cut short: one fresh try.
            Err(e) if e.detail().http_status == Some(401) => {
                self.invalidate_maskinporten(request, &mp);
                let mp = self.maskinporten(request)?;
                exchange(&mp)
            }
            other => other,
        }
    }

    /// Forget `used` (a Maskinporten token a service just refused with 401), so the next call
    /// fetches a new one. A newer cached token is kept.
    pub fn invalidate_maskinporten(&self, request: &TokenRequest, used: &AccessToken) {
        if let Ok(key) = self.key(request) {
            if self.maskinporten.invalidate_if(&key, |t| t.same_as(used)) {
                log::info!("dropped a Maskinporten token the service refused");
            }
        }
    }

    /// Forget `used` (an Altinn token the broker just refused with 401).
    pub fn invalidate_altinn(&self, request: &TokenRequest, used: &AccessToken) {
        if let Ok(key) = self.key(request) {
            if self.altinn.invalidate_if(&key, |t| t.same_as(used)) {
                log::info!("dropped an Altinn token the service refused");
            }
        }
    }

    /// Forget every cached token.
    pub fn clear(&self) {
        self.maskinporten.clear();
        self.altinn.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shareable_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Tokens>();
        send_sync::<AccessToken>();
        send_sync::<crate::registry::Registry>();
        send_sync::<Http>();
    }

    #[test]
    fn scopes_are_normalised() {
        let r = TokenRequest::for_scopes(&["b", "a", "b"]);
        assert_eq!(r.scope_string().unwrap(), "a b");
        assert!(TokenRequest::for_scopes::<&str>(&[])
            .scope_string()
            .is_err());
        assert!(TokenRequest::for_scopes(&["a b"]).scope_string().is_err());
        assert!(TokenRequest::for_scopes(&[""]).scope_string().is_err());
    }

    #[test]
    fn token_debug_hides_value() {
        let t = AccessToken::new(
            "very-secret-token".into(),
            SystemTime::now() + Duration::from_secs(60),
            None,
        );
        assert!(!format!("{t:?}").contains("very-secret"));
    }
}
