//! Install-time checks of a canister module, as the replica makes them.
//!
//! A module that would fail at call time — an import the host does not
//! provide, a forbidden `canister_*` export, threads, relaxed SIMD, a limit
//! exceeded — is refused when it is installed, with an error naming the
//! problem. Limits and rules follow the replica's
//! `rs/embedders/src/wasm_utils/validation.rs`.

use std::collections::BTreeMap;

use wasmtime::wasmparser::{
    ExternalKind, FuncType, Operator, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

use crate::system_api::{ApiType, api_function};

/// Most functions a module may define.
pub const MAX_FUNCTIONS: usize = 50_000;
/// Most globals a module may define.
pub const MAX_GLOBALS: usize = 1_000;
/// Most `canister_update|query|composite_query <name>` exports.
pub const MAX_EXPORTED_METHODS: usize = 1_000;
/// Most bytes of exported method names, summed.
pub const MAX_EXPORTED_NAME_BYTES: usize = 20_000;
/// Most `icp:` custom sections, and their total size.
pub const MAX_CUSTOM_SECTIONS: usize = 16;
pub const MAX_CUSTOM_SECTIONS_BYTES: usize = 1024 * 1024;
/// Largest code section.
pub const MAX_CODE_SECTION_BYTES: usize = 10 * 1024 * 1024;
/// Most instructions in one function.
pub const MAX_FUNCTION_INSTRUCTIONS: usize = 1_000_000;
/// Largest module (after decompression).
pub const MAX_MODULE_BYTES: usize = 100 * 1024 * 1024;
/// Largest heap of a wasm64 canister, in wasm pages (6 GiB).
pub const MAX_WASM64_PAGES: u64 = 6 * 1024 * 1024 * 1024 / 65536;

/// Exports the replica reserves for its own instrumentation.
const RESERVED_EXPORTS: &[&str] = &[
    "canister counter_instructions",
    "canister_start",
    "canister counter_dirty_pages",
    "canister counter_accessed_pages",
    "stable_memory",
    "stable_bytemap_memory",
];

/// The `canister_*` exports with a fixed name.
const SYSTEM_METHODS: &[&str] = &[
    "canister_init",
    "canister_pre_upgrade",
    "canister_post_upgrade",
    "canister_inspect_message",
    "canister_heartbeat",
    "canister_global_timer",
    "canister_on_low_wasm_memory",
];

/// The wasm features canisters may use: wasm 2.0 (with SIMD) plus memory64
/// and extended constants. No threads, relaxed SIMD, multiple memories, tail
/// calls, exceptions or GC.
fn ic_features() -> WasmFeatures {
    WasmFeatures::WASM2
        | WasmFeatures::MEMORY64
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::GC_TYPES
}

/// What validation learned about a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Whether the module's memory is 64-bit.
    pub wasm64: bool,
}

