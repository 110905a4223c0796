//! Arguments and results of the canister's methods.

use crate::{Address, Hash, Wei};
use candid::CandidType;
use serde::Deserialize;
use serde_bytes::ByteBuf;

/// Argument of `canister_init`: the genesis of the chain.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct InitArgs {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Hardfork name (`"prague"`, `"cancun"`, …); `None` means Prague.
    pub hardfork: Option<String>,
    /// Gas limit of every block.
    pub block_gas_limit: u64,
    /// Base fee of the genesis block, in wei.
    pub initial_base_fee: u64,
    /// Timestamp of the genesis block, in seconds.
    pub genesis_timestamp: u64,
    /// Recipient of priority fees; the zero address if `None`.
    pub coinbase: Option<Address>,
    /// Accounts present at genesis.
    pub accounts: Vec<GenesisAccount>,
    /// Fixes the environment of the first block after genesis instead of
    /// deriving it from the genesis block and the clock: how an Ethereum
    /// state test's block (`env`) is reproduced. The genesis block is then
    /// numbered `number - 1`.
    pub first_block: Option<FirstBlock>,
}

/// The environment of the first block after genesis (see
/// [`InitArgs::first_block`]). Its gas limit and coinbase are the chain's.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct FirstBlock {
    /// Block number, at least 1.
    pub number: u64,
    /// Timestamp in seconds, later than the genesis timestamp.
    pub timestamp: u64,
    pub base_fee: u64,
    /// `PREVRANDAO` (the header's mix hash).
    pub prevrandao: Hash,
    /// Excess blob gas (EIP-4844), which sets the blob base fee.
    pub excess_blob_gas: u64,
}

/// An account in the genesis state.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct GenesisAccount {
    pub address: Address,
    pub balance: Wei,
    pub nonce: u64,
    pub code: ByteBuf,
    pub storage: Vec<(Hash, Hash)>,
}

/// Which block a query refers to (the JSON-RPC "default block parameter").
#[derive(CandidType, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockTag {
    Latest,
    /// The block being built; with automine it has the state of `Latest`.
    Pending,
    Earliest,
    /// Blocks are final once produced, so `Safe` is `Latest`.
    Safe,
    /// Blocks are final once produced, so `Finalized` is `Latest`.
    Finalized,
    Number(u64),
    Hash(Hash),
}

/// Facts about the chain as of its latest block.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct ChainInfo {
    pub chain_id: u64,
    pub hardfork: String,
    pub latest_block: u64,
    pub latest_hash: Hash,
    pub latest_timestamp: u64,
    pub genesis_hash: Hash,
    /// Base fee the next block will charge.
    pub next_base_fee: Wei,
    pub block_gas_limit: u64,
    pub coinbase: Address,
}

/// Balance, nonce and code hash of an account.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountState {
    pub balance: Wei,
    pub nonce: u64,
    pub code_hash: Hash,
}

/// An account with Merkle proofs of it and of some of its storage slots
/// against a block's state root (EIP-1186, `eth_getProof`).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct AccountProof {
    pub balance: Wei,
    pub nonce: u64,
    pub code_hash: Hash,
    /// Root of the account's storage trie.
    pub storage_hash: Hash,
    /// The RLP of the account trie's nodes on the account's path, root first.
    pub account_proof: Vec<ByteBuf>,
    pub storage_proof: Vec<StorageProof>,
}

/// A storage slot's value and its Merkle proof against the storage root.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct StorageProof {
    pub key: Hash,
    pub value: Hash,
    /// The RLP of the storage trie's nodes on the slot's path, root first.
    pub proof: Vec<ByteBuf>,
}

/// Why a query could not be answered.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub enum QueryError {
    /// The block named by number or hash does not exist.
    BlockNotFound,
    /// An argument is well-formed Candid but makes no sense (the text says why).
    InvalidArgument(String),
    /// The query would scan or return more than the canister allows.
    LimitExceeded(String),
    /// The canister failed to answer a valid query (a bug: stored data
    /// that does not decode, a replay that fails). JSON-RPC's -32603.
    Internal(String),
}

