//! Typed access to the canister's Candid methods: one Rust method per
//! canister method, each a query or a journaled update.

use candid::Principal;
use canister_host::Execution;
use evm_canister_api::{
    AccountEdit, Address, Hash, MinedBlock, MinedTx, MiningMode, SubmitResult, TxError,
};
use serde_bytes::ByteBuf;

use super::{CostTotals, Node, NodeError, Queries, RecentHeaders, Submitted, Update};
use crate::cost::costs_of;
use crate::txlog;

impl Node {
    /// Mines a block now, with the pool's executable transactions or an
    /// empty one (`evm_mine`).
    pub fn mine(&mut self) -> Result<MinedBlock, NodeError> {
        let (block, execution): (MinedBlock, _) = self.update(Update::Mine, ())?;
        self.blocks_produced(std::slice::from_ref(&block), &execution)?;
        Ok(block)
    }

    /// The latest blocks' headers, as the node records them.
    pub fn recent_headers(&self) -> RecentHeaders {
        self.headers.clone()
    }

    /// Records what the transactions of blocks a message produced cost.
    pub(super) fn blocks_produced(
        &mut self,
        blocks: &[MinedBlock],
        execution: &Execution,
    ) -> Result<(), NodeError> {
        if blocks.is_empty() {
            return Ok(());
        }
        self.block_produced();
        self.headers.record(blocks);
        let txs = blocks.iter().flat_map(|block| &block.transactions);
        for (tx, (hash, cost)) in txs.zip(costs_of(blocks, execution)) {
            match self.log_label(tx) {
                Some(label) => tracing::info!("{}", txlog::line(hash, &label, &cost)),
                None => tracing::debug!(
                    tx = %hash,
                    gas = cost.gas_used,
                    instructions = cost.instructions,
                    cycles = cost.cycles,
                    "transaction included"
                ),
            }
            self.costs.write().unwrap_or_else(|e| e.into_inner()).insert(hash, cost);
            self.with_store(|store, _, _| store.record_cost(hash, &cost))?;
        }
        Ok(())
    }

    /// Turns automine on or off (`evm_setAutomine`); turning it on mines
    /// what waits in the pool.
    /// The transaction log's label of `tx`, if the node logs transactions.
    /// The creation of a contract of `contracts/` reads `Token deployment`,
    /// and calls of that address are then named after it.
    fn log_label(&mut self, tx: &MinedTx) -> Option<String> {
        self.transaction_log.as_ref()?;
        if tx.to.is_none() && tx.phases.is_some() {
            let deployed = self.deployment(tx.hash);
            if let Some(name) = deployed {
                return Some(format!("{name} deployment"));
            }
        }
        self.transaction_log.as_ref().map(|names| names.label(tx))
    }

    /// The name of the known contract creation `hash` deployed, recorded
    /// with its address.
    fn deployment(&mut self, hash: Hash) -> Option<String> {
        use alloy_consensus::Transaction as _;
        use alloy_eips::eip2718::Decodable2718 as _;
        let address = self.receipt(hash).ok()??.contract_address?.0;
        let raw = self.transaction(hash).ok()??.raw;
        let envelope = alloy_consensus::TxEnvelope::decode_2718(&mut &raw[..]).ok()?;
        self.transaction_log.as_mut()?.deployed(address, envelope.input())
    }

    pub fn set_automine(&mut self, automine: bool) -> Result<Vec<MinedBlock>, NodeError> {
        let (blocks, execution): (Vec<MinedBlock>, _) =
            self.update(Update::SetMiningMode, (MiningMode { automine },))?;
        self.blocks_produced(&blocks, &execution)?;
        Ok(blocks)
    }

    /// Sets an account's balance, nonce, code or storage.
    pub fn edit_account(&mut self, edit: AccountEdit) -> Result<(), NodeError> {
        let ((), _) = self.update(Update::EditAccount, (edit,))?;
        Ok(())
    }

