//! `costTracer`: where a transaction's Wasm instructions go, frame by frame
//! and opcode by opcode, measured inside the canister.
//!
//! The tracer reads the instruction counter (`ic0.performance_counter`) in
//! revm's inspector hooks: when a frame starts and ends, and before and
//! after every opcode. It gives
//!
//! - the call tree as geth's `callTracer` shapes it (type, from, to, value,
//!   gas, gasUsed, input, output, error, calls), each frame with its
//!   `instructions` (inclusive) and `selfInstructions` (less its children);
//! - per opcode: count, gas and instructions (a `CALL`'s own, not the
//!   callee's; its gas excludes the gas it forwards);
//! - per precompile: count, gas and instructions;
//! - `evmInstructions`: the whole execution, the figure to compare with the
//!   `evmExecution` phase recorded when the transaction was included.
//!
//! **Overhead.** Reading the counter and keeping the tallies cost
//! instructions too, and they would be counted against the EVM. Each hook
//! reads the counter once on entry and once on exit; what lies between the
//! two readings (the tracer's own work) and one reading's cost (measured
//! once, as the least of 16 back-to-back readings) are added to an overhead
//! account. Every figure is taken on a clock that stops while the tracer
//! works: the raw counter less the overhead so far. The overhead subtracted
//! is reported (`tracerOverhead`); what remains is the interpreter's own
//! dispatch between hooks, a few instructions per opcode.
//!
//! All figures of this tracer are JSON numbers (instructions fit in 53
//! bits); the fields taken from `callTracer` keep its hex strings.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256};
use revm::Inspector;
use revm::bytecode::opcode::OpCode;
use revm::context::ContextTr;
use revm::interpreter::{
    CallInputs, CallOutcome, CallScheme, CreateInputs, CreateOutcome, CreateScheme, Interpreter,
    InterpreterResult, interpreter_types::Jumps,
};
use serde_json::{Value, json};

/// Instructions executed so far in the message.
pub type Counter = fn() -> u64;

/// The tracer's name in `GethDebugTracingOptions::tracer`.
pub const COST_TRACER: &str = "costTracer";

/// A frame of the call tree.
struct Frame {
    kind: &'static str,
    from: Address,
    to: Option<Address>,
    value: U256,
    gas: u64,
    input: Bytes,
    /// The stopped clock when the frame started.
    start: u64,
    /// Inclusive instructions of the finished children.
    children_instructions: u64,
    calls: Vec<Value>,
}

impl Frame {
    fn new(
        kind: &'static str,
        from: Address,
        to: Option<Address>,
        value: U256,
        gas: u64,
        input: Bytes,
    ) -> Self {
        Self {
            kind,
            from,
            to,
            value,
            gas,
            input,
            start: 0,
            children_instructions: 0,
            calls: Vec::new(),
        }
    }
}

/// What one opcode (or precompile) cost in all.
#[derive(Default, Clone, Copy)]
struct Tally {
    count: u64,
    gas: u64,
    instructions: u64,
}

/// The opcode under way: where it started, on the stopped clock, and with
/// how much gas.
struct Step {
    opcode: u8,
    start: u64,
    gas: u64,
}

/// The `costTracer` inspector.
pub struct CostTracer {
    counter: Counter,
    /// What one reading of the counter costs.
    reading: u64,
    /// Instructions the tracer itself has spent so far.
    overhead: u64,
    /// Raw counter reading on entry to the current hook.
    entered: u64,
    stack: Vec<Frame>,
    root: Option<Value>,
    step: Option<Step>,
    /// The opcode that made the frame being entered (CALL, CREATE, …), to
    /// take the gas it forwards off its own.
    last_opcode: Option<u8>,
    opcodes: BTreeMap<u8, Tally>,
    precompiles: BTreeMap<Address, Tally>,
    readings: u64,
    started: u64,
}

