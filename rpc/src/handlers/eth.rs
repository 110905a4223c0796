//! `eth_` handlers.

use std::time::Instant;

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U128, U256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{
    AccessListResult, Block, EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory, Filter,
    FilterBlockOption, Index, Log, Transaction, TransactionRequest,
};
use alloy_serde::{JsonStorageKey, WithOtherFields};
use alloy_signer::SignerSync;
use evm_canister_api::{BlockTag, CallOutcome, ReceiptView};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::types::ErrorObjectOwned;

use super::Handlers;
use super::send::{SUGGESTED_PRIORITY_FEE, fill_and_submit};
use crate::api::Quantity;
use crate::api::eth::{EthApiServer, Receipt};
use crate::convert;
use crate::cost::TxCost;
use crate::error::{self, internal, invalid_params};
use crate::filters::{FilterError, FilterKind};
use crate::node::NodeError;

fn filter_error(error: FilterError) -> ErrorObjectOwned {
    error::server_error(error.to_string())
}

/// A receipt as JSON-RPC returns it, with what the transaction cost as wasm.
fn receipt_with_cost(view: ReceiptView, cost: Option<TxCost>) -> RpcResult<Receipt> {
    let mut receipt = WithOtherFields::new(convert::receipt(view)?);
    if let Some(cost) = cost {
        receipt.other.insert(
            "wasmInstructions".into(),
            serde_json::to_value(U64::from(cost.instructions)).unwrap(),
        );
        receipt
            .other
            .insert("cycles".into(), serde_json::to_value(U128::from(cost.cycles)).unwrap());
        if let Some(breakdown) = cost.breakdown {
            let breakdown = crate::api::ic::CostBreakdown::from(breakdown);
            receipt.other.insert("costBreakdown".into(), serde_json::to_value(breakdown).unwrap());
        }
    }
    Ok(receipt)
}

/// `filter` restricted to blocks `from..=to`.
fn within(filter: &Filter, from: u64, to: u64) -> Filter {
    filter.clone().from_block(from).to_block(to)
}

#[async_trait]
impl EthApiServer for Handlers {
    async fn chain_id(&self) -> RpcResult<U64> {
        let info = self.node.run(|node| node.chain_info()).await?;
        Ok(U64::from(info.chain_id))
    }

    async fn block_number(&self) -> RpcResult<U64> {
        let info = self.node.run(|node| node.chain_info()).await?;
        Ok(U64::from(info.latest_block))
    }

