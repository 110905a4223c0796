//! What each transaction cost: gas, Wasm instructions, cycles and bytes
//! written, apportioned from the canister message that included it.

use alloy_primitives::B256;
use canister_host::Execution;
use evm_canister_api::MinedBlock;

/// What a transaction cost, in every unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCost {
    pub gas_used: u64,
    /// Wasm instructions of the update that included the transaction.
    pub instructions: u64,
    /// Cycles the canister paid for that update.
    pub cycles: u128,
    pub stable_bytes_written: u64,
}

/// What each transaction of `blocks` cost. The update's instructions,
/// cycles and writes are shared out by the instructions each transaction
/// took itself (`ic0.performance_counter`); a lone transaction carries all
/// of them, block overhead (state root, storing) included.
pub(crate) fn costs_of(blocks: &[MinedBlock], execution: &Execution) -> Vec<(B256, TxCost)> {
    let txs: Vec<_> = blocks.iter().flat_map(|block| &block.transactions).collect();
    let own: u128 = txs.iter().map(|tx| u128::from(tx.instructions)).sum();
    let count = txs.len() as u128;
    let share = |total: u128, tx_instructions: u64| {
        match (total * u128::from(tx_instructions)).checked_div(own) {
            Some(share) => share,
            None => total / count, // nothing measured (a native build): equal shares
        }
    };
    txs.iter()
        .map(|tx| {
            let cost = TxCost {
                gas_used: tx.gas_used,
                instructions: share(execution.instructions.into(), tx.instructions) as u64,
                cycles: share(execution.cycles, tx.instructions),
                stable_bytes_written: share(execution.stable_bytes_written.into(), tx.instructions)
                    as u64,
            };
            (tx.hash.0, cost)
        })
        .collect()
}
