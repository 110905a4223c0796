//! The wasmtime engine, configured for deterministic execution, and compiled
//! canister modules.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Strategy};

use crate::InstallError;
use crate::costs::Limits;
use crate::instrument;
use crate::metering;
use crate::system_api::{self, StoreData};
use crate::validation;

/// Which compiler turns wasm into machine code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compiler {
    /// Cranelift, wasmtime's optimising compiler.
    #[default]
    Cranelift,
    /// Winch, wasmtime's baseline compiler: a second, independent code
    /// generator to cross-check determinism against.
    Winch,
    /// Pulley, wasmtime's portable interpreter: Cranelift lowers the module
    /// to Pulley bytecode, which no machine-code generator touches — a
    /// third executor, slow but independent of either backend's code.
    Pulley,
}

impl Compiler {
    pub const ALL: [Self; 3] = [Self::Cranelift, Self::Winch, Self::Pulley];

    /// The name on the command line: `cranelift`, `winch`, `pulley`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cranelift => "cranelift",
            Self::Winch => "winch",
            Self::Pulley => "pulley",
        }
    }
}

impl std::str::FromStr for Compiler {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|compiler| compiler.name() == name).ok_or_else(|| {
            format!("no compiler {name:?}: the choices are cranelift, winch and pulley")
        })
    }
}

/// How a [`Host`] is set up.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    pub compiler: Compiler,
    /// Where compiled modules are cached; compile every time if `None`.
    pub cache_dir: Option<PathBuf>,
    /// Instruction limits per message.
    pub limits: Limits,
    /// Keep a hash of every canister's state up to date
    /// ([`crate::Canister::state_hash`]); costs two page hashes per page a
    /// message changes.
    pub track_state: bool,
}

/// An engine and the System API linked for one kind of module.
struct Backend {
    engine: Engine,
    linker: Linker<StoreData>,
}

/// The wasmtime engines and System API linkers, shared by all canisters:
/// one for wasm32 modules and one for wasm64 modules, whose memory accesses
/// cost more and whose System API takes 64-bit pointers.
pub struct Host {
    wasm32: Backend,
    wasm64: Backend,
    config: HostConfig,
}

impl Host {
    pub fn new(config: HostConfig) -> anyhow::Result<Self> {
        let backend = |wasm64: bool| -> anyhow::Result<Backend> {
            let engine = Engine::new(&deterministic_config(config.compiler, wasm64)?)?;
            let mut linker = Linker::new(&engine);
            if wasm64 {
                system_api::add_to_linker::<u64>(&mut linker, false)?;
            } else {
                system_api::add_to_linker::<u32>(&mut linker, true)?;
            }
            system_api::add_host_imports(&mut linker, wasm64)?;
            Ok(Backend { engine, linker })
        };
        Ok(Self { wasm32: backend(false)?, wasm64: backend(true)?, config })
    }

    pub fn compiler(&self) -> Compiler {
        self.config.compiler
    }

    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    pub fn tracks_state(&self) -> bool {
        self.config.track_state
    }

    /// Prepares a canister module for installation: validates, instruments,
    /// compiles and links it. With a cache directory, a module this host
    /// (the same sources, the same engines) prepared before is loaded
    /// instead, skipping validation, instrumentation and compilation.
    pub fn compile(&self, wasm: &[u8]) -> Result<Arc<CanisterModule>, InstallError> {
        let hash: [u8; 32] = Sha256::digest(wasm).into();
        let entry = self.config.cache_dir.as_ref().map(|dir| self.cache_entry(dir, &hash));
        let cached = entry.as_ref().and_then(|entry| entry.load(self));
        let (module, prepared) = match cached {
            Some(cached) => cached,
            None => {
                let info = validation::validate(wasm).map_err(InstallError::InvalidModule)?;
                let instrumented = instrument::instrument(wasm)
                    .map_err(|e| InstallError::InvalidModule(e.to_string()))?;
                let engine = &self.backend(info.wasm64).engine;
                let module = Module::new(engine, &instrumented.wasm)
                    .map_err(|e| InstallError::InvalidModule(format!("{e:#}")))?;
                let prepared = Prepared { wasm64: info.wasm64, globals: instrumented.globals };
                if let Some(entry) = &entry {
                    entry.store(&module, &prepared);
                }
                (module, prepared)
            }
        };
        let pre = self
            .backend(prepared.wasm64)
            .linker
            .instantiate_pre(&module)
            .map_err(|e| InstallError::InvalidModule(format!("{e:#}")))?;
        let exports = module.exports().map(|e| e.name().to_owned()).collect();
        Ok(Arc::new(CanisterModule {
            pre,
            globals: prepared.globals,
            exports,
            hash,
            wasm64: prepared.wasm64,
        }))
    }

