//! The one place that configures revm.
//!
//! Transactions and calls both run through [`execute`]; what differs is the
//! configuration ([`Mode`]). revm performs the transaction validation
//! (nonce, balance, fee caps, intrinsic gas, gas limits, chain id) and
//! `tx_error` translates its verdicts into the canister's [`TxError`].

use alloy_eips::eip2930::AccessList;
use alloy_eips::eip7840::BlobParams;
use alloy_primitives::{Address, B256, U256};
use alloy_rpc_types_trace::geth::{GethDebugTracerType, GethDebugTracingOptions, GethTrace};
use evm_canister_api::{TxError, Wei};
use revm::context::result::{EVMError, ExecResultAndState, ExecutionResult, InvalidTransaction};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::database_interface::WrapDatabaseRef;
use revm::handler::MainnetContext;
use revm::primitives::hardfork::SpecId;
use revm::state::EvmState;
use revm::{Database, DatabaseRef, ExecuteEvm, InspectEvm, MainBuilder, MainContext};
use revm_inspectors::access_list::AccessListInspector;
use revm_inspectors::tracing::DebugInspector;
use std::convert::Infallible;

use crate::cost_tracer::{COST_TRACER, CostTracer, Counter};

/// Hardfork of a new chain unless its genesis says otherwise. Set explicitly:
/// revm's own default is Osaka.
pub const DEFAULT_SPEC: SpecId = SpecId::PRAGUE;

/// Parses a hardfork name, ignoring case (`"prague"`, `"Cancun"`, …).
pub fn parse_spec(name: &str) -> Option<SpecId> {
    (0..=u8::MAX)
        .filter_map(SpecId::try_from_u8)
        .find(|spec| <&str>::from(*spec).eq_ignore_ascii_case(name))
}

/// How strictly a message is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A signed transaction for inclusion in a block: every check applies.
    Transaction,
    /// A transaction entering the pool: every check but the nonce's, which
    /// may be a future one. `impersonated` lets a contract be the sender, as
    /// anvil allows for impersonated accounts.
    Admission { impersonated: bool },
    /// A transaction sent as an impersonated account, for inclusion: the
    /// sender may be a contract (EIP-3607 is not applied).
    Impersonated,
    /// `eth_call` / `eth_estimateGas`: like geth, the sender may be a
    /// contract, the nonce is checked only if given, the gas limit may exceed
    /// the block's, and a zero gas price skips the base-fee check.
    Call { check_nonce: bool, check_base_fee: bool },
}

impl Mode {
    /// The mode of a call with `tx`'s fees: as geth, the base fee is
    /// checked only if the call names a price.
    pub fn call(tx: &TxEnv, check_nonce: bool) -> Self {
        let check_base_fee = tx.gas_price != 0 || tx.gas_priority_fee.unwrap_or_default() != 0;
        Self::Call { check_nonce, check_base_fee }
    }
}

/// Refuses a transaction whose gas limit is above `limit`, the gas a block
/// has (left) for it.
pub fn check_block_gas(gas: u64, limit: u64) -> Result<(), TxError> {
    if gas > limit {
        return Err(TxError::GasLimitExceedsBlock { gas, limit });
    }
    Ok(())
}

/// The block a message executes in.
#[derive(Clone, Debug)]
pub struct BlockContext {
    pub number: u64,
    pub timestamp: u64,
    pub coinbase: Address,
    pub gas_limit: u64,
    pub base_fee: u64,
    pub prevrandao: B256,
    /// Sets the blob base fee (`BLOBBASEFEE`); no blob gas is ever used.
    pub excess_blob_gas: u64,
}

/// EIP-4844 blob parameters of `spec`: EIP-7691 raised them in Prague, and
/// Osaka adds EIP-7918's reserve price to the excess blob gas rule.
pub fn blob_params(spec: SpecId) -> BlobParams {
    if spec.is_enabled_in(SpecId::OSAKA) {
        BlobParams::osaka()
    } else if spec.is_enabled_in(SpecId::PRAGUE) {
        BlobParams::prague()
    } else {
        BlobParams::cancun()
    }
}

