//! Reading the chain: block tags, accounts, code, storage, proofs, blocks,
//! transactions and receipts.

use alloy_primitives::{Address, B256, Bytes};
use evm_canister_api::{
    AccountProof, AccountState, BlockTag, BlockView, ChainInfo, QueryError, ReceiptView,
    StorageProof, TransactionView, Wei,
};
use ic_stable_structures::Memory;

use super::{Chain, MAX_PROOF_SLOTS};
use crate::store::state::{BlockHashes, StateAt};

impl<M: Memory> Chain<M> {
    pub fn info(&self) -> ChainInfo {
        let meta = self.meta.get();
        ChainInfo {
            chain_id: meta.chain_id,
            hardfork: <&str>::from(self.spec()).to_owned(),
            latest_block: meta.head_number,
            latest_hash: meta.head_hash.into(),
            latest_timestamp: self.head.timestamp,
            genesis_hash: meta.genesis_hash.into(),
            next_base_fee: Wei::from(self.next_base_fee()),
            block_gas_limit: meta.block_gas_limit,
            coinbase: meta.coinbase.into(),
        }
    }

    /// The genesis block's number: 0 unless the first block was pinned.
    pub(super) fn genesis_number(&self) -> u64 {
        self.blocks.keys().next().unwrap_or_default()
    }

    /// The number of the block `tag` names.
    pub fn resolve(&self, tag: BlockTag) -> Result<u64, QueryError> {
        let head = self.meta.get().head_number;
        match tag {
            BlockTag::Latest | BlockTag::Pending | BlockTag::Safe | BlockTag::Finalized => Ok(head),
            BlockTag::Earliest => Ok(self.genesis_number()),
            BlockTag::Number(n) if n <= head && n >= self.genesis_number() => Ok(n),
            BlockTag::Number(_) => Err(QueryError::BlockNotFound),
            BlockTag::Hash(hash) => {
                self.block_numbers.get(&hash.0.0).ok_or(QueryError::BlockNotFound)
            }
        }
    }

    /// Which state to read for `tag`: `None` is the latest.
    pub(super) fn state_block(&self, tag: BlockTag) -> Result<Option<u64>, QueryError> {
        let number = self.resolve(tag)?;
        Ok((number != self.meta.get().head_number).then_some(number))
    }

    pub(crate) fn state_at(&self, block: Option<u64>) -> StateAt<'_, M, Self> {
        StateAt { state: &self.state, hashes: self, block }
    }

    /// The account after block `tag`; with `Pending`, its nonce counts the
    /// sender's executable transactions in the pool.
    pub fn account(&self, address: Address, tag: BlockTag) -> Result<AccountState, QueryError> {
        let record = self.state.account(&address, self.state_block(tag)?).unwrap_or_default();
        let nonce = match tag {
            BlockTag::Pending => self.pending_nonce(address, record.nonce),
            _ => record.nonce,
        };
        Ok(AccountState {
            balance: record.balance.into(),
            nonce,
            code_hash: if record.code_hash.is_zero() {
                alloy_primitives::KECCAK256_EMPTY.into()
            } else {
                record.code_hash.into()
            },
        })
    }

    pub fn code(&self, address: Address, tag: BlockTag) -> Result<Bytes, QueryError> {
        let record = self.state.account(&address, self.state_block(tag)?);
        Ok(record.and_then(|r| self.state.code(&r.code_hash)).unwrap_or_default())
    }

    pub fn storage(&self, address: Address, slot: B256, tag: BlockTag) -> Result<B256, QueryError> {
        let value = self.state.storage(&address, &slot.into(), self.state_block(tag)?);
        Ok(value.into())
    }

    /// Merkle proofs of `address` and its `slots` (EIP-1186). The tries
    /// hold the latest state only, so only the latest block can be proved.
    pub fn proof(
        &self,
        address: Address,
        slots: &[B256],
        tag: BlockTag,
    ) -> Result<AccountProof, QueryError> {
        if slots.len() > MAX_PROOF_SLOTS {
            return Err(QueryError::LimitExceeded(format!(
                "at most {MAX_PROOF_SLOTS} storage slots per proof, got {}",
                slots.len()
            )));
        }
        let head = self.meta.get().head_number;
        let number = self.resolve(tag)?;
        if number != head {
            return Err(QueryError::LimitExceeded(format!(
                "proofs are available for the latest block ({head}) only, not block {number}"
            )));
        }
        let account = self.account(address, BlockTag::Latest)?;
        let proof = self.state.proof(&address, slots);
        let bytes = |nodes: Vec<Bytes>| nodes.into_iter().map(|n| n.to_vec().into()).collect();
        Ok(AccountProof {
            balance: account.balance,
            nonce: account.nonce,
            code_hash: account.code_hash,
            storage_hash: proof.storage_root.into(),
            account_proof: bytes(proof.account),
            storage_proof: slots
                .iter()
                .zip(proof.slots)
                .map(|(slot, (value, nodes))| StorageProof {
                    key: (*slot).into(),
                    value: B256::from(value).into(),
                    proof: bytes(nodes),
                })
                .collect(),
        })
    }

    pub fn block(&self, tag: BlockTag, full: bool) -> Option<BlockView> {
        let number = self.resolve(tag).ok()?;
        let block = self.blocks.get(&number)?;
        let full_transactions = if full {
            block.transactions.iter().filter_map(|hash| self.transaction(*hash)).collect()
        } else {
            Vec::new()
        };
        Some(BlockView {
            hash: block.hash.into(),
            header: block.header.to_vec().into(),
            size: block.size,
            transactions: block.transactions.iter().map(|h| (*h).into()).collect(),
            full_transactions,
        })
    }

    pub fn transaction(&self, hash: B256) -> Option<TransactionView> {
        let tx = self.transactions.get(&hash.0)?;
        Some(TransactionView {
            hash: hash.into(),
            raw: tx.raw.to_vec().into(),
            from: tx.from.into(),
            block_number: tx.block_number,
            block_hash: self.block_hash(tx.block_number)?.into(),
            index: tx.index,
            effective_gas_price: Wei::from(tx.effective_gas_price),
        })
    }

    /// The receipts of the block `tag` names, in transaction order; `None`
    /// if there is no such block.
    pub fn block_receipts(&self, tag: BlockTag) -> Option<Vec<ReceiptView>> {
        let number = self.resolve(tag).ok()?;
        let block = self.blocks.get(&number)?;
        // Every included transaction has its receipt: they are written together.
        Some(block.transactions.iter().filter_map(|hash| self.receipt(*hash)).collect())
    }

    pub fn receipt(&self, hash: B256) -> Option<ReceiptView> {
        let r = self.receipts.get(&hash.0)?;
        Some(ReceiptView {
            tx_hash: hash.into(),
            receipt: r.envelope.to_vec().into(),
            block_number: r.block_number,
            block_hash: self.block_hash(r.block_number)?.into(),
            index: r.index,
            from: r.from.into(),
            to: r.to.0.map(Into::into),
            contract_address: r.contract_address.0.map(Into::into),
            gas_used: r.gas_used,
            effective_gas_price: Wei::from(r.effective_gas_price),
            first_log_index: r.first_log_index,
        })
    }
}
