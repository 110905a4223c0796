//! What each transaction cost: gas, Wasm instructions, cycles and bytes
//! written, apportioned from the canister message that included it, and
//! where its instructions went, phase by phase.

use alloy_primitives::B256;
use canister_host::Execution;
use evm_canister_api::MinedBlock;

/// What a transaction cost, in every unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCost {
    pub gas_used: u64,
    /// Wasm instructions: the transaction's share of the update that
    /// included it. The shares of one update add up to its instructions.
    pub instructions: u64,
    /// Cycles the canister paid for that update, shared the same way.
    pub cycles: u128,
    pub stable_bytes_written: u64,
    /// Where `instructions` went; `None` for transactions executed by a
    /// canister module from before phases were measured.
    pub breakdown: Option<CostBreakdown>,
}

/// Where a transaction's instructions went. The phases add up to
/// [`TxCost::instructions`] exactly.
///
/// The first five are the transaction's own, measured by the canister
/// (`ic0.performance_counter`) as it went; the last two are its share of
/// what the message spent on more than one transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostBreakdown {
    /// Decoding the signed transaction.
    pub decoding: u64,
    /// Recovering its sender from the signature (secp256k1).
    pub sender_recovery: u64,
    /// The chain's checks before the EVM: chain id, nonce, pool, block gas.
    pub validation: u64,
    /// revm executing it.
    pub evm_execution: u64,
    /// Writing the state it changed to stable memory, and its receipt.
    pub state_write: u64,
    /// Its share of sealing its block: the transactions and receipts tries,
    /// the state root, storing and indexing the block.
    pub block_seal: u64,
    /// Its share of the rest of the message: decoding the Candid arguments
    /// and encoding the reply, choosing from the pool, empty blocks, and
    /// the host's charges for system calls outside the phases.
    pub other: u64,
}

impl CostBreakdown {
    /// The phases' names, in the order of [`CostBreakdown::values`].
    pub const NAMES: [&'static str; 7] = [
        "decoding",
        "sender recovery",
        "validation",
        "EVM execution",
        "state write",
        "block seal",
        "other",
    ];

    pub fn values(&self) -> [u64; 7] {
        [
            self.decoding,
            self.sender_recovery,
            self.validation,
            self.evm_execution,
            self.state_write,
            self.block_seal,
            self.other,
        ]
    }

    /// The instructions of all phases.
    pub fn total(&self) -> u64 {
        self.decoding
            + self.sender_recovery
            + self.validation
            + self.evm_execution
            + self.state_write
            + self.block_seal
            + self.other
    }
}

/// `total` shared out in proportion to `weights`, by largest remainder: the
/// shares add up to `total` exactly, and ties go to the earlier weight.
/// With all weights zero, the shares are equal (as equal as integers go).
fn apportion(total: u128, weights: &[u128]) -> Vec<u128> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: u128 = weights.iter().sum();
    let (mut shares, remainders): (Vec<u128>, Vec<u128>) = if sum == 0 {
        let n = weights.len() as u128;
        weights.iter().map(|_| (total / n, 0)).unzip()
    } else {
        weights.iter().map(|&w| (total * w / sum, total * w % sum)).unzip()
    };
    let left = total - shares.iter().sum::<u128>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(remainders[i]));
    for &i in order.iter().take(left as usize) {
        shares[i] += 1;
    }
    shares
}

