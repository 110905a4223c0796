//! Ethereum JSON-RPC served by the canister itself, through the IC's HTTP
//! gateway interface: wallets point at `https://<canister-id>.raw.icp0.io`
//! (or the host's gateway) with no node in between.
//!
//! [`query`] is `http_request`: it answers every read method, and hands a
//! body that sends a transaction on (`upgrade = opt true`) to [`update`],
//! `http_request_update`, which may change the chain. The methods are
//! `evm-jsonrpc`'s, the node's own: the same alloy types, conversions and
//! error codes, over this chain as their [`Backend`].

use evm_canister_api::http::{HeaderField, HttpRequest, HttpResponse, HttpUpdateRequest};
use evm_canister_api::{
    AccessListOutcome, AccountState, Address, BlockTag, BlockView, CallArgs, CallError,
    CallOutcome, ChainInfo, Estimate, FeeHistory, Hash, LogFilter, LogView, PooledTx, QueryError,
    ReceiptView, StateOverride, SubmitResult, TransactionView, TxError,
};
use evm_jsonrpc::Backend;
use evm_jsonrpc::dispatch::{self, Mode, Served};
use ic_stable_structures::Memory;
use serde_bytes::ByteBuf;
use std::convert::Infallible;

use crate::Chain;

/// The chain as JSON-RPC's backend: read-only in a query, writable in an
/// update; `now` is the message's time.
enum Access<'a, M: Memory> {
    Read(&'a Chain<M>),
    Write(&'a mut Chain<M>),
}

struct ChainBackend<'a, M: Memory> {
    chain: Access<'a, M>,
    now: u64,
}

impl<M: Memory> ChainBackend<'_, M> {
    fn chain(&self) -> &Chain<M> {
        match &self.chain {
            Access::Read(chain) => chain,
            Access::Write(chain) => chain,
        }
    }
}

impl<M: Memory> Backend for ChainBackend<'_, M> {
    type Error = Infallible;

    fn chain_info(&mut self) -> Result<ChainInfo, Infallible> {
        Ok(self.chain().info())
    }

    fn account(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<AccountState, QueryError>, Infallible> {
        Ok(self.chain().account(address.0, block))
    }

    fn code(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<ByteBuf, QueryError>, Infallible> {
        Ok(self.chain().code(address.0, block).map(|code| code.to_vec().into()))
    }

    fn storage(
        &mut self,
        address: Address,
        slot: Hash,
        block: BlockTag,
    ) -> Result<Result<Hash, QueryError>, Infallible> {
        Ok(self.chain().storage(address.0, slot.0, block).map(Hash))
    }

    fn call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<CallOutcome, CallError>, Infallible> {
        Ok(self.chain().call(&args, block, &overrides, self.now))
    }

    fn estimate_gas(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<Estimate, CallError>, Infallible> {
        Ok(self.chain().estimate_gas(&args, block, &overrides, self.now))
    }

    fn create_access_list(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<AccessListOutcome, CallError>, Infallible> {
        Ok(self.chain().create_access_list(&args, block, &overrides, self.now))
    }

    fn block(&mut self, block: BlockTag, full: bool) -> Result<Option<BlockView>, Infallible> {
        Ok(self.chain().block(block, full))
    }

    fn transaction(&mut self, hash: Hash) -> Result<Option<TransactionView>, Infallible> {
        Ok(self.chain().transaction(hash.0))
    }

    fn pooled_transaction(&mut self, hash: Hash) -> Result<Option<PooledTx>, Infallible> {
        Ok(self.chain().pooled_transaction(hash.0))
    }

    fn receipt(&mut self, hash: Hash) -> Result<Option<ReceiptView>, Infallible> {
        Ok(self.chain().receipt(hash.0))
    }

    fn logs(&mut self, filter: LogFilter) -> Result<Result<Vec<LogView>, QueryError>, Infallible> {
        Ok(self.chain().logs(&filter))
    }

    fn fee_history(
        &mut self,
        count: u64,
        newest: BlockTag,
        percentiles: Vec<f64>,
    ) -> Result<Result<FeeHistory, QueryError>, Infallible> {
        Ok(self.chain().fee_history(count, newest, &percentiles))
    }

    fn send_raw_transaction(
        &mut self,
        raw: &[u8],
    ) -> Result<Result<SubmitResult, TxError>, Infallible> {
        Ok(match &mut self.chain {
            Access::Write(chain) => chain.submit(raw, self.now),
            // `dispatch` sends update methods to `http_request_update`.
            Access::Read(_) => {
                Err(TxError::Malformed("a query cannot send a transaction".to_owned()))
            }
        })
    }
}

/// Headers every response carries: JSON-RPC is called from web pages
/// (MetaMask's, a dapp's) on other origins.
fn cors() -> Vec<HeaderField> {
    vec![
        ("access-control-allow-origin".into(), "*".into()),
        ("access-control-allow-methods".into(), "POST, GET, OPTIONS".into()),
        ("access-control-allow-headers".into(), "content-type".into()),
        ("access-control-max-age".into(), "86400".into()),
    ]
}

fn response(status_code: u16, content_type: &str, body: Vec<u8>) -> HttpResponse {
    let mut headers = cors();
    headers.push(("content-type".into(), content_type.into()));
    HttpResponse { status_code, headers, body: body.into(), upgrade: None }
}

/// Answers an HTTP request: JSON-RPC for `POST`, CORS pre-flight for
/// `OPTIONS`, a line saying what this is for `GET`.
fn serve(
    backend: &mut ChainBackend<'_, impl Memory>,
    method: &str,
    body: &[u8],
    mode: Mode,
) -> HttpResponse {
    match method.to_ascii_uppercase().as_str() {
        "POST" => match dispatch::serve(backend, body, mode) {
            Served::Body(body) => response(200, "application/json", body),
            Served::Upgrade => HttpResponse {
                upgrade: Some(true),
                ..response(200, "application/json", Vec::new())
            },
        },
        "OPTIONS" => response(204, "text/plain", Vec::new()),
        "GET" | "HEAD" => {
            let info = backend.chain().info();
            let text = format!(
                "Canister EVM: Ethereum JSON-RPC (POST), chain id {}, block {}\n",
                info.chain_id, info.latest_block
            );
            response(200, "text/plain; charset=utf-8", text.into_bytes())
        }
        _ => {
            let mut answer = response(405, "text/plain", b"POST JSON-RPC here\n".to_vec());
            answer.headers.push(("allow".into(), "POST, GET, OPTIONS".into()));
            answer
        }
    }
}

/// `http_request`: a query.
pub fn query<M: Memory>(chain: &Chain<M>, request: &HttpRequest, now: u64) -> HttpResponse {
    let mut backend = ChainBackend { chain: Access::Read(chain), now };
    serve(&mut backend, &request.method, &request.body, Mode::Query)
}

/// `http_request_update`: an update, after the query asked for one.
pub fn update<M: Memory>(
    chain: &mut Chain<M>,
    request: &HttpUpdateRequest,
    now: u64,
) -> HttpResponse {
    let mut backend = ChainBackend { chain: Access::Write(chain), now };
    serve(&mut backend, &request.method, &request.body, Mode::Update)
}
