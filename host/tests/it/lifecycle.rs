//! Inspection, system tasks, upgrades and cycles.

use canister_host::costs::Limits;
use canister_host::fees::FEES;
use canister_host::{
    CallError, Canister, CanisterSettings, Host, HostConfig, MessageEnv, Trap, UpgradeError,
};

fn host() -> Host {
    let limits =
        Limits { update: 50_000_000, query: 20_000_000, install: 100_000_000, inspect: 20_000_000 };
    Host::new(HostConfig { limits, ..HostConfig::default() }).unwrap()
}

fn env(time: u64) -> MessageEnv {
    MessageEnv { caller: vec![4], time }
}

/// A counter in the heap (address 100), saved to stable memory by
/// `canister_pre_upgrade` and restored by `canister_post_upgrade`. `extra`
/// is spliced into the module to make variants.
fn counter(extra: &str, post_upgrade_traps: bool) -> Vec<u8> {
    let trap = if post_upgrade_traps { "unreachable" } else { "" };
    wat::parse_str(format!(
        r#"(module
          (import "ic0" "msg_reply" (func $reply))
          (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
          (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
          (import "ic0" "accept_message" (func $accept))
          (import "ic0" "stable64_grow" (func $grow (param i64) (result i64)))
          (import "ic0" "stable64_write" (func $swrite (param i64 i64 i64)))
          (import "ic0" "stable64_read" (func $sread (param i64 i64 i64)))
          (import "ic0" "global_timer_set" (func $timer_set (param i64) (result i64)))
          (import "ic0" "time" (func $time (result i64)))
          (memory 1)
          (func $bump (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1))))
          (func $reply_counter (call $append (i32.const 100) (i32.const 4)) (call $reply))
          (func (export "canister_init")
            ;; fire the timer 10 ns after installation
            (drop (call $timer_set (i64.add (call $time) (i64.const 10)))))
          (func (export "canister_inspect_message")
            ;; accept only messages with an argument
            (if (i32.gt_u (call $arg_size) (i32.const 0)) (then (call $accept))))
          (func (export "canister_heartbeat") (call $bump))
          (func (export "canister_global_timer") (call $bump) (call $bump) (call $bump))
          (func (export "canister_update bump") (call $bump) (call $reply_counter))
          (func (export "canister_query read") (call $reply_counter))
          (func (export "canister_pre_upgrade")
            (drop (call $grow (i64.const 1)))
            (call $swrite (i64.const 0) (i64.const 100) (i64.const 4)))
          (func (export "canister_post_upgrade")
            (call $sread (i64.const 100) (i64.const 0) (i64.const 4))
            {trap})
          {extra})"#
    ))
    .unwrap()
}

fn read(canister: &mut Canister) -> u32 {
    let execution = canister.query("read", &[], &env(0)).unwrap();
    u32::from_le_bytes(execution.reply().unwrap().try_into().unwrap())
}

fn install(host: &Host) -> Canister {
    let module = host.compile(&counter("", false)).unwrap();
    Canister::install(host, module, CanisterSettings::default(), &[], &env(1_000)).unwrap().0
}

#[test]
fn inspect_message_decides_whether_an_update_runs() {
    let host = host();
    let mut canister = install(&host);
    let balance = canister.cycles();
    let refused = canister.update("bump", &[], &env(2_000)).unwrap_err();
    assert!(matches!(refused, CallError::Refused(_)), "{refused:?}");
    assert_eq!(read(&mut canister), 0);
    assert_eq!(canister.cycles(), balance, "a refused message costs nothing");
    canister.update("bump", &[1], &env(2_000)).unwrap().reply().unwrap();
    assert_eq!(read(&mut canister), 1);
}

#[test]
fn heartbeat_and_global_timer_run_as_system_tasks() {
    let host = host();
    let mut canister = install(&host);
    assert_eq!(canister.global_timer_deadline(), 1_010);
    assert!(canister.heartbeat(&env(1_001)).unwrap().result.is_ok());
    assert_eq!(read(&mut canister), 1);
    // Not due yet.
    assert!(canister.global_timer(&env(1_005)).is_none());
    assert!(canister.global_timer(&env(1_010)).unwrap().result.is_ok());
    assert_eq!(read(&mut canister), 4);
    // The timer fired once and is now off.
    assert_eq!(canister.global_timer_deadline(), 0);
    assert!(canister.global_timer(&env(2_000)).is_none());
}

