//! `canister-evm costs calibrate`: what each kind of EVM operation costs as
//! Wasm instructions inside the canister, next to the gas the EVM charges
//! for it.
//!
//! Every micro-benchmark is a loop over one *body* (an operation with the
//! stack work that feeds it), run as a transaction on a [`Lab`] chain:
//!
//! ```text
//!   CODECOPY                        the input (kept after the code), to memory 0
//!   MSTORE                          memory grown once, beyond what the body uses
//!   prelude                         e.g. push the operands
//!   PUSH0 CALLDATALOAD              n, the iterations, the only calldata
//! loop:
//!   JUMPDEST DUP1 ISZERO PUSH2 end JUMPI
//!   body                            sees n on top and leaves the stack as it was
//!   PUSH1 1 SWAP1 SUB PUSH2 loop JUMP
//! end:
//!   JUMPDEST STOP
//! ```
//!
//! Each benchmark runs with `n = 0` and with `n = N`; the difference,
//! divided by `N`, is one iteration, and the same for the empty body is
//! subtracted. What is left is the body's gas and instructions alone: the
//! transaction's fixed costs (signature, intrinsic gas, calldata, setup)
//! cancel out. Instruction counts are deterministic, so two runs give the
//! same table to the last digit.
//!
//! Two instruction figures are kept: the EVM phase alone (revm executing),
//! and that plus writing the state to stable memory and sealing the block
//! (the state root), which is where storage writes spend most of theirs.

use alloy_primitives::{Address, TxKind, U256, keccak256};
use anyhow::{Context as _, bail, ensure};
use revm_bytecode::opcode as op;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::lab::{Lab, Mined};
use super::report::Format;
use crate::cost::CostBreakdown;
use crate::txlog::{grouped, short};

/// Kinds of operation, as the table groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Class {
    Stack,
    Arithmetic,
    Comparison,
    Bitwise,
    Keccak,
    Memory,
    Storage,
    Transient,
    Call,
    Create,
    Log,
    Environment,
    Precompile,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Self::Stack => "stack",
            Self::Arithmetic => "arithmetic",
            Self::Comparison => "comparison",
            Self::Bitwise => "bitwise",
            Self::Keccak => "keccak",
            Self::Memory => "memory",
            Self::Storage => "storage",
            Self::Transient => "transient",
            Self::Call => "calls",
            Self::Create => "create",
            Self::Log => "logs",
            Self::Environment => "environment",
            Self::Precompile => "precompiles",
        }
    }
}

/// One micro-benchmark.
pub struct Micro {
    pub name: &'static str,
    pub class: Class,
    /// The loop's body, run `iterations` times.
    body: Vec<u8>,
    /// Bytes copied to memory at 0 before the loop (from after the code).
    input: Vec<u8>,
    /// Code run once before the loop, after the input is copied.
    prelude: Vec<u8>,
    /// The benchmark contract's storage before it runs.
    storage: Vec<(U256, U256)>,
    iterations: u64,
}

/// One operation's row of the table: per iteration of its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpCost {
    pub name: String,
    pub class: Class,
    /// The body, disassembled (`DUP3 DUP3 ADD POP`).
    pub body: String,
    pub iterations: u64,
    /// Gas as charged, after refunds.
    pub gas: f64,
    /// Wasm instructions of revm executing the body.
    pub evm_instructions: f64,
    /// Those plus writing state to stable memory and sealing the block.
    pub instructions: f64,
    /// Cycles for `instructions` on a 13-node subnet.
    pub cycles: f64,
}

impl OpCost {
    /// Wasm instructions (state write and seal included: the work the gas
    /// pays for) per unit of gas.
    pub fn per_gas(&self) -> f64 {
        if self.gas > 0.0 { self.instructions / self.gas } else { f64::NAN }
    }
}

/// Where the contract benchmarks call lives.
const CALLEE: Address = Address::new([0xca; 20]);
/// Cold accounts are `COLD_BASE + n`: distinct, empty and no precompile.
const COLD_BASE: u32 = 0x0100_0000;
/// Bytes of memory grown before the loop, beyond the input.
const PREGROWN: usize = 4096;
/// How much gas a benchmark's loop may spend: enough iterations that the
/// noise of a transaction's fixed costs (its state write varies by some
/// 100,000 instructions from one block to the next) is a few per iteration.
const GAS_BUDGET: f64 = 10_000_000.0;

