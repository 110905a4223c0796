//! Messages that commit nothing: `eth_call`, `eth_estimateGas`,
//! `eth_createAccessList`, and the unsigned message's transaction
//! environment.

use alloy_eips::eip7702::SignedAuthorization;
use alloy_evm::rpc::{CallFees, CallFeesError};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_rlp::Decodable;
use evm_canister_api::{
    AccessListOutcome, BlockTag, CallArgs, CallError, CallOutcome, Estimate, QueryError,
    StateOverride, TxError, Wei,
};
use ic_stable_structures::Memory;
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::context_interface::either::Either;

use super::Chain;
use super::overlay::Overlay;
use crate::evm::{self, BlockContext, Mode};
use crate::store::state::StateAt;
use revm::DatabaseRef;
use std::convert::Infallible;

impl<M: Memory> Chain<M> {
    /// Executes a message without committing it (`eth_call`), on the state
    /// at `tag` changed by `overrides`.
    pub fn call(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        overrides: &[StateOverride],
        now: u64,
    ) -> Result<CallOutcome, CallError> {
        self.with_message(args, tag, overrides, now, |context, db, tx| {
            self.run_call(tx, context, db, checks_nonce(args, tag)).map_err(CallError::Tx)
        })
    }

    /// The access list a message would use, and its gas with that list
    /// (`eth_createAccessList`).
    pub fn create_access_list(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        overrides: &[StateOverride],
        now: u64,
    ) -> Result<AccessListOutcome, CallError> {
        let (list, result) = self.with_message(args, tag, overrides, now, |context, db, tx| {
            let mode = Mode::call(&tx, checks_nonce(args, tag));
            evm::access_list(db, self.chain_id(), self.spec(), context, tx, mode)
                .map_err(CallError::Tx)
        })?;
        let error = match &result {
            ExecutionResult::Success { .. } => None,
            ExecutionResult::Revert { .. } => Some("execution reverted".to_owned()),
            ExecutionResult::Halt { reason, .. } => Some(evm::halt_reason(reason).to_string()),
        };
        Ok(AccessListOutcome {
            access_list: list
                .0
                .into_iter()
                .map(|item| evm_canister_api::AccessListItem {
                    address: item.address.into(),
                    storage_keys: item.storage_keys.into_iter().map(Into::into).collect(),
                })
                .collect(),
            gas_used: result.tx_gas_used(),
            error,
        })
    }

