//! The committed JSON Schemas in schema/ must be exactly what the Rust types that read and write
//! the C ABI's JSON say now. If this fails, a request or answer changed shape: run
//! `EFM_UPDATE_SCHEMA=1 cargo test --test schema_drift` and commit schema/.

use std::path::Path;

#[test]
fn committed_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let update = std::env::var_os("EFM_UPDATE_SCHEMA").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    let mut expected = Vec::new();
    for (stem, schema) in efm_core::schema::all() {
        let file = format!("{stem}.schema.json");
        let text = efm_core::schema::render(&schema);
        let path = dir.join(&file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(file.clone());
        }
        expected.push(file);
    }
    // A schema whose type is gone must go too.
    for entry in std::fs::read_dir(&dir).expect("schema/ is missing") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".schema.json") && !expected.contains(&name) {
            stale.push(format!("{name} (no longer generated)"));
        }
    }
    assert!(
        stale.is_empty(),
        "schema/ is out of date with the Rust types: {stale:?}; run \
         `EFM_UPDATE_SCHEMA=1 cargo test --test schema_drift` and commit schema/"
    );
}
