//! The chain: genesis, block production and everything JSON-RPC reads.
//!
//! [`Chain`] owns all stable structures. It never reads the clock: callers
//! pass the current time (the canister gets it from `ic0.time`), which keeps
//! it deterministic and lets tests run it natively.

use alloy_consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{
    Block, BlockBody, EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptEnvelope,
    Transaction, TxEnvelope, TxReceipt, Typed2718,
};
use alloy_eips::eip1559::BaseFeeParams;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_eips::eip7702::SignedAuthorization;
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, Log, TxKind, U256, keccak256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::EMPTY_ROOT_HASH;
use evm_canister_api::{
    AccessListOutcome, AccountProof, AccountState, BlockTag, BlockView, CallArgs, CallError,
    CallOutcome, ChainInfo, Estimate, FeeHistory, InitArgs, LogFilter, LogView, MinedBlock,
    MinedTx, QueryError, ReceiptView, StateOverride, StorageProof, SubmitResult, TransactionView,
    TxError, Wei,
};
use ic_stable_structures::{BTreeMap, Cell, Memory};
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::context_interface::either::Either;
use revm::primitives::hardfork::SpecId;

use crate::evm::{self, BlockContext, Mode};
use crate::layout::{self, Layout, Vm};
use crate::overrides::Overlay;
use crate::records::{
    AccountRecord, DevSettings, MaybeAddress, Meta, PinnedBlock, PoolEntry, SnapshotRecord,
    StoredBlock, StoredReceipt, StoredTx,
};
use crate::state::{BlockCommit, BlockHashes, State, StateAt};
use alloy_evm::FromRecoveredTx;
use revm::DatabaseRef;
use std::convert::Infallible;

pub use evm_canister_api::{MAX_LOG_BLOCK_RANGE, MAX_LOGS};
/// Most blocks one `fee_history` covers (as geth).
pub const MAX_FEE_HISTORY_BLOCKS: u64 = 1024;
/// Most storage slots one `proof` covers: a slot's proof is up to ~5 KB and
/// a reply must stay within the IC's 2 MiB message limit.
pub const MAX_PROOF_SLOTS: usize = 256;
/// Gas of a plain value transfer.
const TRANSFER_GAS: u64 = 21_000;

/// Why a chain could not be created or opened.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GenesisError {
    #[error("unknown hardfork {0:?}")]
    UnknownHardfork(String),
    #[error("hardforks before the Merge are not supported (got {0})")]
    HardforkTooOld(String),
    #[error("block gas limit must be at least {TRANSFER_GAS}")]
    GasLimitTooLow,
    #[error("the first block must have a number of at least 1 and a timestamp after genesis")]
    InvalidFirstBlock,
}

/// All chain state, in stable memory.
pub struct Chain<M: Memory> {
    pub(crate) meta: Cell<Meta, Vm<M>>,
    pub(crate) state: State<M>,
    pub(crate) blocks: BTreeMap<u64, StoredBlock, Vm<M>>,
    pub(crate) block_numbers: BTreeMap<[u8; 32], u64, Vm<M>>,
    pub(crate) transactions: BTreeMap<[u8; 32], StoredTx, Vm<M>>,
    pub(crate) receipts: BTreeMap<[u8; 32], StoredReceipt, Vm<M>>,
    pub(crate) dev: Cell<DevSettings, Vm<M>>,
    pub(crate) pool: BTreeMap<[u8; 32], PoolEntry, Vm<M>>,
    pub(crate) pool_nonces: BTreeMap<([u8; 20], u64), [u8; 32], Vm<M>>,
    pub(crate) edits: BTreeMap<(u64, u64), Vec<u8>, Vm<M>>,
    pub(crate) snapshots: BTreeMap<u64, SnapshotRecord, Vm<M>>,
    /// The head block's header, decoded (a cache of `blocks[head]`).
    pub(crate) head: Header,
    /// Instructions executed so far in this message (`ic0.performance_counter`);
    /// how a transaction's own cost is measured.
    instructions: fn() -> u64,
}

impl<M: Memory> BlockHashes for Chain<M> {
    fn block_hash(&self, number: u64) -> Option<B256> {
        self.blocks.get(&number).map(|block| block.hash)
    }
}