impl CostTracer {
    pub fn new(counter: Counter) -> Self {
        let mut reading = u64::MAX;
        for _ in 0..16 {
            let a = counter();
            let b = counter();
            reading = reading.min(b - a);
        }
        let mut tracer = Self {
            counter,
            reading,
            overhead: 0,
            entered: 0,
            stack: Vec::new(),
            root: None,
            step: None,
            last_opcode: None,
            opcodes: BTreeMap::new(),
            precompiles: BTreeMap::new(),
            readings: 0,
            started: 0,
        };
        tracer.enter();
        tracer.started = tracer.clock();
        tracer.leave();
        tracer
    }

    /// On entry to a hook: reads the counter.
    fn enter(&mut self) {
        self.entered = (self.counter)();
    }

    /// The stopped clock at the last [`Self::enter`].
    fn clock(&self) -> u64 {
        self.entered.saturating_sub(self.overhead)
    }

    /// On exit from a hook: what the hook took, and the reading that
    /// started it, go to the overhead.
    fn leave(&mut self) {
        let now = (self.counter)();
        self.overhead += now - self.entered + self.reading;
        self.readings += 2;
    }

    /// The result, once the transaction has been executed.
    pub fn finish(&mut self, gas_used: u64) -> Value {
        self.enter();
        let total = self.clock() - self.started;
        let opcodes: Vec<Value> = {
            let mut rows: Vec<(u8, Tally)> = self.opcodes.iter().map(|(k, v)| (*k, *v)).collect();
            rows.sort_by_key(|(op, tally)| (std::cmp::Reverse(tally.instructions), *op));
            rows.into_iter()
                .map(|(op, tally)| {
                    let name = OpCode::new(op)
                        .map_or_else(|| format!("0x{op:02x}"), |o| o.as_str().to_owned());
                    json!({
                        "op": name,
                        "count": tally.count,
                        "gas": tally.gas,
                        "instructions": tally.instructions,
                    })
                })
                .collect()
        };
        let precompiles: Vec<Value> = self
            .precompiles
            .iter()
            .map(|(address, tally)| {
                json!({
                    "address": address,
                    "name": precompile_name(address),
                    "count": tally.count,
                    "gas": tally.gas,
                    "instructions": tally.instructions,
                })
            })
            .collect();
        json!({
            "gasUsed": gas_used,
            "evmInstructions": total,
            "tracerOverhead": {
                "readings": self.readings,
                "instructionsPerReading": self.reading,
                "subtracted": self.overhead,
            },
            "calls": self.root.take().unwrap_or(Value::Null),
            "opcodes": opcodes,
            "precompiles": precompiles,
        })
    }

    /// Starts `frame`; the opcode that made it inside another frame has the
    /// gas it `forwarded` taken off its own.
    fn begin(&mut self, mut frame: Frame, forwarded: u64) {
        if !self.stack.is_empty() {
            self.forwarded(forwarded);
        }
        frame.start = self.clock();
        self.stack.push(frame);
    }

    /// Ends the current frame with `result`; `precompile` if it was a
    /// precompile's.
    fn pop(&mut self, result: &InterpreterResult, created: Option<Address>, precompile: bool) {
        let now = self.clock();
        let Some(frame) = self.stack.pop() else { return };
        let instructions = now - frame.start;
        let gas_used = result.gas.limit().saturating_sub(result.gas.remaining());
        if precompile && let Some(to) = frame.to {
            let tally = self.precompiles.entry(to).or_default();
            tally.count += 1;
            tally.gas += gas_used;
            tally.instructions += instructions;
        }
        let mut value = json!({
            "type": frame.kind,
            "from": frame.from,
            "gas": format!("{:#x}", frame.gas),
            "gasUsed": format!("{gas_used:#x}"),
            "input": frame.input,
            "instructions": instructions,
            "selfInstructions": instructions.saturating_sub(frame.children_instructions),
        });
        let object = value.as_object_mut().expect("an object");
        if let Some(to) = created.or(frame.to) {
            object.insert("to".into(), json!(to));
        }
        if frame.kind != "STATICCALL" && frame.kind != "DELEGATECALL" {
            object.insert("value".into(), json!(format!("{:#x}", frame.value)));
        }
        if !result.output.is_empty() {
            object.insert("output".into(), json!(result.output));
        }
        if !result.result.is_ok() {
            let error = if result.result.is_revert() {
                "execution reverted".to_owned()
            } else {
                format!("{:?}", result.result)
            };
            object.insert("error".into(), json!(error));
        }
        if !frame.calls.is_empty() {
            object.insert("calls".into(), Value::Array(frame.calls));
        }
        match self.stack.last_mut() {
            Some(parent) => {
                parent.children_instructions += instructions;
                parent.calls.push(value);
            }
            None => self.root = Some(value),
        }
    }

