//! Replies, rejects, traps and rollback, with a small hand-written canister.

use canister_host::costs::Limits;
use canister_host::{
    CallError, Canister, CanisterSettings, Execution, Host, HostConfig, InstallError, MessageEnv,
    Response, Trap,
};

/// A counter kept in three places at once — heap, a mutable global and
/// stable memory — so a test can see that each is committed or restored.
const COUNTER: &str = r#"
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "time" (func $time (result i64)))
  (import "ic0" "stable64_size" (func $stable_size (result i64)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $stable_read (param i64 i64 i64)))
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 300) "boom")

  ;; heap counter at 100, stable counter at stable offset 0
  (func $bump
    (i32.store (i32.const 100) (i32.add (i32.load (i32.const 100)) (i32.const 1)))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (if (i64.eq (call $stable_size) (i64.const 0))
      (then (drop (call $stable_grow (i64.const 1)))))
    (call $stable_read (i64.const 200) (i64.const 0) (i64.const 4))
    (i32.store (i32.const 200) (i32.add (i32.load (i32.const 200)) (i32.const 1)))
    (call $stable_write (i64.const 0) (i64.const 200) (i64.const 4)))

  ;; replies heap, global and stable counters as 12 bytes
  (func $reply_counters
    (i32.store (i32.const 104) (global.get $g))
    (i32.store (i32.const 108) (i32.const 0))
    (if (i64.gt_u (call $stable_size) (i64.const 0))
      (then (call $stable_read (i64.const 108) (i64.const 0) (i64.const 4))))
    (call $append (i32.const 100) (i32.const 12))
    (call $reply))

  (func (export "canister_init")
    ;; the argument (4 bytes) is the initial heap counter
    (call $arg_copy (i32.const 100) (i32.const 0) (call $arg_size)))
  (func (export "canister_update bump") (call $bump) (call $reply_counters))
  (func (export "canister_update bump_then_trap") (call $bump) (call $trap (i32.const 300) (i32.const 4)))
  (func (export "canister_update bump_then_unreachable") (call $bump) unreachable)
  (func (export "canister_update grow_bump_trap")
    (drop (memory.grow (i32.const 3)))
    (call $bump)
    (drop (call $stable_grow (i64.const 2)))
    unreachable)
  (func (export "canister_update bump_then_spin") (call $bump) (loop $l (br $l)))
  (func (export "canister_update bump_then_reject") (call $bump) (call $reject (i32.const 300) (i32.const 4)))
  (func (export "canister_update reply_twice") (call $reply) (call $reply))
  (func (export "canister_update no_reply") (call $bump))
  (func (export "canister_update bad_copy")
    (call $arg_copy (i32.const 0) (i32.const 0) (i32.const 1000)))
  (func (export "canister_update time")
    (i64.store (i32.const 400) (call $time))
    (call $append (i32.const 400) (i32.const 8))
    (call $reply))
  (func (export "canister_query read") (call $reply_counters))
  (func (export "canister_query bump_query") (call $bump) (call $reply_counters))
  (func (export "canister_query grow_query")
    (drop (memory.grow (i32.const 16)))
    (call $bump)
    (call $reply_counters))
)
"#;

fn env() -> MessageEnv {
    MessageEnv { caller: vec![4], time: 1_700_000_000_000_000_000 }
}

/// Limits low enough that running out of instructions is quick to test.
const LIMITS: Limits =
    Limits { update: 50_000_000, query: 20_000_000, install: 100_000_000, inspect: 20_000_000 };

fn install(arg: u32) -> Canister {
    let host = Host::new(HostConfig { limits: LIMITS, ..HostConfig::default() }).unwrap();
    let module = host.compile(&wat::parse_str(COUNTER).unwrap()).unwrap();
    let (canister, execution) =
        Canister::install(&host, module, CanisterSettings::default(), &arg.to_le_bytes(), &env())
            .unwrap();
    assert_eq!(execution.result, Ok(None));
    canister
}