impl<M: Memory> Chain<M> {
    /// Creates a chain with the genesis `args` in an empty `memory`.
    pub fn create(memory: M, args: &InitArgs) -> Result<Self, GenesisError> {
        let name = args.hardfork.as_deref().unwrap_or(<&str>::from(evm::DEFAULT_SPEC));
        let spec =
            evm::parse_spec(name).ok_or_else(|| GenesisError::UnknownHardfork(name.to_owned()))?;
        if !spec.is_enabled_in(SpecId::MERGE) {
            return Err(GenesisError::HardforkTooOld(name.to_owned()));
        }
        if args.block_gas_limit < TRANSFER_GAS {
            return Err(GenesisError::GasLimitTooLow);
        }
        let first_block = match &args.first_block {
            Some(first) => {
                if first.number == 0 || first.timestamp <= args.genesis_timestamp {
                    return Err(GenesisError::InvalidFirstBlock);
                }
                Some(PinnedBlock {
                    timestamp: first.timestamp,
                    base_fee: first.base_fee,
                    prevrandao: first.prevrandao.0,
                    excess_blob_gas: first.excess_blob_gas,
                })
            }
            None => None,
        };
        let layout = Layout::init(memory);
        let meta = Meta {
            chain_id: args.chain_id,
            spec: spec as u8,
            block_gas_limit: args.block_gas_limit,
            coinbase: args.coinbase.map(Address::from).unwrap_or_default(),
            genesis_hash: B256::ZERO,
            head_number: 0,
            head_hash: B256::ZERO,
            first_block,
        };
        let genesis_number = args.first_block.as_ref().map_or(0, |first| first.number - 1);
        let mut chain =
            Self::open(&layout, Cell::new(layout.get(layout::META), meta), Header::default());
        for account in &args.accounts {
            let code_hash = chain.state.insert_code(&account.code);
            let address = account.address.0;
            let record =
                AccountRecord { balance: account.balance.0, nonce: account.nonce, code_hash };
            chain.state.set_account(genesis_number, &address, Some(record));
            for (slot, value) in &account.storage {
                let (slot, value) = (U256::from_be_bytes(slot.0.0), U256::from_be_bytes(value.0.0));
                chain.state.set_storage(genesis_number, &address, &slot, &value);
            }
        }
        let header = Header {
            number: genesis_number,
            timestamp: args.genesis_timestamp,
            gas_limit: args.block_gas_limit,
            base_fee_per_gas: Some(args.initial_base_fee),
            ..chain.empty_header(spec)
        };
        let genesis = chain.seal(header, &[], &[]);
        let mut meta = chain.meta.get().clone();
        meta.genesis_hash = genesis;
        chain.meta.set(meta);
        Ok(chain)
    }

    /// Opens the chain kept in `memory` (after an upgrade).
    pub fn load(memory: M) -> Self {
        let layout = Layout::init(memory);
        let meta = Cell::init(layout.get(layout::META), placeholder_meta());
        assert!(
            meta.get().genesis_hash != B256::ZERO,
            "stable memory holds no chain: install the canister with a genesis"
        );
        let mut chain = Self::open(&layout, meta, Header::default());
        chain.head = chain.header(chain.meta.get().head_number);
        chain
    }

    fn open(layout: &Layout<M>, meta: Cell<Meta, Vm<M>>, head: Header) -> Self {
        Self {
            meta,
            state: State::init(layout),
            blocks: BTreeMap::init(layout.get(layout::BLOCKS)),
            block_numbers: BTreeMap::init(layout.get(layout::BLOCK_NUMBERS)),
            transactions: BTreeMap::init(layout.get(layout::TRANSACTIONS)),
            receipts: BTreeMap::init(layout.get(layout::RECEIPTS)),
            dev: Cell::init(layout.get(layout::DEV), DevSettings::default()),
            pool: BTreeMap::init(layout.get(layout::POOL)),
            pool_nonces: BTreeMap::init(layout.get(layout::POOL_NONCES)),
            edits: BTreeMap::init(layout.get(layout::EDITS)),
            snapshots: BTreeMap::init(layout.get(layout::SNAPSHOTS)),
            head,
            instructions: || 0,
        }
    }

