//! What one organisation's lookups and message flows share: our identity, one HTTP agent (its
//! connection pool), one token cache (Maskinporten and Altinn) and one Service Registry cache.
//!
//! Built once per client handle, so a lookup warms the caches the next send uses and every call
//! reuses the same connections, instead of each part building its own agent and caches.

use crate::auth::Tokens;
use crate::config::Config;
use crate::crypto::keys::Identity;
use crate::error::Result;
use crate::http::Http;
use crate::registry::Registry;
use std::sync::Arc;

/// The shared remote-service context of one organisation. Cheap to clone (the clones share the
/// caches and the connection pool).
#[derive(Clone)]
pub struct ClientContext {
    identity: Identity,
    http: Http,
    tokens: Arc<Tokens>,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContext").finish_non_exhaustive()
    }
}

impl ClientContext {
    /// Load our key and certificate and build the agent, token cache and registry for `config`.
    pub fn new(config: &Config) -> Result<ClientContext> {
        let identity = Identity::load(&config.credentials.key)?;
        let http = Http::new(config)?;
        let tokens = Arc::new(Tokens::with_identity(config, http.clone(), &identity)?);
        let registry = Arc::new(Registry::new(config, http.clone(), tokens.clone()));
        Ok(ClientContext {
            identity,
            http,
            tokens,
            registry,
        })
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    /// Service Registry lookups, cached for the configuration's `registry_cache`.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}