    fn backend(&self, wasm64: bool) -> &Backend {
        if wasm64 { &self.wasm64 } else { &self.wasm32 }
    }

    /// Where the module whose SHA-256 is `hash` is cached. The name holds
    /// what the cached preparation depends on besides the module: this
    /// crate's sources (validation, instrumentation, metering) and both
    /// engines' compatibility hashes (wasmtime's version and settings).
    fn cache_entry(&self, dir: &Path, hash: &[u8; 32]) -> CacheEntry {
        let mut hasher = DefaultHasher::new();
        env!("CANISTER_HOST_SOURCE_HASH").hash(&mut hasher);
        self.wasm32.engine.precompile_compatibility_hash().hash(&mut hasher);
        self.wasm64.engine.precompile_compatibility_hash().hash(&mut hasher);
        let name = format!("{}-{:016x}.cwasm", hex::encode(&hash[..16]), hasher.finish());
        CacheEntry { module: dir.join(name) }
    }
}

/// What preparing a module found out besides its machine code, kept in the
/// cache beside it.
#[derive(Debug, PartialEq, Eq)]
struct Prepared {
    wasm64: bool,
    /// Export names of the mutable globals instrumentation exported.
    globals: Vec<String>,
}

/// A compiled module in the cache directory: the serialized module, and
/// beside it (`.cwasm.meta`) a SHA-256 of the module and the facts below it,
/// followed by [`Prepared`] as lines: `wasm32` or `wasm64`, then one global
/// export name per line.
struct CacheEntry {
    module: PathBuf,
}

impl CacheEntry {
    fn meta_path(&self) -> PathBuf {
        self.module.with_extension("cwasm.meta")
    }

    /// The cached module and its facts, if they are there and intact: a
    /// truncated, corrupted or foreign file must never reach wasmtime, whose
    /// deserialisation trusts its input; the module is prepared again.
    fn load(&self, host: &Host) -> Option<(Module, Prepared)> {
        let bytes = std::fs::read(&self.module).ok()?;
        let meta = std::fs::read_to_string(self.meta_path()).ok()?;
        let Some(prepared) = Self::check(&bytes, &meta) else {
            tracing::warn!("recompiling: the cached module {} is corrupt", self.module.display());
            return None;
        };
        let engine = &host.backend(prepared.wasm64).engine;
        // SAFETY: the file is what `Module::serialize` of an engine with
        // the same compatibility hash (it is in the name) wrote: its
        // SHA-256 is the one recorded beside it, so it is neither
        // truncated nor corrupted. wasmtime still checks that it fits
        // this engine. (Mapping the file, rather than deserialising a
        // copy, lets wasmtime initialise heaps from the mapping.)
        match unsafe { Module::deserialize_file(engine, &self.module) } {
            Ok(module) => Some((module, prepared)),
            Err(error) => {
                tracing::warn!("recompiling: {}: {error:#}", self.module.display());
                None
            }
        }
    }

    /// The facts of `meta`, if its checksum is that of `module` and of them.
    fn check(module: &[u8], meta: &str) -> Option<Prepared> {
        let (recorded, facts) = meta.split_once('\n')?;
        if recorded.as_bytes() != Self::checksum(module, facts).as_bytes() {
            return None;
        }
        let mut lines = facts.lines();
        let wasm64 = match lines.next()? {
            "wasm32" => false,
            "wasm64" => true,
            _ => return None,
        };
        Some(Prepared { wasm64, globals: lines.map(str::to_owned).collect() })
    }

    fn checksum(module: &[u8], facts: &str) -> String {
        hex::encode(Sha256::new().chain_update(module).chain_update(facts).finalize())
    }

