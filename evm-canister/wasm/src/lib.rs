//! The EVM canister as a wasm module, built from `evm-canister` at compile time.
//!
//! The build script runs a nested cargo build of `evm-canister` for
//! `wasm32-unknown-unknown`; this crate embeds the result so the node and the
//! tests install exactly the module a user would deploy with `dfx`.

/// The canister's wasm module.
pub const WASM: &[u8] = include_bytes!(env!("EVM_CANISTER_WASM_FILE"));

#[cfg(test)]
mod tests {
    #[test]
    fn is_a_wasm_module() {
        assert_eq!(&super::WASM[..4], b"\0asm");
    }
}
