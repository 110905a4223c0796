//! Producing blocks: the next block's environment, executing transactions
//! into a [`BlockBuilder`], and sealing (roots, indexes, the new head).

use alloy_consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy_consensus::{
    Block, BlockBody, Eip658Value, Header, Receipt, ReceiptEnvelope, Transaction, TxEnvelope,
    TxReceipt,
};
use alloy_eips::eip1559::BaseFeeParams;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, Log, keccak256};
use alloy_rlp::Encodable;
use evm_canister_api::{MinedBlock, MinedTx, TxError, TxPhases};
use ic_stable_structures::Memory;
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::primitives::hardfork::SpecId;

use super::{Chain, DecodedTx};
use crate::evm::{self, BlockContext, Mode};
use crate::store::records::{MaybeAddress, StoredBlock, StoredReceipt, StoredTx};
use crate::store::state::BlockCommit;
use alloy_evm::FromRecoveredTx;

impl<M: Memory> Chain<M> {
    /// Stores a finished block and makes it the head; returns it as stored.
    pub(super) fn seal(
        &mut self,
        mut header: Header,
        txs: &[ExecutedTx],
        receipts: &[ReceiptEnvelope],
    ) -> StoredBlock {
        header.state_root = self.state.state_root(header.number);
        let envelopes: Vec<TxEnvelope> = txs.iter().map(|tx| tx.envelope.clone()).collect();
        header.transactions_root = calculate_transaction_root(&envelopes);
        header.receipts_root = calculate_receipt_root(receipts);
        header.logs_bloom = receipts.iter().fold(Bloom::ZERO, |bloom, r| bloom | r.bloom());
        let hash = header.hash_slow();
        let number = header.number;
        let body = BlockBody {
            transactions: envelopes,
            ommers: Vec::new(),
            withdrawals: header.withdrawals_root.map(|_| Default::default()),
        };
        let block = Block { header, body };
        let size = block.length() as u64;
        let header = block.header;

        let mut first_log_index = 0u64;
        for (index, (tx, receipt)) in txs.iter().zip(receipts).enumerate() {
            let index = index as u64;
            self.transactions.insert(
                tx.hash.0,
                StoredTx {
                    raw: tx.raw.clone(),
                    from: tx.from,
                    block_number: number,
                    index,
                    effective_gas_price: tx.effective_gas_price,
                },
            );
            self.receipts.insert(
                tx.hash.0,
                StoredReceipt {
                    envelope: receipt.encoded_2718().into(),
                    block_number: number,
                    index,
                    from: tx.from,
                    to: MaybeAddress(tx.envelope.to()),
                    contract_address: MaybeAddress(tx.contract_address),
                    gas_used: tx.gas_used,
                    effective_gas_price: tx.effective_gas_price,
                    first_log_index,
                },
            );
            first_log_index += receipt.logs().len() as u64;
        }
        let mut encoded_header = Vec::with_capacity(header.length());
        header.encode(&mut encoded_header);
        let stored = StoredBlock {
            hash,
            header: encoded_header.into(),
            size,
            transactions: txs.iter().map(|tx| tx.hash).collect(),
        };
        self.blocks.insert(number, stored.clone());
        self.block_numbers.insert(hash.0, number);
        let mut meta = self.meta.get().clone();
        meta.head_number = number;
        meta.head_hash = hash;
        if meta.genesis_hash != B256::ZERO {
            // The block after genesis exists: its pinned environment is used up.
            meta.first_block = None;
        }
        self.meta.set(meta);
        self.head = header;
        stored
    }

    /// The header of block `number`, which must exist.
    pub(crate) fn header(&self, number: u64) -> Header {
        let block = self.blocks.get(&number).expect("block exists");
        block.decoded_header()
    }

    /// Base fee of the block after the head.
    pub(super) fn next_base_fee(&self) -> u64 {
        self.head.next_block_base_fee(BaseFeeParams::ethereum()).unwrap_or_default()
    }

    /// The context of the block that would be produced at `now` (nanoseconds).
    pub(crate) fn next_block(&self, now: u64) -> BlockContext {
        let parent = &self.head;
        let meta = self.meta.get();
        if let Some(pinned) = &meta.first_block {
            return BlockContext {
                number: parent.number + 1,
                timestamp: pinned.timestamp,
                coinbase: meta.coinbase,
                gas_limit: meta.block_gas_limit,
                base_fee: pinned.base_fee,
                prevrandao: pinned.prevrandao,
                excess_blob_gas: pinned.excess_blob_gas,
            };
        }
        BlockContext {
            number: parent.number + 1,
            // Block timestamps strictly increase, as Ethereum requires, even
            // when several blocks are produced within a second.
            timestamp: (now / 1_000_000_000).max(parent.timestamp + 1),
            coinbase: self.meta.get().coinbase,
            gas_limit: self.meta.get().block_gas_limit,
            base_fee: self.next_base_fee(),
            // No randomness is available deterministically; derive it from
            // the chain so it still differs from block to block.
            prevrandao: keccak256(self.meta.get().head_hash),
            // No blob gas is ever used, so this decays towards zero (EIP-4844).
            excess_blob_gas: parent
                .next_block_excess_blob_gas(evm::blob_params(self.spec()))
                .unwrap_or_default(),
        }
    }

    /// The context block `header` was executed in.
    pub(crate) fn block_context(header: &Header) -> BlockContext {
        BlockContext {
            number: header.number,
            timestamp: header.timestamp,
            coinbase: header.beneficiary,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas.unwrap_or_default(),
            prevrandao: header.mix_hash,
            excess_blob_gas: header.excess_blob_gas.unwrap_or_default(),
        }
    }
}

