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
use evm_canister_api::{BlockTag, ReceiptView};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::types::ErrorObjectOwned;

use super::Handlers;
use super::send::fill_and_submit;
use crate::api::Quantity;
use crate::api::eth::{EthApiServer, Receipt};
use crate::convert;
use crate::cost::TxCost;
use crate::error::{self, internal, invalid_params};
use crate::filters::{FilterError, FilterKind};
use crate::node::Queries as _;
use evm_jsonrpc::eth;

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
        self.shared(eth::chain_id).await
    }

    async fn block_number(&self) -> RpcResult<U64> {
        self.shared(eth::block_number).await
    }

    async fn gas_price(&self) -> RpcResult<U256> {
        self.shared(eth::gas_price).await
    }

    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(eth::max_priority_fee_per_gas())
    }

    async fn fee_history(
        &self,
        block_count: Quantity,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        self.shared(move |node| {
            eth::fee_history(node, block_count.0, newest_block, reward_percentiles)
        })
        .await
    }

    async fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(self.node.accounts())
    }

    async fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        self.shared(move |node| eth::balance(node, address, block)).await
    }

    async fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        self.shared(move |node| eth::transaction_count(node, address, block)).await
    }

    async fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        self.shared(move |node| eth::code(node, address, block)).await
    }

    async fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256> {
        self.shared(move |node| eth::storage_at(node, address, slot, block)).await
    }

    async fn proof(
        &self,
        address: Address,
        slots: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        let tag = convert::block_tag(block);
        let hashes = slots.iter().map(|slot| slot.as_b256().into()).collect();
        let proof = self.node.read(move |node| node.proof(address.into(), hashes, tag)).await?;
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
        self.shared(move |node| eth::call(node, request, block, state_overrides)).await
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<U64> {
        self.shared(move |node| eth::estimate_gas(node, request, block, state_overrides)).await
    }

    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<AccessListResult> {
        self.shared(move |node| eth::create_access_list(node, request, block, state_overrides))
            .await
    }

    async fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256> {
        self.submit(bytes.into()).await
    }

    async fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        self.shared(move |node| eth::transaction_by_hash(node, hash)).await
    }

    async fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>> {
        let (view, cost) = self
            .node
            .read(move |node| Ok((node.receipt(hash.into())?, node.transaction_cost(hash))))
            .await?;
        view.map(|view| receipt_with_cost(view, cost)).transpose()
    }

    async fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> RpcResult<Option<Block>> {
        self.shared(move |node| eth::block(node, convert::number_tag(number), full)).await
    }

    async fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        self.shared(move |node| eth::block(node, BlockTag::Hash(hash.into()), full)).await
    }

    async fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        let (blocks, logs) = (self.node.limits.max_logs_block_range, self.node.limits.max_logs);
        self.shared(move |node| eth::logs(node, &filter, Some(blocks), Some(logs))).await
    }

    async fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<Receipt>>> {
        let tag = convert::block_tag(Some(block));
        let receipts = self
            .node
            .read(move |node| {
                let Some(views) = node.block_receipts(tag)? else { return Ok(None) };
                let with_costs = views.into_iter().map(|view| {
                    let cost = node.transaction_cost(view.tx_hash.0);
                    (view, cost)
                });
                Ok(Some(with_costs.collect::<Vec<_>>()))
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
        self.shared(move |node| eth::block_transaction_count(node, BlockTag::Hash(hash.into())))
            .await
    }

    async fn block_transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>> {
        self.shared(move |node| eth::block_transaction_count(node, convert::number_tag(number)))
            .await
    }

    async fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        self.shared(move |node| eth::transaction_in(node, BlockTag::Hash(hash.into()), index.0))
            .await
    }

    async fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        self.shared(move |node| eth::transaction_in(node, convert::number_tag(number), index.0))
            .await
    }

    async fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        self.shared(move |node| eth::uncle_count(node, BlockTag::Hash(hash.into()))).await
    }

    async fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        self.shared(move |node| eth::uncle_count(node, convert::number_tag(number))).await
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
        self.shared(eth::coinbase).await
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
                    .read(move |node| {
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
