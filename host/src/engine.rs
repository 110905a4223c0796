//! The wasmtime engine, configured for deterministic execution, and compiled
//! canister modules.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
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
            let engine = Engine::new(&deterministic_config(config.compiler, wasm64))?;
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

    /// Prepares a canister module for installation: instruments, compiles
    /// (or loads from the cache) and links it.
    pub fn compile(&self, wasm: &[u8]) -> Result<Arc<CanisterModule>, InstallError> {
        let info = validation::validate(wasm).map_err(InstallError::InvalidModule)?;
        let instrumented =
            instrument::instrument(wasm).map_err(|e| InstallError::InvalidModule(e.to_string()))?;
        let hash: [u8; 32] = Sha256::digest(wasm).into();
        let backend = if info.wasm64 { &self.wasm64 } else { &self.wasm32 };
        let module = self.load_or_compile(&backend.engine, &instrumented.wasm)?;
        let pre = backend
            .linker
            .instantiate_pre(&module)
            .map_err(|e| InstallError::InvalidModule(format!("{e:#}")))?;
        let exports = module.exports().map(|e| e.name().to_owned()).collect();
        Ok(Arc::new(CanisterModule {
            pre,
            globals: instrumented.globals,
            exports,
            hash,
            wasm64: info.wasm64,
        }))
    }

    fn load_or_compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Module, InstallError> {
        let compile =
            || Module::new(engine, wasm).map_err(|e| InstallError::InvalidModule(format!("{e:#}")));
        let Some(dir) = &self.config.cache_dir else {
            return compile();
        };
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let digest = Sha256::digest(wasm);
        let path =
            dir.join(format!("{}-{:016x}.cwasm", hex::encode(&digest[..16]), hasher.finish()));
        if cached_intact(&path) {
            // SAFETY: the file is what `Module::serialize` of an engine with
            // the same compatibility hash (it is in the name) wrote: its
            // SHA-256 is the one recorded beside it, so it is neither
            // truncated nor corrupted. wasmtime still checks that it fits
            // this engine. (Mapping the file, rather than deserialising a
            // copy, lets wasmtime initialise heaps from the mapping.)
            match unsafe { Module::deserialize_file(engine, &path) } {
                Ok(module) => return Ok(module),
                Err(error) => tracing::warn!("recompiling: {}: {error:#}", path.display()),
            }
        }
        let module = compile()?;
        // The cache is an optimisation: failing to write it is not an error.
        if let Ok(bytes) = module.serialize()
            && std::fs::create_dir_all(dir).is_ok()
        {
            let digest = Sha256::digest(&bytes);
            let _ = write_atomically(&checksum_path(&path), hex::encode(digest).as_bytes())
                .and_then(|()| write_atomically(&path, &bytes));
        }
        Ok(module)
    }
}

/// Where the SHA-256 of a cached compiled module is kept, as hex.
fn checksum_path(cached: &std::path::Path) -> std::path::PathBuf {
    cached.with_extension("cwasm.sha256")
}

/// Whether the compiled module cached at `path` is there and intact: a
/// truncated, corrupted or foreign file must never reach wasmtime, whose
/// deserialisation trusts its input; it is recompiled instead.
fn cached_intact(path: &std::path::Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    let recorded = std::fs::read(checksum_path(path)).unwrap_or_default();
    let intact = recorded == hex::encode(Sha256::digest(&bytes)).as_bytes();
    if !intact {
        tracing::warn!("recompiling: the cached module {} is corrupt", path.display());
    }
    intact
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// wasmtime set up so that the same module and inputs give the same result,
/// the same instruction count and the same memory on every machine.
fn deterministic_config(compiler: Compiler, wasm64: bool) -> Config {
    let mut config = Config::new();
    config.strategy(match compiler {
        Compiler::Cranelift => Strategy::Cranelift,
        Compiler::Winch => Strategy::Winch,
    });
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
    config
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
        let dir = std::env::temp_dir().join(format!("cevm-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let host = Host::new(HostConfig { cache_dir: Some(dir.clone()), ..HostConfig::default() })
            .unwrap();
        let wasm = wat::parse_str(MODULE).unwrap();
        host.compile(&wasm).unwrap();
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| path.extension().is_some_and(|e| e == "cwasm"))
            .unwrap();
        let good = std::fs::read(&file).unwrap();
        assert!(cached_intact(&file));

        let mut flipped = good.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x40;
        for damaged in [good[..good.len() / 3].to_vec(), flipped, Vec::new()] {
            std::fs::write(&file, &damaged).unwrap();
            assert!(!cached_intact(&file));
            assert!(host.compile(&wasm).unwrap().exports("canister_update f"));
            assert!(cached_intact(&file), "the cache is rewritten");
        }
        std::fs::remove_file(checksum_path(&file)).unwrap();
        assert!(!cached_intact(&file), "a module without its checksum is not trusted");
        std::fs::remove_dir_all(&dir).unwrap();
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