/// A transaction executed into a block under construction.
pub(super) struct ExecutedTx {
    envelope: TxEnvelope,
    hash: B256,
    from: Address,
    raw: Bytes,
    effective_gas_price: u128,
    gas_used: u64,
    success: bool,
    phases: TxPhases,
    contract_address: Option<Address>,
}

/// A block under construction: transactions are executed and committed one
/// by one, then the block is sealed.
///
/// Not alloy-evm's `EthBlockExecutor`: each transaction here runs in its
/// own mode (signed, impersonated), is refused on its own without touching
/// the block (a pool fills blocks by trying transactions), and its
/// instructions are measured one by one; the executor commits a whole
/// block through one database and picks the hardfork by timestamp, where
/// the chain's hardfork is fixed at genesis.
///
/// The system calls that executor makes before a block — EIP-4788 (beacon
/// root) and EIP-2935 (block-hash history) — are not made: both EIPs say
/// the call does nothing when no code is at the system contract's address,
/// and no genesis of this chain puts code there (`BLOCKHASH` reads the
/// chain's own index). A genesis that predeploys them would need them.
pub(crate) struct BlockBuilder {
    pub(crate) context: BlockContext,
    txs: Vec<ExecutedTx>,
    receipts: Vec<ReceiptEnvelope>,
    pub(crate) cumulative_gas: u64,
}

impl BlockBuilder {
    pub(crate) fn new(context: BlockContext) -> Self {
        Self { context, txs: Vec::new(), receipts: Vec::new(), cumulative_gas: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Gas still available in the block.
    pub(crate) fn gas_left(&self) -> u64 {
        self.context.gas_limit - self.cumulative_gas
    }

    /// Executes `tx` and commits its changes; on error nothing is written.
    pub(crate) fn add<M: Memory>(
        &mut self,
        chain: &mut Chain<M>,
        tx: DecodedTx,
    ) -> Result<(), TxError> {
        let mut phases = tx.phases;
        let start = chain.counter();
        // Above the block's limit, then above what is left of it.
        evm::check_block_gas(tx.envelope.gas_limit(), self.context.gas_limit)?;
        evm::check_block_gas(tx.envelope.gas_limit(), self.gas_left())?;
        let checked = chain.counter();
        let spec = chain.spec();
        let env = TxEnv::from_recovered_tx(&tx.envelope, tx.from);
        let mode = if tx.impersonated { Mode::Impersonated } else { Mode::Transaction };
        let executed =
            evm::execute(chain.state_at(None), chain.chain_id(), spec, &self.context, env, mode)?;
        let committing = chain.counter();
        let result = executed.result;
        let gas_used = result.tx_gas_used();
        let contract_address = match &result {
            ExecutionResult::Success { output: Output::Create(_, address), .. } => *address,
            _ => None,
        };
        let success = result.is_success();
        let logs: Vec<Log> = result.into_logs();
        revm::DatabaseCommit::commit(
            &mut BlockCommit { state: &mut chain.state, block: self.context.number, spec },
            executed.state,
        );

        self.cumulative_gas += gas_used;
        let receipt = Receipt {
            status: Eip658Value::Eip658(success),
            cumulative_gas_used: self.cumulative_gas,
            logs,
        };
        let envelope = ReceiptEnvelope::from_typed(tx.envelope.tx_type(), receipt);
        self.receipts.push(envelope);
        let effective_gas_price = tx.envelope.effective_gas_price(Some(self.context.base_fee));
        phases.validate += checked - start;
        phases.execute = committing - checked;
        phases.commit = chain.counter() - committing;
        self.txs.push(ExecutedTx {
            effective_gas_price,
            envelope: tx.envelope,
            hash: tx.hash,
            from: tx.from,
            raw: tx.raw,
            gas_used,
            success,
            phases,
            contract_address,
        });
        Ok(())
    }

    pub(crate) fn seal<M: Memory>(self, chain: &mut Chain<M>) -> MinedBlock {
        let start = chain.counter();
        let spec = chain.spec();
        let header = Header {
            parent_hash: chain.meta.get().head_hash,
            number: self.context.number,
            gas_limit: self.context.gas_limit,
            gas_used: self.cumulative_gas,
            timestamp: self.context.timestamp,
            mix_hash: self.context.prevrandao,
            nonce: B64::ZERO,
            base_fee_per_gas: Some(self.context.base_fee),
            excess_blob_gas: spec
                .is_enabled_in(SpecId::CANCUN)
                .then_some(self.context.excess_blob_gas),
            ..chain.empty_header(spec)
        };
        let sealed = chain.seal(header, &self.txs, &self.receipts);
        let seal_instructions = chain.counter() - start;
        MinedBlock {
            number: self.context.number,
            hash: sealed.hash.into(),
            timestamp: self.context.timestamp,
            transactions: self
                .txs
                .iter()
                .map(|tx| MinedTx {
                    hash: tx.hash.into(),
                    success: tx.success,
                    gas_used: tx.gas_used,
                    instructions: tx.phases.total(),
                    phases: Some(tx.phases),
                    to: tx.envelope.to().map(Into::into),
                    selector: tx.envelope.input().get(..4).map(|s| s.to_vec().into()),
                })
                .collect(),
            seal_instructions: Some(seal_instructions),
            header: Some(sealed.header.to_vec().into()),
            size: Some(sealed.size),
        }
    }
}
