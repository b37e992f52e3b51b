//! Generates the C header from ffi/ with cbindgen (version pinned in Cargo.toml).
//!
//! The header is always written to $OUT_DIR/efm.h; tests/header_drift.rs compares that with the
//! committed include/efm.h, so an exported signature cannot change without the header. With
//! EFM_UPDATE_HEADER=1 the committed copy is rewritten too.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=EFM_UPDATE_HEADER");
    // The shared library names itself libefm.so, so a host that loaded it by absolute path (the
    // C# binding's Efm.Load) finds it already loaded when the runtime later asks for "libefm.so".
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libefm.so");
    }

    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("efm.h");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("ffi/lib.rs"))
        .generate()
        .expect("cbindgen could not generate include/efm.h from ffi/");
    bindings.write_to_file(&out);
    if std::env::var_os("EFM_UPDATE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(root.join("include/efm.h"));
    }
}
