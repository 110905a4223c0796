//! The gas-vs-cycles instrument, `canister-evm costs`: what EVM work costs
//! as Wasm instructions and ICP cycles, measured inside the real canister.
//!
//! - [`calibrate`]: a micro-benchmark per opcode class and precompile, and
//!   the instructions each unit of gas buys;
//! - [`report`]: per contract and method, gas next to instructions, cycles
//!   and what they would cost on ICP and on Ethereum, from the built-in
//!   workload suite ([`suite`]) or from a node's real transactions
//!   ([`source`]), as a table, Markdown, JSON or CSV;
//! - [`plot`]: the pictures of both, drawn with `plotters` (SVG and PNG);
//! - [`baseline`]: a committed record of the suite's instructions, and the
//!   check that fails when they grow, as canbench does for canisters;
//! - [`lab`]: the chain in this process they measure on.

pub mod baseline;
pub mod calibrate;
pub mod cli;
pub mod lab;
pub mod plot;
pub mod report;
pub mod source;
pub mod suite;

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::cost::{CostBreakdown, TxCost};

/// Cycles one Wasm instruction of an update costs on a 13-node subnet.
pub fn cycles_per_instruction() -> f64 {
    const MANY: u64 = 1_000_000_000;
    canister_host::fees::FEES.instruction_cost(MANY, false) as f64 / MANY as f64
}

/// What one transaction cost, and what it was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// The contract's name, the selector's owner, or `(ether)` for a plain
    /// transfer.
    pub contract: String,
    /// The method, `deploy` for a creation, or the selector.
    pub method: String,
    pub hash: B256,
    pub gas: u64,
    pub instructions: u64,
    pub cycles: u128,
    /// Where the instructions went, if the canister measured it.
    pub phases: Option<CostBreakdown>,
}

impl Sample {
    pub fn new(contract: &str, method: &str, hash: B256, cost: &TxCost) -> Self {
        Self {
            contract: contract.to_owned(),
            method: method.to_owned(),
            hash,
            gas: cost.gas_used,
            instructions: cost.instructions,
            cycles: cost.cycles,
            phases: cost.breakdown,
        }
    }

    /// `Contract.method`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.contract, self.method)
    }
}
