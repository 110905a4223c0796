//! Builds `evm-canister` for `wasm32-unknown-unknown` (see `canister-build`).
//! Set `EVM_CANISTER_WASM` to a path to embed a prebuilt module instead.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=EVM_CANISTER_WASM");
    let wasm = match std::env::var_os("EVM_CANISTER_WASM") {
        Some(prebuilt) => {
            let prebuilt = PathBuf::from(prebuilt);
            println!("cargo:rerun-if-changed={}", prebuilt.display());
            prebuilt
        }
        None => canister_build::build(
            "evm-canister",
            "evm_canister",
            &[],
            "evm_canister",
            canister_build::EVM_CANISTER_SOURCES,
        ),
    };
    println!("cargo:rustc-env=EVM_CANISTER_WASM_FILE={}", wasm.display());
}
