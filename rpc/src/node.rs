//! The node: one EVM canister installed in the host, and typed access to its
//! Candid methods.

use std::time::{SystemTime, UNIX_EPOCH};

use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use canister_host::{Canister, CanisterSettings, Execution, Host, HostConfig, MessageEnv};
use evm_canister_api::{
    AccountState, Address, BlockTag, BlockView, CallArgs, CallError, CallOutcome, ChainInfo,
    Estimate, FeeHistory, Hash, InitArgs, LogFilter, LogView, QueryError, ReceiptView,
    SubmitResult, TransactionView, TxError,
};
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

/// Why the node could not answer, apart from what the canister itself says.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("canister call failed: {0}")]
    Call(#[from] canister_host::CallError),
    #[error("cannot encode the call: {0}")]
    Encode(candid::Error),
    #[error("the canister's reply does not decode: {0}")]
    Decode(candid::Error),
}

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub genesis: InitArgs,
    pub host: HostConfig,
}

/// A transaction the canister accepted, and what it cost.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub result: SubmitResult,
    /// Wasm instructions the canister executed for it.
    pub instructions: u64,
}

/// The EVM canister running in a host.
pub struct Node {
    canister: Canister,
    /// Principal of the (anonymous) user all calls come from.
    caller: Vec<u8>,
    /// Time of the last message, in nanoseconds; never goes backwards.
    last_time: u64,
    /// Instructions `canister_init` took.
    install_instructions: u64,
}

impl Node {
    /// Compiles the canister, installs it with the genesis and returns the node.
    pub fn start(wasm: &[u8], config: NodeConfig) -> anyhow::Result<Self> {
        let host = Host::new(config.host)?;
        let module = host.compile(wasm)?;
        let arg = candid::encode_one(&config.genesis)?;
        let caller = Principal::anonymous().as_slice().to_vec();
        let time = now();
        let env = MessageEnv { caller: caller.clone(), time };
        let (canister, execution) =
            Canister::install(&host, module, CanisterSettings::default(), &arg, &env)?;
        Ok(Self { canister, caller, last_time: time, install_instructions: execution.instructions })
    }

    pub fn install_instructions(&self) -> u64 {
        self.install_instructions
    }

    /// The environment of the next message: wall-clock time, made monotonic.
    fn env(&mut self) -> MessageEnv {
        self.last_time = now().max(self.last_time + 1);
        MessageEnv { caller: self.caller.clone(), time: self.last_time }
    }

    fn query<A, R>(&mut self, method: &str, args: A) -> Result<R, NodeError>
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        let arg = candid::encode_args(args).map_err(NodeError::Encode)?;
        let env = self.env();
        let execution = self.canister.query(method, &arg, &env)?;
        decode(&execution)
    }

    fn update<A, R>(&mut self, method: &str, args: A) -> Result<(R, Execution), NodeError>
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        let arg = candid::encode_args(args).map_err(NodeError::Encode)?;
        let env = self.env();
        let execution = self.canister.update(method, &arg, &env)?;
        let reply = decode(&execution)?;
        Ok((reply, execution))
    }

    pub fn send_raw_transaction(
        &mut self,
        raw: &[u8],
    ) -> Result<Result<Submitted, TxError>, NodeError> {
        let (result, execution): (Result<SubmitResult, TxError>, _) =
            self.update("send_raw_transaction", (ByteBuf::from(raw),))?;
        Ok(result.map(|result| {
            tracing::info!(
                tx = %result.tx_hash,
                block = result.block_number,
                gas = result.gas_used,
                instructions = execution.instructions,
                "transaction included"
            );
            Submitted { result, instructions: execution.instructions }
        }))
    }

    pub fn chain_info(&mut self) -> Result<ChainInfo, NodeError> {
        self.query("chain_info", ())
    }

    pub fn account(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<AccountState, QueryError>, NodeError> {
        self.query("get_account", (address, block))
    }

    pub fn code(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<ByteBuf, QueryError>, NodeError> {
        self.query("get_code", (address, block))
    }

    pub fn storage(
        &mut self,
        address: Address,
        slot: Hash,
        block: BlockTag,
    ) -> Result<Result<Hash, QueryError>, NodeError> {
        self.query("get_storage", (address, slot, block))
    }

    pub fn call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
    ) -> Result<Result<CallOutcome, CallError>, NodeError> {
        self.query("call", (args, block))
    }

    pub fn estimate_gas(
        &mut self,
        args: CallArgs,
        block: BlockTag,
    ) -> Result<Result<Estimate, CallError>, NodeError> {
        self.query("estimate_gas", (args, block))
    }

    pub fn block(&mut self, block: BlockTag, full: bool) -> Result<Option<BlockView>, NodeError> {
        self.query("get_block", (block, full))
    }

    pub fn transaction(&mut self, hash: Hash) -> Result<Option<TransactionView>, NodeError> {
        self.query("get_transaction", (hash,))
    }

    pub fn receipt(&mut self, hash: Hash) -> Result<Option<ReceiptView>, NodeError> {
        self.query("get_receipt", (hash,))
    }

    pub fn logs(
        &mut self,
        filter: LogFilter,
    ) -> Result<Result<Vec<LogView>, QueryError>, NodeError> {
        self.query("get_logs", (filter,))
    }

    pub fn fee_history(
        &mut self,
        count: u64,
        newest: BlockTag,
        percentiles: Vec<f64>,
    ) -> Result<Result<FeeHistory, QueryError>, NodeError> {
        self.query("fee_history", (count, newest, percentiles))
    }
}

fn decode<R: CandidType + DeserializeOwned>(execution: &Execution) -> Result<R, NodeError> {
    let reply = execution.reply()?;
    candid::decode_one(reply).map_err(NodeError::Decode)
}

/// Nanoseconds since 1970, as `ic0.time` reports them.
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
