//! The JSON shapes of transfers the broker answers with.

use super::*;

fn recipient_json(r: &RecipientState) -> Value {
    let (status, at) = r.highest();
    json!({
        "recipient": format!("0192:{}", r.org),
        "currentRecipientFileTransferStatusCode": status.name(),
        "currentRecipientFileTransferStatusText": status.text(),
        "currentRecipientFileTransferStatusChanged": iso(at),
    })
}

pub fn overview_json(t: &Transfer) -> Value {
    json!({
        "fileTransferId": t.id.to_string(),
        "resourceId": t.resource_id,
        "fileName": t.file_name,
        "sendersFileTransferReference": t.senders_reference,
        "checksum": t.checksum,
        "useVirusScan": t.use_virus_scan,
        "fileTransferSize": t.size,
        "fileTransferStatus": t.status().name(),
        "fileTransferStatusText": t.status_text(),
        "fileTransferStatusChanged": iso(t.status_changed()),
        "created": iso(t.created),
        "expirationTime": iso(t.expiration),
        "sender": t.sender,
        "recipients": t.recipients.iter().map(recipient_json).collect::<Vec<_>>(),
        "propertyList": t.property_list,
    })
}

pub(super) fn details_json(t: &Transfer) -> Value {
    let mut v = overview_json(t);
    v["fileTransferStatusHistory"] = t
        .status_history
        .iter()
        .map(|(s, at, text)| {
            json!({"fileTransferStatus": s.name(),
                "fileTransferStatusText": text.clone().unwrap_or_else(|| s.default_text().into()),
                "fileTransferStatusChanged": iso(*at)})
        })
        .collect();
    let mut rh: Vec<(OffsetDateTime, Value)> = Vec::new();
    for r in &t.recipients {
        for (s, at) in &r.history {
            rh.push((
                *at,
                json!({"recipient": format!("0192:{}", r.org),
                    "recipientFileTransferStatusCode": s.name(),
                    "recipientFileTransferStatusText": s.text(),
                    "recipientFileTransferStatusChanged": iso(*at)}),
            ));
        }
    }
    rh.sort_by_key(|x| x.0);
    v["recipientFileTransferStatusHistory"] = rh.into_iter().map(|x| x.1).collect();
    v
}