/// Checks `wasm` for installation on the IC; the error names the problem.
pub fn validate(wasm: &[u8]) -> Result<ModuleInfo, String> {
    if wasm.len() > MAX_MODULE_BYTES {
        return Err(format!(
            "Wasm module size of {} exceeds the maximum allowed size of {MAX_MODULE_BYTES}",
            wasm.len()
        ));
    }
    check_features(wasm)?;

    let mut types: Vec<FuncType> = Vec::new();
    let mut imported_functions = 0usize;
    let mut function_types: Vec<u32> = Vec::new();
    let mut imports: Vec<(String, String, TypeRef)> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut wasm64 = false;
    let mut memories = 0;
    let mut globals = 0;
    let mut custom_sections = 0;
    let mut custom_bytes = 0;
    let mut function_index = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("invalid wasm module: {e}"))? {
            Payload::TypeSection(section) => {
                for group in section.into_iter() {
                    let group = group.map_err(|e| e.to_string())?;
                    // Only function types exist: GC types failed the feature check.
                    for ty in group.into_types() {
                        types.push(ty.unwrap_func().clone());
                    }
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import.map_err(|e| e.to_string())?;
                    if let TypeRef::Func(ty) = import.ty {
                        imported_functions += 1;
                        function_types.push(ty);
                    }
                    if let TypeRef::Memory(memory) = import.ty {
                        memories += 1;
                        wasm64 |= memory.memory64;
                    }
                    imports.push((import.module.to_owned(), import.name.to_owned(), import.ty));
                }
            }
            Payload::FunctionSection(section) => {
                for ty in section {
                    function_types.push(ty.map_err(|e| e.to_string())?);
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    let memory = memory.map_err(|e| e.to_string())?;
                    memories += 1;
                    wasm64 |= memory.memory64;
                    if memory.memory64 && memory.maximum.is_some_and(|max| max > MAX_WASM64_PAGES) {
                        return Err(format!(
                            "Wasm module declares a maximum memory of {} pages, more than the {MAX_WASM64_PAGES} allowed",
                            memory.maximum.unwrap_or_default()
                        ));
                    }
                }
            }
            Payload::GlobalSection(section) => globals += section.count() as usize,
            Payload::ExportSection(section) => {
                for export in section {
                    let export = export.map_err(|e| e.to_string())?;
                    exports.push((export.name.to_owned(), export.kind, export.index));
                }
            }
            Payload::CodeSectionStart { size, .. } if size as usize > MAX_CODE_SECTION_BYTES => {
                return Err(format!(
                    "Wasm module code section size of {size} exceeds the maximum allowed size of {MAX_CODE_SECTION_BYTES}"
                ));
            }
            Payload::CodeSectionEntry(body) => {
                let mut instructions = 0usize;
                let mut reader = body.get_operators_reader().map_err(|e| e.to_string())?;
                while !reader.eof() {
                    let operator = reader.read().map_err(|e| e.to_string())?;
                    if let Some(name) = forbidden_operator(&operator) {
                        return Err(format!(
                            "Wasm module uses the unsupported instruction {name} (function {})",
                            imported_functions + function_index
                        ));
                    }
                    instructions += 1;
                }
                if instructions > MAX_FUNCTION_INSTRUCTIONS {
                    return Err(format!(
                        "Wasm module contains a function at index {} of size {instructions} that exceeds the maximum allowed size of {MAX_FUNCTION_INSTRUCTIONS}",
                        imported_functions + function_index
                    ));
                }
                function_index += 1;
            }
            Payload::CustomSection(section) if section.name().starts_with("icp:") => {
                custom_sections += 1;
                custom_bytes += section.data().len() + section.name().len();
            }
            _ => {}
        }
    }

    let defined_functions = function_types.len() - imported_functions;
    if defined_functions > MAX_FUNCTIONS {
        return Err(format!(
            "Wasm module defined {defined_functions} functions which exceeds the maximum number allowed {MAX_FUNCTIONS}."
        ));
    }
    if globals > MAX_GLOBALS {
        return Err(format!(
            "Wasm module defined {globals} globals which exceeds the maximum number allowed {MAX_GLOBALS}."
        ));
    }
    if custom_sections > MAX_CUSTOM_SECTIONS {
        return Err(format!(
            "Wasm module defined {custom_sections} custom sections which exceeds the maximum number allowed {MAX_CUSTOM_SECTIONS}."
        ));
    }
    if custom_bytes > MAX_CUSTOM_SECTIONS_BYTES {
        return Err(format!(
            "Wasm module custom sections have {custom_bytes} bytes, more than the {MAX_CUSTOM_SECTIONS_BYTES} allowed."
        ));
    }
    if memories > 1 {
        return Err("Wasm module declares more than one memory".to_owned());
    }

    for (module, name, ty) in &imports {
        check_import(module, name, ty, &types, wasm64)?;
    }
    let func_type = |index: u32| -> Option<&FuncType> {
        function_types.get(index as usize).and_then(|ty| types.get(*ty as usize))
    };
    check_exports(&exports, &func_type)?;
    Ok(ModuleInfo { wasm64 })
}

/// Names the feature a module uses that the IC does not allow.
fn check_features(wasm: &[u8]) -> Result<(), String> {
    if let Err(error) = Validator::new_with_features(WasmFeatures::all()).validate_all(wasm) {
        return Err(format!("invalid wasm module: {error}"));
    }
    let Err(error) = Validator::new_with_features(ic_features()).validate_all(wasm) else {
        return Ok(());
    };
    let features = [
        (
            WasmFeatures::THREADS | WasmFeatures::SHARED_EVERYTHING_THREADS,
            "threads (shared memory or atomics)",
        ),
        (WasmFeatures::RELAXED_SIMD, "relaxed SIMD"),
        (WasmFeatures::MULTI_MEMORY, "multiple memories"),
        (WasmFeatures::TAIL_CALL, "tail calls"),
        (WasmFeatures::EXCEPTIONS | WasmFeatures::LEGACY_EXCEPTIONS, "exceptions"),
        (
            WasmFeatures::GC | WasmFeatures::FUNCTION_REFERENCES,
            "garbage collection or typed function references",
        ),
    ];
    for (feature, name) in features {
        if Validator::new_with_features(ic_features() | feature).validate_all(wasm).is_ok() {
            return Err(format!(
                "Wasm module uses {name}, which the Internet Computer does not support"
            ));
        }
    }
    Err(format!("Wasm module uses a feature the Internet Computer does not support: {error}"))
}

