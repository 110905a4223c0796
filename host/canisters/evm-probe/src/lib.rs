//! `evm-canister` built with its `upgrade-probe` feature: one more query
//! method (`upgrade_probe`) and a `post_upgrade` that traps when asked to.
//!
//! A package of its own rather than a feature of `evm-canister`'s own
//! cdylib build: both builds share `target/canister`, and two builds of one
//! root package that differ only in features overwrite each other's
//! fingerprint, so every `cargo` invocation compiled and linked the
//! canister twice (about 95 s each). Here `evm-canister` is a dependency,
//! whose units cargo keeps apart by features; the canister's exports come
//! with it into this cdylib.

#[cfg(target_arch = "wasm32")]
extern crate evm_canister;
