//! The chain as the JSON-RPC methods see it.

use evm_canister_api::{
    AccessListOutcome, AccountState, Address, BlockTag, BlockView, CallArgs, CallError,
    CallOutcome, ChainInfo, Estimate, FeeHistory, Hash, LogFilter, LogView, PooledTx, QueryError,
    ReceiptView, StateOverride, SubmitResult, TransactionView, TxError,
};
use serde_bytes::ByteBuf;

use crate::RpcError;

/// The EVM canister's methods, as `evm.did` declares them: the node
/// implements them with Candid calls into its host, the canister with
/// direct calls into its chain. The outer `Result` is the backend's own
/// failure (the node's host trapped, say); the inner one is the canister's
/// answer.
pub trait Backend {
    /// A failure of the backend itself, not of the request.
    type Error: Into<RpcError>;

    fn chain_info(&mut self) -> Result<ChainInfo, Self::Error>;

    fn account(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<AccountState, QueryError>, Self::Error>;

    fn code(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<ByteBuf, QueryError>, Self::Error>;

    fn storage(
        &mut self,
        address: Address,
        slot: Hash,
        block: BlockTag,
    ) -> Result<Result<Hash, QueryError>, Self::Error>;

    fn call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<CallOutcome, CallError>, Self::Error>;

    fn estimate_gas(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<Estimate, CallError>, Self::Error>;

    fn create_access_list(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<AccessListOutcome, CallError>, Self::Error>;

    fn block(&mut self, block: BlockTag, full: bool) -> Result<Option<BlockView>, Self::Error>;

    fn transaction(&mut self, hash: Hash) -> Result<Option<TransactionView>, Self::Error>;

    fn pooled_transaction(&mut self, hash: Hash) -> Result<Option<PooledTx>, Self::Error>;

    fn receipt(&mut self, hash: Hash) -> Result<Option<ReceiptView>, Self::Error>;

    fn logs(&mut self, filter: LogFilter) -> Result<Result<Vec<LogView>, QueryError>, Self::Error>;

    fn fee_history(
        &mut self,
        count: u64,
        newest: BlockTag,
        percentiles: Vec<f64>,
    ) -> Result<Result<FeeHistory, QueryError>, Self::Error>;

    /// Submits a signed transaction: an update. A backend that can only
    /// answer queries (the canister in `http_request`) is never asked.
    fn send_raw_transaction(
        &mut self,
        raw: &[u8],
    ) -> Result<Result<SubmitResult, TxError>, Self::Error>;
}
