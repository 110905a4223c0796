//! Builds `evm-canister` for `wasm32-unknown-unknown` with a nested cargo.
//!
//! The nested build uses its own target directory (`target/canister`), so it
//! never waits on the lock of the outer build, and the `canister` profile
//! (LTO, one codegen unit, `panic = "abort"`). Set `EVM_CANISTER_WASM` to a
//! path to embed a prebuilt module instead.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    println!("cargo:rerun-if-env-changed=EVM_CANISTER_WASM");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let wasm = out_dir.join("evm_canister.wasm");

    if let Some(prebuilt) = env::var_os("EVM_CANISTER_WASM") {
        let prebuilt = PathBuf::from(prebuilt);
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        std::fs::copy(&prebuilt, &wasm).unwrap_or_else(|e| {
            panic!("cannot read EVM_CANISTER_WASM={}: {e}", prebuilt.display())
        });
        println!("cargo:rustc-env=EVM_CANISTER_WASM_FILE={}", wasm.display());
        return;
    }

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..").canonicalize().unwrap();
    for path in [
        "evm-canister/src",
        "evm-canister/Cargo.toml",
        "evm-canister/api",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("canister");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    ensure_wasm_target();

    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args(["rustc", "--package", "evm-canister", "--lib", "--crate-type", "cdylib"])
        .args(["--target", TARGET, "--profile", "canister"])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and wrappers are for the host, not for wasm.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    let status = command.status().expect("cannot run cargo to build the canister");
    assert!(status.success(), "building evm-canister for {TARGET} failed");

    let built = target_dir.join(TARGET).join("canister").join("evm_canister.wasm");
    copy(&built, &wasm);
    println!("cargo:rustc-env=EVM_CANISTER_WASM_FILE={}", wasm.display());
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
}

/// Installs the wasm target through rustup when it is missing, so the first
/// `cargo run` on a fresh machine works without a separate set-up step.
fn ensure_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc).args(["--print", "sysroot"]).output().ok();
    let installed = sysroot.is_some_and(|out| {
        let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Path::new(&root).join("lib/rustlib").join(TARGET).exists()
    });
    if !installed {
        println!("cargo:warning=installing the {TARGET} target with rustup");
        let status = Command::new("rustup").args(["target", "add", TARGET]).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "the {TARGET} target is missing; run `rustup target add {TARGET}`"
        );
    }
}