    /// Records the chain and the node's clock (`evm_snapshot`).
    pub fn snapshot(&mut self) -> Result<u64, NodeError> {
        let (id, _): (u64, _) = self.update(Update::Snapshot, ())?;
        self.snapshot_clocks.insert(id, (self.time_offset, self.next_time));
        Ok(id)
    }

    /// Returns the chain to snapshot `id` (`evm_revert`), and the clock's
    /// offset as it was then; `false` if there is no such snapshot.
    pub fn revert(&mut self, id: u64) -> Result<bool, NodeError> {
        let (reverted, _): (bool, _) = self.update(Update::Revert, (id,))?;
        if reverted {
            self.headers.clear();
        }
        if let Some(&(offset, next)) = self.snapshot_clocks.get(&id)
            && reverted
        {
            self.time_offset = offset;
            self.next_time = next;
        }
        self.snapshot_clocks.retain(|&snapshot, _| snapshot < id);
        Ok(reverted)
    }

    pub fn send_raw_transaction(
        &mut self,
        raw: &[u8],
    ) -> Result<Result<Submitted, TxError>, NodeError> {
        let (result, execution): (Result<SubmitResult, TxError>, _) =
            self.update(Update::SendRawTransaction, (ByteBuf::from(raw),))?;
        self.submitted(result, &execution)
    }

    /// Sends a transaction as `from` without its key (impersonation): `raw`
    /// may carry any signature.
    pub fn send_impersonated(
        &mut self,
        raw: &[u8],
        from: Address,
    ) -> Result<Result<Submitted, TxError>, NodeError> {
        let (result, execution): (Result<SubmitResult, TxError>, _) =
            self.update(Update::SendImpersonatedTransaction, (ByteBuf::from(raw), from))?;
        self.submitted(result, &execution)
    }

    pub(super) fn submitted(
        &mut self,
        result: Result<SubmitResult, TxError>,
        execution: &Execution,
    ) -> Result<Result<Submitted, TxError>, NodeError> {
        let result = match result {
            Ok(result) => result,
            Err(error) => return Ok(Err(error)),
        };
        self.blocks_produced(&result.blocks, execution)?;
        if result.blocks.is_empty() {
            tracing::info!(tx = %result.tx_hash, "transaction pooled");
        }
        let cost = self.transaction_cost(result.tx_hash.0);
        Ok(Ok(Submitted { result, cost }))
    }

    /// What every transaction this node executed cost, added up (those of
    /// blocks an `evm_revert` removed included: the canister paid for them).
    pub fn cost_totals(&self) -> CostTotals {
        let costs = self.costs.read().unwrap_or_else(|e| e.into_inner());
        costs.values().fold(CostTotals::default(), |mut totals, cost| {
            totals.transactions += 1;
            totals.gas_used += u128::from(cost.gas_used);
            totals.instructions += u128::from(cost.instructions);
            totals.cycles += cost.cycles;
            totals.stable_bytes_written += u128::from(cost.stable_bytes_written);
            totals
        })
    }

    /// The canister's principal (`ic0.canister_self`).
    pub fn canister_id(&self) -> Principal {
        Principal::from_slice(&self.canister.system_state().canister_id)
    }

    /// The HTTP gateway's upgrade: `http_request_update` with Candid bytes,
    /// an update from the anonymous principal (inspected by
    /// `canister_inspect_message` and journaled like every update). The
    /// canister mined any blocks itself; subscribers and filters hear of
    /// them, but their transactions' costs are not in the node's ledger
    /// (the reply is HTTP, with no mined blocks in it).
    pub fn http_request_update(&mut self, arg: &[u8]) -> Result<(Vec<u8>, Option<u64>), NodeError> {
        let before = self.chain_info()?.latest_block;
        let reply = self.update_as(Principal::anonymous(), "http_request_update", arg)?;
        let after = self.chain_info()?.latest_block;
        if after != before {
            self.block_produced();
        }
        Ok((reply, (after != before).then_some(after)))
    }
}