/// Runs `micros` on `lab`, and returns one row each.
pub fn run(lab: &mut Lab, micros: &[Micro]) -> anyhow::Result<Vec<OpCost>> {
    lab.set_code(CALLEE, &[op::STOP])?;
    let empty = Micro::new("empty loop", Class::Stack, Vec::new(), 50_000);
    // The first messages of a canister take longer (its heap grows, caches
    // fill): warm up before measuring.
    measure(lab, &empty)?;
    let empty = measure(lab, &empty)?;
    let mut rows = Vec::with_capacity(micros.len());
    for micro in micros {
        let slope = measure(lab, micro).with_context(|| format!("benchmark {}", micro.name))?;
        let per = |f: fn(&Slope) -> f64| f(&slope) - f(&empty);
        let instructions = per(|s| s.instructions);
        rows.push(OpCost {
            name: micro.name.to_owned(),
            class: micro.class,
            body: disassemble(&micro.body),
            iterations: slope.iterations,
            gas: per(|s| s.gas),
            evm_instructions: per(|s| s.evm_instructions),
            instructions,
            cycles: instructions * super::cycles_per_instruction(),
        });
    }
    Ok(rows)
}

/// One iteration's cost, loop included.
struct Slope {
    iterations: u64,
    gas: f64,
    evm_instructions: f64,
    instructions: f64,
}

fn measure(lab: &mut Lab, micro: &Micro) -> anyhow::Result<Slope> {
    let code = micro.code();
    // Each run on its own account: fresh storage, nonce and warmth.
    let run = |lab: &mut Lab, n: u64, round: u8| -> anyhow::Result<(Mined, u64)> {
        let bench = Address::from_word(keccak256(format!("{} {n} {round}", micro.name)));
        lab.set_code(bench, &code)?;
        lab.set_balance(bench, U256::from(10).pow(U256::from(18)))?;
        if !micro.storage.is_empty() {
            lab.set_storage(bench, &micro.storage)?;
        }
        // The edits in a block of their own: the measured one seals only
        // what the transaction changed.
        lab.mine()?;
        let calldata = micro.calldata(n);
        let calldata_gas = calldata.iter().map(|&b| if b == 0 { 4 } else { 16 }).sum::<u64>();
        let mined = lab.transact(TxKind::Call(bench), calldata, U256::ZERO)?;
        ensure!(mined.success, "the benchmark failed with {n} iterations (tx {})", mined.hash);
        Ok((mined, calldata_gas))
    };
    let (probe, probe_calldata) = run(lab, 1, 0)?;
    let (base, base_calldata) = run(lab, 0, 0)?;
    let probe_gas =
        (probe.cost.gas_used - probe_calldata).saturating_sub(base.cost.gas_used - base_calldata);
    let iterations = micro.iterations.min((GAS_BUDGET / probe_gas.max(1) as f64) as u64).max(4);
    // Each end twice: a transaction's state write and seal jump now and
    // then (a B-tree node splits, the trie deepens), and the lesser of two
    // is the cost without the jump.
    let (base_again, _) = run(lab, 0, 1)?;
    let (full, full_calldata) = run(lab, iterations, 0)?;
    let (full_again, _) = run(lab, iterations, 1)?;
    for (run, mined) in
        [("base", &base), ("base", &base_again), ("full", &full), ("full", &full_again)]
    {
        tracing::debug!(benchmark = micro.name, run, gas = mined.cost.gas_used, phases = ?mined.cost.breakdown);
    }
    let n = iterations as f64;
    let least = |a: &Mined, b: &Mined, f: fn(&CostBreakdown) -> u64| {
        let of = |m: &Mined| m.cost.breakdown.as_ref().map_or(0, f);
        of(a).min(of(b)) as f64
    };
    let evm = |b: &CostBreakdown| b.evm_execution;
    let with_state = |b: &CostBreakdown| b.evm_execution + b.state_write + b.block_seal;
    let gas = |mined: &Mined, calldata: u64| (mined.cost.gas_used - calldata) as f64;
    Ok(Slope {
        iterations,
        gas: (gas(&full, full_calldata) - gas(&base, base_calldata)) / n,
        evm_instructions: (least(&full, &full_again, evm) - least(&base, &base_again, evm)) / n,
        instructions: (least(&full, &full_again, with_state)
            - least(&base, &base_again, with_state))
            / n,
    })
}

impl Micro {
    fn new(name: &'static str, class: Class, body: Vec<u8>, iterations: u64) -> Self {
        Self {
            name,
            class,
            body,
            input: Vec::new(),
            prelude: Vec::new(),
            storage: Vec::new(),
            iterations,
        }
    }

