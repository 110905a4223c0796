//! Install-time rewriting of a canister module.
//!
//! Two changes, both invisible to the canister:
//!
//! - A message that traps must leave no trace, and wasm state lives in more
//!   places than linear memory: mutable globals (Rust's `__stack_pointer`,
//!   for one, is left mid-stack by a trap). Like the IC replica, the host
//!   exports every mutable global under a reserved name so it can save and
//!   restore them, and exports the memory if the module does not.
//! - `memory.copy`, `memory.fill` and `memory.init` cost one instruction per
//!   byte on the IC. Before each of them the host inserts a call to its own
//!   import [`CHARGE_BYTES`], which charges the length operand (see
//!   [`crate::metering`] for why this is not done with fuel).

use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    CodeSection, EntityType, ExportKind, ExportSection, ImportSection, Instruction, Module,
    SectionId, TypeSection, ValType,
};
use wasmtime::wasmparser::{self, Operator, Parser, Payload, TypeRef};

/// Prefix of the exports the host adds for mutable globals.
pub const GLOBAL_EXPORT_PREFIX: &str = "__canister_host_global_";
/// Name under which the host reaches the canister's memory.
pub const MEMORY_EXPORT: &str = "__canister_host_memory";
/// Module of the imports the host adds.
pub const HOST_MODULE: &str = "__canister_host";
/// The import that charges bulk-memory lengths: `(i64) -> i64`, returning
/// its argument.
pub const CHARGE_BYTES: &str = "charge_bytes";

/// What the rewritten module exports for the host.
#[derive(Clone, Debug, Default)]
pub struct Instrumented {
    pub wasm: Vec<u8>,
    /// Export names of the mutable globals, in index order.
    pub globals: Vec<String>,
    /// Whether the module has a memory at all.
    pub has_memory: bool,
}

/// What a first pass over the module finds.
#[derive(Default)]
struct Survey {
    imported_functions: u32,
    imported_globals: u32,
    types: u32,
    mutable_globals: Vec<u32>,
    has_memory: bool,
    wasm64: bool,
    bulk_memory: bool,
}

