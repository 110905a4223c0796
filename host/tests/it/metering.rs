//! Instruction counting: the replica's costs, identical across compilers.

use canister_host::{Canister, CanisterSettings, Compiler, Host, HostConfig, MessageEnv};

/// `fill(n)` fills `n` bytes, `work(n)` loops `n` times over arithmetic,
/// calls, floats and memory accesses.
const WORK: &str = r#"
(module
  (import "ic0" "msg_arg_data_copy" (func $arg (param i32 i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 2)
  (func $n (result i32) (call $arg (i32.const 0) (i32.const 0) (i32.const 4)) (i32.load (i32.const 0)))
  (func $square (param f64) (result f64) (f64.mul (local.get 0) (local.get 0)))
  (func (export "canister_update fill")
    (memory.fill (i32.const 100) (i32.const 7) (call $n))
    (call $reply))
  (func (export "canister_update copy")
    (memory.copy (i32.const 1000) (i32.const 100) (call $n))
    (call $reply))
  (func (export "canister_update work") (local $i i32) (local $x f64)
    (local.set $i (call $n))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $i)))
      (local.set $x (f64.add (local.get $x) (call $square (f64.convert_i32_s (local.get $i)))))
      (i32.store (i32.const 64) (i32.div_u (i32.load (i32.const 64)) (i32.const 3)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $l)))
    (call $reply)))
"#;

fn instructions(compiler: Compiler, method: &str, n: u32) -> u64 {
    let host = Host::new(HostConfig { compiler, ..HostConfig::default() }).unwrap();
    let module = host.compile(&wat::parse_str(WORK).unwrap()).unwrap();
    let env = MessageEnv::default();
    let (mut canister, _) =
        Canister::install(&host, module, CanisterSettings::default(), &[], &env).unwrap();
    let execution = canister.update(method, &n.to_le_bytes(), &env).unwrap();
    execution.reply().unwrap();
    execution.instructions
}

#[test]
fn bulk_memory_costs_one_instruction_per_byte() {
    for method in ["fill", "copy"] {
        let small = instructions(Compiler::Cranelift, method, 10);
        let large = instructions(Compiler::Cranelift, method, 10_010);
        assert_eq!(large - small, 10_000, "{method}");
    }
}

#[test]
fn every_compiler_counts_the_same_instructions() {
    for (method, n) in [("fill", 5_000), ("copy", 300), ("work", 0), ("work", 1), ("work", 1_000)] {
        let cranelift = instructions(Compiler::Cranelift, method, n);
        for other in [Compiler::Winch, Compiler::Pulley] {
            assert_eq!(cranelift, instructions(other, method, n), "{other:?}: {method}({n})");
        }
    }
}

#[test]
fn a_loop_iteration_costs_what_the_replica_charges_for_its_operators() {
    // One iteration of `work`, by the replica's table:
    //   br_if (2) + i32.eqz + local.get                          =  4
    //   local.get ×2 + f64.convert_i32_s (3) + call (5)
    //     + $square: local.get ×2 + f64.mul (2) + its end (1)
    //     + f64.add (2) + local.set                              = 18
    //   i32.const ×3 + i32.load + i32.div_u (10) + i32.store     = 15
    //   local.get + i32.const + i32.sub + local.set              =  4
    //   br (2)                                                   =  2
    // = 43 (the replica's own `metering_loop` charges a loop's iterations
    // for their operators alone: see `replica_metering.rs`).
    let per_iteration = instructions(Compiler::Cranelift, "work", 101)
        - instructions(Compiler::Cranelift, "work", 100);
    assert_eq!(per_iteration, 43);
}
