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

/// One doc comment of the header that cites schemas: the declaration's argument names, the
/// schemas (`schema/NAME.schema.json` stems) and the identifiers it quotes.
struct SchemaDoc {
    function: String,
    params: Vec<String>,
    schemas: Vec<String>,
    words: Vec<String>,
}

/// Every doc comment in include/efm.h that cites a schema, with the declaration it documents.
fn schema_docs(header: &str) -> Vec<SchemaDoc> {
    let mut docs = Vec::new();
    let mut rest = header;
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
        let function = declaration[..open]
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string();
        let params = declaration[open + 1..]
            .trim_end_matches(')')
            .split(',')
            .filter_map(|a| a.split_whitespace().last())
            .map(|a| a.trim_start_matches('*').to_string())
            .collect();
        let schemas: Vec<String> = doc
            .split("schema/")
            .skip(1)
            .filter_map(|s| s.split(".schema.json").next())
            .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_string)
            .collect();
        if !schemas.is_empty() {
            docs.push(SchemaDoc {
                function,
                params,
                schemas,
                words: quoted_words(doc),
            });
        }
    }
    docs
}

fn read_schema(root: &str, stem: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{root}/schema/{stem}.schema.json"))
        .unwrap_or_else(|e| panic!("the header cites schema/{stem}.schema.json: {e}"));
    serde_json::from_str(&text).unwrap()
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
    for doc in schema_docs(&header) {
        let mut known = std::collections::HashSet::new();
        for stem in &doc.schemas {
            collect_names(&read_schema(root, stem), &mut known);
        }
        for token in &doc.words {
            let skip = doc.params.contains(token) || token.starts_with("efm_");
            checked += 1;
            if !skip && !known.contains(&token.to_ascii_lowercase()) {
                wrong.push(format!("{token} (documented with {:?})", doc.schemas));
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

/// The other direction: every top-level member of a schema the header cites is named in a doc
/// comment that cites it, so a member added to an answer cannot go undocumented. A doc comment
/// that cites two schemas (`the members of schema/message_info.schema.json, with ...`) lends the
/// one's documented members to the other. The configuration (schema/config.schema.json) is
/// documented in the README's "Configuration" table instead: its members are checked there.
#[test]
fn every_member_of_a_cited_schema_is_documented() {
    let root = env!("CARGO_MANIFEST_DIR");
    let header = std::fs::read_to_string(format!("{root}/include/efm.h")).unwrap();
    let docs = schema_docs(&header);
    let mut named: std::collections::BTreeMap<&str, std::collections::HashSet<&str>> =
        Default::default();
    for doc in &docs {
        for stem in &doc.schemas {
            named
                .entry(stem)
                .or_default()
                .extend(doc.words.iter().map(String::as_str));
        }
    }
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let table = &readme[readme
        .find("## Configuration")
        .expect("README has a Configuration section")..];
    let table = &table[..table[3..].find("\n## ").map_or(table.len(), |i| i + 3)];
    let mut undocumented = Vec::new();
    let mut checked = 0;
    for (stem, words) in &named {
        let mut documented = words.clone();
        for doc in docs.iter().filter(|d| d.schemas.iter().any(|s| s == stem)) {
            for other in doc.schemas.iter().filter(|s| s != stem) {
                documented.extend(named[other.as_str()].iter());
            }
        }
        for member in top_level_members(&read_schema(root, stem)) {
            checked += 1;
            let ok = if *stem == "config" {
                table.contains(&format!("`{member}`"))
            } else {
                documented.contains(member.as_str())
            };
            if !ok {
                let cited_by: Vec<&str> = docs
                    .iter()
                    .filter(|d| d.schemas.iter().any(|s| s == stem))
                    .map(|d| d.function.as_str())
                    .collect();
                undocumented.push(format!("{stem}.{member} (cited by {cited_by:?})"));
            }
        }
    }
    assert!(
        checked > 60,
        "only {checked} schema members found: is the parser broken?"
    );
    assert!(
        undocumented.is_empty(),
        "members the header's doc comments (README for the configuration) never name: \
         {undocumented:?}; document them in ffi/ and run `EFM_UPDATE_HEADER=1 cargo build`"
    );
}

/// The properties of a schema's object, or of its array's items (through a `$ref`).
fn top_level_members(schema: &serde_json::Value) -> Vec<String> {
    let mut object = schema;
    if let Some(items) = schema.get("items") {
        object = match items.get("$ref").and_then(|r| r.as_str()) {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap();
                &schema["$defs"][name]
            }
            None => items,
        };
    }
    object
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
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