fn survey(wasm: &[u8]) -> Result<Survey, wasmparser::BinaryReaderError> {
    let mut survey = Survey::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(section) => {
                for group in section {
                    survey.types += group?.types().len() as u32;
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    match import?.ty {
                        TypeRef::Func(_) => survey.imported_functions += 1,
                        TypeRef::Global(_) => survey.imported_globals += 1,
                        TypeRef::Memory(memory) => {
                            survey.has_memory = true;
                            survey.wasm64 |= memory.memory64;
                        }
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    let memory = memory?;
                    survey.has_memory = true;
                    survey.wasm64 |= memory.memory64;
                }
            }
            Payload::GlobalSection(section) => {
                for (i, global) in section.into_iter().enumerate() {
                    if global?.ty.mutable {
                        survey.mutable_globals.push(survey.imported_globals + i as u32);
                    }
                }
            }
            Payload::CodeSectionEntry(body) if !survey.bulk_memory => {
                let mut reader = body.get_operators_reader()?;
                while !reader.eof() {
                    if matches!(
                        reader.read()?,
                        Operator::MemoryCopy { .. }
                            | Operator::MemoryFill { .. }
                            | Operator::MemoryInit { .. }
                    ) {
                        survey.bulk_memory = true;
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(survey)
}

/// Adds the host's exports and bulk-memory charges to `wasm`.
pub fn instrument(wasm: &[u8]) -> Result<Instrumented, wasmparser::BinaryReaderError> {
    let survey = survey(wasm)?;
    let globals: Vec<(u32, String)> = survey
        .mutable_globals
        .iter()
        .map(|&index| (index, format!("{GLOBAL_EXPORT_PREFIX}{index}")))
        .collect();
    let mut rewriter =
        Rewriter { globals: &globals, survey: &survey, exports_done: false, imports_done: false };
    let mut module = Module::new();
    rewriter.parse_core_module(&mut module, Parser::new(0), wasm).map_err(|err| match err {
        reencode::Error::ParseError(e) => e,
        other => panic!("re-encoding a parsed module failed: {other}"),
    })?;
    Ok(Instrumented {
        wasm: module.finish(),
        globals: globals.into_iter().map(|(_, name)| name).collect(),
        has_memory: survey.has_memory,
    })
}

struct Rewriter<'a> {
    globals: &'a [(u32, String)],
    survey: &'a Survey,
    exports_done: bool,
    imports_done: bool,
}

impl Rewriter<'_> {
    /// Index of the inserted charge import, if the module needs one. It
    /// comes after the module's own function imports.
    fn charge_function(&self) -> Option<u32> {
        self.survey.bulk_memory.then_some(self.survey.imported_functions)
    }

    fn add_exports(&mut self, exports: &mut ExportSection) {
        for (index, name) in self.globals {
            exports.export(name, ExportKind::Global, *index);
        }
        if self.survey.has_memory {
            exports.export(MEMORY_EXPORT, ExportKind::Memory, 0);
        }
        self.exports_done = true;
    }

    fn add_import(&mut self, imports: &mut ImportSection) {
        if self.charge_function().is_some() {
            imports.import(HOST_MODULE, CHARGE_BYTES, EntityType::Function(self.survey.types));
        }
        self.imports_done = true;
    }
}

impl Reencode for Rewriter<'_> {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error<Self::Error>> {
        // Defined functions move up by one when the charge import is added.
        Ok(match self.charge_function() {
            Some(charge) if func >= charge => func + 1,
            _ => func,
        })
    }

    fn parse_type_section(
        &mut self,
        types: &mut TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_type_section(self, types, section)?;
        if self.charge_function().is_some() {
            types.ty().function([ValType::I64], [ValType::I64]);
        }
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_import_section(self, imports, section)?;
        self.add_import(imports);
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        self.add_exports(exports);
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let mut function = self.new_function_with_parsed_locals(&func)?;
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let instruction = self.parse_instruction(&mut reader)?;
            if let Some(charge) = self.charge_function() {
                let length_is_i32 = match instruction {
                    // memory.init always takes an i32 length.
                    Instruction::MemoryInit { .. } => Some(true),
                    Instruction::MemoryCopy { .. } | Instruction::MemoryFill { .. } => {
                        Some(!self.survey.wasm64)
                    }
                    _ => None,
                };
                if let Some(is_i32) = length_is_i32 {
                    // The length is on top of the stack; charge it and put it back.
                    if is_i32 {
                        function.instruction(&Instruction::I64ExtendI32U);
                    }
                    function.instruction(&Instruction::Call(charge));
                    if is_i32 {
                        function.instruction(&Instruction::I32WrapI64);
                    }
                }
            }
            function.instruction(&instruction);
        }
        code.function(&function);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        // Sections the module lacks are added where they belong.
        let past = |ids: &[SectionId]| before.is_none_or(|id| ids.contains(&id));
        if !self.imports_done
            && past(&[
                SectionId::Function,
                SectionId::Table,
                SectionId::Memory,
                SectionId::Tag,
                SectionId::Global,
                SectionId::Export,
                SectionId::Start,
                SectionId::Element,
                SectionId::DataCount,
                SectionId::Code,
                SectionId::Data,
            ])
        {
            let mut imports = ImportSection::new();
            self.add_import(&mut imports);
            if !imports.is_empty() {
                module.section(&imports);
            }
        }
        if !self.exports_done
            && past(&[
                SectionId::Start,
                SectionId::Element,
                SectionId::DataCount,
                SectionId::Code,
                SectionId::Data,
            ])
        {
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

    fn exports(wasm: &[u8]) -> Vec<String> {
        Parser::new(0)
            .parse_all(wasm)
            .filter_map(|p| match p.unwrap() {
                Payload::ExportSection(s) => {
                    Some(s.into_iter().map(|e| e.unwrap().name.to_owned()).collect::<Vec<_>>())
                }
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn validate(wasm: &[u8]) {
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(wasm)
            .unwrap();
    }

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
            vec![format!("{GLOBAL_EXPORT_PREFIX}0"), format!("{GLOBAL_EXPORT_PREFIX}2")]
        );
        assert!(out.has_memory);
        assert_eq!(
            exports(&out.wasm),
            vec![
                "canister_query hi".to_owned(),
                out.globals[0].clone(),
                out.globals[1].clone(),
                MEMORY_EXPORT.to_owned()
            ]
        );
        validate(&out.wasm);
    }

    #[test]
    fn adds_an_export_section_when_there_is_none() {
        let wasm = wat::parse_str(
            r#"(module (global (mut i32) (i32.const 0)) (memory 1) (func) (start 0))"#,
        )
        .unwrap();
        let out = instrument(&wasm).unwrap();
        assert_eq!(out.globals.len(), 1);
        validate(&out.wasm);
    }

    #[test]
    fn bulk_memory_gets_a_charge_call_and_functions_are_renumbered() {
        let wasm = wat::parse_str(
            r#"(module
                (import "ic0" "msg_reply" (func $reply))
                (memory 1)
                (func $copy (memory.copy (i32.const 0) (i32.const 10) (i32.const 5)))
                (func (export "canister_update go") (call $copy) (call $reply)))"#,
        )
        .unwrap();
        let out = instrument(&wasm).unwrap();
        validate(&out.wasm);
        let text = wasmprinter::print_bytes(&out.wasm).unwrap();
        assert!(text.contains(r#"(import "__canister_host" "charge_bytes" (func"#), "{text}");
        // The charge wraps the length; the calls point at the moved functions.
        assert!(
            text.contains("i64.extend_i32_u\n    call 1\n    i32.wrap_i64\n    memory.copy"),
            "{text}"
        );
        // Function 2 is $copy, moved up by one; the name section moved with it.
        assert!(text.contains("(func $copy (;2;)"), "{text}");
        assert!(text.contains("call $copy\n    call $reply"), "{text}");
    }

    #[test]
    fn modules_without_imports_get_an_import_section() {
        let wasm = wat::parse_str(
            r#"(module (memory 1) (func (export "f") (memory.fill (i32.const 0) (i32.const 1) (i32.const 2))))"#,
        )
        .unwrap();
        let out = instrument(&wasm).unwrap();
        validate(&out.wasm);
    }
}
