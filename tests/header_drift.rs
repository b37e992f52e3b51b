//! The committed include/efm.h must be exactly what cbindgen makes of ffi/ now. If this fails, an
//! exported signature changed: run `EFM_UPDATE_HEADER=1 cargo build` and commit include/efm.h.

#[test]
fn committed_header_matches_ffi() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/efm.h"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/efm.h"))
        .expect("include/efm.h is missing: run `EFM_UPDATE_HEADER=1 cargo build`");
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()) + 1);
        panic!(
            "include/efm.h is out of date with ffi/ (first difference at line {line}); \
             run `EFM_UPDATE_HEADER=1 cargo build` and commit include/efm.h"
        );
    }
}

/// The header's doc comments name JSON members (`received`, `"retry_after_secs"`) and values
/// (`"incoming"`); every one named beside a `schema/NAME.schema.json` reference must exist in that
/// schema (a property or an enumerated value), so a renamed or removed member cannot live on in
/// the documentation. Argument names and function names are skipped.
#[test]
fn header_docs_name_only_members_their_schemas_have() {
    let root = env!("CARGO_MANIFEST_DIR");
    let header = std::fs::read_to_string(format!("{root}/include/efm.h")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut rest = header.as_str();
    while let Some(start) = rest.find("/*") {
        let end = start + rest[start..].find("*/").expect("closed comment");
        let doc = &rest[start + 2..end];
        let after = &rest[end + 2..];
        rest = after;
        let declaration = after[..after.find(';').unwrap_or(after.len())].trim();
        let Some(open) = declaration.find("(efm_").or_else(|| declaration.find('(')) else {
            continue;
        };
        if !declaration.contains("efm_") || declaration.starts_with("/*") {
            continue;
        }
        let params: Vec<&str> = declaration[open + 1..]
            .trim_end_matches(')')
            .split(',')
            .filter_map(|a| a.split_whitespace().last())
            .map(|a| a.trim_start_matches('*'))
            .collect();
        let schemas: Vec<&str> = doc
            .split("schema/")
            .skip(1)
            .filter_map(|s| s.split(".schema.json").next())
            .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        if schemas.is_empty() {
            continue;
        }
        let mut known = std::collections::HashSet::new();
        for stem in &schemas {
            let text = std::fs::read_to_string(format!("{root}/schema/{stem}.schema.json"))
                .unwrap_or_else(|e| panic!("the header cites schema/{stem}.schema.json: {e}"));
            collect_names(&serde_json::from_str(&text).unwrap(), &mut known);
        }
        for token in quoted_words(doc) {
            let skip = params.contains(&token.as_str()) || token.starts_with("efm_");
            checked += 1;
            if !skip && !known.contains(&token.to_ascii_lowercase()) {
                wrong.push(format!("{token} (documented with {schemas:?})"));
            }
        }
    }
    assert!(
        checked > 30,
        "only {checked} documented members found: is the parser broken?"
    );
    assert!(
        wrong.is_empty(),
        "the header documents members its schemas do not have: {wrong:?}"
    );
}

/// Every property name and enumerated value in a schema, lowercased.
fn collect_names(schema: &serde_json::Value, into: &mut std::collections::HashSet<String>) {
    match schema {
        serde_json::Value::Object(members) => {
            if let Some(serde_json::Value::Object(props)) = members.get("properties") {
                into.extend(props.keys().map(|k| k.to_ascii_lowercase()));
            }
            for key in ["enum", "const"] {
                match members.get(key) {
                    Some(serde_json::Value::Array(values)) => into.extend(
                        values
                            .iter()
                            .filter_map(|v| v.as_str())
                            .map(str::to_ascii_lowercase),
                    ),
                    Some(serde_json::Value::String(v)) => {
                        into.insert(v.to_ascii_lowercase());
                    }
                    _ => {}
                }
            }
            members.values().for_each(|v| collect_names(v, into));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_names(v, into)),
        _ => {}
    }
}

/// Identifiers written as `name` or "name" in a doc comment (a README section title such as
/// "Configuration" starts with a capital and is not an identifier of the JSON).
fn quoted_words(doc: &str) -> Vec<String> {
    let mut words = Vec::new();
    for quote in ['`', '"'] {
        for (i, piece) in doc.split(quote).enumerate() {
            let identifier = !piece.is_empty()
                && piece.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !piece.starts_with(|c: char| c.is_ascii_digit());
            let capitalised_word = piece.starts_with(|c: char| c.is_ascii_uppercase())
                && piece.chars().skip(1).all(|c| c.is_ascii_lowercase());
            if i % 2 == 1 && identifier && !capitalised_word {
                words.push(piece.to_string());
            }
        }
    }
    words
}
