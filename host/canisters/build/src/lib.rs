//! Builds canister crates of this workspace for `wasm32-unknown-unknown`
//! from a build script.
//!
//! The nested cargo uses its own target directory (`target/canister`), so it
//! never waits on the lock of the outer build, and the workspace's
//! `canister` profile (LTO, one codegen unit, `panic = "abort"`): canisters
//! pay for instructions, so they are optimised for speed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

/// What `evm-canister`'s module is built from, relative to the workspace
/// root: the `watch` list of every build that embeds it.
pub const EVM_CANISTER_SOURCES: &[&str] =
    &["evm-canister/src", "evm-canister/Cargo.toml", "evm-canister/api", "evm-canister/jsonrpc"];

/// The workspace root, from the calling build script's manifest directory.
pub fn workspace_root() -> PathBuf {
    let mut dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("run from a build script"));
    while !dir.join("Cargo.lock").exists() {
        assert!(dir.pop(), "no workspace root above the build script");
    }
    dir
}

/// Builds `package` (whose library is `lib`) with `features`, copies the
/// module to `OUT_DIR/<out>.wasm` and returns that path. `watch` lists paths,
/// relative to the workspace root, whose changes rebuild it.
pub fn build(package: &str, lib: &str, features: &[&str], out: &str, watch: &[&str]) -> PathBuf {
    let workspace = workspace_root();
    for path in watch.iter().chain(&["Cargo.lock", "Cargo.toml"]) {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("canister");
    ensure_wasm_target();

    // Builds of the same package with other features write the same output
    // file: hold a lock from building to copying it.
    let _lock = BuildLock::take(&target_dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["rustc", "--package", package, "--lib", "--crate-type", "cdylib"])
        .args(["--target", TARGET, "--profile", "canister"])
        .arg("--target-dir")
        .arg(&target_dir);
    if !features.is_empty() {
        command.arg("--features").arg(features.join(","));
    }
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
    let status = command.status().expect("cannot run cargo to build a canister");
    assert!(status.success(), "building {package} for {TARGET} failed");

    let built = target_dir.join(TARGET).join("canister").join(format!("{lib}.wasm"));
    let copy = PathBuf::from(env::var_os("OUT_DIR").expect("run from a build script"))
        .join(format!("{out}.wasm"));
    std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
    copy
}

/// An exclusive lock on `dir/.build-lock`, released when dropped.
struct BuildLock {
    _file: std::fs::File,
}

impl BuildLock {
    fn take(dir: &Path) -> Self {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(dir).expect("create the canister target directory");
        let file = std::fs::File::create(dir.join(".build-lock")).expect("create the build lock");
        // SAFETY: the descriptor is open for as long as `file` lives.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(locked, 0, "cannot lock {}", dir.display());
        Self { _file: file }
    }
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
