//! What the node adds to the canister's `costTracer` output: cycles next to
//! every instruction figure (the pinned fee table's price of executing
//! them, without the per-message fee), and for an included transaction the
//! phases recorded when it was included, with how far the re-executed EVM
//! is from the recorded `evmExecution` phase.

use canister_host::fees::FEES;
use serde_json::{Value, json};

use crate::cost::TxCost;

/// The tracer's name in the options.
pub const COST_TRACER: &str = "costTracer";

/// Whether tracer `options` (as JSON-RPC received them) ask for costTracer.
pub fn is_cost_tracer(options: &Option<Value>) -> bool {
    options.as_ref().and_then(|o| o.get("tracer")).and_then(Value::as_str) == Some(COST_TRACER)
}

fn cycles(instructions: u64) -> u128 {
    FEES.instruction_cost(instructions, false)
}

/// Adds `cycles` next to `instructions` (and `selfCycles` next to
/// `selfInstructions`) in a frame and its calls.
fn frame_cycles(frame: &mut Value) {
    let Some(object) = frame.as_object_mut() else { return };
    for (from, to) in [("instructions", "cycles"), ("selfInstructions", "selfCycles")] {
        if let Some(n) = object.get(from).and_then(Value::as_u64) {
            object.insert(to.into(), json!(cycles(n)));
        }
    }
    if let Some(Value::Array(calls)) = object.get_mut("calls") {
        calls.iter_mut().for_each(frame_cycles);
    }
}

/// Completes a costTracer result; `cost` is what the transaction cost when
/// it was included (`None` for `debug_traceCall`).
pub fn complete(trace: &mut Value, cost: Option<&TxCost>) {
    frame_cycles(&mut trace["calls"]);
    for table in ["opcodes", "precompiles"] {
        if let Some(Value::Array(rows)) = trace.get_mut(table) {
            for row in rows {
                if let Some(n) = row["instructions"].as_u64() {
                    row["cycles"] = json!(cycles(n));
                }
            }
        }
    }
    let evm = trace["evmInstructions"].as_u64().unwrap_or(0);
    trace["evmCycles"] = json!(cycles(evm));
    let Some(cost) = cost else { return };
    trace["wasmInstructions"] = json!(cost.instructions);
    trace["cycles"] = json!(cost.cycles);
    let Some(b) = cost.breakdown else { return };
    trace["phases"] = json!({
        "decoding": b.decoding,
        "senderRecovery": b.sender_recovery,
        "validation": b.validation,
        "evmExecution": b.evm_execution,
        "stateWrite": b.state_write,
        "blockSeal": b.block_seal,
        "other": b.other,
    });
    let recorded = b.evm_execution;
    let difference = evm as i128 - i128::from(recorded);
    let percent = if recorded == 0 { 0.0 } else { difference as f64 * 100.0 / recorded as f64 };
    trace["evmGap"] = json!({
        "recorded": recorded,
        "reexecuted": evm,
        "difference": difference as i64,
        "percent": (percent * 100.0).round() / 100.0,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostBreakdown;

    #[test]
    fn cycles_follow_instructions_and_the_recorded_phases_are_added() {
        let mut trace = json!({
            "evmInstructions": 1_000,
            "calls": {
                "instructions": 1_000, "selfInstructions": 400,
                "calls": [{ "instructions": 600, "selfInstructions": 600 }],
            },
            "opcodes": [{ "op": "SSTORE", "instructions": 300 }],
            "precompiles": [],
        });
        let breakdown = CostBreakdown { evm_execution: 1_100, ..CostBreakdown::default() };
        let cost = TxCost {
            gas_used: 21_000,
            instructions: 5_000,
            cycles: 6_000_000,
            stable_bytes_written: 0,
            breakdown: Some(breakdown),
        };
        complete(&mut trace, Some(&cost));
        assert_eq!(trace["calls"]["cycles"], json!(cycles(1_000)));
        assert_eq!(trace["calls"]["selfCycles"], json!(cycles(400)));
        assert_eq!(trace["calls"]["calls"][0]["cycles"], json!(cycles(600)));
        assert_eq!(trace["opcodes"][0]["cycles"], json!(cycles(300)));
        assert_eq!(cycles(1_000), 1_000, "one cycle per instruction on a 13-node subnet");
        assert_eq!(trace["phases"]["evmExecution"], 1_100);
        assert_eq!(trace["evmGap"]["difference"], -100);
        assert_eq!(trace["evmGap"]["percent"], -9.09);
        assert_eq!(trace["wasmInstructions"], 5_000);
    }

    #[test]
    fn only_cost_tracer_options_are_completed() {
        assert!(is_cost_tracer(&Some(json!({"tracer": "costTracer"}))));
        assert!(!is_cost_tracer(&Some(json!({"tracer": "callTracer"}))));
        assert!(!is_cost_tracer(&None));
    }
}
