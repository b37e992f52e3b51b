//! Reading what callers hand us (JSON requests, the configuration), strictly and safely.
//!
//! - Errors name the member at fault (`documents[0].path`), from the deserializer's path.
//! - Errors never echo a value: a password given as an integer, or a 100 MB string in the wrong
//!   place, must not end up in a log line. serde's "invalid type: string \"…\"" is reduced to the
//!   kind of value found, and any other caller text quoted in a message goes through [`quote`].
//! - serde_json's recursion limit (128) bounds nesting, so deep JSON is an error, not a stack
//!   overflow.

use crate::error::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;

/// At most this many characters of caller input are quoted in an error message.
pub const QUOTE_LIMIT: usize = 64;

/// Caller text for an error message: Debug-quoted, cut after [`QUOTE_LIMIT`] characters.
pub fn quote(s: &str) -> String {
    if s.chars().count() <= QUOTE_LIMIT {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(QUOTE_LIMIT).collect();
    format!("{head:?}… ({} bytes in all)", s.len())
}

/// Parse `json` as a `T`. Syntax errors are `InvalidJson`; a well-formed document with a wrong,
/// missing or unknown member is `data_kind`, with the member's path as the error's field. `what`
/// names the document in the message ("request_json", "configuration").
pub fn parse_json<T: DeserializeOwned>(json: &str, what: &str, data_kind: ErrorKind) -> Result<T> {
    // serde would also read a struct from an array of its members in order; a caller means an
    // object, and an array is almost certainly a mistake.
    if json.trim_start().starts_with('[') {
        return Err(Error::new(
            data_kind,
            format!("{what} is not valid: expected a JSON object {{...}}, found an array"),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        from_serde(e.into_inner(), what, data_kind, &path)
    })?;
    de.end().map_err(|e| from_serde(e, what, data_kind, "."))?;
    Ok(value)
}

fn from_serde(e: serde_json::Error, what: &str, data_kind: ErrorKind, path: &str) -> Error {
    let (line, column) = (e.line(), e.column());
    let kind = if e.is_data() {
        data_kind
    } else {
        ErrorKind::InvalidJson
    };
    let text = describe(&e);
    let field = (path != "." && e.is_data()).then(|| bounded(path));
    let place = match &field {
        Some(f) => format!(" at `{f}`"),
        None => String::new(),
    };
    let err = Error::new(
        kind,
        format!("{what} is not valid: {text}{place} (line {line}, column {column})"),
    );
    match field {
        Some(f) => err.with_field(f),
        None => err,
    }
}

/// serde's message without the position (we add it) and without the offending value.
fn describe(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let text = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => full.as_str(),
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            if let Some(i) = rest.rfind(", expected ") {
                let found = value_kind(&rest[..i]);
                let expected = &rest[i + ", expected ".len()..];
                return bounded(&format!("expected {expected}, found {found}"));
            }
            return format!(
                "{}a value of the wrong type or range",
                prefix.trim_end_matches(": ")
            );
        }
    }
    bounded(text)
}

/// "string \"hunter2\"" -> "a string"; "integer `5`" -> "an integer": the kind, never the value.
fn value_kind(unexpected: &str) -> &'static str {
    let word = unexpected.split([' ', '`', '"']).next().unwrap_or("");
    match word {
        "string" | "char" => "a string",
        "integer" => "an integer",
        "floating" => "a number",
        "boolean" => "a boolean",
        "null" | "unit" => "null",
        "map" => "an object",
        "sequence" => "an array",
        _ => "another value",
    }
}

/// Any text made of caller input, cut to a bounded length.
fn bounded(s: &str) -> String {
    const LIMIT: usize = 4 * QUOTE_LIMIT;
    if s.chars().count() <= LIMIT {
        return s.to_string();
    }
    let head: String = s.chars().take(LIMIT).collect();
    format!("{head}… ({} bytes in all)", s.len())
}

/// Refuse a string that contains NUL: it could not cross the C ABI intact, and would name
/// something else than the caller meant once cut there.
pub fn no_nul(value: &str, field: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("\"{field}\" contains a NUL character"),
        )
        .with_field(field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        password: Option<String>,
        limit: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[test]
    fn wrong_type_names_the_field_and_hides_the_value() {
        let e = parse_json::<Outer>(
            r#"{"items": [{}, {"password": 918273645}]}"#,
            "request_json",
            ErrorKind::InvalidArgument,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.detail().field.as_deref(), Some("items[1].password"));
        assert!(!e.message().contains("918273645"), "{}", e.message());
        assert!(e.message().contains("found an integer"), "{}", e.message());
    }

    #[test]
    fn unknown_member_is_named() {
        let e = parse_json::<Outer>(
            r#"{"items": [{"stauts": 1}]}"#,
            "request_json",
            ErrorKind::InvalidArgument,
        )
        .unwrap_err();
        assert!(
            e.message().contains("unknown field `stauts`"),
            "{}",
            e.message()
        );
        assert_eq!(e.detail().field.as_deref(), Some("items[0].stauts"));
    }

    #[test]
    fn huge_values_are_not_echoed() {
        let big = "x".repeat(1_000_000);
        let e = parse_json::<Outer>(
            &format!(r#"{{"items": [{{"limit": "{big}"}}]}}"#),
            "request_json",
            ErrorKind::InvalidArgument,
        )
        .unwrap_err();
        assert!(e.message().len() < 400, "{}", e.message());
        let e = parse_json::<Outer>(
            &format!(r#"{{"{big}": 1}}"#),
            "request_json",
            ErrorKind::InvalidArgument,
        )
        .unwrap_err();
        assert!(e.message().len() < 1000, "{} bytes", e.message().len());
        assert!(e.detail().field.as_ref().unwrap().len() < 400);
    }

    #[test]
    fn out_of_range_and_syntax_and_depth() {
        let e = parse_json::<Outer>(
            r#"{"items": [{"limit": 18446744073709551616}]}"#,
            "f",
            ErrorKind::InvalidArgument,
        )
        .unwrap_err();
        assert_eq!(e.detail().field.as_deref(), Some("items[0].limit"), "{e}");
        let e = parse_json::<Outer>("{\"items\": [", "f", ErrorKind::InvalidArgument).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidJson);
        let deep = format!("{{\"v\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_json::<std::collections::HashMap<String, serde_json::Value>>(
            &deep,
            "f",
            ErrorKind::InvalidArgument,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidJson);
        assert!(e.message().contains("recursion limit"), "{e}");
        let e =
            parse_json::<Outer>(r#"{"items": []} x"#, "f", ErrorKind::InvalidArgument).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidJson);
    }

    #[test]
    fn quote_is_bounded() {
        assert_eq!(quote("abc"), "\"abc\"");
        let q = quote(&"é".repeat(10_000));
        assert!(q.len() < 200 && q.contains("20000 bytes"), "{q}");
    }
}
