//! The node as `evm-jsonrpc`'s [`Backend`]: the shared `eth_` methods run
//! over the node's Candid calls into its canister.

use evm_canister_api::{
    AccessListOutcome, AccountState, Address, BlockTag, BlockView, CallArgs, CallError,
    CallOutcome, ChainInfo, Estimate, FeeHistory, Hash, LogFilter, LogView, PooledTx, QueryError,
    ReceiptView, StateOverride, SubmitResult, TransactionView, TxError,
};
use evm_jsonrpc::Backend;
use serde_bytes::ByteBuf;

use super::{Node, NodeError};

impl Backend for Node {
    type Error = NodeError;

    fn chain_info(&mut self) -> Result<ChainInfo, NodeError> {
        Node::chain_info(self)
    }

    fn account(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<AccountState, QueryError>, NodeError> {
        Node::account(self, address, block)
    }

    fn code(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<ByteBuf, QueryError>, NodeError> {
        Node::code(self, address, block)
    }

    fn storage(
        &mut self,
        address: Address,
        slot: Hash,
        block: BlockTag,
    ) -> Result<Result<Hash, QueryError>, NodeError> {
        Node::storage(self, address, slot, block)
    }

    fn call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<CallOutcome, CallError>, NodeError> {
        Node::call(self, args, block, overrides)
    }

    fn estimate_gas(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<Estimate, CallError>, NodeError> {
        Node::estimate_gas(self, args, block, overrides)
    }

    fn create_access_list(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<AccessListOutcome, CallError>, NodeError> {
        Node::create_access_list(self, args, block, overrides)
    }

    fn block(&mut self, block: BlockTag, full: bool) -> Result<Option<BlockView>, NodeError> {
        Node::block(self, block, full)
    }

    fn transaction(&mut self, hash: Hash) -> Result<Option<TransactionView>, NodeError> {
        Node::transaction(self, hash)
    }

    fn pooled_transaction(&mut self, hash: Hash) -> Result<Option<PooledTx>, NodeError> {
        Node::pooled_transaction(self, hash)
    }

    fn receipt(&mut self, hash: Hash) -> Result<Option<ReceiptView>, NodeError> {
        Node::receipt(self, hash)
    }

    fn logs(&mut self, filter: LogFilter) -> Result<Result<Vec<LogView>, QueryError>, NodeError> {
        Node::logs(self, filter)
    }

    fn fee_history(
        &mut self,
        count: u64,
        newest: BlockTag,
        percentiles: Vec<f64>,
    ) -> Result<Result<FeeHistory, QueryError>, NodeError> {
        Node::fee_history(self, count, newest, percentiles)
    }

    fn send_raw_transaction(
        &mut self,
        raw: &[u8],
    ) -> Result<Result<SubmitResult, TxError>, NodeError> {
        Ok(Node::send_raw_transaction(self, raw)?.map(|submitted| submitted.result))
    }
}
