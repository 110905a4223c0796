//! Install-time rewriting of a canister module.
//!
//! A message that traps must leave no trace, and wasm state lives in more
//! places than linear memory: mutable globals (Rust's `__stack_pointer`, for
//! one, is left mid-stack by a trap). Like the IC replica, the host exports
//! every mutable global under a reserved name so it can save and restore them,
//! and exports the memory if the module does not. Nothing else changes.

use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{ExportKind, ExportSection, Module, SectionId};
use wasmtime::wasmparser::{self, Parser, Payload};

/// Prefix of the exports the host adds for mutable globals.
pub const GLOBAL_EXPORT_PREFIX: &str = "__canister_host_global_";
/// Name under which the host reaches the canister's memory.
pub const MEMORY_EXPORT: &str = "__canister_host_memory";

/// What the rewritten module exports for the host.
#[derive(Clone, Debug, Default)]
pub struct Instrumented {
    pub wasm: Vec<u8>,
    /// Export names of the mutable globals, in index order.
    pub globals: Vec<String>,
    /// Whether the module has a memory at all.
    pub has_memory: bool,
}

/// Adds the host's exports to `wasm`.
pub fn instrument(wasm: &[u8]) -> Result<Instrumented, wasmparser::BinaryReaderError> {
    let mut imported_globals = 0u32;
    let mut mutable = Vec::new();
    let mut has_memory = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import?;
                    match import.ty {
                        wasmparser::TypeRef::Global(_) => imported_globals += 1,
                        wasmparser::TypeRef::Memory(_) => has_memory = true,
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(section) => has_memory |= section.count() > 0,
            Payload::GlobalSection(section) => {
                for (i, global) in section.into_iter().enumerate() {
                    if global?.ty.mutable {
                        mutable.push(imported_globals + i as u32);
                    }
                }
            }
            _ => {}
        }
    }
    let globals: Vec<(u32, String)> = mutable
        .into_iter()
        .map(|index| (index, format!("{GLOBAL_EXPORT_PREFIX}{index}")))
        .collect();

    let mut adder = ExportAdder {
        globals: &globals,
        has_memory,
        done: false,
    };
    let mut module = Module::new();
    adder
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|err| match err {
            reencode::Error::ParseError(e) => e,
            other => panic!("re-encoding a parsed module failed: {other}"),
        })?;
    Ok(Instrumented {
        wasm: module.finish(),
        globals: globals.into_iter().map(|(_, name)| name).collect(),
        has_memory,
    })
}

struct ExportAdder<'a> {
    globals: &'a [(u32, String)],
    has_memory: bool,
    done: bool,
}

impl ExportAdder<'_> {
    fn add_exports(&mut self, exports: &mut ExportSection) {
        for (index, name) in self.globals {
            exports.export(name, ExportKind::Global, *index);
        }
        if self.has_memory {
            exports.export(MEMORY_EXPORT, ExportKind::Memory, 0);
        }
        self.done = true;
    }
}

impl Reencode for ExportAdder<'_> {
    type Error = std::convert::Infallible;

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        self.add_exports(exports);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        // A module without an export section gets one where it belongs.
        let past_exports = match before {
            None => true,
            Some(id) => matches!(
                id,
                SectionId::Start
                    | SectionId::Element
                    | SectionId::DataCount
                    | SectionId::Code
                    | SectionId::Data
            ),
        };
        if past_exports && !self.done {
            let mut exports = ExportSection::new();
            self.add_exports(&mut exports);
            module.section(&exports);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_mutable_globals_and_memory() {
        let wasm = wat::parse_str(
            r#"(module
                (global $sp (mut i32) (i32.const 1024))
                (global $k i32 (i32.const 7))
                (global $n (mut i64) (i64.const 0))
                (memory 1)
                (func (export "canister_query hi")))"#,
        )
        .unwrap();
        let out = instrument(&wasm).unwrap();
        assert_eq!(
            out.globals,
            vec![
                format!("{GLOBAL_EXPORT_PREFIX}0"),
                format!("{GLOBAL_EXPORT_PREFIX}2")
            ]
        );
        assert!(out.has_memory);
        let exports: Vec<String> = Parser::new(0)
            .parse_all(&out.wasm)
            .filter_map(|p| match p.unwrap() {
                Payload::ExportSection(s) => Some(
                    s.into_iter()
                        .map(|e| e.unwrap().name.to_owned())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            exports,
            vec![
                "canister_query hi".to_owned(),
                out.globals[0].clone(),
                out.globals[1].clone(),
                MEMORY_EXPORT.to_owned()
            ]
        );
        wasmparser::Validator::new()
            .validate_all(&out.wasm)
            .unwrap();
    }

    #[test]
    fn adds_an_export_section_when_there_is_none() {
        let wasm = wat::parse_str(
            r#"(module (global (mut i32) (i32.const 0)) (memory 1) (func) (start 0))"#,
        )
        .unwrap();
        let out = instrument(&wasm).unwrap();
        assert_eq!(out.globals.len(), 1);
        wasmparser::Validator::new()
            .validate_all(&out.wasm)
            .unwrap();
    }
}
