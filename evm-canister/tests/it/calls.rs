//! `call` and `estimate_gas`: execution without a transaction.

use alloy_primitives::B256;
use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::{SolCall, SolError};
use evm_canister_api::{
    BlockTag, CallArgs, CallError, CallOutcome, Estimate, Hash, QueryError, StateOverride, TxError,
    Wei,
};

use crate::dev::*;

fn call(dev: &Dev, args: CallArgs) -> CallOutcome {
    dev.chain.call(&args, BlockTag::Latest, &[], dev.now).unwrap()
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
    assert_eq!(
        dev.chain.estimate_gas(&args, BlockTag::Latest, &[], dev.now),
        Ok(Estimate::Gas(21_000))
    );
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
    let Ok(Estimate::Gas(gas)) = dev.chain.estimate_gas(&args, BlockTag::Latest, &[], dev.now)
    else {
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
        dev.chain.estimate_gas(&args, BlockTag::Latest, &[], dev.now)
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
    let value_at = |tag| match dev.chain.call(&read, tag, &[], dev.now).unwrap() {
        CallOutcome::Success { output, .. } => U256::from_be_slice(&output),
        other => panic!("{other:?}"),
    };
    assert_eq!(value_at(BlockTag::Latest), U256::from(7));
    assert_eq!(value_at(BlockTag::Number(before)), U256::ZERO);
    assert_eq!(
        dev.chain.call(&read, BlockTag::Number(99), &[], dev.now),
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
    let error = dev.chain.call(&args, BlockTag::Latest, &[], dev.now).unwrap_err();
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

#[test]
fn state_overrides_change_what_a_call_sees_and_nothing_else() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let read = |key: u64| CallArgs {
        to: Some(tester.into()),
        input: valuesCall { key: U256::from(key) }.abi_encode().into(),
        ..Default::default()
    };
    let value = |dev: &Dev, key: u64, overrides: &[StateOverride]| match dev
        .chain
        .call(&read(key), BlockTag::Latest, overrides, dev.now)
        .unwrap()
    {
        CallOutcome::Success { output, .. } => U256::from_be_slice(&output),
        other => panic!("{other:?}"),
    };
    // `values` is the first state variable: slot keccak(key ‖ 0) of the mapping.
    let slot = |key: u64| {
        let mut preimage = [0u8; 64];
        preimage[..32].copy_from_slice(&U256::from(key).to_be_bytes::<32>());
        Hash(alloy_primitives::keccak256(preimage))
    };
    let store = storeCall { key: U256::from(2), value: U256::from(20) }.abi_encode();
    dev.send(0, dev.tx(0, TxKind::Call(tester), U256::ZERO, store)).unwrap();
    assert_eq!(value(&dev, 2, &[]), U256::from(20));

    let diff = StateOverride {
        address: tester.into(),
        state_diff: vec![(slot(1), Hash(B256::with_last_byte(11)))],
        ..Default::default()
    };
    assert_eq!(value(&dev, 1, std::slice::from_ref(&diff)), U256::from(11));
    assert_eq!(value(&dev, 2, &[diff]), U256::from(20), "stateDiff keeps other slots");
    let replaced = StateOverride {
        address: tester.into(),
        state: Some(vec![(slot(1), Hash(B256::with_last_byte(11)))]),
        ..Default::default()
    };
    assert_eq!(value(&dev, 2, &[replaced]), U256::ZERO, "state replaces all storage");
    assert_eq!(value(&dev, 2, &[]), U256::from(20), "nothing was written");

    // A poor sender made rich, and code put at an empty address.
    let poor = Address::repeat_byte(0x77);
    let pay = CallArgs {
        from: Some(poor.into()),
        to: Some(Address::repeat_byte(0x42).into()),
        value: Some(ether(5).into()),
        ..Default::default()
    };
    assert!(dev.chain.call(&pay, BlockTag::Latest, &[], dev.now).is_err());
    let rich = StateOverride {
        address: poor.into(),
        balance: Some(ether(6).into()),
        ..Default::default()
    };
    let outcome =
        dev.chain.call(&pay, BlockTag::Latest, std::slice::from_ref(&rich), dev.now).unwrap();
    assert!(matches!(outcome, CallOutcome::Success { .. }), "{outcome:?}");
    let estimate = dev.chain.estimate_gas(&pay, BlockTag::Latest, &[rich], dev.now);
    assert_eq!(estimate, Ok(Estimate::Gas(21_000)));
    let code = StateOverride {
        address: poor.into(),
        // PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
        code: Some(vec![0x60, 0x2a, 0x60, 0, 0x52, 0x60, 0x20, 0x60, 0, 0xf3].into()),
        ..Default::default()
    };
    let args = CallArgs { to: Some(poor.into()), ..Default::default() };
    let CallOutcome::Success { output, .. } =
        dev.chain.call(&args, BlockTag::Latest, &[code], dev.now).unwrap()
    else {
        panic!()
    };
    assert_eq!(U256::from_be_slice(&output), U256::from(42));

    let both = StateOverride {
        state: Some(vec![]),
        state_diff: vec![(slot(1), slot(1))],
        ..rich_of(poor)
    };
    let error = dev.chain.call(&args, BlockTag::Latest, &[both], dev.now).unwrap_err();
    assert!(matches!(error, CallError::Query(QueryError::InvalidArgument(_))), "{error:?}");
}

fn rich_of(address: Address) -> StateOverride {
    StateOverride { address: address.into(), ..Default::default() }
}

#[test]
fn an_access_list_lists_what_a_message_touches() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let args = CallArgs {
        from: Some(dev.address(0).into()),
        to: Some(tester.into()),
        input: storeCall { key: U256::from(1), value: U256::from(2) }.abi_encode().into(),
        ..Default::default()
    };
    let outcome = dev.chain.create_access_list(&args, BlockTag::Latest, &[], dev.now).unwrap();
    // The recipient is listed with the slots it reads and writes (as reth
    // does); the sender is not.
    let listed: Vec<Address> = outcome.access_list.iter().map(|item| item.address.0).collect();
    assert_eq!(listed, vec![tester]);
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(&U256::from(1).to_be_bytes::<32>());
    let slot = Hash(alloy_primitives::keccak256(preimage));
    assert!(outcome.access_list[0].storage_keys.contains(&slot));
    assert_eq!(outcome.error, None);
    // Its gas is that of the message carrying the list: the listed
    // address and keys are paid for up front (EIP-2930), as geth reports.
    let with_list =
        CallArgs { access_list: outcome.access_list.clone(), gas: Some(1_000_000), ..args.clone() };
    let CallOutcome::Success { gas_used, .. } =
        dev.chain.call(&with_list, BlockTag::Latest, &[], dev.now).unwrap()
    else {
        panic!()
    };
    assert_eq!(outcome.gas_used, gas_used);

    // Paying a third account touches it: it is listed.
    let carol = Address::repeat_byte(0xca);
    dev.send(0, dev.tx(0, TxKind::Call(tester), ether(1), vec![])).unwrap();
    let pay = CallArgs {
        input: payCall { to: carol, amount: U256::from(1) }.abi_encode().into(),
        ..args.clone()
    };
    let outcome = dev.chain.create_access_list(&pay, BlockTag::Latest, &[], dev.now).unwrap();
    let listed: Vec<Address> = outcome.access_list.iter().map(|item| item.address.0).collect();
    assert!(listed.contains(&carol), "{listed:?}");

    // A failing message reports why.
    let fail = CallArgs {
        input: checkLimitCall { amount: U256::from(5), limit: U256::from(2) }.abi_encode().into(),
        ..args
    };
    let outcome = dev.chain.create_access_list(&fail, BlockTag::Latest, &[], dev.now).unwrap();
    assert_eq!(outcome.error.as_deref(), Some("execution reverted"));
}

/// A message's gas is capped at the block gas limit: gas is what bounds the
/// work a message may do, so 2^64 of it must not reach the EVM.
#[test]
fn call_gas_is_capped_at_the_block_gas_limit() {
    let dev = Dev::new();
    // GAS PUSH0 MSTORE PUSH1 32 PUSH0 RETURN: returns the gas left.
    let gas_left = CallArgs {
        input: alloy_primitives::hex::decode("5a5f5260205ff3").unwrap().into(),
        gas: Some(u64::MAX),
        ..Default::default()
    };
    let CallOutcome::Success { output, .. } = call(&dev, gas_left) else { panic!() };
    let left = U256::from_be_slice(&output);
    assert!(left < U256::from(30_000_000), "GAS read {left} with the cap at 30,000,000");

    // modexp with a 4 GiB modulus: "affordable" with 2^64 gas, and its
    // allocation would trap; with the cap it is out of gas.
    let mut input = vec![0u8; 96];
    input[31] = 1; // base length
    input[63] = 1; // exponent length
    input[91] = 1; // modulus length: 2^32
    input.extend_from_slice(&[2, 3]);
    let modexp = CallArgs {
        to: Some(Address::with_last_byte(5).into()),
        input: input.into(),
        gas: Some(u64::MAX),
        ..Default::default()
    };
    let outcome = call(&dev, modexp.clone());
    assert!(matches!(outcome, CallOutcome::Halt { .. }), "{outcome:?}");
    let estimate = dev.chain.estimate_gas(&modexp, BlockTag::Latest, &[], dev.now);
    assert!(matches!(estimate, Ok(Estimate::Failure(CallOutcome::Halt { .. }))), "{estimate:?}");

    // Estimates are capped the same way.
    let transfer = CallArgs {
        from: Some(dev.address(0).into()),
        to: Some(Address::repeat_byte(1).into()),
        gas: Some(u64::MAX),
        ..Default::default()
    };
    assert_eq!(
        dev.chain.estimate_gas(&transfer, BlockTag::Latest, &[], dev.now),
        Ok(Estimate::Gas(21_000))
    );
}

/// Fee fields are checked as geth and reth check them (alloy-evm's
/// `CallFees`): legacy and EIP-1559 fields do not mix, a tip above the fee
/// cap and a fee cap below the base fee are refused, and the price paid is
/// the effective one.
#[test]
fn call_fee_fields_are_checked_together() {
    let dev = Dev::new();
    let base_fee = dev.chain.info().next_base_fee;
    let gwei = |n: u64| Some(Wei::from(U256::from(n) * U256::from(1_000_000_000u64)));
    // GASPRICE PUSH0 MSTORE PUSH1 32 PUSH0 RETURN: returns the price paid.
    let price = CallArgs {
        from: Some(dev.address(0).into()),
        input: alloy_primitives::hex::decode("3a5f5260205ff3").unwrap().into(),
        ..Default::default()
    };
    let refused = |args: CallArgs| {
        dev.chain.call(&args, BlockTag::Pending, &[], dev.now).expect_err("refused")
    };
    // gasPrice with a tip used to drop the tip silently.
    let mixed =
        CallArgs { gas_price: gwei(10), max_priority_fee_per_gas: gwei(1), ..price.clone() };
    let CallError::Query(QueryError::InvalidArgument(message)) = refused(mixed) else { panic!() };
    assert!(message.contains("both gasPrice and"), "{message}");
    let tip_above_cap =
        CallArgs { max_fee_per_gas: gwei(2), max_priority_fee_per_gas: gwei(3), ..price.clone() };
    assert_eq!(refused(tip_above_cap), CallError::Tx(TxError::TipAboveFeeCap));
    let below_base = CallArgs { max_fee_per_gas: Some(Wei::from(U256::from(1))), ..price.clone() };
    assert!(matches!(refused(below_base), CallError::Tx(TxError::FeeCapTooLow { .. })));

    // EIP-1559 fields: the price is min(maxFee, base fee + tip).
    let eip1559 =
        CallArgs { max_fee_per_gas: gwei(100), max_priority_fee_per_gas: gwei(2), ..price.clone() };
    let CallOutcome::Success { output, .. } =
        dev.chain.call(&eip1559, BlockTag::Pending, &[], dev.now).unwrap()
    else {
        panic!()
    };
    let paid = U256::from_be_slice(&output);
    assert_eq!(paid, base_fee.0 + U256::from(2_000_000_000u64));
}