/// (heap counter, global counter, stable counter) as the canister reports them.
fn counters(execution: &Execution) -> (u32, u32, u32) {
    let bytes = execution.reply().unwrap();
    let word = |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
    (word(0), word(1), word(2))
}

fn read(canister: &mut Canister) -> (u32, u32, u32) {
    counters(&canister.query("read", &[], &env()).unwrap())
}

#[test]
fn init_runs_with_the_argument_and_updates_commit() {
    let mut canister = install(41);
    assert_eq!(read(&mut canister), (41, 0, 0));
    let execution = canister.update("bump", &[], &env()).unwrap();
    assert_eq!(counters(&execution), (42, 1, 1));
    assert!(execution.instructions > 0);
    assert_eq!(read(&mut canister), (42, 1, 1));
}

#[test]
fn a_trap_discards_heap_globals_and_stable_memory() {
    let mut canister = install(0);
    canister.update("bump", &[], &env()).unwrap();
    let heap_before = canister.heap().to_vec();

    for method in ["bump_then_trap", "bump_then_unreachable"] {
        let execution = canister.update(method, &[], &env()).unwrap();
        assert!(execution.result.is_err(), "{method}: {:?}", execution.result);
        assert_eq!(read(&mut canister), (1, 1, 1), "{method} left a trace");
    }
    let trap = canister.update("bump_then_trap", &[], &env()).unwrap().result.unwrap_err();
    assert_eq!(trap, Trap::Explicit("boom".into()));
    assert_eq!(canister.heap(), &heap_before[..]);
    // The canister keeps serving.
    assert_eq!(counters(&canister.update("bump", &[], &env()).unwrap()), (2, 2, 2));
}

#[test]
fn a_trap_after_growing_memory_restores_the_old_sizes() {
    let mut canister = install(0);
    canister.update("bump", &[], &env()).unwrap();
    let heap_size = canister.heap().len();
    let execution = canister.update("grow_bump_trap", &[], &env()).unwrap();
    assert!(matches!(execution.result, Err(Trap::Wasm(_))), "{:?}", execution.result);
    assert_eq!(canister.heap().len(), heap_size);
    assert_eq!(canister.stable_memory().size(), 1);
    assert_eq!(read(&mut canister), (1, 1, 1));
    assert_eq!(counters(&canister.update("bump", &[], &env()).unwrap()), (2, 2, 2));
}

/// Discarded messages that grew the heap leave no memory behind: the host
/// gives the committed heap to a new instance in a new store, and wasmtime
/// frees the old store's instances with it. (Re-instantiating into the same
/// store kept every discarded heap: 1 MiB more per query here.)
#[test]
fn discarded_growth_does_not_accumulate_memory() {
    let mut canister = install(0);
    canister.update("bump", &[], &env()).unwrap();
    let heap = canister.heap().len() as u64;
    assert_eq!(canister.allocated_memory(), heap);
    for round in 0..2_000 {
        let query = canister.query("grow_query", &[], &env()).unwrap();
        assert_eq!(counters(&query), (2, 2, 2));
        let trapped = canister.update("grow_bump_trap", &[], &env()).unwrap();
        assert!(trapped.result.is_err());
        assert_eq!(
            canister.allocated_memory(),
            heap,
            "after {round} rounds of discarded growth the store holds more than one heap"
        );
    }
    assert_eq!(read(&mut canister), (1, 1, 1));
    assert_eq!(counters(&canister.update("bump", &[], &env()).unwrap()), (2, 2, 2));
}

#[test]
fn running_out_of_instructions_is_a_trap_that_changes_nothing() {
    let mut canister = install(0);
    let execution = canister.update("bump_then_spin", &[], &env()).unwrap();
    assert_eq!(execution.result, Err(Trap::OutOfInstructions(LIMITS.update)));
    assert_eq!(execution.instructions, LIMITS.update);
    assert_eq!(read(&mut canister), (0, 0, 0));
    assert_eq!(counters(&canister.update("bump", &[], &env()).unwrap()), (1, 1, 1));
}

