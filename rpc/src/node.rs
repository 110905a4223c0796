//! The node: one EVM canister installed in the host, and typed access to its
//! Candid methods.
//!
//! With a verifier ([`NodeConfig::verify_with`]) every message also runs on a
//! second canister compiled by another code generator (Winch). Replies,
//! instruction counts and state hashes must agree before either copy
//! commits; a divergence is logged as an error and the message is rejected,
//! leaving both copies as they were.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::B256;
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use canister_host::{
    Canister, CanisterSettings, Compiler, Execution, Host, HostConfig, MessageEnv,
};
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
    #[error("determinism violation, message rejected: {0}")]
    Divergence(String),
}

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub genesis: InitArgs,
    pub host: HostConfig,
    /// Run every message a second time with this compiler and compare.
    pub verify_with: Option<Compiler>,
    pub clock: Clock,
}

/// Where the time of each message (`ic0.time`) comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock, made strictly increasing.
    #[default]
    System,
    /// Starts at `start` nanoseconds and advances `step` per message: the
    /// same messages then give the same results on every run.
    Manual { start: u64, step: u64 },
}

/// What a transaction cost, in every unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCost {
    pub gas_used: u64,
    /// Wasm instructions of the update that included the transaction.
    pub instructions: u64,
    /// Cycles the canister paid for that update.
    pub cycles: u128,
    pub stable_bytes_written: u64,
}

/// A transaction the canister accepted, and what it cost.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub result: SubmitResult,
    pub cost: TxCost,
}

/// The EVM canister running in a host.
pub struct Node {
    canister: Canister,
    /// The same canister compiled by another compiler, in verify mode.
    verifier: Option<Canister>,
    /// Principal of the (anonymous) user all calls come from.
    caller: Vec<u8>,
    clock: Clock,
    /// Time of the last message, in nanoseconds; never goes backwards.
    last_time: u64,
    /// Instructions `canister_init` took.
    install_instructions: u64,
    /// What each transaction cost, by hash.
    costs: HashMap<B256, TxCost>,
}

impl Node {
    /// Compiles the canister, installs it with the genesis and returns the node.
    pub fn start(wasm: &[u8], config: NodeConfig) -> anyhow::Result<Self> {
        let arg = candid::encode_one(&config.genesis)?;
        let caller = Principal::anonymous().as_slice().to_vec();
        let time = match config.clock {
            Clock::System => now(),
            Clock::Manual { start, .. } => start,
        };
        let env = MessageEnv { caller: caller.clone(), time };
        let verifying = config.verify_with.is_some();
        let install = |host_config: HostConfig| -> anyhow::Result<(Canister, Execution)> {
            let host = Host::new(HostConfig { track_state: verifying, ..host_config })?;
            let module = host.compile(wasm)?;
            Ok(Canister::install(&host, module, CanisterSettings::default(), &arg, &env)?)
        };
        let (canister, execution) = install(config.host.clone())?;
        let verifier = match config.verify_with {
            Some(compiler) => {
                let (verifier, check) = install(HostConfig { compiler, ..config.host })?;
                compare(
                    "canister_init",
                    &execution,
                    &check,
                    canister.state_hash(),
                    verifier.state_hash(),
                )?;
                Some(verifier)
            }
            None => None,
        };
        Ok(Self {
            canister,
            verifier,
            caller,
            clock: config.clock,
            last_time: time,
            install_instructions: execution.instructions,
            costs: HashMap::new(),
        })
    }

    pub fn install_instructions(&self) -> u64 {
        self.install_instructions
    }

    /// Whether every message is cross-checked on a second compiler.
    pub fn verifying(&self) -> bool {
        self.verifier.is_some()
    }

    /// The environment of the next message.
    fn env(&mut self) -> MessageEnv {
        self.last_time = match self.clock {
            Clock::System => now().max(self.last_time + 1),
            Clock::Manual { step, .. } => self.last_time + step,
        };
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
        if let Some(verifier) = &mut self.verifier {
            let check = verifier.query(method, &arg, &env)?;
            compare(method, &execution, &check, None, None)?;
        }
        decode(&execution)
    }

