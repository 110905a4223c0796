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
}
