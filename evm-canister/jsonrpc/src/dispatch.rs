//! The JSON-RPC 2.0 envelope for the canister's own HTTP endpoint: a body
//! in, a body out, over the methods of [`crate::eth`].
//!
//! A query (`http_request`) answers every read method itself. A body with
//! a method that changes the chain is not answered there but handed to the
//! update (`http_request_update`), as the IC's HTTP gateway protocol has
//! it: [`Served::Upgrade`].

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{Filter, Index, TransactionRequest};
use alloy_serde::JsonStorageKey;
use evm_canister_api::BlockTag;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{INVALID_REQUEST, PARSE_ERROR, RpcError, invalid_params, method_not_found};
use crate::{Backend, Quantity, convert, eth};

/// Where a request is being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A query: nothing can change, nothing is kept.
    Query,
    /// An update: the chain may change.
    Update,
}

/// What a body gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// The response body (JSON); empty if the body held only notifications.
    Body(Vec<u8>),
    /// The body has a method that changes the chain: answer it in an update.
    Upgrade,
}

/// The methods that change the chain, answered only in [`Mode::Update`].
pub const UPDATE_METHODS: &[&str] = &["eth_sendRawTransaction"];

/// Answers a JSON-RPC body: one request or a batch.
pub fn serve<B: Backend>(backend: &mut B, body: &[u8], mode: Mode) -> Served {
    let request: Value = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            return respond(&failure(
                Value::Null,
                RpcError::new(PARSE_ERROR, format!("parse error: {e}")),
            ));
        }
    };
    if mode == Mode::Query && needs_update(&request) {
        return Served::Upgrade;
    }
    match request {
        Value::Array(batch) if batch.is_empty() => {
            respond(&failure(Value::Null, RpcError::new(INVALID_REQUEST, "empty batch")))
        }
        Value::Array(batch) => {
            let answers: Vec<Value> =
                batch.into_iter().filter_map(|request| answer(backend, request, mode)).collect();
            if answers.is_empty() { Served::Body(Vec::new()) } else { respond(&answers) }
        }
        request => match answer(backend, request, mode) {
            Some(answer) => respond(&answer),
            None => Served::Body(Vec::new()),
        },
    }
}

fn respond(value: &impl Serialize) -> Served {
    Served::Body(serde_json::to_vec(value).expect("JSON values serialise"))
}

/// Whether any request of `body` calls an update method.
fn needs_update(body: &Value) -> bool {
    let calls_update = |request: &Value| {
        request.get("method").and_then(Value::as_str).is_some_and(|m| UPDATE_METHODS.contains(&m))
    };
    match body {
        Value::Array(batch) => batch.iter().any(calls_update),
        request => calls_update(request),
    }
}

fn failure(id: Value, error: RpcError) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// The answer to one request; `None` for a notification (no `id`).
fn answer<B: Backend>(backend: &mut B, request: Value, mode: Mode) -> Option<Value> {
    let Value::Object(mut request) = request else {
        return Some(failure(
            Value::Null,
            RpcError::new(INVALID_REQUEST, "a request is an object"),
        ));
    };
    let id = request.remove("id");
    let id = match id {
        None => None,
        Some(id @ (Value::Null | Value::String(_))) => Some(id),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(Value::Number(n)),
        Some(_) => {
            let error = RpcError::new(INVALID_REQUEST, "an id is a string, an integer or null");
            return Some(failure(Value::Null, error));
        }
    };
    let outcome = match (request.remove("jsonrpc"), request.remove("method")) {
        (Some(Value::String(version)), Some(Value::String(method))) if version == "2.0" => {
            Params::new(request.remove("params"))
                .and_then(|params| call(backend, &method, &params, mode))
        }
        _ => Err(RpcError::new(INVALID_REQUEST, "not a JSON-RPC 2.0 request")),
    };
    let id = id?;
    Some(match outcome {
        Ok(result) => serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => failure(id, error),
    })
}

/// Positional parameters.
struct Params(Vec<Value>);

impl Params {
    fn new(params: Option<Value>) -> Result<Self, RpcError> {
        match params {
            None | Some(Value::Null) => Ok(Self(Vec::new())),
            Some(Value::Array(params)) => Ok(Self(params)),
            Some(_) => Err(invalid_params("parameters are passed by position, as an array")),
        }
    }

    /// Parameter `index`; an absent one reads as `null`, so optional
    /// parameters may be left out.
    fn get<T: DeserializeOwned>(&self, index: usize) -> Result<T, RpcError> {
        let value = self.0.get(index).cloned().unwrap_or(Value::Null);
        serde_json::from_value(value)
            .map_err(|e| invalid_params(format!("invalid parameter {index}: {e}")))
    }

    /// Refuses more than `count` parameters.
    fn at_most(&self, count: usize) -> Result<&Self, RpcError> {
        if self.0.len() > count {
            return Err(invalid_params(format!(
                "too many parameters: {} given, at most {count} taken",
                self.0.len()
            )));
        }
        Ok(self)
    }
}

fn json(value: impl Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| crate::error::internal(e.to_string()))
}