    /// Measures each transaction's instructions with `counter` (the
    /// canister passes `ic0.performance_counter`; natively it reads 0).
    pub fn with_instruction_counter(mut self, counter: fn() -> u64) -> Self {
        self.instructions = counter;
        self
    }

    pub(crate) fn spec(&self) -> SpecId {
        SpecId::try_from_u8(self.meta.get().spec).expect("meta holds a valid hardfork")
    }

    pub(crate) fn chain_id(&self) -> u64 {
        self.meta.get().chain_id
    }

    /// A header with the fields every block of this hardfork carries.
    fn empty_header(&self, spec: SpecId) -> Header {
        let cancun = spec.is_enabled_in(SpecId::CANCUN);
        Header {
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: self.meta.get().coinbase,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            withdrawals_root: spec.is_enabled_in(SpecId::SHANGHAI).then_some(EMPTY_ROOT_HASH),
            blob_gas_used: cancun.then_some(0),
            excess_blob_gas: cancun.then_some(0),
            parent_beacon_block_root: cancun.then_some(B256::ZERO),
            requests_hash: spec.is_enabled_in(SpecId::PRAGUE).then_some(EMPTY_REQUESTS_HASH),
            ..Header::default()
        }
    }

    /// Stores a finished block and makes it the head; returns its hash.
    fn seal(&mut self, mut header: Header, txs: &[SealedTx], receipts: &[ReceiptEnvelope]) -> B256 {
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
        self.blocks.insert(
            number,
            StoredBlock {
                hash,
                header: encoded_header.into(),
                size,
                transactions: txs.iter().map(|tx| tx.hash).collect(),
            },
        );
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
        hash
    }

    /// The header of block `number`, which must exist.
    pub(crate) fn header(&self, number: u64) -> Header {
        let block = self.blocks.get(&number).expect("block exists");
        Header::decode(&mut block.header.as_ref()).expect("stored header decodes")
    }