    fn input(mut self, input: Vec<u8>) -> Self {
        self.input = input;
        self
    }

    fn storage(mut self, storage: Vec<(U256, U256)>) -> Self {
        self.storage = storage;
        self
    }

    /// The benchmark contract's code: setup, then the loop.
    fn code(&self) -> Vec<u8> {
        let mut code = Asm::default();
        // CODECOPY(0, data, len): the input, kept after the code. (Not in the
        // calldata: EIP-7623's floor on calldata gas would hide execution.)
        let setup = 8 + 5 + self.prelude.len() + 2;
        let start = setup;
        // JUMPDEST DUP1 ISZERO PUSH2 end JUMPI, the body, PUSH1 1 SWAP1 SUB PUSH2 start JUMP.
        let end = start + 7 + self.body.len() + 8;
        let data = end + 2;
        code.push2(self.input.len()).push2(data).op(op::PUSH0).op(op::CODECOPY);
        // Memory grown once, past what any body reads or writes, so that no
        // iteration pays for growing it.
        code.op(op::PUSH0).push2(self.input.len() + PREGROWN).op(op::MSTORE);
        code.ops(&self.prelude).op(op::PUSH0).op(op::CALLDATALOAD);
        debug_assert_eq!(code.0.len(), start);
        code.op(op::JUMPDEST).op(op::DUP1).op(op::ISZERO).push2(end).op(op::JUMPI);
        code.0.extend_from_slice(&self.body);
        code.op(op::PUSH1).byte(1).op(op::SWAP1).op(op::SUB).push2(start).op(op::JUMP);
        debug_assert_eq!(code.0.len(), end);
        code.op(op::JUMPDEST).op(op::STOP);
        code.0.extend_from_slice(&self.input);
        code.0
    }

    fn calldata(&self, iterations: u64) -> Vec<u8> {
        U256::from(iterations).to_be_bytes::<32>().to_vec()
    }
}

/// A few EVM bytes at a time.
#[derive(Default)]
struct Asm(Vec<u8>);

impl Asm {
    fn op(&mut self, opcode: u8) -> &mut Self {
        self.0.push(opcode);
        self
    }

    fn byte(&mut self, byte: u8) -> &mut Self {
        self.0.push(byte);
        self
    }