    fn update<A, R>(&mut self, method: &str, args: A) -> Result<(R, Execution), NodeError>
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        let arg = candid::encode_args(args).map_err(NodeError::Encode)?;
        let env = self.env();
        let mut pending = self.canister.update_pending(method, &arg, &env)?;
        if let Some(verifier) = &mut self.verifier {
            let mut check = verifier.update_pending(method, &arg, &env)?;
            let (hash, check_hash) = (pending.state_hash(), check.state_hash());
            if let Err(divergence) =
                compare(method, pending.execution(), check.execution(), hash, check_hash)
            {
                pending.discard();
                check.discard();
                return Err(divergence);
            }
            check.commit();
        }
        let execution = pending.commit();
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
            let cost = TxCost {
                gas_used: result.gas_used,
                instructions: execution.instructions,
                cycles: execution.cycles,
                stable_bytes_written: execution.stable_bytes_written,
            };
            tracing::info!(
                tx = %result.tx_hash,
                block = result.block_number,
                gas = cost.gas_used,
                instructions = cost.instructions,
                cycles = cost.cycles,
                "transaction included"
            );
            self.costs.insert(result.tx_hash.0, cost);
            Submitted { result, cost }
        }))
    }

    /// What transaction `hash` cost, if this node included it.
    pub fn transaction_cost(&self, hash: B256) -> Option<TxCost> {
        self.costs.get(&hash).copied()
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

/// Checks that two engines executed `method` identically.
fn compare(
    method: &str,
    a: &Execution,
    b: &Execution,
    hash_a: Option<[u8; 32]>,
    hash_b: Option<[u8; 32]>,
) -> Result<(), NodeError> {
    let mut differences = Vec::new();
    if a.result != b.result {
        differences.push(format!("results differ: {:?} vs {:?}", a.result, b.result));
    }
    if a.instructions != b.instructions {
        differences.push(format!("instructions differ: {} vs {}", a.instructions, b.instructions));
    }
    if hash_a != hash_b {
        let hex = |h: Option<[u8; 32]>| h.map(alloy_primitives::hex::encode).unwrap_or_default();
        differences.push(format!("state hashes differ: {} vs {}", hex(hash_a), hex(hash_b)));
    }
    if differences.is_empty() {
        return Ok(());
    }
    let report = format!("{method}: {}", differences.join("; "));
    tracing::error!("DETERMINISM VIOLATION between compilers in {report}");
    Err(NodeError::Divergence(report))
}

fn decode<R: CandidType + DeserializeOwned>(execution: &Execution) -> Result<R, NodeError> {
    let reply = execution.reply()?;
    candid::decode_one(reply).map_err(NodeError::Decode)
}

/// Nanoseconds since 1970, as `ic0.time` reports them.
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canister_host::{Response, Trap};

    fn execution(reply: &[u8], instructions: u64) -> Execution {
        Execution {
            result: Ok(Some(Response::Reply(reply.to_vec()))),
            instructions,
            cycles: 0,
            stable_bytes_written: 0,
            debug_output: Vec::new(),
        }
    }

    #[test]
    fn any_difference_is_a_divergence() {
        let a = execution(b"x", 10);
        assert!(compare("m", &a, &a.clone(), Some([1; 32]), Some([1; 32])).is_ok());
        for (b, hash) in [
            (execution(b"y", 10), [1; 32]),
            (execution(b"x", 11), [1; 32]),
            (execution(b"x", 10), [2; 32]),
            (Execution { result: Err(Trap::Wasm("unreachable".into())), ..a.clone() }, [1; 32]),
        ] {
            let error = compare("m", &a, &b, Some([1; 32]), Some(hash)).unwrap_err();
            assert!(matches!(error, NodeError::Divergence(_)), "{error}");
        }
    }
}
