//! The headers of the latest blocks the node produced, as the canister
//! returned them when it sealed them: `eth_subscribe("newHeads")` sends
//! them without a query per block and subscriber.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use evm_canister_api::{BlockView, MinedBlock};

/// How many of the latest blocks' headers are kept.
const KEPT: usize = 256;

/// Shared by the node, which fills it as it produces blocks and empties it
/// when the chain is reverted, and the subscriptions, which read it.
#[derive(Clone, Debug, Default)]
pub struct RecentHeaders(Arc<Mutex<BTreeMap<u64, BlockView>>>);

impl RecentHeaders {
    /// Keeps the headers of `blocks` (those whose reply carried one: older
    /// modules' replies do not).
    pub(super) fn record(&self, blocks: &[MinedBlock]) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for block in blocks {
            let (Some(header), Some(size)) = (&block.header, block.size) else { continue };
            let view = BlockView {
                hash: block.hash,
                header: header.clone(),
                size,
                transactions: block.transactions.iter().map(|tx| tx.hash).collect(),
                full_transactions: Vec::new(),
            };
            kept.insert(block.number, view);
        }
        while kept.len() > KEPT {
            kept.pop_first();
        }
    }

    /// Forgets every header: the chain went back to a snapshot, and the
    /// numbers after it will be other blocks.
    pub(super) fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Block `number` without its transactions in full, if it is kept.
    pub fn get(&self, number: u64) -> Option<BlockView> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&number).cloned()
    }
}