    async fn gas_price(&self) -> RpcResult<U256> {
        let info = self.node.run(|node| node.chain_info()).await?;
        Ok(info.next_base_fee.0 + U256::from(SUGGESTED_PRIORITY_FEE))
    }

    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(SUGGESTED_PRIORITY_FEE))
    }

    async fn fee_history(
        &self,
        block_count: Quantity,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let asked_rewards = reward_percentiles.is_some();
        let percentiles = reward_percentiles.unwrap_or_default();
        let newest = convert::number_tag(newest_block);
        let history = self
            .node
            .run(move |node| node.fee_history(block_count.0, newest, percentiles))
            .await?
            .map_err(|e| error::query_error(&e))?;
        let blocks = history.gas_used_ratio.len();
        Ok(FeeHistory {
            base_fee_per_gas: history.base_fee_per_gas.iter().map(|w| w.0.to()).collect(),
            gas_used_ratio: history.gas_used_ratio,
            // Blob transactions are refused: blob gas is never used and its
            // price stays at the minimum.
            base_fee_per_blob_gas: vec![1; if blocks == 0 { 0 } else { blocks + 1 }],
            blob_gas_used_ratio: vec![0.0; blocks],
            oldest_block: history.oldest_block,
            reward: asked_rewards.then(|| {
                history.reward.iter().map(|r| r.iter().map(|w| w.0.to()).collect()).collect()
            }),
        })
    }

    async fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(self.node.accounts())
    }

    async fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let tag = convert::block_tag(block);
        let account = self.node.run(move |node| node.account(address.into(), tag)).await?;
        Ok(account.map_err(|e| error::query_error(&e))?.balance.0)
    }

    async fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let tag = convert::block_tag(block);
        let account = self.node.run(move |node| node.account(address.into(), tag)).await?;
        Ok(U256::from(account.map_err(|e| error::query_error(&e))?.nonce))
    }

    async fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let tag = convert::block_tag(block);
        let code = self.node.run(move |node| node.code(address.into(), tag)).await?;
        Ok(code.map_err(|e| error::query_error(&e))?.into_vec().into())
    }

    async fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256> {
        let tag = convert::block_tag(block);
        let slot = slot.as_b256();
        let value =
            self.node.run(move |node| node.storage(address.into(), slot.into(), tag)).await?;
        Ok(value.map_err(|e| error::query_error(&e))?.0)
    }

    async fn proof(
        &self,
        address: Address,
        slots: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        let tag = convert::block_tag(block);
        let hashes = slots.iter().map(|slot| slot.as_b256().into()).collect();
        let proof = self.node.run(move |node| node.proof(address.into(), hashes, tag)).await?;
        let proof = proof.map_err(|e| error::query_error(&e))?;
        let nodes = |nodes: Vec<serde_bytes::ByteBuf>| {
            nodes.into_iter().map(|node| Bytes::from(node.into_vec())).collect()
        };
        Ok(EIP1186AccountProofResponse {
            address,
            balance: proof.balance.0,
            code_hash: proof.code_hash.0,
            nonce: proof.nonce,
            storage_hash: proof.storage_hash.0,
            account_proof: nodes(proof.account_proof),
            storage_proof: slots
                .into_iter()
                .zip(proof.storage_proof)
                .map(|(key, slot)| EIP1186StorageProof {
                    key,
                    value: U256::from_be_bytes(slot.value.0.0),
                    proof: nodes(slot.proof),
                })
                .collect(),
        })
    }

    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes> {
        let overrides = convert::state_overrides(state_overrides)?;
        let args = convert::call_args(request)?;
        let tag = convert::block_tag(block);
        let outcome = self.node.run(move |node| node.call(args, tag, overrides)).await?;
        match outcome.map_err(|e| error::call_error(&e))? {
            CallOutcome::Success { output, .. } => Ok(output.into_vec().into()),
            failed => Err(error::failed_call(&failed)),
        }
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<U64> {
        let overrides = convert::state_overrides(state_overrides)?;
        let args = convert::call_args(request)?;
        // Without a block, estimate against the block being built (as geth
        // and anvil do).
        let tag = block.map_or(BlockTag::Pending, |b| convert::block_tag(Some(b)));
        Ok(U64::from(self.estimate(args, tag, overrides).await?))
    }

    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<AccessListResult> {
        let overrides = convert::state_overrides(state_overrides)?;
        let args = convert::call_args(request)?;
        // Without a block, for the block being built (as geth).
        let tag = block.map_or(BlockTag::Pending, |b| convert::block_tag(Some(b)));
        let outcome =
            self.node.run(move |node| node.create_access_list(args, tag, overrides)).await?;
        let outcome = outcome.map_err(|e| error::call_error(&e))?;
        Ok(AccessListResult {
            access_list: convert::access_list(outcome.access_list),
            gas_used: U256::from(outcome.gas_used),
            error: outcome.error,
        })
    }

    async fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256> {
        self.submit(bytes.into()).await
    }

    async fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        let (view, pooled) = self
            .node
            .run(move |node| match node.transaction(hash.into())? {
                Some(view) => Ok((Some(view), None)),
                None => Ok((None, node.pooled_transaction(hash.into())?)),
            })
            .await?;
        match (view, pooled) {
            (Some(view), _) => convert::transaction(view).map(Some),
            (None, Some(pooled)) => convert::pooled_transaction(pooled).map(Some),
            (None, None) => Ok(None),
        }
    }

    async fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>> {
        let (view, cost) = self
            .node
            .run(move |node| Ok((node.receipt(hash.into())?, node.transaction_cost(hash))))
            .await?;
        view.map(|view| receipt_with_cost(view, cost)).transpose()
    }

    async fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> RpcResult<Option<Block>> {
        let tag = convert::number_tag(number);
        let view = self.node.run(move |node| node.block(tag, full)).await?;
        view.map(|v| convert::block(v, full)).transpose()
    }

    async fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        let view = self.node.run(move |node| node.block(BlockTag::Hash(hash.into()), full)).await?;
        view.map(|v| convert::block(v, full)).transpose()
    }

    async fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        let mut filter = convert::log_filter(&filter);
        filter.max_blocks = Some(self.node.limits.max_logs_block_range);
        filter.max_logs = Some(self.node.limits.max_logs);
        let logs = self.node.run(move |node| node.logs(filter)).await?;
        Ok(logs.map_err(|e| error::query_error(&e))?.into_iter().map(convert::log).collect())
    }

    async fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<Receipt>>> {
        let tag = convert::block_tag(Some(block));
        let receipts = self
            .node
            .run(move |node| {
                let Some(block) = node.block(tag, false)? else { return Ok(None) };
                let mut receipts = Vec::with_capacity(block.transactions.len());
                for hash in block.transactions {
                    let view = node.receipt(hash)?.ok_or_else(|| {
                        NodeError::Inconsistent(format!("no receipt for {}", hash.0))
                    })?;
                    receipts.push((view, node.transaction_cost(hash.0)));
                }
                Ok(Some(receipts))
            })
            .await?;
        let Some(receipts) = receipts else { return Ok(None) };
        receipts
            .into_iter()
            .map(|(view, cost)| receipt_with_cost(view, cost))
            .collect::<RpcResult<_>>()
            .map(Some)
    }

    async fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let view = self.block_view(BlockTag::Hash(hash.into()), false).await?;
        Ok(view.map(|view| U64::from(view.transactions.len())))
    }

    async fn block_transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>> {
        let view = self.block_view(convert::number_tag(number), false).await?;
        Ok(view.map(|view| U64::from(view.transactions.len())))
    }

    async fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        self.transaction_in(BlockTag::Hash(hash.into()), index).await
    }

    async fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        self.transaction_in(convert::number_tag(number), index).await
    }

    async fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let view = self.block_view(BlockTag::Hash(hash.into()), false).await?;
        Ok(view.map(|_| U64::ZERO))
    }

    async fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        let view = self.block_view(convert::number_tag(number), false).await?;
        Ok(view.map(|_| U64::ZERO))
    }

    fn uncle_by_hash(&self, _hash: B256, _index: Index) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    fn uncle_by_number(
        &self,
        _number: BlockNumberOrTag,
        _index: Index,
    ) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    fn syncing(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn mining(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn hashrate(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    async fn coinbase(&self) -> RpcResult<Address> {
        let view = self.block_view(BlockTag::Latest, false).await?;
        let view = view.ok_or_else(|| internal("the latest block is missing"))?;
        Ok(convert::block(view, false)?.header.beneficiary)
    }

    async fn new_filter(&self, filter: Filter) -> RpcResult<U128> {
        // The first block the filter reports: geth starts at the next block
        // for `latest` (or no) `fromBlock`, else at `fromBlock`.
        let latest = self.latest_number().await?;
        let next = match filter.block_option {
            FilterBlockOption::Range { from_block: Some(BlockNumberOrTag::Number(n)), .. } => n,
            FilterBlockOption::Range { from_block: Some(BlockNumberOrTag::Earliest), .. } => 0,
            _ => latest + 1,
        };
        let kind = FilterKind::Logs { filter: Box::new(filter), next };
        self.node.filters.install(kind, Instant::now()).map_err(filter_error)
    }

    async fn new_block_filter(&self) -> RpcResult<U128> {
        let next = self.latest_number().await? + 1;
        self.node.filters.install(FilterKind::Blocks { next }, Instant::now()).map_err(filter_error)
    }

    async fn new_pending_transaction_filter(&self) -> RpcResult<U128> {
        self.node.filters.install_pending(Instant::now()).map_err(filter_error)
    }

    async fn filter_changes(&self, id: U128) -> RpcResult<serde_json::Value> {
        let latest = self.latest_number().await?;
        // Advance the filter first, so concurrent polls never report the
        // same blocks twice.
        let work = self
            .node
            .filters
            .poll(id, Instant::now(), |kind, pending| match kind {
                FilterKind::Blocks { next } => {
                    let range = *next..=latest;
                    *next = (*next).max(latest + 1);
                    Changes::Blocks(range)
                }
                FilterKind::Logs { filter, next } => {
                    let last = match filter.block_option {
                        FilterBlockOption::Range {
                            to_block: Some(BlockNumberOrTag::Number(to)),
                            ..
                        } => to.min(latest),
                        _ => latest,
                    };
                    let range = *next..=last;
                    *next = (*next).max(last + 1);
                    Changes::Logs(
                        Box::new(within(filter, *range.start(), *range.end())),
                        range.is_empty(),
                    )
                }
                FilterKind::PendingTransactions { next } => {
                    Changes::Transactions(pending.take_from(next))
                }
            })
            .map_err(filter_error)?;
        let value = match work {
            Changes::Transactions(hashes) => serde_json::to_value(hashes),
            Changes::Blocks(range) => {
                let hashes = self
                    .node
                    .run(move |node| {
                        let mut hashes = Vec::new();
                        for number in range {
                            if let Some(block) = node.block(BlockTag::Number(number), false)? {
                                hashes.push(block.hash.0);
                            }
                        }
                        Ok(hashes)
                    })
                    .await?;
                serde_json::to_value(hashes)
            }
            Changes::Logs(_, true) => Ok(serde_json::Value::Array(Vec::new())),
            Changes::Logs(filter, false) => serde_json::to_value(self.logs(*filter).await?),
        };
        value.map_err(|e| internal(e.to_string()))
    }

    async fn filter_logs(&self, id: U128) -> RpcResult<Vec<Log>> {
        match self.node.filters.get(id, Instant::now()).map_err(filter_error)? {
            FilterKind::Logs { filter, .. } => self.logs(*filter).await,
            _ => Err(filter_error(FilterError::NotFound)),
        }
    }

    async fn uninstall_filter(&self, id: U128) -> RpcResult<bool> {
        Ok(self.node.filters.uninstall(id, Instant::now()))
    }

    async fn sign(&self, address: Address, message: Bytes) -> RpcResult<Bytes> {
        self.sign_message(address, &message)
    }

    async fn sign_typed_data_v4(
        &self,
        address: Address,
        data: serde_json::Value,
    ) -> RpcResult<Bytes> {
        // viem and MetaMask send the typed data as a JSON string, ethers as
        // an object.
        let data = match data {
            serde_json::Value::String(text) => serde_json::from_str(&text),
            object => serde_json::from_value(object),
        };
        let data: alloy_dyn_abi::TypedData =
            data.map_err(|e| invalid_params(format!("invalid typed data: {e}")))?;
        let signature = self
            .node
            .signer(address)?
            .sign_dynamic_typed_data_sync(&data)
            .map_err(|e| invalid_params(format!("cannot sign the typed data: {e}")))?;
        Ok(signature.as_bytes().into())
    }

    async fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256> {
        let from = request.from.ok_or_else(|| invalid_params("the transaction has no \"from\""))?;
        let signer = match self.node.signer(from) {
            Ok(signer) => Some(signer.clone()),
            Err(_) if self.node.is_impersonated(&from) => None,
            Err(unknown) => return Err(unknown),
        };
        // Filling in, signing and submitting take one turn of the node, so
        // two sends from one account cannot be given the same nonce.
        let submitted = self
            .node
            .run(move |node| Ok(fill_and_submit(node, request, from, signer.as_ref())))
            .await??;
        self.publish_submitted(&submitted);
        Ok(submitted.tx_hash.0)
    }
}

/// What an `eth_getFilterChanges` poll has to fetch.
enum Changes {
    Blocks(std::ops::RangeInclusive<u64>),
    /// The filter for the new blocks, and whether there are none.
    Logs(Box<Filter>, bool),
    Transactions(Vec<B256>),
}
