//! One `ClientContext` per organisation: lookups and the message flows share the token cache and
//! the Service Registry cache (and the HTTP agent), so what one part fetched the other reuses.

mod common;

use common::{fault, sandbox, sandbox_config, ORG_A, ORG_B, ORG_C};
use efm_core::client::{Client, ClientContext, ClientOptions};
use efm_core::ident::OrgNumber;
use serde_json::json;

fn org(n: &str) -> OrgNumber {
    OrgNumber::parse(n).unwrap()
}

#[test]
fn lookups_and_the_flows_share_tokens_and_registry_answers() {
    let sb = sandbox("client-context");
    let config = sandbox_config(&sb, ORG_A);
    let context = ClientContext::new(&config).unwrap();
    let client = Client::with_context(config, &context, ClientOptions::default()).unwrap();

    // A lookup through the context: one Maskinporten token, one signed registry answer.
    context.registry().lookup(&org(ORG_B), None).unwrap();

    // From now on Maskinporten and the registry's answer for ORG_B fail every request.
    fault(
        &sb,
        "/maskinporten/token",
        json!({"kind": "status", "status": 500}),
        50,
    );
    fault(
        &sb,
        "/serviceregistry/identifier/910076787",
        json!({"kind": "status", "status": 500}),
        50,
    );

    // The client's registry answers ORG_B from the cache the lookup filled ...
    let caps = client.registry().lookup(&org(ORG_B), None).unwrap();
    assert_eq!(caps.organisation_number, ORG_B);
    // ... and asks the registry about ORG_C with the token the lookup fetched: a separate token
    // cache would need Maskinporten, which now fails.
    let caps = client.registry().lookup(&org(ORG_C), None).unwrap();
    assert_eq!(caps.organisation_number, ORG_C);

    // A context of its own has neither, and meets the outage.
    let fresh = ClientContext::new(client.config()).unwrap();
    let e = fresh.registry().lookup(&org(ORG_B), None).unwrap_err();
    assert_eq!(e.detail().http_status, Some(500), "{e}");
}