/// A signed transaction was refused; the chain is unchanged.
///
/// The variants follow geth's transaction-pool errors, which Ethereum clients
/// recognise by their wording.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub enum TxError {
    /// A pooled transaction with the same sender and nonce pays at least
    /// as much; a replacement must raise both fees by 10 %.
    ReplacementUnderpriced,
    /// The pool holds as many transactions as it may.
    PoolFull,
    /// The bytes are not an EIP-2718 transaction (the text says why).
    Malformed(String),
    /// The signature does not recover to a sender.
    InvalidSignature,
    /// The transaction type is not accepted (EIP-4844 blob transactions).
    TypeNotSupported(u8),
    /// The chain id is not this chain's.
    InvalidChainId {
        expected: u64,
        got: Option<u64>,
    },
    NonceTooLow {
        expected: u64,
        got: u64,
    },
    NonceTooHigh {
        expected: u64,
        got: u64,
    },
    /// The sender cannot pay `gas * price + value`.
    InsufficientFunds {
        address: Address,
        have: Wei,
        want: Wei,
    },
    /// The gas limit does not cover the intrinsic cost.
    IntrinsicGasTooLow {
        gas: u64,
        minimum: u64,
    },
    /// The gas limit is above the block gas limit.
    GasLimitExceedsBlock {
        gas: u64,
        limit: u64,
    },
    /// The gas limit is above the per-transaction cap (EIP-7825).
    GasLimitTooHigh {
        gas: u64,
        cap: u64,
    },
    /// `maxFeePerGas` (or `gasPrice`) is below the base fee.
    FeeCapTooLow {
        max_fee: Wei,
        base_fee: Wei,
    },
    /// `maxPriorityFeePerGas` is above `maxFeePerGas`.
    TipAboveFeeCap,
    /// The sender has code and is not an EIP-7702 delegation (EIP-3607).
    SenderNotEoa(Address),
    /// Init code is larger than EIP-3860 allows.
    InitCodeTooLarge,
    /// A transaction with this hash is already waiting in the pool (one
    /// already included is refused by its nonce, as geth refuses it).
    AlreadyKnown,
    /// The encoded transaction is larger than a pool takes (geth's 128 KiB).
    Oversized {
        size: u64,
        limit: u64,
    },
    /// Any other reason the EVM refuses the transaction.
    Rejected(String),
}

/// geth's wording of each refusal, which clients match on (the node's
/// JSON-RPC errors, the canister's `inspect_message` rejects).
impl std::fmt::Display for TxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxError::Malformed(reason) => write!(f, "invalid transaction: {reason}"),
            TxError::InvalidSignature => f.write_str("invalid sender"),
            TxError::TypeNotSupported(_) => f.write_str("transaction type not supported"),
            TxError::InvalidChainId { expected, got: Some(got) } => {
                write!(f, "invalid chain id for signer: have {got} want {expected}")
            }
            TxError::InvalidChainId { expected, got: None } => {
                write!(f, "invalid chain id for signer: want {expected}")
            }
            TxError::NonceTooLow { expected, got } => {
                write!(f, "nonce too low: next nonce {expected}, tx nonce {got}")
            }
            TxError::NonceTooHigh { expected, got } => {
                write!(f, "nonce too high: next nonce {expected}, tx nonce {got}")
            }
            TxError::InsufficientFunds { address, have, want } => write!(
                f,
                "insufficient funds for gas * price + value: address {address} have {have:?} want {want:?}"
            ),
            TxError::IntrinsicGasTooLow { gas, minimum } => {
                write!(f, "intrinsic gas too low: gas {gas}, minimum needed {minimum}")
            }
            TxError::GasLimitExceedsBlock { gas, limit } => {
                write!(f, "exceeds block gas limit: gas {gas}, limit {limit}")
            }
            TxError::GasLimitTooHigh { gas, cap } => {
                write!(f, "transaction gas limit too high (cap: {cap}, tx: {gas})")
            }
            TxError::FeeCapTooLow { max_fee, base_fee } => write!(
                f,
                "max fee per gas less than block base fee: maxFeePerGas: {max_fee:?}, baseFee: {base_fee:?}"
            ),
            TxError::TipAboveFeeCap => {
                f.write_str("max priority fee per gas higher than max fee per gas")
            }
            TxError::SenderNotEoa(address) => write!(f, "sender not an eoa: address {address}"),
            TxError::InitCodeTooLarge => f.write_str("max initcode size exceeded"),
            TxError::AlreadyKnown => f.write_str("already known"),
            TxError::ReplacementUnderpriced => f.write_str("replacement transaction underpriced"),
            TxError::PoolFull => f.write_str("txpool is full"),
            TxError::Oversized { size, limit } => {
                write!(f, "oversized data: transaction size {size}, limit {limit}")
            }
            TxError::Rejected(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for TxError {}

/// A transaction a produced block included.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct MinedTx {
    pub hash: Hash,
    /// `true` if execution succeeded, `false` if it reverted or halted.
    pub success: bool,
    pub gas_used: u64,
    /// Wasm instructions this transaction took itself (`ic0.performance_counter`):
    /// the sum of its `phases`, not counting what the block as a whole costs
    /// (state root, storing) or the rest of the message.
    pub instructions: u64,
    /// Where those instructions went. Optional in Candid only so that replies
    /// of modules from before phases were measured still decode.
    pub phases: Option<TxPhases>,
    /// The recipient; `None` for a contract creation (and in replies of
    /// older modules).
    pub to: Option<Address>,
    /// The first four bytes of the input, a Solidity method's selector, if
    /// the input has four.
    pub selector: Option<ByteBuf>,
}