    /// Base fee of the block after the head.
    fn next_base_fee(&self) -> u64 {
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

    // ----- transactions ---------------------------------------------------

    /// Accepts a signed transaction: with automine and the sender's next
    /// nonce it is executed and included in a new block at once, with any
    /// pooled transactions it makes executable; otherwise it waits in the
    /// pool.
    ///
    /// On error nothing has been written.
    pub fn submit(&mut self, raw: &[u8], now: u64) -> Result<SubmitResult, TxError> {
        let tx = self.decode_transaction(raw)?;
        self.accept(tx, now)
    }

    /// Accepts a transaction sent as `from` without its signature
    /// (impersonation, for the controller only). `raw` is the EIP-2718
    /// encoding with any signature, which is not checked; the hash is that
    /// of `raw` as usual, so callers give each sender its own placeholder
    /// signature (as anvil does) to keep two senders' transactions apart.
    pub fn submit_as(
        &mut self,
        raw: &[u8],
        from: Address,
        now: u64,
    ) -> Result<SubmitResult, TxError> {
        let tx = self.decode_impersonated(raw, from)?;
        self.accept(tx, now)
    }

    /// Seals a block with the pool's executable transactions (`evm_mine`);
    /// with none, the block is empty and the base fee falls as for any
    /// empty block.
    pub fn mine(&mut self, now: u64) -> MinedBlock {
        let mut builder = BlockBuilder::new(self.next_block(now));
        self.fill_from_pool(&mut builder);
        builder.seal(self)
    }

    /// Decodes and authenticates a signed transaction.
    fn decode_transaction(&self, raw: &[u8]) -> Result<DecodedTx, TxError> {
        let envelope = self.decode_envelope(raw)?;
        // A transaction already included is refused by the nonce check, as
        // geth refuses it.
        let hash = *envelope.tx_hash();
        let from = envelope.recover_signer().map_err(|_| TxError::InvalidSignature)?;
        Ok(DecodedTx {
            envelope,
            hash,
            from,
            raw: Bytes::copy_from_slice(raw),
            impersonated: false,
        })
    }

    /// Decodes a transaction sent as `from`, whatever its signature.
    fn decode_impersonated(&self, raw: &[u8], from: Address) -> Result<DecodedTx, TxError> {
        let envelope = self.decode_envelope(raw)?;
        let hash = *envelope.tx_hash();
        Ok(DecodedTx { envelope, hash, from, raw: Bytes::copy_from_slice(raw), impersonated: true })
    }

    /// Decodes an EIP-2718 transaction and checks what needs no state.
    fn decode_envelope(&self, raw: &[u8]) -> Result<TxEnvelope, TxError> {
        let envelope = TxEnvelope::decode_2718_exact(raw)
            .map_err(|err| TxError::Malformed(format!("rlp: {err}")))?;
        if envelope.is_eip4844() {
            return Err(TxError::TypeNotSupported(envelope.ty()));
        }
        if let Some(id) = envelope.chain_id()
            && id != self.chain_id()
        {
            return Err(TxError::InvalidChainId { expected: self.chain_id(), got: Some(id) });
        }
        Ok(envelope)
    }

    // ----- queries ----------------------------------------------------------

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
    fn genesis_number(&self) -> u64 {
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
    fn state_block(&self, tag: BlockTag) -> Result<Option<u64>, QueryError> {
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

    /// Executes a message without committing it (`eth_call`).
    /// Executes a message without committing it (`eth_call`), on the state
    /// at `tag` changed by `overrides`.
    pub fn call(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        overrides: &[StateOverride],
        now: u64,
    ) -> Result<CallOutcome, CallError> {
        let (context, state_block) = self.call_context(tag, now)?;
        let state = self.state_at(state_block);
        let db = Overlay::new(&state, overrides).map_err(CallError::Query)?;
        let tx = self.call_tx(args, &context, &db)?;
        self.run_call(tx, &context, &db, checks_nonce(args, tag)).map_err(CallError::Tx)
    }

    /// The access list a message would use, and its gas with that list
    /// (`eth_createAccessList`).
    pub fn create_access_list(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        overrides: &[StateOverride],
        now: u64,
    ) -> Result<AccessListOutcome, CallError> {
        let (context, state_block) = self.call_context(tag, now)?;
        let state = self.state_at(state_block);
        let db = Overlay::new(&state, overrides).map_err(CallError::Query)?;
        let tx = self.call_tx(args, &context, &db)?;
        let check_base_fee = tx.gas_price != 0 || tx.gas_priority_fee.unwrap_or_default() != 0;
        let mode = Mode::Call { check_nonce: checks_nonce(args, tag), check_base_fee };
        let (list, result) =
            evm::access_list(&db, self.chain_id(), self.spec(), &context, tx, mode)
                .map_err(CallError::Tx)?;
        let error = match &result {
            ExecutionResult::Success { .. } => None,
            ExecutionResult::Revert { .. } => Some("execution reverted".to_owned()),
            ExecutionResult::Halt { reason, .. } => Some(format!("{reason:?}")),
        };
        Ok(AccessListOutcome {
            access_list: list
                .0
                .into_iter()
                .map(|item| evm_canister_api::AccessListItem {
                    address: item.address.into(),
                    storage_keys: item.storage_keys.into_iter().map(Into::into).collect(),
                })
                .collect(),
            gas_used: result.tx_gas_used(),
            error,
        })
    }

    /// The lowest gas limit at which a message succeeds (`eth_estimateGas`).
    pub fn estimate_gas(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        overrides: &[StateOverride],
        now: u64,
    ) -> Result<Estimate, CallError> {
        let (context, state_block) = self.call_context(tag, now)?;
        let state = self.state_at(state_block);
        let db = Overlay::new(&state, overrides).map_err(CallError::Query)?;
        let tx = self.call_tx(args, &context, &db)?;
        let check_nonce = checks_nonce(args, tag);
        let run = |gas_limit: u64| {
            let tx = TxEnv { gas_limit, ..tx.clone() };
            self.run_call(tx, &context, &db, check_nonce)
        };
        let cap = tx.gas_limit;
        let outcome = run(cap).map_err(CallError::Tx)?;
        let CallOutcome::Success { gas_used, .. } = outcome else {
            return Ok(Estimate::Failure(outcome));
        };
        let succeeds = |gas: u64| matches!(run(gas), Ok(CallOutcome::Success { .. }));
        // A limit below what the message used (after refunds) cannot work.
        let mut lo = gas_used.saturating_sub(1);
        let mut hi = cap;
        // Most messages need little more than they use: the stipend of a
        // nested call and the 63/64 rule account for the difference.
        let optimistic = ((gas_used + 2_300) * 64 / 63).min(hi);
        if gas_used < hi && succeeds(gas_used) {
            hi = gas_used;
        } else if optimistic < hi {
            if succeeds(optimistic) {
                hi = optimistic;
            } else {
                lo = optimistic;
            }
        }
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if succeeds(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(Estimate::Gas(hi))
    }

    /// The block context and state a call at `tag` runs with.
    pub(crate) fn call_context(
        &self,
        tag: BlockTag,
        now: u64,
    ) -> Result<(BlockContext, Option<u64>), CallError> {
        if tag == BlockTag::Pending {
            return Ok((self.next_block(now), None));
        }
        let state_block = self.state_block(tag).map_err(CallError::Query)?;
        let header = match state_block {
            None => self.head.clone(),
            Some(number) => self.header(number),
        };
        Ok((Self::block_context(&header), state_block))
    }

    /// The transaction environment of an unsigned message.
    pub(crate) fn call_tx(
        &self,
        args: &CallArgs,
        context: &BlockContext,
        db: &impl DatabaseRef<Error = Infallible>,
    ) -> Result<TxEnv, CallError> {
        let account = |address: Address| match db.basic_ref(address) {
            Ok(info) => info.unwrap_or_default(),
            Err(never) => match never {},
        };
        let invalid = |msg: String| CallError::Query(QueryError::InvalidArgument(msg));
        let to_u128 = |wei: &Wei, what: &str| -> Result<u128, CallError> {
            u128::try_from(wei.0).map_err(|_| invalid(format!("{what} does not fit in 128 bits")))
        };
        let caller = args.from.map(Address::from).unwrap_or_default();
        let value = args.value.map(|v| v.0).unwrap_or_default();
        let (gas_price, priority_fee) = match (&args.gas_price, &args.max_fee_per_gas) {
            (Some(_), Some(_)) => {
                return Err(invalid("both gasPrice and maxFeePerGas specified".to_owned()));
            }
            (Some(price), None) => (to_u128(price, "gasPrice")?, None),
            (None, Some(max_fee)) => {
                let max_fee = to_u128(max_fee, "maxFeePerGas")?;
                let tip = match &args.max_priority_fee_per_gas {
                    Some(tip) => to_u128(tip, "maxPriorityFeePerGas")?,
                    None => 0,
                };
                (max_fee, Some(tip))
            }
            (None, None) => match &args.max_priority_fee_per_gas {
                Some(tip) => {
                    let tip = to_u128(tip, "maxPriorityFeePerGas")?;
                    (tip + u128::from(context.base_fee), Some(tip))
                }
                None => (0, None),
            },
        };
        let mut authorization_list = Vec::with_capacity(args.authorization_list.len());
        for item in &args.authorization_list {
            let auth = SignedAuthorization::decode(&mut item.as_ref())
                .map_err(|err| invalid(format!("authorization list: {err}")))?;
            authorization_list.push(Either::Left(auth));
        }
        // A message may use at most the block gas limit, as in anvil and
        // Hardhat (geth caps at its `--rpc.gascap`). Uncapped, gas is not a
        // bound on work: with 2^64 gas a modexp "pays" for a 4 GiB modulus
        // and the precompile's allocation traps the canister.
        let cap = context.gas_limit;
        let gas_limit = match args.gas {
            Some(gas) => gas.min(cap),
            None if gas_price == 0 => cap,
            None => {
                // Without an explicit limit, use what the sender can pay for.
                let balance = account(caller).balance;
                if balance < value {
                    return Err(CallError::Tx(TxError::InsufficientFunds {
                        address: caller.into(),
                        have: balance.into(),
                        want: value.into(),
                    }));
                }
                let allowance = balance.saturating_sub(value) / U256::from(gas_price);
                u64::try_from(allowance).unwrap_or(u64::MAX).min(cap)
            }
        };
        let mut tx = TxEnv {
            tx_type: 0,
            caller,
            gas_limit,
            gas_price,
            kind: args.to.map_or(TxKind::Create, |to| TxKind::Call(to.into())),
            value,
            data: Bytes::copy_from_slice(&args.input),
            nonce: args.nonce.unwrap_or_else(|| account(caller).nonce),
            chain_id: Some(self.chain_id()),
            access_list: args
                .access_list
                .iter()
                .map(|item| alloy_eips::eip2930::AccessListItem {
                    address: item.address.into(),
                    storage_keys: item.storage_keys.iter().map(|k| k.0).collect(),
                })
                .collect::<Vec<_>>()
                .into(),
            gas_priority_fee: priority_fee,
            authorization_list,
            ..Default::default()
        };
        tx.derive_tx_type().map_err(|err| invalid(format!("{err:?}")))?;
        Ok(tx)
    }

    fn run_call(
        &self,
        tx: TxEnv,
        context: &BlockContext,
        db: &impl DatabaseRef<Error = Infallible>,
        check_nonce: bool,
    ) -> Result<CallOutcome, TxError> {
        let check_base_fee = tx.gas_price != 0 || tx.gas_priority_fee.unwrap_or_default() != 0;
        let mode = Mode::Call { check_nonce, check_base_fee };
        let executed = evm::execute(db, self.chain_id(), self.spec(), context, tx, mode)?;
        Ok(outcome(executed.result))
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

    /// Logs matching `filter`, in chain order.
    pub fn logs(&self, filter: &LogFilter) -> Result<Vec<LogView>, QueryError> {
        let (from, to) = match filter.block_hash {
            Some(hash) => {
                if filter.from_block.is_some() || filter.to_block.is_some() {
                    return Err(QueryError::InvalidArgument(
                        "cannot specify both blockHash and fromBlock/toBlock".to_owned(),
                    ));
                }
                let number = self.resolve(BlockTag::Hash(hash))?;
                (number, number)
            }
            None => {
                // Numbers past the head are allowed: nothing is there yet.
                let number = |tag: Option<BlockTag>| match tag {
                    Some(BlockTag::Number(n)) => Ok(n),
                    other => self.resolve(other.unwrap_or(BlockTag::Latest)),
                };
                (number(filter.from_block)?, number(filter.to_block)?)
            }
        };
        if from > to {
            return Err(QueryError::InvalidArgument("invalid block range params".to_owned()));
        }
        let to = to.min(self.meta.get().head_number);
        if from > to {
            return Ok(Vec::new());
        }
        let max_blocks = filter.max_blocks.unwrap_or(MAX_LOG_BLOCK_RANGE).min(MAX_LOG_BLOCK_RANGE);
        let max_logs = filter.max_logs.unwrap_or(MAX_LOGS).min(MAX_LOGS) as usize;
        if to - from >= max_blocks {
            return Err(QueryError::LimitExceeded(format!(
                "block range greater than {max_blocks} blocks"
            )));
        }
        let matcher = LogMatcher::new(filter);
        let mut out = Vec::new();
        for number in from..=to {
            let Some(block) = self.blocks.get(&number) else {
                continue;
            };
            let header = Header::decode(&mut block.header.as_ref()).expect("stored header decodes");
            if !matcher.may_match(&header.logs_bloom) {
                continue;
            }
            for (tx_index, tx_hash) in block.transactions.iter().enumerate() {
                let receipt = self.receipts.get(&tx_hash.0).expect("receipt of included tx");
                let envelope = ReceiptEnvelope::decode_2718(&mut receipt.envelope.as_ref())
                    .expect("stored receipt decodes");
                for (i, log) in envelope.logs().iter().enumerate() {
                    if !matcher.matches(log) {
                        continue;
                    }
                    if out.len() == max_logs {
                        return Err(QueryError::LimitExceeded(format!(
                            "query returned more than {max_logs} results"
                        )));
                    }
                    out.push(LogView {
                        address: log.address.into(),
                        topics: log.topics().iter().map(|t| (*t).into()).collect(),
                        data: log.data.data.to_vec().into(),
                        block_number: number,
                        block_hash: block.hash.into(),
                        block_timestamp: header.timestamp,
                        tx_hash: (*tx_hash).into(),
                        tx_index: tx_index as u64,
                        log_index: receipt.first_log_index + i as u64,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Base fees, gas use and priority fees of recent blocks (`eth_feeHistory`).
    pub fn fee_history(
        &self,
        block_count: u64,
        newest: BlockTag,
        percentiles: &[f64],
    ) -> Result<FeeHistory, QueryError> {
        let valid = percentiles.iter().all(|p| (0.0..=100.0).contains(p))
            && percentiles.windows(2).all(|w| w[0] <= w[1]);
        if !valid {
            return Err(QueryError::InvalidArgument(
                "reward percentiles must be increasing values between 0 and 100".to_owned(),
            ));
        }
        let newest = self.resolve(newest)?;
        let count = block_count.min(MAX_FEE_HISTORY_BLOCKS).min(newest + 1 - self.genesis_number());
        let oldest = newest + 1 - count;
        let mut history = FeeHistory {
            oldest_block: oldest,
            base_fee_per_gas: Vec::new(),
            gas_used_ratio: Vec::new(),
            reward: Vec::new(),
        };
        if count == 0 {
            return Ok(history);
        }
        let mut last = None;
        for number in oldest..=newest {
            let block = self.blocks.get(&number).expect("block exists");
            let header = Header::decode(&mut block.header.as_ref()).expect("stored header decodes");
            let base_fee = header.base_fee_per_gas.unwrap_or_default();
            history.base_fee_per_gas.push(Wei::from(base_fee));
            history.gas_used_ratio.push(header.gas_used as f64 / header.gas_limit as f64);
            if !percentiles.is_empty() {
                let mut tips: Vec<(u128, u64)> = block
                    .transactions
                    .iter()
                    .filter_map(|hash| {
                        let receipt = self.receipts.get(&hash.0)?;
                        let tip = receipt.effective_gas_price.saturating_sub(u128::from(base_fee));
                        Some((tip, receipt.gas_used))
                    })
                    .collect();
                tips.sort_unstable();
                history.reward.push(rewards_at(&tips, header.gas_used, percentiles));
            }
            last = Some(header);
        }
        let next =
            last.and_then(|h| h.next_block_base_fee(BaseFeeParams::ethereum())).unwrap_or_default();
        history.base_fee_per_gas.push(Wei::from(next));
        Ok(history)
    }
}

/// Priority fees at the given percentiles of gas used, as geth computes them.
fn rewards_at(tips: &[(u128, u64)], gas_used: u64, percentiles: &[f64]) -> Vec<Wei> {
    if tips.is_empty() {
        return vec![Wei::default(); percentiles.len()];
    }
    let mut out = Vec::with_capacity(percentiles.len());
    let mut index = 0;
    let mut cumulative = tips[0].1;
    for percentile in percentiles {
        let threshold = (gas_used as f64 * percentile / 100.0) as u64;
        while cumulative < threshold && index < tips.len() - 1 {
            index += 1;
            cumulative += tips[index].1;
        }
        out.push(Wei::from(tips[index].0));
    }
    out
}

fn outcome(result: ExecutionResult) -> CallOutcome {
    match result {
        ExecutionResult::Success { gas, output, .. } => CallOutcome::Success {
            gas_used: gas.tx_gas_used(),
            output: match output {
                Output::Call(bytes) => bytes.to_vec().into(),
                Output::Create(bytes, _) => bytes.to_vec().into(),
            },
        },
        ExecutionResult::Revert { gas, output, .. } => {
            CallOutcome::Revert { gas_used: gas.tx_gas_used(), output: output.to_vec().into() }
        }
        ExecutionResult::Halt { reason, gas, .. } => {
            CallOutcome::Halt { gas_used: gas.tx_gas_used(), reason: format!("{reason:?}") }
        }
    }
}

/// A signed transaction, decoded and authenticated.
pub(crate) struct DecodedTx {
    pub(crate) envelope: TxEnvelope,
    pub(crate) hash: B256,
    pub(crate) from: Address,
    pub(crate) raw: Bytes,
    /// Sent as an impersonated account: `from` was given, not recovered.
    pub(crate) impersonated: bool,
}

/// A transaction executed into a block under construction.
struct SealedTx {
    envelope: TxEnvelope,
    hash: B256,
    from: Address,
    raw: Bytes,
    effective_gas_price: u128,
    gas_used: u64,
    success: bool,
    instructions: u64,
    contract_address: Option<Address>,
}

/// A block under construction: transactions are executed and committed one
/// by one, then the block is sealed.
pub(crate) struct BlockBuilder {
    pub(crate) context: BlockContext,
    txs: Vec<SealedTx>,
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
        let start = (chain.instructions)();
        let remaining = self.context.gas_limit - self.cumulative_gas;
        if tx.envelope.gas_limit() > self.context.gas_limit {
            return Err(TxError::GasLimitExceedsBlock {
                gas: tx.envelope.gas_limit(),
                limit: self.context.gas_limit,
            });
        }
        if tx.envelope.gas_limit() > remaining {
            return Err(TxError::GasLimitExceedsBlock {
                gas: tx.envelope.gas_limit(),
                limit: remaining,
            });
        }
        let spec = chain.spec();
        let env = TxEnv::from_recovered_tx(&tx.envelope, tx.from);
        let mode = if tx.impersonated { Mode::Impersonated } else { Mode::Transaction };
        let executed =
            evm::execute(chain.state_at(None), chain.chain_id(), spec, &self.context, env, mode)?;
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
        self.txs.push(SealedTx {
            effective_gas_price: tx.envelope.effective_gas_price(Some(self.context.base_fee)),
            envelope: tx.envelope,
            hash: tx.hash,
            from: tx.from,
            raw: tx.raw,
            gas_used,
            success,
            instructions: (chain.instructions)().saturating_sub(start),
            contract_address,
        });
        Ok(())
    }

    pub(crate) fn seal<M: Memory>(self, chain: &mut Chain<M>) -> MinedBlock {
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
        let hash = chain.seal(header, &self.txs, &self.receipts);
        MinedBlock {
            number: self.context.number,
            hash: hash.into(),
            timestamp: self.context.timestamp,
            transactions: self
                .txs
                .iter()
                .map(|tx| MinedTx {
                    hash: tx.hash.into(),
                    success: tx.success,
                    gas_used: tx.gas_used,
                    instructions: tx.instructions,
                })
                .collect(),
        }
    }
}

/// Matches logs against a filter (addresses, then topics by position).
struct LogMatcher<'a> {
    addresses: Vec<Address>,
    topics: &'a [Vec<evm_canister_api::Hash>],
}

impl<'a> LogMatcher<'a> {
    fn new(filter: &'a LogFilter) -> Self {
        Self { addresses: filter.addresses.iter().map(|a| a.0).collect(), topics: &filter.topics }
    }

    /// Whether a block with this bloom can hold a matching log.
    fn may_match(&self, bloom: &Bloom) -> bool {
        let addresses_ok = self.addresses.is_empty()
            || self
                .addresses
                .iter()
                .any(|a| bloom.contains_input(alloy_primitives::BloomInput::Raw(a.as_slice())));
        addresses_ok
            && self.topics.iter().all(|alternatives| {
                alternatives.is_empty()
                    || alternatives.iter().any(|t| {
                        bloom.contains_input(alloy_primitives::BloomInput::Raw(t.0.as_slice()))
                    })
            })
    }

    fn matches(&self, log: &Log) -> bool {
        if !self.addresses.is_empty() && !self.addresses.contains(&log.address) {
            return false;
        }
        let topics = log.topics();
        self.topics.iter().enumerate().all(|(i, alternatives)| {
            alternatives.is_empty()
                || topics.get(i).is_some_and(|t| alternatives.iter().any(|a| a.0 == *t))
        })
    }
}

fn placeholder_meta() -> Meta {
    Meta {
        chain_id: 0,
        spec: 0,
        block_gas_limit: 0,
        coinbase: Address::ZERO,
        genesis_hash: B256::ZERO,
        head_number: 0,
        head_hash: B256::ZERO,
        first_block: None,
    }
}

/// Whether a message's nonce is checked: only if given, and not against
/// `pending`, whose state does not include the pool's transactions (a
/// wallet sends the nonce after its pooled ones).
pub(crate) fn checks_nonce(args: &CallArgs, tag: BlockTag) -> bool {
    args.nonce.is_some() && tag != BlockTag::Pending
}
