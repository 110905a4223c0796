//! Golden tests of metering against the replica's own: the modules and the
//! expected instruction counts of dfinity/ic's `metering_plain`,
//! `metering_block`, `metering_if` and `metering_loop`
//! (`rs/embedders/tests/instrumentation.rs` at commit
//! `0441fbd7f97b339d7013b9eadc74f9340f56a541`), with the replica's
//! `instruction_to_cost` written out: `i64.add`, `i64.const`, `i32.const`,
//! `i32.add`, `i32.lt_s`, `local.get`, `local.set`, `return`,
//! `unreachable` cost 1; `global.get`, `global.set`, `br`, `br_if`, `if`
//! cost 2; a function costs 1 to enter. Each count is checked on Cranelift,
//! Winch and Pulley, and all of them are the replica's.

use canister_host::{Canister, CanisterSettings, Compiler, Host, HostConfig, MessageEnv};

/// `(i64.add (i64.const 1))`, `n` times.
fn add_one(n: usize) -> String {
    "(i64.add (i64.const 1))\n".repeat(n)
}

/// The replica's `cost_a(n)`: `n` times `i64.const` + `i64.add`, and the
/// `global.get`/`global.set` around them.
fn cost_a(n: u64) -> u64 {
    (1 + 1) * n + 2 + 2
}

/// Runs the module's `canister_update test` on `compiler`; its instructions
/// and whether it trapped.
fn run(compiler: Compiler, body: &str) -> (u64, bool) {
    let wat = format!(
        r#"(module
            (global $g1 (export "g1") (mut i64) (i64.const 0))
            (func $test (export "canister_update test") {body}))"#
    );
    let host = Host::new(HostConfig { compiler, ..HostConfig::default() }).unwrap();
    let module = host.compile(&wat::parse_str(&wat).unwrap()).unwrap();
    let env = MessageEnv::default();
    let (mut canister, _) =
        Canister::install(&host, module, CanisterSettings::default(), &[], &env).unwrap();
    let execution = canister.update("test", &[], &env).unwrap();
    (execution.instructions, execution.result.is_err())
}

/// The count on every compiler, which must agree.
fn count(body: &str) -> u64 {
    let (cranelift, trapped) = run(Compiler::Cranelift, body);
    for other in [Compiler::Winch, Compiler::Pulley] {
        assert_eq!(run(other, body), (cranelift, trapped), "{other:?}");
    }
    cranelift
}

#[test]
fn metering_plain() {
    let body = format!("global.get $g1 {} global.set $g1", add_one(10));
    assert_eq!(count(&body), 1 + cost_a(10));

    // With an early return.
    let body = format!(
        "global.get $g1 {p} global.set $g1 return global.get $g1 {p} global.set $g1",
        p = add_one(10)
    );
    assert_eq!(count(&body), 1 + cost_a(10) + 1);

    // With an early trap.
    let body = format!(
        "global.get $g1 {p} global.set $g1 unreachable global.get $g1 {p} global.set $g1",
        p = add_one(10)
    );
    assert_eq!(count(&body), 1 + cost_a(10) + 1);
}

#[test]
fn metering_block() {
    let body = format!("(block $b1 global.get $g1 {} global.set $g1)", add_one(10));
    assert_eq!(count(&body), 1 + cost_a(10));

    let body = format!(
        "global.get $g1 {p1} global.set $g1
         (block $b1 global.get $g1 {p2a} global.set $g1
            (block $b2 br $b1)
            global.get $g1 {p2b} global.set $g1)
         global.get $g1 {p3} global.set $g1",
        p1 = add_one(10),
        p2a = add_one(100),
        p2b = add_one(50),
        p3 = add_one(10),
    );
    assert_eq!(count(&body), 1 + cost_a(100) + cost_a(10) * 2 + 2);

    // Left by `return` from a nested block.
    let body = format!(
        "global.get $g1 {p1} global.set $g1
         (block $b1 global.get $g1 {p2a} global.set $g1
            (block $b2 return)
            global.get $g1 {p2b} global.set $g1)
         global.get $g1 {p3} global.set $g1",
        p1 = add_one(10),
        p2a = add_one(100),
        p2b = add_one(50),
        p3 = add_one(10),
    );
    assert_eq!(count(&body), 1 + cost_a(100) + cost_a(10) + 1);
}

#[test]
fn metering_if() {
    let (cc, cif) = (1, 2);
    let body = format!(
        "global.get $g1 {p1} global.set $g1
         (i32.const 0)
         (if (then global.get $g1 {p2} global.set $g1)
             (else global.get $g1 {p3} global.set $g1))
         global.get $g1 {p4} global.set $g1",
        p1 = add_one(5),
        p2 = add_one(10),
        p3 = add_one(20),
        p4 = add_one(30),
    );
    assert_eq!(count(&body), 1 + cost_a(5) + cost_a(20) + cost_a(30) + cc + cif);

    let body = format!(
        "global.get $g1 {p1} global.set $g1
         (i32.const 1)
         (if (then global.get $g1 {p2} global.set $g1 return)
             (else global.get $g1 {p3} global.set $g1))
         global.get $g1 {p4} global.set $g1",
        p1 = add_one(5),
        p2 = add_one(10),
        p3 = add_one(20),
        p4 = add_one(30),
    );
    assert_eq!(count(&body), 1 + cost_a(5) + cost_a(10) + cc + cif + 1);
}

#[test]
fn metering_loop() {
    let body = format!(
        "(local $i i32)
         global.get $g1 {p1} global.set $g1
         (loop $loop_a
            global.get $g1 {p2} global.set $g1
            local.get $i (i32.add (i32.const 1)) local.set $i
            local.get $i i32.const 5 i32.lt_s br_if $loop_a
            global.get $g1 {p3} global.set $g1)
         global.get $g1 {p4} global.set $g1",
        p1 = add_one(5),
        p2 = add_one(10),
        p3 = add_one(20),
        p4 = add_one(30),
    );
    // The replica's c_loop: cost_a(10), two i32.const, i32.add, the local
    // accesses (three), i32.lt_s, br_if.
    let c_loop = cost_a(10) + 2 + 1 + 3 + 1 + 2;
    assert_eq!(count(&body), 1 + cost_a(5) + c_loop * 5 + cost_a(20) + cost_a(30));
}
