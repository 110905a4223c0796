//! The node, and its reader, as `evm-jsonrpc`'s [`Backend`]: the shared
//! `eth_` methods run over their Candid calls into the canister.

use evm_canister_api::{
    AccessListOutcome, AccountState, Address, BlockTag, BlockView, CallArgs, CallError,
    CallOutcome, ChainInfo, Estimate, FeeHistory, Hash, LogFilter, LogView, PooledTx, QueryError,
    ReceiptView, StateOverride, SubmitResult, TransactionView, TxError,
};
use evm_jsonrpc::Backend;
use serde_bytes::ByteBuf;

use super::{Node, NodeError, Queries, Reader};

/// The read methods of [`Backend`], over [`Queries`].
macro_rules! reads {
    () => {
        type Error = NodeError;

        fn chain_info(&mut self) -> Result<ChainInfo, NodeError> {
            Queries::chain_info(self)
        }

        fn account(
            &mut self,
            address: Address,
            block: BlockTag,
        ) -> Result<Result<AccountState, QueryError>, NodeError> {
            Queries::account(self, address, block)
        }

        fn code(
            &mut self,
            address: Address,
            block: BlockTag,
        ) -> Result<Result<ByteBuf, QueryError>, NodeError> {
            Queries::code(self, address, block)
        }

        fn storage(
            &mut self,
            address: Address,
            slot: Hash,
            block: BlockTag,
        ) -> Result<Result<Hash, QueryError>, NodeError> {
            Queries::storage(self, address, slot, block)
        }

        fn call(
            &mut self,
            args: CallArgs,
            block: BlockTag,
            overrides: Vec<StateOverride>,
        ) -> Result<Result<CallOutcome, CallError>, NodeError> {
            Queries::call(self, args, block, overrides)
        }

        fn estimate_gas(
            &mut self,
            args: CallArgs,
            block: BlockTag,
            overrides: Vec<StateOverride>,
        ) -> Result<Result<Estimate, CallError>, NodeError> {
            Queries::estimate_gas(self, args, block, overrides)
        }

        fn create_access_list(
            &mut self,
            args: CallArgs,
            block: BlockTag,
            overrides: Vec<StateOverride>,
        ) -> Result<Result<AccessListOutcome, CallError>, NodeError> {
            Queries::create_access_list(self, args, block, overrides)
        }

        fn block(&mut self, block: BlockTag, full: bool) -> Result<Option<BlockView>, NodeError> {
            Queries::block(self, block, full)
        }

        fn transaction(&mut self, hash: Hash) -> Result<Option<TransactionView>, NodeError> {
            Queries::transaction(self, hash)
        }

        fn pooled_transaction(&mut self, hash: Hash) -> Result<Option<PooledTx>, NodeError> {
            Queries::pooled_transaction(self, hash)
        }

        fn receipt(&mut self, hash: Hash) -> Result<Option<ReceiptView>, NodeError> {
            Queries::receipt(self, hash)
        }

        fn logs(
            &mut self,
            filter: LogFilter,
        ) -> Result<Result<Vec<LogView>, QueryError>, NodeError> {
            Queries::logs(self, filter)
        }

        fn fee_history(
            &mut self,
            count: u64,
            newest: BlockTag,
            percentiles: Vec<f64>,
        ) -> Result<Result<FeeHistory, QueryError>, NodeError> {
            Queries::fee_history(self, count, newest, percentiles)
        }
    };
}

impl Backend for Node {
    reads!();

    fn send_raw_transaction(
        &mut self,
        raw: &[u8],
    ) -> Result<Result<SubmitResult, TxError>, NodeError> {
        Ok(Node::send_raw_transaction(self, raw)?.map(|submitted| submitted.result))
    }
}

/// A reader only reads: the node's handle sends transactions to the node.
impl Backend for Reader {
    reads!();

    fn send_raw_transaction(
        &mut self,
        _raw: &[u8],
    ) -> Result<Result<SubmitResult, TxError>, NodeError> {
        Err(NodeError::Failed("transactions go to the node, not to its reader".to_owned()))
    }
}