    /// The lowest gas limit at which a message succeeds (`eth_estimateGas`).
    pub fn estimate_gas(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        overrides: &[StateOverride],
        now: u64,
    ) -> Result<Estimate, CallError> {
        self.with_message(args, tag, overrides, now, |context, db, tx| {
            let check_nonce = checks_nonce(args, tag);
            let run = |gas_limit: u64| {
                let tx = TxEnv { gas_limit, ..tx.clone() };
                self.run_call(tx, context, db, check_nonce)
            };
            let cap = tx.gas_limit;
            let outcome = run(cap).map_err(CallError::Tx)?;
            let CallOutcome::Success { gas_used, .. } = outcome else {
                return Ok(Estimate::Failure(outcome));
            };
            let succeeds = |gas: u64| matches!(run(gas), Ok(CallOutcome::Success { .. }));
            // A limit below what the message used (after refunds) cannot work.
            let mut lo = gas_used.saturating_sub(1);
            let mut hi = cap;
            // Most messages need little more than they use: the stipend of a
            // nested call and the 63/64 rule account for the difference.
            let optimistic = ((gas_used + 2_300) * 64 / 63).min(hi);
            if gas_used < hi && succeeds(gas_used) {
                hi = gas_used;
            } else if optimistic < hi {
                if succeeds(optimistic) {
                    hi = optimistic;
                } else {
                    lo = optimistic;
                }
            }
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                if succeeds(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Ok(Estimate::Gas(hi))
        })
    }

    /// Runs `f` with what every message needs: the block context at `tag`,
    /// the state there changed by `overrides`, and the message's
    /// transaction environment.
    pub(super) fn with_message<R>(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        overrides: &[StateOverride],
        now: u64,
        f: impl FnOnce(&BlockContext, &Overlay<&StateAt<'_, M, Self>>, TxEnv) -> Result<R, CallError>,
    ) -> Result<R, CallError> {
        let (context, state_block) = self.call_context(tag, now)?;
        let state = self.state_at(state_block);
        let db = Overlay::new(&state, overrides).map_err(CallError::Query)?;
        let tx = self.call_tx(args, &context, &db)?;
        f(&context, &db, tx)
    }

    /// The block context and state a call at `tag` runs with.
    fn call_context(
        &self,
        tag: BlockTag,
        now: u64,
    ) -> Result<(BlockContext, Option<u64>), CallError> {
        if tag == BlockTag::Pending {
            return Ok((self.next_block(now), None));
        }
        let state_block = self.state_block(tag).map_err(CallError::Query)?;
        let header = match state_block {
            None => self.head.clone(),
            Some(number) => self.header(number),
        };
        Ok((Self::block_context(&header), state_block))
    }

    /// The transaction environment of an unsigned message.
    fn call_tx(
        &self,
        args: &CallArgs,
        context: &BlockContext,
        db: &impl DatabaseRef<Error = Infallible>,
    ) -> Result<TxEnv, CallError> {
        let account = |address: Address| match db.basic_ref(address) {
            Ok(info) => info.unwrap_or_default(),
            Err(never) => match never {},
        };
        let invalid = |msg: String| CallError::Query(QueryError::InvalidArgument(msg));
        let to_u128 = |wei: &Wei, what: &str| -> Result<u128, CallError> {
            u128::try_from(wei.0).map_err(|_| invalid(format!("{what} does not fit in 128 bits")))
        };
        let caller = args.from.map(Address::from).unwrap_or_default();
        let value = args.value.map(|v| v.0).unwrap_or_default();
        // alloy-evm's `CallFees` (what reth does): which fee fields go
        // together, and the price the message pays.
        let base_fee = U256::from(context.base_fee);
        let fees = CallFees::ensure_fees(
            args.gas_price.map(|wei| wei.0),
            args.max_fee_per_gas.map(|wei| wei.0),
            args.max_priority_fee_per_gas.map(|wei| wei.0),
            base_fee,
            None,
            None,
            None,
        )
        .map_err(|error| match error {
            CallFeesError::FeeCapTooLow => CallError::Tx(TxError::FeeCapTooLow {
                max_fee: args.max_fee_per_gas.unwrap_or_default(),
                base_fee: Wei::from(context.base_fee),
            }),
            CallFeesError::TipAboveFeeCap => CallError::Tx(TxError::TipAboveFeeCap),
            other => invalid(other.to_string()),
        })?;
        let gas_price = u128::try_from(fees.gas_price)
            .map_err(|_| invalid("the gas price does not fit in 128 bits".to_owned()))?;
        let priority_fee = fees
            .max_priority_fee_per_gas
            .map(|tip| to_u128(&Wei(tip), "maxPriorityFeePerGas"))
            .transpose()?;
        let mut authorization_list = Vec::with_capacity(args.authorization_list.len());
        for item in &args.authorization_list {
            let auth = SignedAuthorization::decode(&mut item.as_ref())
                .map_err(|err| invalid(format!("authorization list: {err}")))?;
            authorization_list.push(Either::Left(auth));
        }
        // A message may use at most the block gas limit, as in anvil and
        // Hardhat (geth caps at its `--rpc.gascap`). Uncapped, gas is not a
        // bound on work: with 2^64 gas a modexp "pays" for a 4 GiB modulus
        // and the precompile's allocation traps the canister.
        let cap = context.gas_limit;
        let gas_limit = match args.gas {
            Some(gas) => gas.min(cap),
            None if gas_price == 0 => cap,
            None => {
                // Without an explicit limit, use what the sender can pay for.
                let balance = account(caller).balance;
                if balance < value {
                    return Err(CallError::Tx(TxError::InsufficientFunds {
                        address: caller.into(),
                        have: balance.into(),
                        want: value.into(),
                    }));
                }
                let allowance = balance.saturating_sub(value) / U256::from(gas_price);
                u64::try_from(allowance).unwrap_or(u64::MAX).min(cap)
            }
        };
        let mut tx = TxEnv {
            tx_type: 0,
            caller,
            gas_limit,
            gas_price,
            kind: args.to.map_or(TxKind::Create, |to| TxKind::Call(to.into())),
            value,
            data: Bytes::copy_from_slice(&args.input),
            nonce: args.nonce.unwrap_or_else(|| account(caller).nonce),
            chain_id: Some(self.chain_id()),
            access_list: args
                .access_list
                .iter()
                .map(|item| alloy_eips::eip2930::AccessListItem {
                    address: item.address.into(),
                    storage_keys: item.storage_keys.iter().map(|k| k.0).collect(),
                })
                .collect::<Vec<_>>()
                .into(),
            gas_priority_fee: priority_fee,
            authorization_list,
            ..Default::default()
        };
        tx.derive_tx_type().map_err(|err| invalid(format!("{err:?}")))?;
        Ok(tx)
    }

    pub(super) fn run_call(
        &self,
        tx: TxEnv,
        context: &BlockContext,
        db: &impl DatabaseRef<Error = Infallible>,
        check_nonce: bool,
    ) -> Result<CallOutcome, TxError> {
        let mode = Mode::call(&tx, check_nonce);
        let executed = evm::execute(db, self.chain_id(), self.spec(), context, tx, mode)?;
        Ok(outcome(executed.result))
    }
}

pub(super) fn outcome(result: ExecutionResult) -> CallOutcome {
    match result {
        ExecutionResult::Success { gas, output, .. } => CallOutcome::Success {
            gas_used: gas.tx_gas_used(),
            output: match output {
                Output::Call(bytes) => bytes.to_vec().into(),
                Output::Create(bytes, _) => bytes.to_vec().into(),
            },
        },
        ExecutionResult::Revert { gas, output, .. } => {
            CallOutcome::Revert { gas_used: gas.tx_gas_used(), output: output.to_vec().into() }
        }
        ExecutionResult::Halt { reason, gas, .. } => {
            CallOutcome::Halt { gas_used: gas.tx_gas_used(), reason: evm::halt_reason(&reason) }
        }
    }
}

/// Whether a message's nonce is checked: only if given, and not against
/// `pending`, whose state does not include the pool's transactions (a
/// wallet sends the nonce after its pooled ones).
pub(crate) fn checks_nonce(args: &CallArgs, tag: BlockTag) -> bool {
    args.nonce.is_some() && tag != BlockTag::Pending
}