    /// Caches `module`. The cache is an optimisation: failing to write it
    /// is not an error.
    fn store(&self, module: &Module, prepared: &Prepared) {
        let Ok(bytes) = module.serialize() else { return };
        let Some(dir) = self.module.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let mut facts = String::from(if prepared.wasm64 { "wasm64" } else { "wasm32" });
        for global in &prepared.globals {
            facts.push('\n');
            facts.push_str(global);
        }
        let meta = format!("{}\n{facts}", Self::checksum(&bytes, &facts));
        let _ = write_atomically(&self.meta_path(), meta.as_bytes())
            .and_then(|()| write_atomically(&self.module, &bytes));
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// wasmtime set up so that the same module and inputs give the same result,
/// the same instruction count and the same memory on every machine.
fn deterministic_config(compiler: Compiler, wasm64: bool) -> anyhow::Result<Config> {
    let mut config = Config::new();
    config.strategy(match compiler {
        Compiler::Cranelift | Compiler::Pulley => Strategy::Cranelift,
        Compiler::Winch => Strategy::Winch,
    });
    if compiler == Compiler::Pulley {
        // The interpreter's bytecode for this machine's pointer width.
        config.target(if cfg!(target_pointer_width = "64") { "pulley64" } else { "pulley32" })?;
    }
    // Instructions are counted, and limited, with fuel, at the replica's
    // costs. Fuel has no dynamic costs, which Winch would not count.
    config.consume_fuel(true);
    config.operator_cost(metering::operator_cost(wasm64));
    // NaNs produced by float operations get one canonical bit pattern.
    config.cranelift_nan_canonicalization(true);
    // Relaxed SIMD has platform-dependent results; plain SIMD does not.
    config.wasm_relaxed_simd(false);
    config.relaxed_simd_deterministic(true);
    // Motoko canisters are wasm64.
    config.wasm_memory64(true);
    config.wasm_multi_memory(false);
    config.wasm_gc(false);
    config.wasm_stack_switching(false);
    Ok(config)
}

/// A compiled, linked canister module, ready to instantiate.
pub struct CanisterModule {
    pub(crate) pre: InstancePre<StoreData>,
    /// Export names of the mutable globals the host saves and restores.
    pub(crate) globals: Vec<String>,
    exports: BTreeSet<String>,
    hash: [u8; 32],
    wasm64: bool,
}

impl CanisterModule {
    /// The engine the module was compiled by.
    pub(crate) fn engine(&self) -> &Engine {
        self.pre.module().engine()
    }

    /// SHA-256 of the module as installed (before instrumentation), as the
    /// replica reports it.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    pub fn exports(&self, name: &str) -> bool {
        self.exports.contains(name)
    }

    /// Whether the module's memory is 64-bit (its instructions cost double).
    pub fn wasm64(&self) -> bool {
        self.wasm64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_api::{API, ApiType};
    use wasmtime::{Store, ValType};

    const MODULE: &str = r#"(module (func (export "canister_update f")))"#;

    /// A truncated or corrupted cache file is recompiled, never loaded, and
    /// replaced by a good one.
    #[test]
    fn a_damaged_module_cache_is_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(HostConfig {
            cache_dir: Some(dir.path().to_owned()),
            ..HostConfig::default()
        })
        .unwrap();
        let wasm = wat::parse_str(MODULE).unwrap();
        let hash: [u8; 32] = Sha256::digest(&wasm).into();
        let entry = host.cache_entry(dir.path(), &hash);
        host.compile(&wasm).unwrap();
        let intact = || entry.load(&host).is_some();
        assert!(intact());
        let good = std::fs::read(&entry.module).unwrap();
        let good_meta = std::fs::read(entry.meta_path()).unwrap();

        let mut flipped = good.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x40;
        for damaged in [good[..good.len() / 3].to_vec(), flipped, Vec::new()] {
            std::fs::write(&entry.module, &damaged).unwrap();
            assert!(!intact());
            assert!(host.compile(&wasm).unwrap().exports("canister_update f"));
            assert!(intact(), "the cache is rewritten");
        }
        // The facts beside the module are checked too: a module that claims
        // other globals, or to be wasm64, is not believed.
        let meta = String::from_utf8(good_meta).unwrap();
        for forged in [
            meta.replace("wasm32", "wasm64"),
            format!("{meta}\n__canister_host_global_0"),
            meta[..meta.len() / 2].to_owned(),
        ] {
            std::fs::write(entry.meta_path(), forged).unwrap();
            assert!(!intact());
        }
        std::fs::remove_file(entry.meta_path()).unwrap();
        assert!(!intact(), "a module without its checksum is not trusted");
        assert!(host.compile(&wasm).unwrap().exports("canister_update f"));
        assert!(intact());
    }

    /// A cache hit gives the module that preparing it gives: the same
    /// exports, saved globals and memory kind, for wasm32 and wasm64.
    #[test]
    fn a_cached_module_is_the_module_prepared() {
        let dir = tempfile::tempdir().unwrap();
        let cached = Host::new(HostConfig {
            cache_dir: Some(dir.path().to_owned()),
            ..HostConfig::default()
        })
        .unwrap();
        let uncached = Host::new(HostConfig::default()).unwrap();
        for module in [
            r#"(module (memory 1) (global (mut i32) (i32.const 0)) (global (mut i64) (i64.const 0))
                 (func (export "canister_update f")))"#,
            r#"(module (memory i64 1) (global (mut i32) (i32.const 0))
                 (func (export "canister_query g")))"#,
        ] {
            let wasm = wat::parse_str(module).unwrap();
            let expected = uncached.compile(&wasm).unwrap();
            cached.compile(&wasm).unwrap();
            let hash: [u8; 32] = Sha256::digest(&wasm).into();
            assert!(cached.cache_entry(dir.path(), &hash).load(&cached).is_some());
            let hit = cached.compile(&wasm).unwrap();
            assert_eq!(hit.globals, expected.globals);
            assert!(!hit.globals.is_empty());
            assert_eq!(hit.wasm64, expected.wasm64);
            assert_eq!(hit.exports, expected.exports);
            assert_eq!(hit.hash, expected.hash);
        }
    }

    /// Every function of the specification's table is registered with exactly
    /// its signature: `I` = i32 for wasm32, i64 for wasm64.
    #[test]
    fn the_linkers_provide_the_specified_signatures() {
        let host = Host::new(HostConfig::default()).unwrap();
        for (backend, pointer, wasm32) in
            [(&host.wasm32, ValType::I32, true), (&host.wasm64, ValType::I64, false)]
        {
            let linker = &backend.linker;
            let mut store = Store::new(&backend.engine, StoreData::default());
            for api in API {
                let registered = linker.get(&mut store, "ic0", api.name).ok();
                if api.wasm32_only && !wasm32 {
                    assert!(registered.is_none(), "{} is wasm32-only", api.name);
                    continue;
                }
                let func = registered
                    .and_then(|e| e.into_func())
                    .unwrap_or_else(|| panic!("ic0.{} is not provided", api.name));
                let ty = func.ty(&store);
                let expected = |list: &[ApiType]| -> Vec<String> {
                    list.iter()
                        .map(|t| match t {
                            ApiType::I => pointer.to_string(),
                            ApiType::I32 => ValType::I32.to_string(),
                            ApiType::I64 => ValType::I64.to_string(),
                        })
                        .collect()
                };
                let actual_params: Vec<String> = ty.params().map(|p| p.to_string()).collect();
                let actual_results: Vec<String> = ty.results().map(|r| r.to_string()).collect();
                assert_eq!(actual_params, expected(api.params), "params of ic0.{}", api.name);
                assert_eq!(actual_results, expected(api.results), "results of ic0.{}", api.name);
            }
            // Nothing is provided that the table does not list.
            let names: Vec<String> = linker
                .iter(&mut store)
                .map(|(module, name, _)| format!("{module}.{name}"))
                .collect();
            for name in names {
                if name.starts_with(instrument::HOST_MODULE) {
                    continue; // the host's own import for instrumentation
                }
                let api = name.strip_prefix("ic0.").and_then(crate::system_api::api_function);
                assert!(api.is_some(), "{name} is registered but not in the table");
            }
        }
    }
}
