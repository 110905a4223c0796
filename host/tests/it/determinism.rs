//! The state hash and two-phase execution that determinism checks rely on.

use canister_host::{Canister, CanisterSettings, Compiler, Host, HostConfig, MessageEnv};

/// Keeps a counter in heap, a global and stable memory; `trap` traps after
/// changing all three.
const COUNTER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "stable64_size" (func $size (result i64)))
  (import "ic0" "stable64_grow" (func $grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $write (param i64 i64 i64)))
  (memory 1)
  (global $g (mut i64) (i64.const 0))
  (func $bump
    (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1)))
    (global.set $g (i64.add (global.get $g) (i64.const 7)))
    (if (i64.eqz (call $size)) (then (drop (call $grow (i64.const 1)))))
    (call $write (i64.mul (global.get $g) (i64.const 4099)) (i64.const 100) (i64.const 4)))
  (func (export "canister_update bump") (call $bump) (call $reply))
  (func (export "canister_update trap") (call $bump) unreachable)
  (func (export "canister_update grow") (drop (memory.grow (i32.const 1))) (call $bump) (call $reply)))
"#;

fn canister(compiler: Compiler) -> Canister {
    let host =
        Host::new(HostConfig { compiler, track_state: true, ..HostConfig::default() }).unwrap();
    let module = host.compile(&wat::parse_str(COUNTER).unwrap()).unwrap();
    Canister::install(&host, module, CanisterSettings::default(), &[], &MessageEnv::default())
        .unwrap()
        .0
}

const SCRIPT: [&str; 7] = ["bump", "bump", "trap", "grow", "bump", "trap", "bump"];

#[test]
fn a_pending_update_predicts_the_committed_state_hash() {
    let mut canister = canister(Compiler::Cranelift);
    for method in SCRIPT {
        let before = canister.state_hash().unwrap();
        let mut pending = canister.update_pending(method, &[], &MessageEnv::default()).unwrap();
        let predicted = pending.state_hash().unwrap();
        pending.commit();
        assert_eq!(canister.state_hash().unwrap(), predicted, "{method}");
        // Cycles are charged even for a trapped message, so the hash moves.
        assert_ne!(predicted, before, "{method}");
    }
}

#[test]
fn a_discarded_update_leaves_the_state_hash_unchanged() {
    let mut canister = canister(Compiler::Cranelift);
    canister.update("bump", &[], &MessageEnv::default()).unwrap();
    let before = canister.state_hash().unwrap();
    let heap = canister.heap().to_vec();
    let pending = canister.update_pending("grow", &[], &MessageEnv::default()).unwrap();
    assert!(pending.execution().result.is_ok());
    pending.discard();
    assert_eq!(canister.state_hash().unwrap(), before);
    assert_eq!(canister.heap(), &heap[..]);
}

#[test]
fn every_compiler_reaches_the_same_states() {
    let mut cranelift = canister(Compiler::Cranelift);
    for compiler in [Compiler::Winch, Compiler::Pulley] {
        let mut other = canister(compiler);
        assert_eq!(cranelift.state_hash(), other.state_hash());
        for method in SCRIPT {
            let a = cranelift.update(method, &[], &MessageEnv::default()).unwrap();
            let b = other.update(method, &[], &MessageEnv::default()).unwrap();
            assert_eq!(a, b, "{compiler:?}: {method}");
            assert_eq!(cranelift.state_hash(), other.state_hash(), "{compiler:?}: {method}");
        }
        cranelift = canister(Compiler::Cranelift);
    }
}

#[test]
fn different_histories_have_different_hashes() {
    let mut a = canister(Compiler::Cranelift);
    let mut b = canister(Compiler::Cranelift);
    a.update("bump", &[], &MessageEnv::default()).unwrap();
    b.update("grow", &[], &MessageEnv::default()).unwrap();
    assert_ne!(a.state_hash(), b.state_hash());
}
