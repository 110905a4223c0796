//! Builds the test canisters for wasm32 (see `canister-build`).

fn main() {
    let counter = canister_build::build(
        "counter-canister",
        "counter_canister",
        &[],
        "counter",
        &["host/canisters/counter"],
    );
    println!("cargo:rustc-env=COUNTER_WASM_FILE={}", counter.display());
    let probe = canister_build::build(
        "evm-probe-canister",
        "evm_probe_canister",
        &[],
        "evm_probe",
        &[
            "host/canisters/evm-probe",
            "evm-canister/src",
            "evm-canister/Cargo.toml",
            "evm-canister/api",
            "evm-canister/jsonrpc",
        ],
    );
    println!("cargo:rustc-env=EVM_PROBE_WASM_FILE={}", probe.display());
}