    /// Takes the gas a frame-making opcode forwarded off its own tally.
    fn forwarded(&mut self, gas_limit: u64) {
        if let Some(op) = self.last_opcode.take()
            && let Some(tally) = self.opcodes.get_mut(&op)
        {
            tally.gas = tally.gas.saturating_sub(gas_limit);
        }
    }
}

fn call_kind(scheme: CallScheme) -> &'static str {
    match scheme {
        CallScheme::Call => "CALL",
        CallScheme::CallCode => "CALLCODE",
        CallScheme::DelegateCall => "DELEGATECALL",
        CallScheme::StaticCall => "STATICCALL",
    }
}

/// The name of a precompile by address (Prague and Osaka).
fn precompile_name(address: &Address) -> &'static str {
    let bytes = address.as_slice();
    if bytes[..18] != [0u8; 18] {
        return "unknown";
    }
    match u16::from_be_bytes([bytes[18], bytes[19]]) {
        0x01 => "ecrecover",
        0x02 => "sha256",
        0x03 => "ripemd160",
        0x04 => "identity",
        0x05 => "modexp",
        0x06 => "bn254Add",
        0x07 => "bn254Mul",
        0x08 => "bn254Pairing",
        0x09 => "blake2f",
        0x0a => "pointEvaluation",
        0x0b => "bls12G1Add",
        0x0c => "bls12G1Msm",
        0x0d => "bls12G2Add",
        0x0e => "bls12G2Msm",
        0x0f => "bls12PairingCheck",
        0x10 => "bls12MapFpToG1",
        0x11 => "bls12MapFp2ToG2",
        0x100 => "p256Verify",
        _ => "unknown",
    }
}

impl<CTX: ContextTr> Inspector<CTX> for CostTracer {
    fn step(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        self.enter();
        self.step = Some(Step {
            opcode: interp.bytecode.opcode(),
            start: self.clock(),
            gas: interp.gas.remaining(),
        });
        self.leave();
    }

    fn step_end(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        self.enter();
        if let Some(step) = self.step.take() {
            let now = self.clock();
            let tally = self.opcodes.entry(step.opcode).or_default();
            tally.count += 1;
            tally.gas += step.gas.saturating_sub(interp.gas.remaining());
            tally.instructions += now - step.start;
            self.last_opcode = Some(step.opcode);
        }
        self.leave();
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        self.enter();
        // A call with value gets the 2,300 gas stipend on top of what its
        // caller forwarded.
        let stipend = matches!(inputs.scheme, CallScheme::Call | CallScheme::CallCode)
            && !inputs.value.get().is_zero();
        let forwarded = inputs.gas_limit - if stipend { 2_300 } else { 0 };
        let input = inputs.input.bytes(context);
        let frame = Frame::new(
            call_kind(inputs.scheme),
            inputs.caller,
            Some(inputs.target_address),
            inputs.value.get(),
            inputs.gas_limit,
            input,
        );
        self.begin(frame, forwarded);
        self.leave();
        None
    }

    fn call_end(&mut self, _context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.enter();
        self.pop(&outcome.result, None, outcome.was_precompile_called);
        self.leave();
    }

    fn create(&mut self, _context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.enter();
        let kind = match inputs.scheme() {
            CreateScheme::Create2 { .. } => "CREATE2",
            _ => "CREATE",
        };
        let gas = inputs.gas_limit();
        let input = inputs.init_code().clone();
        self.begin(Frame::new(kind, inputs.caller(), None, inputs.value(), gas, input), gas);
        self.leave();
        None
    }

    fn create_end(
        &mut self,
        _context: &mut CTX,
        _inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        self.enter();
        self.pop(&outcome.result, outcome.address, false);
        self.leave();
    }
}