#[test]
fn an_upgrade_keeps_stable_memory_and_runs_the_new_code() {
    let host = host();
    let mut canister = install(&host);
    for _ in 0..3 {
        canister.update("bump", &[1], &env(2_000)).unwrap();
    }
    let version = canister.version();
    let new = host
        .compile(&counter(r#"(func (export "canister_query hello") (call $reply))"#, false))
        .unwrap();
    canister.upgrade(&host, new, &[], &env(3_000)).unwrap();
    // The heap was reset and refilled from stable memory by post_upgrade.
    assert_eq!(read(&mut canister), 3);
    assert!(canister.query("hello", &[], &env(0)).is_ok(), "the new method exists");
    assert_eq!(canister.version(), version + 1);
    assert_eq!(canister.global_timer_deadline(), 0, "an upgrade deactivates the timer");
}

#[test]
fn a_failed_upgrade_leaves_the_old_canister_untouched() {
    let host = host();
    let mut canister = install(&host);
    canister.update("bump", &[1], &env(2_000)).unwrap();
    let heap = canister.heap().to_vec();
    let stable = canister.stable_memory().to_vec();

    let broken = host.compile(&counter("", true)).unwrap();
    let error = canister.upgrade(&host, broken, &[], &env(3_000)).unwrap_err();
    assert!(matches!(error, UpgradeError::PostUpgradeTrapped(Trap::Wasm(_))), "{error:?}");
    assert_eq!(canister.heap(), &heap[..]);
    assert_eq!(canister.stable_memory().to_vec(), stable, "pre_upgrade's write was undone");
    assert!(canister.query("hello", &[], &env(0)).is_err(), "still the old code");
    assert_eq!(read(&mut canister), 1);
    canister.update("bump", &[1], &env(4_000)).unwrap();
    assert_eq!(read(&mut canister), 2);
}

#[test]
fn a_trapping_pre_upgrade_refuses_the_upgrade() {
    let host = host();
    let wasm = wat::parse_str(
        r#"(module (import "ic0" "msg_reply" (func $reply)) (memory 1)
            (func (export "canister_pre_upgrade") unreachable)
            (func (export "canister_query ping") (call $reply)))"#,
    )
    .unwrap();
    let module = host.compile(&wasm).unwrap();
    let (mut canister, _) =
        Canister::install(&host, module, CanisterSettings::default(), &[], &env(0)).unwrap();
    let new = host.compile(&counter("", false)).unwrap();
    let error = canister.upgrade(&host, new, &[], &env(1)).unwrap_err();
    assert!(matches!(error, UpgradeError::PreUpgradeTrapped(_)), "{error:?}");
    assert!(canister.query("ping", &[], &env(2)).is_ok());
}

#[test]
fn updates_pay_cycles_and_queries_are_free() {
    let host = host();
    let mut canister = install(&host);
    let before = canister.cycles();
    let execution = canister.update("bump", &[1, 2, 3], &env(2_000)).unwrap();
    let expected =
        FEES.ingress_cost("bump", 3) + FEES.execution_cost(execution.instructions, false);
    assert_eq!(execution.cycles, expected);
    assert_eq!(canister.cycles(), before - expected);
    let query = canister.query("read", &[], &env(0)).unwrap();
    assert_eq!(query.cycles, 0);
    assert_eq!(canister.cycles(), before - expected);
}

#[test]
fn a_canister_out_of_cycles_refuses_updates() {
    let host = host();
    let module = host.compile(&counter("", false)).unwrap();
    let settings = CanisterSettings { cycles: 1_000_000, ..CanisterSettings::default() };
    let (mut canister, _) = Canister::install(&host, module, settings, &[], &env(0)).unwrap();
    let error = canister.update("bump", &[1], &env(1)).unwrap_err();
    let CallError::OutOfCycles { balance, needed } = error else { panic!("{error:?}") };
    assert!(balance < needed);
    assert_eq!(read(&mut canister), 0);
    // Queries still work.
    assert!(canister.query("read", &[], &env(2)).is_ok());
}
