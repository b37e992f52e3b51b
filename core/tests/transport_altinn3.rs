//! The Altinn 3 broker client against efm-sandbox's broker: a package sent by one organisation
//! is found, downloaded byte for byte and confirmed by the other; and the failures a user meets.

mod common;

use common::{fault, sandbox, sandbox_config, ORG_A, ORG_B, ORG_C};
use efm_core::auth::Tokens;
use efm_core::config::Config;
use efm_core::http::Http;
use efm_core::ident::OrgNumber;
use efm_core::transport::altinn3::Altinn3Broker;
use efm_core::transport::{Outgoing, SystemUserTokens, Transport};
use efm_core::ErrorKind;
use serde_json::json;

struct Party {
    config: Config,
    http: Http,
    tokens: Tokens,
}

impl Party {
    fn new(config: Config) -> Party {
        let http = Http::new(&config).unwrap();
        let tokens = Tokens::new(&config, Http::new(&config).unwrap()).unwrap();
        Party {
            config,
            http,
            tokens,
        }
    }
}

fn with_broker<T>(p: &Party, channel: Option<&str>, f: impl FnOnce(&Altinn3Broker<'_>) -> T) -> T {
    let source = SystemUserTokens {
        tokens: &p.tokens,
        user: p.config.system_user.clone(),
    };
    let broker = Altinn3Broker::new(
        &p.http,
        &p.config.urls.altinn3_broker,
        &source,
        channel.map(str::to_string),
    );
    f(&broker)
}

fn send(p: &Party, to: &str, reference: &str, payload: &[u8]) -> String {
    let mut body = payload;
    let mut last = (0, 0);
    let id = with_broker(p, None, |b| {
        b.upload(
            Outgoing {
                sender: &p.config.organisation_number,
                recipient: &OrgNumber::parse(to).unwrap(),
                senders_reference: reference,
                body: &mut body,
                size: payload.len() as u64,
            },
            &mut |done, total| last = (done, total),
        )
    })
    .unwrap();
    assert_eq!(
        last,
        (payload.len() as u64, payload.len() as u64),
        "progress reached the end"
    );
    id
}

#[test]
fn send_find_download_confirm() {
    let sb = sandbox("a3-roundtrip");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let reference = "5b9e0a3c-2f47-4f4e-9a5b-0d1c7e9b2a11";
    let id = send(&a, ORG_B, reference, &payload);

    let found = with_broker(&b, None, |br| br.available()).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].sender, format!("0192:{ORG_A}"));
    assert_eq!(found[0].senders_reference.as_deref(), Some(reference));
    assert_eq!(found[0].size, payload.len() as u64);

    // Nobody else sees it.
    let c = Party::new(sandbox_config(&sb, ORG_C));
    assert!(with_broker(&c, None, |br| br.available())
        .unwrap()
        .is_empty());

    let mut got = Vec::new();
    let n = with_broker(&b, None, |br| br.download(&id, &mut got, &mut |_, _| {})).unwrap();
    assert_eq!(n, payload.len() as u64);
    assert_eq!(got, payload);

    with_broker(&b, None, |br| br.confirm(&id)).unwrap();
    // Confirm is idempotent (the broker answers BRO-00010 the second time).
    with_broker(&b, None, |br| br.confirm(&id)).unwrap();
    assert!(with_broker(&b, None, |br| br.available())
        .unwrap()
        .is_empty());
}

#[test]
fn message_channel_filter() {
    let sb = sandbox("a3-channel");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let for_channel = send(&a, ORG_B, "arkiv-2", b"to a channel");
    let for_anyone = send(
        &a,
        ORG_B,
        "2b1e6c1a-8a3e-4c53-8d0f-2b7a5b6c9d10",
        b"no channel",
    );

    let plain = with_broker(&b, None, |br| br.available()).unwrap();
    assert_eq!(
        plain.iter().map(|f| &f.id).collect::<Vec<_>>(),
        vec![&for_anyone]
    );
    let channel = with_broker(&b, Some("arkiv-2"), |br| br.available()).unwrap();
    assert_eq!(
        channel.iter().map(|f| &f.id).collect::<Vec<_>>(),
        vec![&for_channel]
    );
}

#[test]
fn failures_are_specific() {
    let sb = sandbox("a3-failures");
    let a = Party::new(sandbox_config(&sb, ORG_A));
    let b = Party::new(sandbox_config(&sb, ORG_B));
    let id = send(
        &a,
        ORG_B,
        "0c7d7f5e-3a1b-4e8e-bb61-6a3b1c2d4e5f",
        b"payload",
    );

    // The sender is no recipient: the broker refuses the download.
    let e = with_broker(&a, None, |br| {
        br.download(&id, &mut Vec::new(), &mut |_, _| {})
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthForbidden, "{e}");
    assert_eq!(e.detail().http_status, Some(401));

    // An unknown transfer.
    let e = with_broker(&b, None, |br| {
        br.download(
            "6f1c5a43-0000-4000-8000-000000000000",
            &mut Vec::new(),
            &mut |_, _| {},
        )
    })
    .unwrap_err();
    assert_eq!(e.detail().http_status, Some(404), "{e}");
    assert_eq!(e.detail().remote_code.as_deref(), Some("BRO-00001"));

    // A 500 from the broker during the search is reported, not swallowed.
    fault(
        &sb,
        "/broker/api/v1/filetransfer",
        json!({"kind": "status", "status": 500, "method": "GET"}),
        1,
    );
    let e = with_broker(&b, None, |br| br.available()).unwrap_err();
    assert_eq!(e.detail().http_status, Some(500), "{e}");

    // A connection dropped in the middle of the download is an error, never a short file.
    fault(
        &sb,
        &format!("/broker/api/v1/filetransfer/{id}/download"),
        json!({"kind": "drop", "after_bytes": 3}),
        1,
    );
    let e = with_broker(&b, None, |br| {
        br.download(&id, &mut Vec::new(), &mut |_, _| {})
    })
    .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::ConnectionDropped | ErrorKind::Network),
        "{e:?}"
    );
}
