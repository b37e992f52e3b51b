//! JSON (de)serialisation of the two-member root (the header and one business message).

use super::*;

impl Sbd {
    /// Parse `sbd.json` with the IP's structural rules (efm-common
    /// `StandardBusinessDocumentDeserializer`). Call [`Sbd::validate`] afterwards to apply a
    /// receiver's checks.
    pub fn from_json(json: &[u8]) -> Result<Sbd> {
        let value: Value = serde_json::from_slice(json).map_err(|e| {
            Error::new(
                ErrorKind::InvalidJson,
                format!("sbd.json is not valid JSON: {e}"),
            )
        })?;
        Sbd::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Sbd> {
        let Value::Object(mut root) = value else {
            return Err(invalid("$", "the SBD must be a JSON object"));
        };
        let header_value = root.remove(HEADER_KEY).ok_or_else(|| {
            invalid(
                HEADER_KEY,
                format!("the SBD has no \"{HEADER_KEY}\" member"),
            )
        })?;
        if root.len() != 1 {
            let keys: Vec<&String> = root.keys().collect();
            return Err(invalid(
                "$",
                format!(
                    "the SBD must have exactly two members (the header and one business message), found business members {keys:?}"
                ),
            ));
        }
        let header: Header = serde_json::from_value(header_value).map_err(|e| {
            invalid(
                HEADER_KEY,
                format!("the SBD header does not fit the model: {e}"),
            )
        })?;
        let type_name = header.document_identification.type_name.clone();
        let canonical = type_name.to_ascii_lowercase();
        if !KNOWN_TYPES.contains(&canonical.as_str()) {
            return Err(invalid(
                "standardBusinessDocumentHeader.documentIdentification.type",
                format!("unknown business message type {type_name:?} (known: {KNOWN_TYPES:?})"),
            ));
        }
        let (key, body) = root.into_iter().next().expect("one member left");
        if key != canonical {
            return Err(invalid(
                key.clone(),
                format!(
                    "the business message member is {key:?} but documentIdentification.type says {canonical:?}; they must be equal"
                ),
            ));
        }
        let Value::Object(body) = body else {
            return Err(invalid(key, "the business message must be a JSON object"));
        };
        let message = match canonical.as_str() {
            "arkivmelding" => BusinessMessage::Arkivmelding(from_body(&key, body)?),
            "status" => BusinessMessage::Status(from_body(&key, body)?),
            "arkivmelding_kvittering" => {
                BusinessMessage::ArkivmeldingKvittering(from_body(&key, body)?)
            }
            _ => BusinessMessage::Other {
                type_name: canonical,
                body,
            },
        };
        Ok(Sbd { header, message })
    }

    /// The SBD as a JSON value (nulls left out). Note that `serde_json::Value` objects sort their
    /// keys; use [`Sbd::to_json`] for the IP's member order.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("SBD serialises")
    }

    /// Compact JSON in the member order the IP writes, nulls left out.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("SBD serialises")
    }

    /// Pretty JSON with 2-space indentation, as the IP writes `sbd.json`.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("SBD serialises")
    }
}

fn from_body<T: serde::de::DeserializeOwned>(key: &str, body: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(body)).map_err(|e| {
        invalid(
            key.to_string(),
            format!("the {key:?} business message does not fit the model: {e}"),
        )
    })
}

impl Serialize for Sbd {
    /// Header first, then the business message under its type name; struct fields keep their
    /// declared (IP) order.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(HEADER_KEY, &self.header)?;
        let key = self.message.type_name();
        match &self.message {
            BusinessMessage::Arkivmelding(a) => map.serialize_entry(key, a)?,
            BusinessMessage::Status(m) => map.serialize_entry(key, m)?,
            BusinessMessage::ArkivmeldingKvittering(k) => map.serialize_entry(key, k)?,
            BusinessMessage::Other { body, .. } => map.serialize_entry(key, body)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Sbd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Sbd::from_value(v).map_err(serde::de::Error::custom)
    }
}
