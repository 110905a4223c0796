//! Fuzzing the host's front door with arbitrary modules.
//!
//! - Any bytes, and any module wasm-smith generates with every proposal it
//!   knows, go through validation and instrumentation without a panic: they
//!   are compiled or refused as invalid.
//! - Canister-shaped modules (ic0 imports, `canister_*` exports) that are
//!   accepted install and run their messages without a panic, with the same
//!   replies, instruction counts and state hashes on Cranelift and Winch —
//!   the determinism the host promises, on code nobody wrote by hand.
//!
//! The number of cases is proptest's: `CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
//! PROPTEST_CASES=20000 cargo test --release -p canister-host --test it fuzz`
//! runs a long campaign (overflow checks on, as in the debug build CI runs).

use std::sync::LazyLock;

use arbitrary::Unstructured;
use canister_host::costs::Limits;
use canister_host::{
    Canister, CanisterSettings, Compiler, Execution, Host, HostConfig, InstallError, MessageEnv,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Small limits: generated loops run out of instructions quickly.
const LIMITS: Limits =
    Limits { update: 5_000_000, query: 5_000_000, install: 5_000_000, inspect: 5_000_000 };

fn host(compiler: Compiler) -> Host {
    Host::new(HostConfig { compiler, limits: LIMITS, track_state: true, ..HostConfig::default() })
        .unwrap()
}

static CRANELIFT: LazyLock<Host> = LazyLock::new(|| host(Compiler::Cranelift));
static WINCH: LazyLock<Host> = LazyLock::new(|| host(Compiler::Winch));

/// The System API functions generated canisters may import.
const IMPORTS: &str = r#"(module
  (import "ic0" "msg_reply" (func))
  (import "ic0" "msg_reply_data_append" (func (param i32 i32)))
  (import "ic0" "msg_reject" (func (param i32 i32)))
  (import "ic0" "msg_arg_data_size" (func (result i32)))
  (import "ic0" "msg_arg_data_copy" (func (param i32 i32 i32)))
  (import "ic0" "msg_caller_size" (func (result i32)))
  (import "ic0" "msg_caller_copy" (func (param i32 i32 i32)))
  (import "ic0" "trap" (func (param i32 i32)))
  (import "ic0" "debug_print" (func (param i32 i32)))
  (import "ic0" "stable64_size" (func (result i64)))
  (import "ic0" "stable64_grow" (func (param i64) (result i64)))
  (import "ic0" "stable64_write" (func (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func (param i64 i64 i64)))
  (import "ic0" "time" (func (result i64)))
  (import "ic0" "performance_counter" (func (param i32) (result i64)))
  (import "ic0" "global_timer_set" (func (param i64) (result i64)))
  (import "ic0" "certified_data_set" (func (param i32 i32)))
  (import "ic0" "canister_cycle_balance128" (func (param i32)))
  (import "ic0" "accept_message" (func))
)"#;

/// The entry points of generated canisters.
const EXPORTS: &str = r#"(module
  (func (export "canister_init"))
  (func (export "canister_update a"))
  (func (export "canister_update b"))
  (func (export "canister_query c"))
)"#;

fn canister_config() -> wasm_smith::Config {
    wasm_smith::Config {
        available_imports: Some(wat::parse_str(IMPORTS).unwrap()),
        exports: Some(wat::parse_str(EXPORTS).unwrap()),
        min_memories: 1,
        max_memories: 1,
        max_memory32_bytes: 64 * 65536,
        memory64_enabled: false,
        // What the replica refuses, and what has no deterministic result.
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        relaxed_simd_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        tail_call_enabled: false,
        reference_types_enabled: false,
        max_funcs: 20,
        max_instructions: 200,
        ..wasm_smith::Config::default()
    }
}

fn env() -> MessageEnv {
    MessageEnv { caller: vec![7; 29], time: 1_700_000_000_000_000_000 }
}

/// What a message did, as far as the two compilers must agree.
fn outcome(execution: &Execution) -> (String, u64) {
    (format!("{:?}", execution.result), execution.instructions)
}

/// A trap the two compilers may count differently: exhausting the native
/// stack (where it happens depends on frame sizes), or a trapping wasm
/// instruction inside a basic block (wasmtime's fuel is settled at block
/// boundaries, calls and `unreachable`, and Cranelift and Winch settle it at
/// different points in between). Rust canisters never execute a trapping
/// instruction — their panics trap through `unreachable` or `ic0.trap` —
/// but generated code does. These are the documented limits of
/// determinism; the run stops comparing there.
fn not_comparable(execution: &Execution) -> bool {
    execution.result.as_ref().err().is_some_and(incomparable_trap)
}