/// What each transaction of `blocks`, which one update produced, cost.
///
/// Each transaction carries its own phases. A block's sealing is shared
/// among its transactions by their own instructions, and the rest of the
/// update (what no phase and no seal measured) among all of them the same
/// way; cycles and bytes written follow the resulting instructions. So a
/// lone transaction carries the whole update, and the transactions of one
/// update add up to exactly its instructions and cycles.
pub(crate) fn costs_of(blocks: &[MinedBlock], execution: &Execution) -> Vec<(B256, TxCost)> {
    let txs: Vec<_> = blocks.iter().flat_map(|block| &block.transactions).collect();
    if txs.is_empty() {
        return Vec::new();
    }
    let own: Vec<u128> = txs.iter().map(|tx| u128::from(tx.instructions)).collect();
    let mut seal = Vec::with_capacity(txs.len());
    for block in blocks {
        let weights: Vec<u128> =
            block.transactions.iter().map(|tx| u128::from(tx.instructions)).collect();
        seal.extend(apportion(block.seal_instructions.unwrap_or(0).into(), &weights));
    }
    let measured: u128 = own.iter().sum::<u128>() + seal.iter().sum::<u128>();
    // The counters read the same fuel as the update's total, so what they
    // measured never exceeds it.
    let rest = u128::from(execution.instructions).saturating_sub(measured);
    let other = apportion(rest, &own);
    let instructions: Vec<u128> = (0..txs.len()).map(|i| own[i] + seal[i] + other[i]).collect();
    let cycles = apportion(execution.cycles, &instructions);
    let written = apportion(execution.stable_bytes_written.into(), &instructions);
    txs.iter()
        .enumerate()
        .map(|(i, tx)| {
            let breakdown = tx.phases.map(|phases| CostBreakdown {
                decoding: phases.decode,
                sender_recovery: phases.recover,
                validation: phases.validate,
                evm_execution: phases.execute,
                state_write: phases.commit,
                block_seal: seal[i] as u64,
                other: other[i] as u64,
            });
            let cost = TxCost {
                gas_used: tx.gas_used,
                instructions: instructions[i] as u64,
                cycles: cycles[i],
                stable_bytes_written: written[i] as u64,
                breakdown,
            };
            (tx.hash.0, cost)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use evm_canister_api::{MinedTx, TxPhases};

    #[test]
    fn apportioning_is_exact_and_proportional() {
        assert_eq!(apportion(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(apportion(10, &[0, 0, 0]), vec![4, 3, 3]);
        assert_eq!(apportion(100, &[1, 3]), vec![25, 75]);
        assert_eq!(apportion(7, &[2, 1, 1]), vec![3, 2, 2]);
        assert_eq!(apportion(0, &[5, 5]), vec![0, 0]);
        assert!(apportion(9, &[]).is_empty());
        let shares = apportion(1_000_003, &[17, 4, 9_999, 1]);
        assert_eq!(shares.iter().sum::<u128>(), 1_000_003);
    }

    fn tx(byte: u8, phases: TxPhases) -> MinedTx {
        MinedTx {
            hash: B256::repeat_byte(byte).into(),
            success: true,
            gas_used: 21_000,
            instructions: phases.total(),
            phases: Some(phases),
            to: None,
            selector: None,
        }
    }

    fn block(transactions: Vec<MinedTx>, seal: u64) -> MinedBlock {
        MinedBlock {
            number: 1,
            hash: B256::ZERO.into(),
            timestamp: 0,
            transactions,
            seal_instructions: Some(seal),
            header: None,
            size: None,
        }
    }

    fn execution(instructions: u64, cycles: u128) -> Execution {
        Execution {
            result: Ok(None),
            instructions,
            cycles,
            stable_bytes_written: 4096,
            debug_output: Vec::new(),
        }
    }

    #[test]
    fn a_lone_transaction_carries_the_whole_update_phase_by_phase() {
        let phases = TxPhases { decode: 10, recover: 500, validate: 5, execute: 300, commit: 85 };
        let costs = costs_of(&[block(vec![tx(1, phases)], 400)], &execution(1_450, 999));
        let (_, cost) = costs[0];
        assert_eq!(cost.instructions, 1_450);
        assert_eq!(cost.cycles, 999);
        let breakdown = cost.breakdown.unwrap();
        assert_eq!(
            breakdown,
            CostBreakdown {
                decoding: 10,
                sender_recovery: 500,
                validation: 5,
                evm_execution: 300,
                state_write: 85,
                block_seal: 400,
                other: 150,
            }
        );
        assert_eq!(breakdown.total(), cost.instructions);
    }

    #[test]
    fn shares_of_one_update_add_up_exactly() {
        let a = TxPhases { decode: 3, recover: 7, validate: 1, execute: 11, commit: 2 };
        let b = TxPhases { execute: 31, commit: 5, ..a };
        let c = TxPhases { decode: 1, ..TxPhases::default() };
        // Two blocks and an empty one: the empty block's seal is the rest's.
        let blocks = [block(vec![tx(1, a), tx(2, b)], 101), block(vec![tx(3, c)], 13)];
        let mut with_empty = blocks.to_vec();
        with_empty.push(block(Vec::new(), 50));
        let execution = execution(1_000_001, 7_777_777);
        for blocks in [&blocks[..], &with_empty[..]] {
            let costs = costs_of(blocks, &execution);
            let instructions: u64 = costs.iter().map(|(_, c)| c.instructions).sum();
            let cycles: u128 = costs.iter().map(|(_, c)| c.cycles).sum();
            let written: u64 = costs.iter().map(|(_, c)| c.stable_bytes_written).sum();
            assert_eq!((instructions, cycles, written), (1_000_001, 7_777_777, 4096));
            for (_, cost) in &costs {
                assert_eq!(cost.breakdown.unwrap().total(), cost.instructions);
            }
            // The first block's seal is shared by its two transactions.
            let seal: Vec<u64> =
                costs.iter().map(|(_, c)| c.breakdown.unwrap().block_seal).collect();
            assert_eq!(seal, vec![34, 67, 13]);
        }
    }

    #[test]
    fn replies_without_phases_still_share_the_update() {
        let mut old = tx(1, TxPhases::default());
        old.phases = None;
        old.instructions = 0;
        let mut empty =
            block(vec![old.clone(), MinedTx { hash: B256::repeat_byte(2).into(), ..old }], 0);
        empty.seal_instructions = None;
        let costs = costs_of(&[empty], &execution(11, 3));
        assert_eq!(costs.iter().map(|(_, c)| c.instructions).collect::<Vec<_>>(), vec![6, 5]);
        assert!(costs.iter().all(|(_, c)| c.breakdown.is_none()));
    }
}
