//! The EVM canister as a wasm module, built from `evm-canister` at compile time.
//!
//! The build script runs a nested cargo build of `evm-canister` for
//! `wasm32-unknown-unknown`; this crate embeds the result so the node and the
//! tests install exactly the module a user would deploy with `dfx`.

/// The canister's wasm module.
pub const WASM: &[u8] = include_bytes!(env!("EVM_CANISTER_WASM_FILE"));

#[cfg(test)]
mod tests {
    use wasmparser::{Parser, Payload, TypeRef};

    #[test]
    fn imports_nothing_but_the_system_api() {
        let mut imports = Vec::new();
        for payload in Parser::new(0).parse_all(super::WASM) {
            if let Payload::ImportSection(section) = payload.unwrap() {
                for import in section.into_imports() {
                    let import = import.unwrap();
                    assert!(
                        matches!(import.ty, TypeRef::Func(_)),
                        "{} imports a non-function",
                        import.name
                    );
                    imports.push(format!("{}.{}", import.module, import.name));
                }
            }
        }
        assert!(!imports.is_empty());
        let foreign: Vec<_> = imports.iter().filter(|i| !i.starts_with("ic0.")).collect();
        assert!(foreign.is_empty(), "imports outside ic0: {foreign:?}");
        // What a canister that reads its argument, replies, keeps stable
        // memory and asks the time must import.
        for needed in ["ic0.msg_arg_data_copy", "ic0.msg_reply", "ic0.stable64_write", "ic0.time"] {
            assert!(imports.iter().any(|i| i == needed), "{needed} missing from {imports:?}");
        }
    }

    #[test]
    fn exports_the_candid_interface() {
        let exports: Vec<String> = Parser::new(0)
            .parse_all(super::WASM)
            .filter_map(|p| match p.unwrap() {
                Payload::ExportSection(s) => {
                    Some(s.into_iter().map(|e| e.unwrap().name.to_owned()).collect::<Vec<_>>())
                }
                _ => None,
            })
            .flatten()
            .collect();
        for method in [
            "canister_init",
            "canister_post_upgrade",
            "canister_update send_raw_transaction",
            "canister_query call",
            "canister_query get_logs",
        ] {
            assert!(exports.iter().any(|e| e == method), "{method} not exported: {exports:?}");
        }
    }
}