/// Table instructions the replica refuses.
fn forbidden_operator(operator: &Operator<'_>) -> Option<&'static str> {
    match operator {
        Operator::TableGrow { .. } => Some("table.grow"),
        Operator::TableSet { .. } => Some("table.set"),
        Operator::TableFill { .. } => Some("table.fill"),
        Operator::TableCopy { .. } => Some("table.copy"),
        Operator::TableInit { .. } => Some("table.init"),
        _ => None,
    }
}

fn check_import(
    module: &str,
    name: &str,
    ty: &TypeRef,
    types: &[FuncType],
    wasm64: bool,
) -> Result<(), String> {
    let TypeRef::Func(index) = ty else {
        let kind = match ty {
            TypeRef::Memory(_) => "memory",
            TypeRef::Table(_) => "table",
            TypeRef::Global(_) => "global",
            _ => "tag",
        };
        return Err(format!(
            "Module imports {kind} '{name}' from '{module}': a canister may import only System API functions"
        ));
    };
    let api = (module == "ic0").then(|| api_function(name)).flatten();
    let Some(api) = api.filter(|api| !(wasm64 && api.wasm32_only)) else {
        return Err(format!(
            "Module imports function '{name}' from '{module}' that is not exported by the runtime."
        ));
    };
    let actual = &types[*index as usize];
    let pointer = if wasm64 { ValType::I64 } else { ValType::I32 };
    let expected = |list: &[ApiType]| -> Vec<ValType> {
        list.iter()
            .map(|t| match t {
                ApiType::I => pointer,
                ApiType::I32 => ValType::I32,
                ApiType::I64 => ValType::I64,
            })
            .collect()
    };
    let (params, results) = (expected(api.params), expected(api.results));
    if actual.params() != params.as_slice() || actual.results() != results.as_slice() {
        return Err(format!(
            "Module imports function '{name}' from 'ic0' with the wrong signature: expected {params:?} -> {results:?}, got {:?} -> {:?}",
            actual.params(),
            actual.results()
        ));
    }
    Ok(())
}

fn check_exports<'a>(
    exports: &[(String, ExternalKind, u32)],
    func_type: &dyn Fn(u32) -> Option<&'a FuncType>,
) -> Result<(), String> {
    let mut methods: BTreeMap<&str, &str> = BTreeMap::new();
    let mut name_bytes = 0;
    for (export, kind, index) in exports {
        if RESERVED_EXPORTS.contains(&export.as_str()) {
            return Err(format!("Exporting reserved symbol {export} not allowed."));
        }
        let method = ["canister_update ", "canister_query ", "canister_composite_query "]
            .iter()
            .find_map(|prefix| export.strip_prefix(prefix).map(|name| (prefix.trim_end(), name)));
        if method.is_none() && !export.starts_with("canister_") {
            continue;
        }
        if method.is_none() && !SYSTEM_METHODS.contains(&export.as_str()) {
            return Err(format!(
                "Wasm module has an invalid export section. Exporting reserved function '{export}' with \"canister_\" prefix"
            ));
        }
        if *kind != ExternalKind::Func {
            return Err(format!("Wasm module exports '{export}', which is not a function"));
        }
        match func_type(*index) {
            Some(ty) if ty.params().is_empty() && ty.results().is_empty() => {}
            _ => {
                return Err(format!(
                    "Wasm module has an invalid function signature. Expected no parameters and no results for '{export}'."
                ));
            }
        }
        if let Some((call_type, name)) = method {
            if let Some(other) = methods.insert(name, call_type)
                && other != call_type
            {
                return Err(format!(
                    "Duplicate function '{name}' exported multiple times with different call types: update, query, or composite_query."
                ));
            }
            name_bytes += name.len();
        }
    }
    if methods.len() > MAX_EXPORTED_METHODS {
        return Err(format!(
            "The number of exported functions called `canister_update <name>`, `canister_query <name>`, or `canister_composite_query <name>` is {} which exceeds {MAX_EXPORTED_METHODS}.",
            methods.len()
        ));
    }
    if name_bytes > MAX_EXPORTED_NAME_BYTES {
        return Err(format!(
            "The sum of `<name>` lengths in exported functions called `canister_update <name>`, `canister_query <name>`, or `canister_composite_query <name>` is {name_bytes} which exceeds the allowed limit of {MAX_EXPORTED_NAME_BYTES}."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wat: &str) -> Result<ModuleInfo, String> {
        validate(&wat::parse_str(wat).unwrap())
    }

    #[test]
    fn a_plain_canister_passes() {
        let info = check(
            r#"(module (import "ic0" "msg_reply" (func)) (memory 1)
                (func (export "canister_update go")) (func (export "canister_init")))"#,
        )
        .unwrap();
        assert!(!info.wasm64);
    }

    #[test]
    fn imports_outside_the_system_api_are_refused() {
        let error =
            check(r#"(module (import "env" "rand" (func (result i32))) (memory 1))"#).unwrap_err();
        assert_eq!(
            error,
            "Module imports function 'rand' from 'env' that is not exported by the runtime."
        );
        let error =
            check(r#"(module (import "ic0" "no_such_call" (func)) (memory 1))"#).unwrap_err();
        assert!(error.contains("'no_such_call' from 'ic0' that is not exported"), "{error}");
        let error = check(r#"(module (import "env" "memory" (memory 1)))"#).unwrap_err();
        assert!(error.contains("imports memory 'memory'"), "{error}");
    }

    #[test]
    fn imports_must_have_the_specified_signature() {
        let error = check(r#"(module (import "ic0" "msg_reply" (func (param i32))) (memory 1))"#)
            .unwrap_err();
        assert!(error.contains("'msg_reply' from 'ic0' with the wrong signature"), "{error}");
        // wasm64 modules take 64-bit pointers …
        check(r#"(module (import "ic0" "debug_print" (func (param i64 i64))) (memory i64 1))"#)
            .unwrap();
        let error =
            check(r#"(module (import "ic0" "debug_print" (func (param i32 i32))) (memory i64 1))"#)
                .unwrap_err();
        assert!(error.contains("wrong signature"), "{error}");
        // … and cannot use the 32-bit legacy functions.
        let error =
            check(r#"(module (import "ic0" "stable_size" (func (result i32))) (memory i64 1))"#)
                .unwrap_err();
        assert!(error.contains("not exported by the runtime"), "{error}");
    }

    #[test]
    fn unknown_canister_exports_are_refused() {
        let error = check(r#"(module (memory 1) (func (export "canister_bogus")))"#).unwrap_err();
        assert!(error.contains("Exporting reserved function 'canister_bogus'"), "{error}");
        let error = check(r#"(module (memory 1) (func (export "canister_start")))"#).unwrap_err();
        assert_eq!(error, "Exporting reserved symbol canister_start not allowed.");
        // Other exports are the module's own business.
        check(r#"(module (memory 1) (func (export "helper")))"#).unwrap();
    }

    #[test]
    fn methods_take_and_return_nothing_and_have_one_call_type() {
        let error = check(r#"(module (memory 1) (func (export "canister_query q") (param i32)))"#)
            .unwrap_err();
        assert!(error.contains("invalid function signature"), "{error}");
        let error = check(
            r#"(module (memory 1) (func (export "canister_query m")) (func (export "canister_update m")))"#,
        )
        .unwrap_err();
        assert!(error.starts_with("Duplicate function 'm'"), "{error}");
    }

    #[test]
    fn threads_and_relaxed_simd_are_named() {
        let error = check(r#"(module (memory 1 1 shared))"#).unwrap_err();
        assert!(error.contains("threads"), "{error}");
        let error = check(
            r#"(module (func (param v128 v128 v128) (result v128)
                 (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))))"#,
        )
        .unwrap_err();
        assert!(error.contains("relaxed SIMD"), "{error}");
    }

    #[test]
    fn limits_are_enforced() {
        let globals: String = (0..=MAX_GLOBALS).map(|_| "(global i32 (i32.const 0))").collect();
        let error = check(&format!("(module {globals})")).unwrap_err();
        assert!(
            error.contains("1001 globals which exceeds the maximum number allowed 1000"),
            "{error}"
        );
        let error = check(
            r#"(module (table 1 funcref) (func (table.grow (ref.null func) (i32.const 1)) drop))"#,
        )
        .unwrap_err();
        assert!(error.contains("table.grow"), "{error}");
    }

    #[test]
    fn invalid_wasm_is_refused() {
        let error = validate(b"\0asm\x01\0\0\0garbage").unwrap_err();
        assert!(error.starts_with("invalid wasm module"), "{error}");
    }
}
