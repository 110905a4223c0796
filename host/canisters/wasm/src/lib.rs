//! Canisters the host's tests install, built for wasm32 at compile time.

/// `counter-canister`: a plain ic-cdk canister with stable memory and
/// upgrade hooks.
pub const COUNTER: &[u8] = include_bytes!(env!("COUNTER_WASM_FILE"));

/// `evm-canister` built with the `upgrade-probe` feature: one more query
/// method (`upgrade_probe`), and a `post_upgrade` that traps when its
/// argument is `opt "trap"`. Upgrade tests move a chain onto it.
pub const EVM_PROBE: &[u8] = include_bytes!(env!("EVM_PROBE_WASM_FILE"));