fn incomparable_trap(trap: &canister_host::Trap) -> bool {
    matches!(trap, canister_host::Trap::Wasm(message) if !message.contains("unreachable"))
}

/// Whether an installation failed by a trap the compilers may count
/// differently.
fn incomparable_install(error: &InstallError) -> bool {
    match error {
        InstallError::StartTrapped(trap) | InstallError::InitTrapped(trap) => {
            incomparable_trap(trap)
        }
        InstallError::InvalidModule(_) => false,
    }
}

/// How many generated canisters both compilers accepted and ran.
static RAN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs the same messages on both compilers and compares everything.
fn run_on_both(wasm: &[u8]) -> Result<(), TestCaseError> {
    let (Ok(cranelift), Ok(winch)) = (CRANELIFT.compile(wasm), WINCH.compile(wasm)) else {
        // Refused (by validation), or a feature Winch does not compile.
        return Ok(());
    };
    RAN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let settings = CanisterSettings::default();
    let a = Canister::install(&CRANELIFT, cranelift, settings.clone(), b"arg", &env());
    let b = Canister::install(&WINCH, winch, settings, b"arg", &env());
    let (mut a, mut b) = match (a, b) {
        (Ok((a, x)), Ok((b, y))) => {
            if not_comparable(&x) || not_comparable(&y) {
                return Ok(());
            }
            prop_assert_eq!(outcome(&x), outcome(&y));
            (a, b)
        }
        (Err(x), Err(y)) => {
            if !incomparable_install(&x) && !incomparable_install(&y) {
                prop_assert_eq!(format!("{x:?}"), format!("{y:?}"));
            }
            return Ok(());
        }
        (x, y) => {
            let (x, y) = (x.err(), y.err());
            let excused = x.iter().chain(&y).any(incomparable_install);
            prop_assert!(excused, "only one compiler installed it: {:?} / {:?}", x, y);
            return Ok(());
        }
    };
    prop_assert_eq!(a.state_hash(), b.state_hash());
    for (method, update) in [("a", true), ("c", false), ("b", true), ("a", true)] {
        let (x, y) = if update {
            (a.update(method, b"payload", &env()), b.update(method, b"payload", &env()))
        } else {
            (a.query(method, b"payload", &env()), b.query(method, b"payload", &env()))
        };
        match (x, y) {
            (Ok(x), Ok(y)) => {
                if not_comparable(&x) || not_comparable(&y) {
                    return Ok(());
                }
                prop_assert_eq!(outcome(&x), outcome(&y), "{}", method);
            }
            (x, y) => prop_assert_eq!(format!("{:?}", x.err()), format!("{:?}", y.err())),
        }
        prop_assert_eq!(a.state_hash(), b.state_hash(), "after {}", method);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Bytes are refused or compiled, never a panic.
    #[test]
    fn any_bytes_are_compiled_or_refused(bytes in vec(any::<u8>(), 0..2048)) {
        let _ = CRANELIFT.compile(&bytes);
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(&bytes);
        let _ = CRANELIFT.compile(&module);
    }

    /// A module with every proposal wasm-smith knows is validated and
    /// instrumented without a panic.
    #[test]
    fn any_module_is_validated_without_a_panic(seed in vec(any::<u8>(), 16..4096)) {
        let mut input = Unstructured::new(&seed);
        if let Ok(module) = wasm_smith::Module::new(wasm_smith::Config::default(), &mut input) {
            let _ = CRANELIFT.compile(&module.to_bytes());
        }
    }

}

/// Canister-shaped modules run identically on both compilers.
#[test]
fn generated_canisters_run_identically_on_both_compilers() {
    let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&vec(any::<u8>(), 256..8192), |seed| {
        let mut input = Unstructured::new(&seed);
        if let Ok(module) = wasm_smith::Module::new(canister_config(), &mut input) {
            run_on_both(&module.to_bytes())?;
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let ran = RAN.load(std::sync::atomic::Ordering::Relaxed);
    // Most generated canisters are valid ones: otherwise this test checks
    // nothing.
    assert!(ran * 2 >= runner.config().cases as usize, "only {ran} canisters ran");
}
