//! Generates the C header from ffi/ with cbindgen (version pinned in Cargo.toml).
//!
//! The header is always written to $OUT_DIR/efm.h; tests/header_drift.rs compares that with the
//! committed include/efm.h, so an exported signature cannot change without the header. With
//! EFM_UPDATE_HEADER=1 the committed copy is rewritten too.

use std::path::{Path, PathBuf};
use std::process::Command;

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
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    let [major, minor, patch] = ["MAJOR", "MINOR", "PATCH"]
        .map(|p| std::env::var(format!("CARGO_PKG_VERSION_{p}")).unwrap());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_after_include(format!(
            "\n/* The library version this header belongs to (efm_version() answers for the loaded one). */\n\
             #define EFM_VERSION \"{version}\"\n\
             #define EFM_VERSION_MAJOR {major}\n\
             #define EFM_VERSION_MINOR {minor}\n\
             #define EFM_VERSION_PATCH {patch}"
        ))
        .with_src(root.join("ffi/lib.rs"))
        .generate()
        .expect("cbindgen could not generate include/efm.h from ffi/");
    bindings.write_to_file(&out);
    if std::env::var_os("EFM_UPDATE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(root.join("include/efm.h"));
    }

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
        windows_version_resource(&out_dir, &version, [&major, &minor, &patch]);
    }
}

/// Compiles a VERSIONINFO resource and links it into the DLL (mingw targets; MSVC builds skip it).
fn windows_version_resource(out_dir: &Path, version: &str, numbers: [&str; 3]) {
    println!("cargo:rerun-if-env-changed=EFM_WINDRES");
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu") {
        println!("cargo:warning=efm.dll gets no version resource: only mingw (windows-gnu) builds add one");
        return;
    }
    let windres = std::env::var("EFM_WINDRES").unwrap_or_else(|_| {
        match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
            Ok("x86") => "i686-w64-mingw32-windres".into(),
            _ => "x86_64-w64-mingw32-windres".into(),
        }
    });
    let [major, minor, patch] = numbers;
    let rc = out_dir.join("efm-version.rc");
    let object = out_dir.join("efm-version.o");
    let text = format!(
        r#"#include <winver.h>
VS_VERSION_INFO VERSIONINFO
FILEVERSION {major},{minor},{patch},0
PRODUCTVERSION {major},{minor},{patch},0
FILEFLAGSMASK VS_FFI_FILEFLAGSMASK
FILEFLAGS 0
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_DLL
FILESUBTYPE VFT2_UNKNOWN
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "CompanyName", "efm contributors"
      VALUE "FileDescription", "efm: eFormidling DPO library (C ABI)"
      VALUE "FileVersion", "{version}"
      VALUE "InternalName", "efm"
      VALUE "LegalCopyright", "MIT OR Apache-2.0"
      VALUE "OriginalFilename", "efm.dll"
      VALUE "ProductName", "efm"
      VALUE "ProductVersion", "{version}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#
    );
    std::fs::write(&rc, text).expect("writing efm-version.rc");
    let status = Command::new(&windres)
        .args(["-O", "coff", "-i"])
        .arg(&rc)
        .arg("-o")
        .arg(&object)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {windres} (from binutils-mingw-w64) for the DLL version resource: {e}"
            )
        });
    assert!(status.success(), "{windres} failed on {}", rc.display());
    println!("cargo:rustc-link-arg-cdylib={}", object.display());
}
