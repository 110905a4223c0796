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

    /// Every import is an `ic0` function with exactly the signature the IC
    /// interface specification gives it (i32 pointers: this is wasm32).
    #[test]
    fn imports_only_system_api_functions_with_the_specified_signatures() {
        use canister_host::system_api::{ApiType, api_function};
        use wasmparser::{FuncType, ValType};

        let mut types: Vec<FuncType> = Vec::new();
        let mut imports = Vec::new();
        for payload in Parser::new(0).parse_all(super::WASM) {
            match payload.unwrap() {
                Payload::TypeSection(section) => {
                    for group in section {
                        for ty in group.unwrap().into_types() {
                            types.push(ty.unwrap_func().clone());
                        }
                    }
                }
                Payload::ImportSection(section) => {
                    for import in section.into_imports() {
                        let import = import.unwrap();
                        let TypeRef::Func(index) = import.ty else {
                            panic!("{} imports a non-function", import.name);
                        };
                        imports.push((import.module.to_owned(), import.name.to_owned(), index));
                    }
                }
                _ => {}
            }
        }
        assert!(!imports.is_empty());
        for (module, name, index) in &imports {
            assert_eq!(module, "ic0", "{module}.{name} is not a System API function");
            let spec = api_function(name)
                .unwrap_or_else(|| panic!("ic0.{name} is not in the specification"));
            let to_wasm = |types: &[ApiType]| -> Vec<ValType> {
                types
                    .iter()
                    .map(|t| match t {
                        ApiType::I | ApiType::I32 => ValType::I32,
                        ApiType::I64 => ValType::I64,
                    })
                    .collect()
            };
            let actual = &types[*index as usize];
            assert_eq!(
                actual.params(),
                to_wasm(spec.params).as_slice(),
                "parameters of ic0.{name}"
            );
            assert_eq!(actual.results(), to_wasm(spec.results).as_slice(), "results of ic0.{name}");
        }
        let names: Vec<&str> = imports.iter().map(|(_, name, _)| name.as_str()).collect();
        // What a canister that reads its argument, replies, keeps stable
        // memory and asks the time must import.
        for needed in ["msg_arg_data_copy", "msg_reply", "stable64_write", "time"] {
            assert!(names.contains(&needed), "ic0.{needed} missing from {names:?}");
        }
        // The host's own install-time validation agrees.
        canister_host::validation::validate(super::WASM).unwrap();
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