    fn push2(&mut self, value: usize) -> &mut Self {
        let value = u16::try_from(value).expect("a benchmark is smaller than 64 KiB");
        self.op(op::PUSH2);
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// The shortest push of `value` (`PUSH0` for zero).
    fn push(&mut self, value: U256) -> &mut Self {
        let bytes = value.to_be_bytes_trimmed_vec();
        if bytes.is_empty() {
            return self.op(op::PUSH0);
        }
        self.op(op::PUSH1 + bytes.len() as u8 - 1);
        self.0.extend_from_slice(&bytes);
        self
    }

    fn push_address(&mut self, address: Address) -> &mut Self {
        self.op(op::PUSH20);
        self.0.extend_from_slice(address.as_slice());
        self
    }

    fn ops(&mut self, opcodes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(opcodes);
        self
    }

    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// Instructions per gas, to two figures below 10.
fn per_gas(x: f64) -> String {
    if x < 10.0 { format!("{x:.1}") } else { format!("{x:.0}") }
}

/// `code` as opcode names, pushes with their values.
pub fn disassemble(code: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let opcode = revm_bytecode::OpCode::new_or_unknown(code[i]);
        let immediate = opcode.info().immediate_size() as usize;
        if immediate > 0 {
            let bytes = &code[i + 1..(i + 1 + immediate).min(code.len())];
            let value = U256::from_be_slice(bytes);
            let shown = if value > U256::from(0xffff) {
                format!("{}…", &alloy_primitives::hex::encode_prefixed(bytes)[..8])
            } else {
                format!("{value:#x}")
            };
            out.push(format!("{} {shown}", opcode.as_str()));
        } else {
            out.push(opcode.as_str().to_owned());
        }
        i += 1 + immediate;
    }
    out.join(" ")
}

/// A binary operation on two large operands, pushed once below the
/// counter: `DUP3 DUP3 OP POP`.
fn binary(name: &'static str, class: Class, opcode: u8, a: U256, b: U256) -> Micro {
    operands(name, class, &[op::DUP3, op::DUP3, opcode, op::POP], &[b, a])
}

fn unary(name: &'static str, class: Class, opcode: u8, a: U256) -> Micro {
    operands(name, class, &[op::DUP2, opcode, op::POP], &[a])
}

fn ternary(name: &'static str, class: Class, opcode: u8, a: U256, b: U256, m: U256) -> Micro {
    operands(name, class, &[op::DUP4, op::DUP4, op::DUP4, opcode, op::POP], &[m, b, a])
}

/// A body over `values`, which the prelude pushes (the first deepest) below
/// the counter from the input, so that the body only `DUP`s them.
fn operands(name: &'static str, class: Class, body: &[u8], values: &[U256]) -> Micro {
    let mut prelude = Asm::default();
    for i in 0..values.len() {
        prelude.push(U256::from(32 * i)).op(op::MLOAD);
    }
    let input = values.iter().flat_map(|v| v.to_be_bytes::<32>()).collect();
    let mut micro = Micro::new(name, class, body.to_vec(), 50_000).input(input);
    micro.prelude = prelude.done();
    micro
}

/// The whole calibration suite.
pub fn suite(lab: &mut Lab) -> anyhow::Result<Vec<Micro>> {
    let big = U256::MAX - U256::from(18);
    let odd = (U256::MAX >> 7) | U256::from(1);
    let small = U256::from(0x1234_5678_9abc_def0_u64);
    let m = U256::MAX >> 3;
    let mut micros = vec![
        Micro::new("DUP1 POP", Class::Stack, vec![op::DUP1, op::POP], 50_000),
        Micro::new("PUSH32 POP", Class::Stack, Asm::default().push(big).op(op::POP).done(), 50_000),
        binary("ADD", Class::Arithmetic, op::ADD, big, odd),
        binary("MUL", Class::Arithmetic, op::MUL, big, odd),
        binary("SUB", Class::Arithmetic, op::SUB, big, odd),
        binary("DIV", Class::Arithmetic, op::DIV, big, small),
        binary("SDIV", Class::Arithmetic, op::SDIV, big, small),
        binary("MOD", Class::Arithmetic, op::MOD, big, odd),
        binary("SMOD", Class::Arithmetic, op::SMOD, big, odd),
        ternary("ADDMOD", Class::Arithmetic, op::ADDMOD, big, odd, m),
        ternary("MULMOD", Class::Arithmetic, op::MULMOD, big, odd, m),
        binary("EXP (32-byte exponent)", Class::Arithmetic, op::EXP, U256::from(3), big),
        binary("SIGNEXTEND", Class::Arithmetic, op::SIGNEXTEND, U256::from(15), big),
        binary("LT", Class::Comparison, op::LT, big, odd),
        binary("GT", Class::Comparison, op::GT, big, odd),
        binary("SLT", Class::Comparison, op::SLT, big, odd),
        binary("SGT", Class::Comparison, op::SGT, big, odd),
        binary("EQ", Class::Comparison, op::EQ, big, odd),
        unary("ISZERO", Class::Comparison, op::ISZERO, big),
        binary("AND", Class::Bitwise, op::AND, big, odd),
        binary("OR", Class::Bitwise, op::OR, big, odd),
        binary("XOR", Class::Bitwise, op::XOR, big, odd),
        unary("NOT", Class::Bitwise, op::NOT, big),
        binary("BYTE", Class::Bitwise, op::BYTE, U256::from(7), big),
        binary("SHL", Class::Bitwise, op::SHL, U256::from(77), big),
        binary("SHR", Class::Bitwise, op::SHR, U256::from(77), big),
        binary("SAR", Class::Bitwise, op::SAR, U256::from(77), big),
    ];
    for (name, bytes) in
        [("KECCAK256 32 B", 32), ("KECCAK256 256 B", 256), ("KECCAK256 1 KiB", 1024)]
    {
        let body =
            Asm::default().push(U256::from(bytes)).ops(&[op::PUSH0, op::KECCAK256, op::POP]).done();
        micros.push(Micro::new(name, Class::Keccak, body, 50_000));
    }
    micros.extend([
        Micro::new("MLOAD", Class::Memory, vec![op::PUSH0, op::MLOAD, op::POP], 50_000),
        Micro::new("MSTORE", Class::Memory, vec![op::DUP1, op::PUSH0, op::MSTORE], 50_000),
        Micro::new(
            "MSTORE growing memory a word",
            Class::Memory,
            Asm::default()
                .ops(&[op::DUP1, op::DUP1])
                .push(U256::from(5))
                .ops(&[op::SHL, op::MSTORE])
                .done(),
            1000,
        ),
        Micro::new(
            "MCOPY 1 KiB",
            Class::Memory,
            Asm::default()
                .push(U256::from(1024))
                .op(op::PUSH0)
                .push(U256::from(1024))
                .op(op::MCOPY)
                .done(),
            20_000,
        ),
        Micro::new("SLOAD cold", Class::Storage, vec![op::DUP1, op::SLOAD, op::POP], 50_000),
        Micro::new("SLOAD warm", Class::Storage, vec![op::PUSH0, op::SLOAD, op::POP], 50_000),
        Micro::new(
            "SSTORE set (cold, 0 → x)",
            Class::Storage,
            vec![op::DUP1, op::DUP1, op::SSTORE],
            500,
        ),
        Micro::new(
            "SSTORE reset (cold, x → y)",
            Class::Storage,
            vec![op::DUP1, op::DUP1, op::SSTORE],
            1000,
        )
        .storage(prefilled(1000)),
        Micro::new(
            "SSTORE clear (cold, x → 0, refunded)",
            Class::Storage,
            vec![op::PUSH0, op::DUP2, op::SSTORE],
            1000,
        )
        .storage(prefilled(1000)),
        Micro::new(
            "SSTORE warm, slot written before",
            Class::Storage,
            vec![op::DUP1, op::PUSH0, op::SSTORE],
            50_000,
        ),
        Micro::new(
            "SSTORE warm, no change",
            Class::Storage,
            vec![op::PUSH1, 1, op::PUSH0, op::SSTORE],
            50_000,
        )
        .storage(vec![(U256::ZERO, U256::from(1))]),
        Micro::new("TSTORE", Class::Transient, vec![op::DUP1, op::DUP1, op::TSTORE], 50_000),
        Micro::new("TLOAD", Class::Transient, vec![op::PUSH0, op::TLOAD, op::POP], 50_000),
    ]);
    let call = |opcode: u8, value: bool| {
        let mut body = Asm::default();
        body.ops(&[op::PUSH0, op::PUSH0, op::PUSH0, op::PUSH0]);
        if opcode == op::CALL {
            body.push(U256::from(value as u8));
        }
        body.push_address(CALLEE).ops(&[op::GAS, opcode, op::POP]).done()
    };
    let cold = |tail: &[u8]| {
        let mut body = Asm::default();
        body.op(op::DUP1).push(U256::from(COLD_BASE)).op(op::ADD).ops(tail);
        body.done()
    };
    let cold_call = {
        let mut body = Asm::default();
        body.ops(&[op::PUSH0; 5]).op(op::DUP6).push(U256::from(COLD_BASE)).op(op::ADD);
        body.ops(&[op::GAS, op::CALL, op::POP]).done()
    };
    micros.extend([
        Micro::new("CALL warm, no value", Class::Call, call(op::CALL, false), 20_000),
        Micro::new("CALL warm, with value", Class::Call, call(op::CALL, true), 500),
        Micro::new("CALL cold account", Class::Call, cold_call, 5_000),
        Micro::new("STATICCALL warm", Class::Call, call(op::STATICCALL, false), 20_000),
        Micro::new("DELEGATECALL warm", Class::Call, call(op::DELEGATECALL, false), 20_000),
    ]);
    // Init code `PUSH0 PUSH0 RETURN`, at memory 29..32: an empty contract.
    let init = U256::from(0x5f5ff3);
    let create = |salted: bool| {
        let mut body = Asm::default();
        if salted {
            body.op(op::DUP1);
        }
        body.push(U256::from(3)).push(U256::from(29)).op(op::PUSH0);
        body.ops(&[if salted { op::CREATE2 } else { op::CREATE }, op::POP]).done()
    };
    micros.extend([
        Micro::new("CREATE (empty contract)", Class::Create, create(false), 300)
            .input(init.to_be_bytes::<32>().to_vec()),
        Micro::new("CREATE2 (empty contract)", Class::Create, create(true), 300)
            .input(init.to_be_bytes::<32>().to_vec()),
    ]);
    for (name, topics, bytes) in [
        ("LOG0 32 B", 0, 32),
        ("LOG1 32 B", 1, 32),
        ("LOG2 32 B", 2, 32),
        ("LOG3 32 B", 3, 32),
        ("LOG4 32 B", 4, 32),
        ("LOG0 1 KiB", 0, 1024),
    ] {
        let mut body = Asm::default();
        for _ in 0..topics {
            body.op(op::DUP1);
        }
        body.push(U256::from(bytes)).op(op::PUSH0).op(op::LOG0 + topics);
        micros.push(Micro::new(name, Class::Log, body.done(), 20_000));
    }
    micros.extend([
        Micro::new(
            "BALANCE warm",
            Class::Environment,
            vec![op::ADDRESS, op::BALANCE, op::POP],
            50_000,
        ),
        Micro::new("BALANCE cold", Class::Environment, cold(&[op::BALANCE, op::POP]), 5_000),
        Micro::new(
            "EXTCODESIZE warm",
            Class::Environment,
            Asm::default().push_address(CALLEE).ops(&[op::EXTCODESIZE, op::POP]).done(),
            50_000,
        ),
        Micro::new(
            "EXTCODEHASH cold",
            Class::Environment,
            cold(&[op::EXTCODEHASH, op::POP]),
            5_000,
        ),
        Micro::new(
            "EXTCODECOPY warm 32 B",
            Class::Environment,
            Asm::default()
                .push(U256::from(32))
                .ops(&[op::PUSH0, op::PUSH0])
                .push_address(CALLEE)
                .op(op::EXTCODECOPY)
                .done(),
            50_000,
        ),
        Micro::new(
            "BLOCKHASH",
            Class::Environment,
            Asm::default()
                .push(U256::from(1))
                .ops(&[op::NUMBER, op::SUB, op::BLOCKHASH, op::POP])
                .done(),
            50_000,
        ),
    ]);
    micros.extend(precompiles(lab)?);
    Ok(micros)
}

/// Slots 1..=n set to a value no benchmark writes.
fn prefilled(n: u64) -> Vec<(U256, U256)> {
    (1..=n).map(|slot| (U256::from(slot), U256::MAX)).collect()
}

/// `STATICCALL` of precompile `address` on `input` (at memory 0), with
/// `output` bytes of reply; the input is checked to succeed first.
fn precompile(
    lab: &mut Lab,
    name: &'static str,
    address: u8,
    input: Vec<u8>,
    iterations: u64,
) -> anyhow::Result<Micro> {
    let precompile = Address::with_last_byte(address);
    let output = lab
        .call(precompile, input.clone())
        .with_context(|| format!("the {name} benchmark's input"))?;
    if output.is_empty() && address != 4 {
        bail!("precompile {name} refused the benchmark's input");
    }
    let mut body = Asm::default();
    let size = input.len().max(1);
    body.push(U256::from(output.len())).push(U256::from(size));
    body.push(U256::from(input.len())).op(op::PUSH0).push(U256::from(address));
    body.ops(&[op::GAS, op::STATICCALL, op::POP]);
    Ok(Micro::new(name, Class::Precompile, body.done(), iterations).input(input))
}

fn precompiles(lab: &mut Lab) -> anyhow::Result<Vec<Micro>> {
    let word = |v: U256| v.to_be_bytes::<32>().to_vec();
    let kib: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
    // ecrecover: a real signature by the lab's sender.
    let digest = keccak256(b"canister-evm calibration");
    let signature = lab.sign(&digest)?;
    let mut ecrecover = digest.to_vec();
    ecrecover.extend(word(U256::from(27 + signature.v() as u8)));
    ecrecover.extend(word(signature.r()));
    ecrecover.extend(word(signature.s()));
    // modexp: 32-byte base, exponent and modulus.
    let mut modexp = [word(U256::from(32)), word(U256::from(32)), word(U256::from(32))].concat();
    modexp.extend([0xab; 32]);
    modexp.extend([0xff; 32]);
    modexp.extend(word(U256::MAX - U256::from(188)));
    // bn254: the generator (1, 2) added to itself, multiplied by a scalar.
    let g1 = [word(U256::from(1)), word(U256::from(2))].concat();
    let bn_add = [g1.clone(), g1.clone()].concat();
    let bn_mul = [g1, word(U256::MAX >> 4)].concat();
    // Two pairs whose product is one (revm's own test vector).
    let bn_pairing = alloy_primitives::hex::decode(BN254_PAIRING)?;
    // blake2f: 12 rounds over an arbitrary state, final block.
    let mut blake2f = 12u32.to_be_bytes().to_vec();
    blake2f.extend((0..208u32).map(|i| (i * 13 + 1) as u8));
    blake2f.push(1);
    // KZG point evaluation (revm's test vector from c-kzg-4844).
    let [commitment, z, y, proof] = KZG.map(|hex| alloy_primitives::hex::decode(hex).unwrap());
    let mut versioned = sha2::Sha256::digest(&commitment).to_vec();
    versioned[0] = 1;
    let kzg = [versioned, z, y, commitment, proof].concat();
    // BLS12-381: points from the map-to-curve precompiles.
    let fp = |v: u8| {
        let mut e = vec![0u8; 64];
        e[63] = v;
        e
    };
    let p1 = lab.call(Address::with_last_byte(0x10), fp(1)).context("mapping to G1")?;
    let p2 = lab.call(Address::with_last_byte(0x10), fp(2)).context("mapping to G1")?;
    let q1 = lab
        .call(Address::with_last_byte(0x11), [fp(1), fp(2)].concat())
        .context("mapping to G2")?;
    let q2 = lab
        .call(Address::with_last_byte(0x11), [fp(3), fp(4)].concat())
        .context("mapping to G2")?;
    let scalar = word(U256::MAX >> 2);
    Ok(vec![
        precompile(lab, "ecrecover", 1, ecrecover, 300)?,
        precompile(lab, "sha256 1 KiB", 2, kib.clone(), 1000)?,
        precompile(lab, "ripemd160 1 KiB", 3, kib.clone(), 1000)?,
        precompile(lab, "identity 1 KiB", 4, kib, 1000)?,
        precompile(lab, "modexp 32-byte operands", 5, modexp, 300)?,
        precompile(lab, "bn254 add", 6, bn_add, 300)?,
        precompile(lab, "bn254 mul", 7, bn_mul, 100)?,
        precompile(lab, "bn254 pairing, 2 pairs", 8, bn_pairing, 20)?,
        precompile(lab, "blake2f 12 rounds", 9, blake2f, 1000)?,
        precompile(lab, "KZG point evaluation", 0x0a, kzg, 20)?,
        precompile(lab, "BLS12-381 G1 add", 0x0b, [p1.clone(), p2.clone()].concat(), 300)?,
        precompile(
            lab,
            "BLS12-381 G1 MSM, 1 pair",
            0x0c,
            [p1.clone(), scalar.clone()].concat(),
            50,
        )?,
        precompile(lab, "BLS12-381 G2 add", 0x0d, [q1.clone(), q2].concat(), 300)?,
        precompile(lab, "BLS12-381 G2 MSM, 1 pair", 0x0e, [q1.clone(), scalar].concat(), 30)?,
        precompile(lab, "BLS12-381 pairing, 1 pair", 0x0f, [p1, q1].concat(), 10)?,
        precompile(lab, "BLS12-381 map to G1", 0x10, fp(5), 100)?,
        precompile(lab, "BLS12-381 map to G2", 0x11, [fp(5), fp(6)].concat(), 30)?,
    ])
}

/// revm-precompile's bn254 pairing test vector: two pairs, product one.
pub(super) const BN254_PAIRING: &str = concat!(
    "1c76476f4def4bb94541d57ebba1193381ffa7aa76ada664dd31c16024c43f59",
    "3034dd2920f673e204fee2811c678745fc819b55d3e9d294e45c9b03a76aef41",
    "209dd15ebff5d46c4bd888e51a93cf99a7329636c63514396b4a452003a35bf7",
    "04bf11ca01483bfa8b34b43561848d28905960114c8ac04049af4b6315a41678",
    "2bb8324af6cfc93537a2ad1a445cfd0ca2a71acd7ac41fadbf933c2a51be344d",
    "120a2a4cf30c1bf9845f20c6fe39e07ea2cce61f0c9bb048165fe5e4de877550",
    "111e129f1cf1097710d41c4ac70fcdfa5ba2023c6ff1cbeac322de49d1b6df7c",
    "2032c61a830e3c17286de9462bf242fca2883585b93870a73853face6a6bf411",
    "198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2",
    "1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed",
    "090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b",
    "12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa",
);

/// A correct KZG proof: commitment, z, y and proof (c-kzg-4844's
/// `verify_kzg_proof_case_correct_proof_4_4`, as revm tests it).
const KZG: [&str; 4] = [
    "8f59a8d2a1a625a17f3fea0fe5eb8c896db3764f3185481bc22f91b4aaffcca25f26936857bc3a7c2539ea8ec3a952b7",
    "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000000",
    "1522a4a7f34e1ea350ae07c29c96c7e79655aa926122e95fe69fcbd932ca49e9",
    "a62ad71d14c5719385c0686f1871430475bf3a00f0aa3f7b8dd99a9abc2160744faf0070725e00b60ad9a026a15b1a8c",
];

impl OpCost {
    fn cells(&self, median: f64) -> [String; 8] {
        let ratio = self.per_gas() / median;
        let off = if ratio >= 10.0 {
            format!("{ratio:.0}× median")
        } else if ratio <= 0.1 {
            format!("1/{:.0} of median", 1.0 / ratio)
        } else {
            String::new()
        };
        [
            self.class.name().to_owned(),
            self.name.clone(),
            grouped(self.gas.round() as u128),
            short(self.evm_instructions.round() as u128),
            short(self.instructions.round() as u128),
            per_gas(self.per_gas()),
            short(self.cycles.round() as u128),
            off,
        ]
    }
}

/// The calibration table in `format`.
pub fn render(rows: &[OpCost], format: Format) -> String {
    const HEADER: [&str; 8] = [
        "Class",
        "Operation",
        "Gas",
        "EVM instructions",
        "With state & seal",
        "Instr/gas",
        "Cycles",
        "Off the median",
    ];
    let mut per_gas: Vec<f64> = rows.iter().filter(|r| r.gas > 0.0).map(OpCost::per_gas).collect();
    per_gas.sort_by(f64::total_cmp);
    let median = per_gas.get(per_gas.len() / 2).copied().unwrap_or(f64::NAN);
    let cells: Vec<[String; 8]> = rows.iter().map(|r| r.cells(median)).collect();
    let note = format!(
        "Per iteration of each operation's body (its operands' DUPs and a POP included), the empty loop subtracted; \
         instructions per gas count the state write and block seal; median {median:.0}."
    );
    match format {
        Format::Json => serde_json::to_string_pretty(rows).expect("rows serialise") + "\n",
        Format::Csv => {
            let mut out = String::from(
                "class,operation,body,iterations,gas,evm_instructions,instructions_per_gas,instructions,cycles\n",
            );
            for r in rows {
                out += &format!(
                    "{},{},{},{},{},{},{},{},{}\n",
                    r.class.name(),
                    super::report::csv_field(&r.name),
                    super::report::csv_field(&r.body),
                    r.iterations,
                    r.gas,
                    r.evm_instructions,
                    r.per_gas(),
                    r.instructions,
                    r.cycles
                );
            }
            out
        }
        Format::Markdown => {
            let mut out =
                format!("| {} |\n|---|---|{}\n", HEADER.join(" | "), "---:|".repeat(5) + "---|");
            for row in &cells {
                out += &format!("| {} |\n", row.join(" | "));
            }
            out + "\n" + &note + "\n"
        }
        Format::Table => {
            let mut widths = HEADER.map(str::len);
            for row in &cells {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |row: &[String]| {
                let mut out = String::new();
                for (i, cell) in row.iter().enumerate() {
                    let pad = " ".repeat(widths[i] - cell.chars().count());
                    if i < 2 || i == 7 {
                        out += &format!("{cell}{pad}  ");
                    } else {
                        out += &format!("{pad}{cell}  ");
                    }
                }
                out.trim_end().to_owned() + "\n"
            };
            let mut out = line(&HEADER.map(str::to_owned));
            out += &line(&widths.map(|w| "─".repeat(w)));
            for row in &cells {
                out += &line(row);
            }
            out + "\n" + &note + "\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_jumps_land_on_its_jumpdests() {
        let micro = Micro::new("t", Class::Stack, vec![op::DUP1, op::POP], 1);
        let code = micro.code();
        let jumpdests: Vec<usize> =
            code.iter().enumerate().filter(|(_, b)| **b == op::JUMPDEST).map(|(i, _)| i).collect();
        assert_eq!(jumpdests.len(), 2);
        let text = disassemble(&code);
        assert!(text.contains(&format!("PUSH2 {:#x} JUMPI", jumpdests[1])), "{text}");
        assert!(text.contains(&format!("PUSH2 {:#x} JUMP", jumpdests[0])), "{text}");
        assert_eq!(*code.last().unwrap(), op::STOP);
    }

    #[test]
    fn bodies_disassemble_with_their_pushes() {
        let body =
            Asm::default().push(U256::from(1024)).ops(&[op::PUSH0, op::KECCAK256, op::POP]).done();
        assert_eq!(disassemble(&body), "PUSH2 0x400 PUSH0 KECCAK256 POP");
        assert_eq!(disassemble(&Asm::default().push(U256::MAX).done()), "PUSH32 0xffffff…");
    }
}