/// revm's halt reason as the interface carries it.
pub fn halt_reason(reason: &revm::context::result::HaltReason) -> evm_canister_api::HaltReason {
    use evm_canister_api::HaltReason as Api;
    use revm::context::result::HaltReason as Revm;
    match reason {
        Revm::OutOfGas(_) => Api::OutOfGas,
        Revm::OpcodeNotFound => Api::InvalidOpcode("undefined opcode".to_owned()),
        Revm::InvalidFEOpcode => Api::InvalidOpcode("INVALID".to_owned()),
        Revm::InvalidJump => Api::InvalidJump,
        Revm::NotActivated => Api::NotActivated,
        Revm::StackUnderflow => Api::StackUnderflow,
        Revm::StackOverflow => Api::StackOverflow,
        Revm::OutOfOffset => Api::OutOfOffset,
        Revm::CreateCollision => Api::CreateCollision,
        Revm::PrecompileError => Api::PrecompileError(String::new()),
        Revm::PrecompileErrorWithContext(message) => Api::PrecompileError(message.clone()),
        Revm::NonceOverflow => Api::NonceOverflow,
        Revm::CreateContractSizeLimit => Api::CreateContractSizeLimit,
        Revm::CreateContractStartingWithEF => Api::CreateContractStartingWithEF,
        Revm::CreateInitCodeSizeLimit => Api::CreateInitCodeSizeLimit,
        Revm::StateChangeDuringStaticCall | Revm::CallNotAllowedInsideStatic => {
            Api::StateChangeDuringStaticCall
        }
        Revm::OutOfFunds => Api::OutOfFunds,
        Revm::CallTooDeep => Api::CallTooDeep,
        other => Api::Other(format!("{other:?}")),
    }
}

impl BlockContext {
    fn env(&self, blob_base_fee_update_fraction: u64) -> BlockEnv {
        BlockEnv {
            number: U256::from(self.number),
            beneficiary: self.coinbase,
            timestamp: U256::from(self.timestamp),
            gas_limit: self.gas_limit,
            basefee: self.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(self.prevrandao),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
                self.excess_blob_gas,
                blob_base_fee_update_fraction,
            )),
            ..Default::default()
        }
    }
}

/// Executes `tx` on the state `db` without committing anything.
///
/// An invalid transaction is an error; a revert or halt is a result.
pub fn execute<DB: DatabaseRef<Error = Infallible>>(
    db: DB,
    chain_id: u64,
    spec: SpecId,
    block: &BlockContext,
    tx: TxEnv,
    mode: Mode,
) -> Result<ExecResultAndState<ExecutionResult, EvmState>, TxError> {
    let mut evm = context(WrapDatabaseRef(db), chain_id, spec, block, mode).build_mainnet();
    let facts = TxFacts::new(&tx, chain_id, block);
    evm.transact(tx).map_err(|err| evm_error(err, &facts))
}

/// Checks `tx` as [`execute`] would before executing it — the environment,
/// the intrinsic gas, and the sender's balance, nonce and code against `db`
/// — without executing it: revm's own validation (`Handler::validate`),
/// which costs the same whatever the transaction would do. Inspecting an
/// ingress message must stay within the replica's 200 M instructions.
pub fn validate<DB: DatabaseRef<Error = Infallible>>(
    db: DB,
    chain_id: u64,
    spec: SpecId,
    block: &BlockContext,
    tx: TxEnv,
    mode: Mode,
) -> Result<(), TxError> {
    use revm::context::ContextSetters as _;
    use revm::handler::{EthFrame, Handler as _, MainnetHandler};
    let mut evm = context(WrapDatabaseRef(db), chain_id, spec, block, mode).build_mainnet();
    let facts = TxFacts::new(&tx, chain_id, block);
    evm.ctx.set_tx(tx);
    MainnetHandler::<_, EVMError<Infallible>, EthFrame>::default()
        .validate(&mut evm)
        .map(|_| ())
        .map_err(|err| evm_error(err, &facts))
}

/// The context a message executes in: this chain's rules, relaxed as `mode`
/// says, in `block`.
fn context<DB: Database>(
    db: DB,
    chain_id: u64,
    spec: SpecId,
    block: &BlockContext,
    mode: Mode,
) -> MainnetContext<DB> {
    // The ecrecover precompile recovers through this crate's backend.
    crate::secp256k1::install();
    let cfg = cfg_env(chain_id, spec, mode);
    let block_env = block.env(cfg.blob_base_fee_update_fraction());
    Context::mainnet().with_db(db).with_cfg(cfg).with_block(block_env)
}

