//! The chain: genesis, block production and everything JSON-RPC reads.
//!
//! [`Chain`] owns all stable structures. It never reads the clock: callers
//! pass the current time (the canister gets it from `ic0.time`), which keeps
//! it deterministic and lets tests run it natively.
//!
//! One concern per module, each an `impl Chain` block:
//! - this module: the stable structures, genesis and opening;
//! - `block`: the next block's environment, executing into a block, sealing;
//! - `submit`: decoding and accepting signed and impersonated transactions;
//! - `pool`: the transaction pool (pending and queued, replacement);
//! - `query`: block tags, accounts, code, storage, proofs, blocks, receipts;
//! - `simulate`: `eth_call`, `eth_estimateGas`, `eth_createAccessList`, with
//!   state overrides (`overlay`);
//! - `logs`: `eth_getLogs` and `eth_feeHistory`;
//! - `trace`: the geth tracers, replaying transactions and blocks;
//! - `dev`: development controls (account edits, snapshots, automine).

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_primitives::{Address, B256, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use evm_canister_api::InitArgs;
use ic_stable_structures::{BTreeMap, Cell, Memory};
use revm::primitives::hardfork::SpecId;

use crate::evm::{self};
use crate::store::layout::{self, Layout, Vm};
use crate::store::records::{
    AccountRecord, DevSettings, Meta, PinnedBlock, PoolEntry, SnapshotRecord, StoredBlock,
    StoredReceipt, StoredTx,
};
use crate::store::state::{BlockHashes, State};

mod block;
mod dev;
mod logs;
mod overlay;
mod pool;
mod query;
mod simulate;
mod submit;
mod trace;

pub(crate) use block::BlockBuilder;
pub(crate) use submit::DecodedTx;

pub use evm_canister_api::{MAX_LOG_BLOCK_RANGE, MAX_LOGS};
/// Most blocks one `fee_history` covers (as geth).
pub const MAX_FEE_HISTORY_BLOCKS: u64 = 1024;
/// Most storage slots one `proof` covers: a slot's proof is up to ~5 KB and
/// a reply must stay within the IC's 2 MiB message limit.
pub const MAX_PROOF_SLOTS: usize = 256;
/// Gas of a plain value transfer.
const TRANSFER_GAS: u64 = 21_000;

/// Why a chain could not be created from a genesis. (Opening one after an
/// upgrade cannot fail on input: stable memory without a chain is a bug of
/// whoever installed the canister, and [`Chain::load`] traps on it.)
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
        meta.genesis_hash = genesis.hash;
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

    /// Instructions executed so far in this message.
    pub(crate) fn counter(&self) -> u64 {
        (self.instructions)()
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
