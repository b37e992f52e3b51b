//! The version is set in one place, the workspace Cargo.toml. The header's EFM_VERSION is generated
//! from it (build.rs); the Python and .NET package metadata repeat it and must agree, since the
//! packages carry the library of exactly that version (scripts/package.sh builds them together).

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The text between `start` and the next `end` on the first line that contains `start`.
fn value_after(text: &str, start: &str, end: char) -> Option<String> {
    let line = text.lines().find(|l| l.trim_start().starts_with(start))?;
    let rest = &line[line.find(start)? + start.len()..];
    Some(rest[..rest.find(end)?].to_string())
}

#[test]
fn header_version_macro_is_the_crate_version() {
    let header = read("include/efm.h");
    assert_eq!(
        value_after(&header, "#define EFM_VERSION \"", '"').as_deref(),
        Some(VERSION),
        "include/efm.h: run `EFM_UPDATE_HEADER=1 cargo build` and commit it"
    );
    let numbers: Vec<&str> = ["MAJOR", "MINOR", "PATCH"]
        .iter()
        .map(|p| {
            let prefix = format!("#define EFM_VERSION_{p} ");
            header
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("include/efm.h has no EFM_VERSION_{p}"))
                .trim()
        })
        .collect();
    assert_eq!(numbers.join("."), VERSION.split('-').next().unwrap());
}

#[test]
fn python_package_version_is_the_crate_version() {
    let pyproject = read("bindings/python/pyproject.toml");
    assert_eq!(
        value_after(&pyproject, "version = \"", '"').as_deref(),
        Some(VERSION),
        "set version in bindings/python/pyproject.toml to the crate version {VERSION}"
    );
}

#[test]
fn dotnet_assembly_version_is_the_crate_version() {
    let csproj = read("bindings/csharp/Eformidling/Eformidling.csproj");
    assert_eq!(
        value_after(&csproj, "<Version>", '<').as_deref(),
        Some(VERSION),
        "set <Version> in bindings/csharp/Eformidling/Eformidling.csproj to the crate version {VERSION}"
    );
}