/// Where one transaction's own instructions went, phase by phase, in the
/// message that included it (`ic0.performance_counter` read between
/// phases; the readings themselves land in the phase they end).
#[derive(CandidType, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxPhases {
    /// Decoding the EIP-2718 envelope (for a pooled transaction, decoding
    /// its pool entry).
    pub decode: u64,
    /// Recovering the sender from the signature; 0 for an impersonated or a
    /// pooled transaction (recovered in the message that pooled it).
    pub recover: u64,
    /// The chain's own checks before the EVM: chain id, nonce against the
    /// account and the pool, the block's gas.
    pub validate: u64,
    /// revm: checks against the state, execution, gas refunds and fees.
    pub execute: u64,
    /// Writing the changed accounts and storage to stable memory, and
    /// building the receipt.
    pub commit: u64,
}

impl TxPhases {
    /// The instructions of all phases.
    pub fn total(&self) -> u64 {
        self.decode + self.recover + self.validate + self.execute + self.commit
    }
}

/// A block a message produced.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct MinedBlock {
    pub number: u64,
    pub hash: Hash,
    pub timestamp: u64,
    pub transactions: Vec<MinedTx>,
    /// Instructions sealing the block took: the transactions and receipts
    /// tries, the state root, the header, storing the block and indexing
    /// it. Optional in Candid only so that older modules' replies decode.
    pub seal_instructions: Option<u64>,
    /// The sealed header, RLP-encoded: what `eth_subscribe("newHeads")`
    /// sends, so the node need not query for it. Optional in Candid only so
    /// that older modules' replies decode.
    pub header: Option<ByteBuf>,
    /// Size of the RLP-encoded block in bytes (optional alike).
    pub size: Option<u64>,
}

/// A transaction accepted by `send_raw_transaction`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct SubmitResult {
    pub tx_hash: Hash,
    /// Blocks the message produced, in order. With automine the first holds
    /// the transaction (and any pooled ones it made executable); empty if
    /// the transaction waits in the pool (a future nonce, or automine off).
    pub blocks: Vec<MinedBlock>,
}

/// Where a submitted transaction was included.
#[derive(Clone, Debug, PartialEq)]
pub struct Included {
    pub block_number: u64,
    pub block_hash: Hash,
    pub success: bool,
    pub gas_used: u64,
}

impl SubmitResult {
    /// The block and outcome of the submitted transaction, unless it waits
    /// in the pool.
    pub fn included(&self) -> Option<Included> {
        self.blocks.iter().find_map(|block| {
            let tx = block.transactions.iter().find(|tx| tx.hash == self.tx_hash)?;
            Some(Included {
                block_number: block.number,
                block_hash: block.hash,
                success: tx.success,
                gas_used: tx.gas_used,
            })
        })
    }
}

/// A transaction waiting in the pool.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct PooledTx {
    pub hash: Hash,
    /// The transaction, EIP-2718 encoded (with a placeholder signature if
    /// it was sent as an impersonated account).
    pub raw: ByteBuf,
    pub from: Address,
    pub nonce: u64,
    /// `true` if its nonce is the sender's next one, or follows pooled
    /// transactions that are (geth's "pending"); `false` if a nonce is
    /// missing before it ("queued").
    pub executable: bool,
}

