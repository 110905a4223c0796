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
    let watch = [&["host/canisters/evm-probe"], canister_build::EVM_CANISTER_SOURCES].concat();
    let probe =
        canister_build::build("evm-probe-canister", "evm_probe_canister", &[], "evm_probe", &watch);
    println!("cargo:rustc-env=EVM_PROBE_WASM_FILE={}", probe.display());
}