#[test]
fn queries_never_change_state() {
    let mut canister = install(7);
    let execution = canister.query("bump_query", &[], &env()).unwrap();
    assert_eq!(counters(&execution), (8, 1, 1), "the query sees its own changes");
    assert_eq!(read(&mut canister), (7, 0, 0), "but they are discarded");
}

#[test]
fn a_query_called_as_an_update_still_discards_its_changes() {
    let mut canister = install(7);
    let execution = canister.update("bump_query", &[], &env()).unwrap();
    assert_eq!(counters(&execution), (8, 1, 1));
    assert_eq!(read(&mut canister), (7, 0, 0));
}

#[test]
fn a_reject_is_a_response_and_keeps_changes() {
    let mut canister = install(0);
    let execution = canister.update("bump_then_reject", &[], &env()).unwrap();
    assert_eq!(execution.result, Ok(Some(Response::Reject("boom".into()))));
    assert_eq!(read(&mut canister), (1, 1, 1));
}

#[test]
fn replying_twice_traps() {
    let mut canister = install(0);
    let trap = canister.update("reply_twice", &[], &env()).unwrap().result.unwrap_err();
    assert!(
        matches!(&trap, Trap::ContractViolation(m) if m.contains("already been replied")),
        "{trap}"
    );
}

#[test]
fn an_update_that_does_not_reply_commits_and_reports_no_reply() {
    let mut canister = install(0);
    let execution = canister.update("no_reply", &[], &env()).unwrap();
    assert_eq!(execution.result, Ok(None));
    assert_eq!(execution.reply(), Err(CallError::NoReply));
    assert_eq!(read(&mut canister), (1, 1, 1));
}

#[test]
fn out_of_bounds_copies_trap() {
    let mut canister = install(0);
    let trap = canister.update("bad_copy", &[1, 2, 3], &env()).unwrap().result.unwrap_err();
    assert!(
        matches!(&trap, Trap::ContractViolation(m) if m.contains("argument out of bounds")),
        "{trap}"
    );
}

#[test]
fn time_is_what_the_message_says() {
    let mut canister = install(0);
    let env = MessageEnv { caller: vec![], time: 123_456_789 };
    let bytes = canister.update("time", &[], &env).unwrap().reply().unwrap().to_vec();
    assert_eq!(u64::from_le_bytes(bytes.try_into().unwrap()), 123_456_789);
}

#[test]
fn unknown_methods_and_reply_only_apis_are_refused() {
    let mut canister = install(0);
    assert_eq!(
        canister.update("nope", &[], &env()).unwrap_err(),
        CallError::MethodNotFound("nope".into())
    );
    // `bump` is an update; it cannot be called as a query.
    assert!(canister.query("bump", &[], &env()).is_err());
}

#[test]
fn replying_from_init_is_a_contract_violation() {
    let wasm = wat::parse_str(
        r#"(module (import "ic0" "msg_reply" (func $reply)) (memory 1)
            (func (export "canister_init") (call $reply)))"#,
    )
    .unwrap();
    let host = Host::new(HostConfig::default()).unwrap();
    let module = host.compile(&wasm).unwrap();
    let Err(InstallError::InitTrapped(Trap::ContractViolation(message))) =
        Canister::install(&host, module, CanisterSettings::default(), &[], &env())
    else {
        panic!("init should trap");
    };
    assert_eq!(message, "\"ic0.msg_reply\" cannot be executed in init mode");
}

#[test]
fn instruction_counts_are_deterministic() {
    let run = || {
        let mut canister = install(0);
        (0..5)
            .map(|_| canister.update("bump", &[], &env()).unwrap().instructions)
            .collect::<Vec<_>>()
    };
    let first = run();
    assert_eq!(first, run());
    // System API charges are included: each bump calls a dozen functions.
    assert!(first[0] > 1_000, "{first:?}");
}