/// Changes to one account, made by the controller (`anvil_setBalance`,
/// `anvil_setCode`, `anvil_setNonce`, `anvil_setStorageAt`). They are
/// recorded in the next block, whose state root includes them.
#[derive(CandidType, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AccountEdit {
    pub address: Address,
    pub balance: Option<Wei>,
    pub nonce: Option<u64>,
    pub code: Option<ByteBuf>,
    /// Slots to set, as (slot, value).
    pub storage: Vec<(Hash, Hash)>,
}

/// How the chain produces blocks.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct MiningMode {
    /// Produce a block for every transaction as it arrives; otherwise
    /// transactions wait in the pool until `mine`.
    pub automine: bool,
}

/// An entry of an EIP-2930 access list.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct AccessListItem {
    pub address: Address,
    pub storage_keys: Vec<Hash>,
}

/// A message to execute without a signature (`eth_call`, `eth_estimateGas`).
#[derive(CandidType, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct CallArgs {
    /// Sender; the zero address if `None`.
    pub from: Option<Address>,
    /// Recipient; `None` creates a contract.
    pub to: Option<Address>,
    /// Gas limit; the block gas limit (capped by what the sender can pay) if `None`.
    pub gas: Option<u64>,
    pub gas_price: Option<Wei>,
    pub max_fee_per_gas: Option<Wei>,
    pub max_priority_fee_per_gas: Option<Wei>,
    pub value: Option<Wei>,
    pub input: ByteBuf,
    /// Nonce to check; unchecked if `None`.
    pub nonce: Option<u64>,
    pub access_list: Vec<AccessListItem>,
    /// RLP-encoded signed EIP-7702 authorizations.
    pub authorization_list: Vec<ByteBuf>,
}

/// A change to the state a message executes on (`eth_call` state
/// overrides); nothing is written.
#[derive(CandidType, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct StateOverride {
    pub address: Address,
    pub balance: Option<Wei>,
    pub nonce: Option<u64>,
    pub code: Option<ByteBuf>,
    /// Replaces the whole storage: slots not listed read as zero.
    pub state: Option<Vec<(Hash, Hash)>>,
    /// Changes these slots, keeping the others.
    pub state_diff: Vec<(Hash, Hash)>,
}

/// Result of `create_access_list`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct AccessListOutcome {
    /// What the message touches, apart from its sender, recipient and the
    /// precompiles (as geth reports it).
    pub access_list: Vec<AccessListItem>,
    /// Gas the message uses with that access list.
    pub gas_used: u64,
    /// Why the message failed with it, if it did (`execution reverted`, …).
    pub error: Option<String>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub enum CallOutcome {
    Success {
        gas_used: u64,
        output: ByteBuf,
    },
    /// The message reverted; `output` is the revert data.
    Revert {
        gas_used: u64,
        output: ByteBuf,
    },
    /// The EVM halted (out of gas, invalid opcode, …).
    Halt {
        gas_used: u64,
        reason: HaltReason,
    },
}

/// Why the EVM halted: revm's `HaltReason`, as a Candid variant, so callers
/// match on it rather than on text. Its `Display` is geth's wording.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum HaltReason {
    OutOfGas,
    /// An undefined opcode, or `INVALID` (`0xfe`); the opcode's name.
    InvalidOpcode(String),
    InvalidJump,
    /// An opcode or feature of a later hardfork.
    NotActivated,
    StackUnderflow,
    StackOverflow,
    /// `RETURNDATACOPY` past the return data.
    OutOfOffset,
    CreateCollision,
    PrecompileError(String),
    NonceOverflow,
    CreateContractSizeLimit,
    CreateContractStartingWithEF,
    CreateInitCodeSizeLimit,
    StateChangeDuringStaticCall,
    OutOfFunds,
    CallTooDeep,
    /// A reason this interface does not name (a newer revm's).
    Other(String),
}