/// Executes `tx` on `db` under the geth tracer `options` asks for (the
/// struct logger by default, `callTracer`, `prestateTracer`, …), through
/// revm-inspectors, without committing anything; returns the trace and the
/// state changes (for tracing the next transaction of a block after it).
#[allow(clippy::too_many_arguments)]
pub fn trace<DB: DatabaseRef<Error = Infallible> + Clone>(
    db: DB,
    chain_id: u64,
    spec: SpecId,
    block: &BlockContext,
    tx: TxEnv,
    mode: Mode,
    options: GethDebugTracingOptions,
    counter: Counter,
) -> Result<(GethTrace, EvmState), TraceError> {
    if matches!(&options.tracer, Some(GethDebugTracerType::JsTracer(name)) if name == COST_TRACER) {
        // Started before the EVM is built, as the recorded phase is.
        let tracer = CostTracer::new(counter);
        let mut evm = context(WrapDatabaseRef(db), chain_id, spec, block, mode)
            .build_mainnet_with_inspector(tracer);
        let facts = TxFacts::new(&tx, chain_id, block);
        let result = evm.inspect_tx(tx).map_err(|err| TraceError::Tx(evm_error(err, &facts)))?;
        let trace = evm.inspector.finish(result.result.tx_gas_used());
        return Ok((GethTrace::JS(trace), result.state));
    }
    let inspector = DebugInspector::new(options).map_err(|e| TraceError::Options(e.to_string()))?;
    let mut evm = context(WrapDatabaseRef(db.clone()), chain_id, spec, block, mode)
        .build_mainnet_with_inspector(inspector);
    let facts = TxFacts::new(&tx, chain_id, block);
    let result =
        evm.inspect_tx(tx.clone()).map_err(|err| TraceError::Tx(evm_error(err, &facts)))?;
    let trace = evm
        .inspector
        .get_result(None, &tx, &evm.ctx.block, &result, &mut WrapDatabaseRef(db))
        .map_err(|e| TraceError::Options(e.to_string()))?;
    Ok((trace, result.state))
}

/// The access list `tx` uses (apart from its sender, recipient and the
/// precompiles, as geth reports it) and how it executes with that list.
pub fn access_list<DB: DatabaseRef<Error = Infallible>>(
    db: DB,
    chain_id: u64,
    spec: SpecId,
    block: &BlockContext,
    mut tx: TxEnv,
    mode: Mode,
) -> Result<(AccessList, ExecutionResult), TxError> {
    let inspector = AccessListInspector::new(tx.access_list.clone());
    let mut evm = context(WrapDatabaseRef(&db), chain_id, spec, block, mode)
        .build_mainnet_with_inspector(inspector);
    let facts = TxFacts::new(&tx, chain_id, block);
    evm.inspect_tx(tx.clone()).map_err(|err| evm_error(err, &facts))?;
    let list = evm.inspector.into_access_list();
    tx.access_list = list.clone();
    if tx.tx_type == 0 && !list.is_empty() {
        tx.tx_type = 1; // a legacy transaction cannot carry an access list
    }
    let executed = execute(&db, chain_id, spec, block, tx, mode)?;
    Ok((list, executed.result))
}

/// Why a trace could not be produced.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceError {
    /// The message is invalid as a transaction.
    Tx(TxError),
    /// The tracer options are not understood.
    Options(String),
}

fn cfg_env(chain_id: u64, spec: SpecId, mode: Mode) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(spec).with_chain_id(chain_id);
    match mode {
        Mode::Transaction => {}
        Mode::Admission { impersonated } => {
            cfg.disable_nonce_check = true;
            cfg.disable_eip3607 = impersonated;
        }
        Mode::Impersonated => cfg.disable_eip3607 = true,
        Mode::Call { check_nonce, check_base_fee } => {
            cfg.disable_nonce_check = !check_nonce;
            cfg.disable_base_fee = !check_base_fee;
            cfg.disable_eip3607 = true;
            cfg.disable_block_gas_limit = true;
        }
    }
    cfg
}