/// Calls `method`.
fn call<B: Backend>(
    backend: &mut B,
    method: &str,
    params: &Params,
    mode: Mode,
) -> Result<Value, RpcError> {
    let b = backend;
    let p = params;
    match method {
        "web3_clientVersion" => {
            p.at_most(0)?;
            json(format!("canister-evm/v{}/wasm32-icp/revm", env!("CARGO_PKG_VERSION")))
        }
        "net_version" => {
            p.at_most(0)?;
            json(eth::chain_id(b)?.to::<u64>().to_string())
        }
        "net_listening" => json(true),
        "eth_chainId" => {
            p.at_most(0)?;
            json(eth::chain_id(b)?)
        }
        "eth_blockNumber" => {
            p.at_most(0)?;
            json(eth::block_number(b)?)
        }
        "eth_gasPrice" => {
            p.at_most(0)?;
            json(eth::gas_price(b)?)
        }
        "eth_maxPriorityFeePerGas" => json(eth::max_priority_fee_per_gas()),
        "eth_feeHistory" => {
            let p = p.at_most(3)?;
            let count: Quantity = p.get(0)?;
            let newest: BlockNumberOrTag = p.get(1)?;
            json(eth::fee_history(b, count.0, newest, p.get(2)?)?)
        }
        "eth_accounts" => json(Vec::<Address>::new()),
        "eth_syncing" | "eth_mining" => json(false),
        "eth_hashrate" => json(U64::ZERO),
        "eth_coinbase" => json(eth::coinbase(b)?),
        "eth_getBalance" => {
            let p = p.at_most(2)?;
            json(eth::balance(b, p.get(0)?, p.get::<Option<BlockId>>(1)?)?)
        }
        "eth_getTransactionCount" => {
            let p = p.at_most(2)?;
            json(eth::transaction_count(b, p.get(0)?, p.get::<Option<BlockId>>(1)?)?)
        }
        "eth_getCode" => {
            let p = p.at_most(2)?;
            json(eth::code(b, p.get(0)?, p.get::<Option<BlockId>>(1)?)?)
        }
        "eth_getStorageAt" => {
            let p = p.at_most(3)?;
            let slot: JsonStorageKey = p.get(1)?;
            json(eth::storage_at(b, p.get(0)?, slot, p.get::<Option<BlockId>>(2)?)?)
        }
        "eth_call" => {
            let p = p.at_most(3)?;
            let request: TransactionRequest = p.get(0)?;
            let overrides: Option<StateOverride> = p.get(2)?;
            json(eth::call(b, request, p.get::<Option<BlockId>>(1)?, overrides)?)
        }
        "eth_estimateGas" => {
            let p = p.at_most(3)?;
            let request: TransactionRequest = p.get(0)?;
            let overrides: Option<StateOverride> = p.get(2)?;
            json(eth::estimate_gas(b, request, p.get::<Option<BlockId>>(1)?, overrides)?)
        }
        "eth_createAccessList" => {
            let p = p.at_most(3)?;
            let request: TransactionRequest = p.get(0)?;
            let overrides: Option<StateOverride> = p.get(2)?;
            json(eth::create_access_list(b, request, p.get::<Option<BlockId>>(1)?, overrides)?)
        }
        "eth_sendRawTransaction" if mode == Mode::Update => {
            let bytes: Bytes = p.at_most(1)?.get(0)?;
            json(eth::send_raw_transaction(b, &bytes)?)
        }
        "eth_getTransactionByHash" => {
            let hash: B256 = p.at_most(1)?.get(0)?;
            json(eth::transaction_by_hash(b, hash)?)
        }
        "eth_getTransactionReceipt" => {
            let hash: B256 = p.at_most(1)?.get(0)?;
            json(eth::transaction_receipt(b, hash)?)
        }
        "eth_getBlockByNumber" => {
            let p = p.at_most(2)?;
            let number: BlockNumberOrTag = p.get(0)?;
            json(eth::block(b, convert::number_tag(number), p.get(1)?)?)
        }
        "eth_getBlockByHash" => {
            let p = p.at_most(2)?;
            let hash: B256 = p.get(0)?;
            json(eth::block(b, BlockTag::Hash(hash.into()), p.get(1)?)?)
        }
        "eth_getLogs" => {
            let filter: Filter = p.at_most(1)?.get(0)?;
            json(eth::logs(b, &filter, None, None)?)
        }
        "eth_getBlockTransactionCountByHash" => {
            let hash: B256 = p.at_most(1)?.get(0)?;
            json(eth::block_transaction_count(b, BlockTag::Hash(hash.into()))?)
        }
        "eth_getBlockTransactionCountByNumber" => {
            let number: BlockNumberOrTag = p.at_most(1)?.get(0)?;
            json(eth::block_transaction_count(b, convert::number_tag(number))?)
        }
        "eth_getTransactionByBlockHashAndIndex" => {
            let p = p.at_most(2)?;
            let hash: B256 = p.get(0)?;
            let index: Index = p.get(1)?;
            json(eth::transaction_in(b, BlockTag::Hash(hash.into()), index.0)?)
        }
        "eth_getTransactionByBlockNumberAndIndex" => {
            let p = p.at_most(2)?;
            let number: BlockNumberOrTag = p.get(0)?;
            let index: Index = p.get(1)?;
            json(eth::transaction_in(b, convert::number_tag(number), index.0)?)
        }
        "eth_getUncleCountByBlockHash" => {
            let hash: B256 = p.at_most(1)?.get(0)?;
            json(eth::uncle_count(b, BlockTag::Hash(hash.into()))?)
        }
        "eth_getUncleCountByBlockNumber" => {
            let number: BlockNumberOrTag = p.at_most(1)?.get(0)?;
            json(eth::uncle_count(b, convert::number_tag(number))?)
        }
        "eth_getUncleByBlockHashAndIndex" | "eth_getUncleByBlockNumberAndIndex" => {
            json(Value::Null)
        }
        _ => Err(method_not_found(method)),
    }
}
