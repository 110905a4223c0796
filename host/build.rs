//! Fingerprints the host's sources for the module cache.
//!
//! A cached module is the compiled output of validation, instrumentation and
//! metering; wasmtime's compatibility hash covers the compiler but not this
//! crate. The cache key therefore includes a hash of every source file of
//! the crate and of the lock file (the versions of wasmparser and
//! wasm-encoder), so that a host built from other sources never loads what
//! an older one instrumented.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    collect(&manifest_dir.join("src"), &mut files);
    files.sort();
    let lock = manifest_dir.join("../Cargo.lock");
    if lock.exists() {
        files.push(lock);
    }
    let mut hasher = DefaultHasher::new();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(&manifest_dir).unwrap_or(file);
        hasher.write(relative.to_string_lossy().as_bytes());
        hasher.write(&std::fs::read(file).unwrap());
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rustc-env=CANISTER_HOST_SOURCE_HASH={:016x}", hasher.finish());
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}