fn evm_error(err: EVMError<Infallible>, facts: &TxFacts) -> TxError {
    match err {
        EVMError::Transaction(invalid) => tx_error(invalid, facts),
        EVMError::Header(header) => TxError::Rejected(header.to_string()),
        EVMError::Custom(message) => TxError::Rejected(message),
        EVMError::CustomAny(message) => TxError::Rejected(message.to_string()),
        EVMError::Database(never) => match never {},
    }
}

impl TxFacts {
    fn new(tx: &TxEnv, chain_id: u64, block: &BlockContext) -> Self {
        Self {
            sender: tx.caller,
            gas_limit: tx.gas_limit,
            max_fee: tx.gas_price,
            chain_id,
            tx_chain_id: tx.chain_id,
            block_gas_limit: block.gas_limit,
            base_fee: block.base_fee,
        }
    }
}

/// What the error messages of a refused transaction mention.
struct TxFacts {
    sender: Address,
    gas_limit: u64,
    max_fee: u128,
    chain_id: u64,
    tx_chain_id: Option<u64>,
    block_gas_limit: u64,
    base_fee: u64,
}

/// Translates revm's transaction validation errors.
fn tx_error(err: InvalidTransaction, facts: &TxFacts) -> TxError {
    use InvalidTransaction as E;
    match err {
        E::NonceTooLow { tx, state } => TxError::NonceTooLow { expected: state, got: tx },
        E::NonceTooHigh { tx, state } => TxError::NonceTooHigh { expected: state, got: tx },
        E::LackOfFundForMaxFee { fee, balance } => TxError::InsufficientFunds {
            address: facts.sender.into(),
            have: Wei(*balance),
            want: Wei(*fee),
        },
        E::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => {
            TxError::IntrinsicGasTooLow { gas: gas_limit, minimum: initial_gas }
        }
        E::GasFloorMoreThanGasLimit { gas_floor, gas_limit } => {
            TxError::IntrinsicGasTooLow { gas: gas_limit, minimum: gas_floor }
        }
        E::CallerGasLimitMoreThanBlock => {
            TxError::GasLimitExceedsBlock { gas: facts.gas_limit, limit: facts.block_gas_limit }
        }
        E::TxGasLimitGreaterThanCap { gas_limit, cap } => {
            TxError::GasLimitTooHigh { gas: gas_limit, cap }
        }
        E::GasPriceLessThanBasefee => TxError::FeeCapTooLow {
            max_fee: Wei::from(facts.max_fee),
            base_fee: Wei::from(facts.base_fee),
        },
        E::PriorityFeeGreaterThanMaxFee => TxError::TipAboveFeeCap,
        E::RejectCallerWithCode => TxError::SenderNotEoa(facts.sender.into()),
        E::CreateInitCodeSizeLimit => TxError::InitCodeTooLarge,
        E::InvalidChainId | E::MissingChainId => {
            TxError::InvalidChainId { expected: facts.chain_id, got: facts.tx_chain_id }
        }
        E::Eip2930NotSupported => TxError::TypeNotSupported(1),
        E::Eip1559NotSupported => TxError::TypeNotSupported(2),
        E::Eip4844NotSupported
        | E::BlobCreateTransaction
        | E::EmptyBlobs
        | E::TooManyBlobs { .. }
        | E::BlobVersionNotSupported
        | E::BlobVersionedHashesNotSupported
        | E::MaxFeePerBlobGasNotSupported
        | E::BlobGasPriceGreaterThanMax { .. } => TxError::TypeNotSupported(3),
        E::Eip7702NotSupported | E::AuthorizationListNotSupported => TxError::TypeNotSupported(4),
        other => TxError::Rejected(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardfork_names_parse_in_any_case() {
        assert_eq!(parse_spec("prague"), Some(SpecId::PRAGUE));
        assert_eq!(parse_spec("Cancun"), Some(SpecId::CANCUN));
        assert_eq!(parse_spec("SHANGHAI"), Some(SpecId::SHANGHAI));
        assert_eq!(parse_spec("nonsense"), None);
    }
}
