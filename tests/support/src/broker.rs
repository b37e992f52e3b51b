//! The sandbox broker seen from outside the client: its admin view of transfers, and uploads made
//! below the client (as another sender, or a misbehaving one, would make them).

use efm_sandbox::Sandbox;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// GET a JSON answer from the sandbox's admin API; panics unless it answers 200.
pub fn admin_get(sb: &Sandbox, path: &str) -> Value {
    let http = efm_core::http::Http::with_settings(&Default::default()).unwrap();
    let r = http
        .get(&format!("{}{path}", sb.base_url()))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200, "admin GET {path}");
    serde_json::from_str(&r.read_text(1 << 22).unwrap()).unwrap()
}

/// Every file transfer the Altinn 3 broker holds, as the admin API lists them.
pub fn transfers(sb: &Sandbox) -> Vec<Value> {
    let v = admin_get(sb, "/admin/transfers");
    v.as_array()
        .or_else(|| v["transfers"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("unexpected /admin/transfers answer: {v}"))
}

/// Wait until the broker has published transfer `id` (after its virus scan).
pub fn wait_published(sb: &Sandbox, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = transfers(sb)
            .iter()
            .find(|t| t["fileTransferId"] == id)
            .map(|t| t["fileTransferStatus"].as_str().unwrap_or("").to_string());
        if status.as_deref() == Some("Published") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "transfer {id} not published: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Upload the package `file` from sandbox organisation `from` to `to` through the Altinn 3
/// broker, below the client: no store, no queue, no checks of what the package holds.
pub fn upload_raw(sb: &Sandbox, from: &str, to: &str, file: &Path) {
    use efm_core::auth::Tokens;
    use efm_core::crypto::keys::Identity;
    use efm_core::http::Http;
    use efm_core::transport::altinn3::Altinn3Broker;
    use efm_core::transport::{Outgoing, SystemUserTokens, Transport};
    let text = std::fs::read_to_string(sb.config_path(from)).unwrap();
    let cfg = efm_core::config::Config::from_json(&text).unwrap();
    let identity = Identity::load(&cfg.credentials.key).unwrap();
    let http = Http::new(&cfg).unwrap();
    let tokens = Tokens::with_identity(&cfg, Http::new(&cfg).unwrap(), &identity).unwrap();
    let source = SystemUserTokens {
        tokens: &tokens,
        user: cfg.system_user.clone(),
    };
    let broker = Altinn3Broker::new(&http, &cfg.urls.altinn3_broker, &source, None);
    let mut body = std::fs::File::open(file).unwrap();
    let size = body.metadata().unwrap().len();
    let reference = uuid::Uuid::new_v4().to_string();
    broker
        .upload(
            Outgoing {
                sender: &cfg.organisation_number,
                recipient: &efm_core::ident::OrgNumber::parse(to).unwrap(),
                senders_reference: &reference,
                body: &mut body,
                size,
            },
            &mut |_, _| {},
        )
        .unwrap();
}
