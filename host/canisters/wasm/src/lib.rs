//! Canisters the host's tests install, built for wasm32 at compile time.

/// `counter-canister`: a plain ic-cdk canister with stable memory and
/// upgrade hooks.
pub const COUNTER: &[u8] = include_bytes!(env!("COUNTER_WASM_FILE"));
