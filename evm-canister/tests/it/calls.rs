//! `call` and `estimate_gas`: execution without a transaction.

use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::{SolCall, SolError};
use evm_canister_api::{BlockTag, CallArgs, CallError, CallOutcome, Estimate, QueryError, TxError};

use crate::dev::*;

fn call(dev: &Dev, args: CallArgs) -> CallOutcome {
    dev.chain.call(&args, BlockTag::Latest, dev.now).unwrap()
}

#[test]
fn a_call_returns_output_and_commits_nothing() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let head = dev.head();
    let input = storeCall { key: U256::from(3), value: U256::from(4) }.abi_encode();
    let outcome =
        call(&dev, CallArgs { to: Some(tester.into()), input: input.into(), ..Default::default() });
    assert!(matches!(outcome, CallOutcome::Success { .. }), "{outcome:?}");
    let read = valuesCall { key: U256::from(3) }.abi_encode();
    let CallOutcome::Success { output, .. } =
        call(&dev, CallArgs { to: Some(tester.into()), input: read.into(), ..Default::default() })
    else {
        panic!()
    };
    assert_eq!(U256::from_be_slice(&output), U256::ZERO, "the first call was not committed");
    assert_eq!(dev.head(), head);
}

#[test]
fn reverts_return_their_data() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let input = checkLimitCall { amount: U256::from(5), limit: U256::from(2) }.abi_encode();
    let outcome =
        call(&dev, CallArgs { to: Some(tester.into()), input: input.into(), ..Default::default() });
    let CallOutcome::Revert { output, .. } = outcome else { panic!("{outcome:?}") };
    let error = TooLarge::abi_decode(&output).unwrap();
    assert_eq!((error.requested, error.limit), (U256::from(5), U256::from(2)));

    // A reason string is an Error(string) revert.
    let input = onlyOwnerCall {}.abi_encode();
    let from = Some(dev.address(1).into());
    let outcome = call(
        &dev,
        CallArgs { from, to: Some(tester.into()), input: input.into(), ..Default::default() },
    );
    let CallOutcome::Revert { output, .. } = outcome else { panic!("{outcome:?}") };
    let reason = alloy_sol_types::Revert::abi_decode(&output).unwrap().reason;
    assert_eq!(reason, "Tester: caller is not the owner");
}

#[test]
fn a_plain_transfer_estimates_exactly_21000() {
    let dev = Dev::new();
    let args = CallArgs {
        from: Some(dev.address(0).into()),
        to: Some(Address::repeat_byte(1).into()),
        value: Some(ether(1).into()),
        ..Default::default()
    };
    assert_eq!(dev.chain.estimate_gas(&args, BlockTag::Latest, dev.now), Ok(Estimate::Gas(21_000)));
}

#[test]
fn an_estimate_is_the_least_gas_that_succeeds() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let input = storeCall { key: U256::from(1), value: U256::from(2) }.abi_encode();
    let args = CallArgs {
        from: Some(dev.address(0).into()),
        to: Some(tester.into()),
        input: input.clone().into(),
        ..Default::default()
    };
    let Ok(Estimate::Gas(gas)) = dev.chain.estimate_gas(&args, BlockTag::Latest, dev.now) else {
        panic!()
    };
    assert!(gas > 21_000);
    let at = |gas: u64| call(&dev, CallArgs { gas: Some(gas), ..args.clone() });
    assert!(matches!(at(gas), CallOutcome::Success { .. }));
    assert!(!matches!(at(gas - 1), CallOutcome::Success { .. }));
    // And a transaction with exactly that gas succeeds.
    let mut tx = dev.tx(0, TxKind::Call(tester), U256::ZERO, input);
    tx.gas_limit = gas;
    assert!(dev.send(0, tx).unwrap().success);
}

#[test]
fn estimating_a_revert_reports_it() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let input = divideCall { a: U256::from(1), b: U256::ZERO }.abi_encode();
    let args = CallArgs { to: Some(tester.into()), input: input.into(), ..Default::default() };
    let Ok(Estimate::Failure(CallOutcome::Revert { output, .. })) =
        dev.chain.estimate_gas(&args, BlockTag::Latest, dev.now)
    else {
        panic!()
    };
    // Panic(0x12): division by zero.
    assert_eq!(&output[..4], &[0x4e, 0x48, 0x7b, 0x71]);
    assert_eq!(output[35], 0x12);
}

#[test]
fn a_call_at_an_earlier_block_sees_that_state() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let before = dev.head();
    let input = storeCall { key: U256::from(1), value: U256::from(7) }.abi_encode();
    dev.send(0, dev.tx(0, TxKind::Call(tester), U256::ZERO, input)).unwrap();
    let read = CallArgs {
        to: Some(tester.into()),
        input: valuesCall { key: U256::from(1) }.abi_encode().into(),
        ..Default::default()
    };
    let value_at = |tag| match dev.chain.call(&read, tag, dev.now).unwrap() {
        CallOutcome::Success { output, .. } => U256::from_be_slice(&output),
        other => panic!("{other:?}"),
    };
    assert_eq!(value_at(BlockTag::Latest), U256::from(7));
    assert_eq!(value_at(BlockTag::Number(before)), U256::ZERO);
    assert_eq!(
        dev.chain.call(&read, BlockTag::Number(99), dev.now),
        Err(CallError::Query(QueryError::BlockNotFound))
    );
}

#[test]
fn a_call_checks_funds_for_its_value() {
    let dev = Dev::new();
    let args = CallArgs {
        from: Some(Address::repeat_byte(0xee).into()),
        to: Some(Address::repeat_byte(1).into()),
        value: Some(ether(1).into()),
        ..Default::default()
    };
    let error = dev.chain.call(&args, BlockTag::Latest, dev.now).unwrap_err();
    assert!(matches!(error, CallError::Tx(TxError::InsufficientFunds { .. })), "{error:?}");
}

#[test]
fn a_keccak_loop_runs_in_a_call() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let input = keccakLoopCall { seed: Default::default(), rounds: U256::from(1000) }.abi_encode();
    let CallOutcome::Success { output, gas_used } =
        call(&dev, CallArgs { to: Some(tester.into()), input: input.into(), ..Default::default() })
    else {
        panic!()
    };
    let mut expected = alloy_primitives::B256::ZERO;
    for _ in 0..1000 {
        expected = alloy_primitives::keccak256(expected);
    }
    assert_eq!(&output[..], expected.as_slice());
    assert!(gas_used > 1000 * 36);
}