impl std::fmt::Display for HaltReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OutOfGas => f.write_str("out of gas"),
            Self::InvalidOpcode(name) => write!(f, "invalid opcode: {name}"),
            Self::InvalidJump => f.write_str("invalid jump destination"),
            Self::NotActivated => f.write_str("invalid opcode: not activated in this hardfork"),
            Self::StackUnderflow => f.write_str("stack underflow"),
            Self::StackOverflow => f.write_str("stack limit reached 1024 (1023)"),
            Self::OutOfOffset => f.write_str("return data out of bounds"),
            Self::CreateCollision => f.write_str("contract address collision"),
            Self::PrecompileError(message) if message.is_empty() => {
                f.write_str("precompile failed")
            }
            Self::PrecompileError(message) => write!(f, "precompile failed: {message}"),
            Self::NonceOverflow => f.write_str("nonce uint64 overflow"),
            Self::CreateContractSizeLimit => f.write_str("max code size exceeded"),
            Self::CreateContractStartingWithEF => {
                f.write_str("invalid code: must not begin with 0xef")
            }
            Self::CreateInitCodeSizeLimit => f.write_str("max initcode size exceeded"),
            Self::StateChangeDuringStaticCall => f.write_str("write protection"),
            Self::OutOfFunds => f.write_str("insufficient balance for transfer"),
            Self::CallTooDeep => f.write_str("max call depth exceeded"),
            Self::Other(reason) => write!(f, "execution halted: {reason}"),
        }
    }
}

/// Why `call` or `estimate_gas` produced no outcome.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub enum CallError {
    /// The message is invalid as a transaction.
    Tx(TxError),
    Query(QueryError),
}

/// Result of `estimate_gas`.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub enum Estimate {
    /// The lowest gas limit at which the message succeeds.
    Gas(u64),
    /// The message fails at any gas limit; this is how it fails at the cap.
    Failure(CallOutcome),
}

/// A block: its RLP header and its transactions.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct BlockView {
    pub hash: Hash,
    /// The RLP-encoded header.
    pub header: ByteBuf,
    /// Size of the RLP-encoded block in bytes.
    pub size: u64,
    pub transactions: Vec<Hash>,
    /// The transactions in full, if they were asked for.
    pub full_transactions: Vec<TransactionView>,
}

/// A transaction included in a block.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct TransactionView {
    pub hash: Hash,
    /// The signed transaction, EIP-2718 encoded.
    pub raw: ByteBuf,
    pub from: Address,
    pub block_number: u64,
    pub block_hash: Hash,
    pub index: u64,
    pub effective_gas_price: Wei,
}

/// The receipt of an included transaction.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct ReceiptView {
    pub tx_hash: Hash,
    /// EIP-2718 receipt envelope: type, status, cumulative gas, bloom, logs.
    pub receipt: ByteBuf,
    pub block_number: u64,
    pub block_hash: Hash,
    pub index: u64,
    pub from: Address,
    pub to: Option<Address>,
    pub contract_address: Option<Address>,
    pub gas_used: u64,
    pub effective_gas_price: Wei,
    /// Index in the block of the first log of this transaction.
    pub first_log_index: u64,
}

/// Which logs `get_logs` returns (the JSON-RPC filter object).
#[derive(CandidType, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LogFilter {
    /// First block; `Latest` if `None`.
    pub from_block: Option<BlockTag>,
    /// Last block; `Latest` if `None`.
    pub to_block: Option<BlockTag>,
    /// A single block by hash; excludes `from_block` and `to_block`.
    pub block_hash: Option<Hash>,
    /// Emitting contracts; any if empty.
    pub addresses: Vec<Address>,
    /// Per position, the accepted topics; an empty list accepts any topic.
    pub topics: Vec<Vec<Hash>>,
    /// Most blocks to scan: `MAX_LOG_BLOCK_RANGE` (100,000) if none or more.
    pub max_blocks: Option<u64>,
    /// Most logs to return: `MAX_LOGS` (10,000) if none or more.
    pub max_logs: Option<u64>,
}

/// A log with where it was emitted.
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct LogView {
    pub address: Address,
    pub topics: Vec<Hash>,
    pub data: ByteBuf,
    pub block_number: u64,
    pub block_hash: Hash,
    pub block_timestamp: u64,
    pub tx_hash: Hash,
    pub tx_index: u64,
    pub log_index: u64,
}

/// Result of `fee_history` (see `eth_feeHistory`).
#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub struct FeeHistory {
    pub oldest_block: u64,
    /// One entry per block, plus the base fee of the block after the newest.
    pub base_fee_per_gas: Vec<Wei>,
    pub gas_used_ratio: Vec<f64>,
    /// Per block, the priority fee at each requested percentile.
    pub reward: Vec<Vec<Wei>>,
}
