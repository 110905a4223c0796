//! Transactions that succeed, and what they leave in blocks and receipts.

use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, TxKind, U256};
use alloy_rlp::Decodable;
use alloy_sol_types::{SolCall, SolEvent};
use evm_canister_api::{BlockTag, LogFilter};

use crate::dev::*;

#[test]
fn a_transfer_moves_value_charges_gas_and_seals_a_block() {
    let mut dev = Dev::new();
    let (alice, bob) = (dev.address(0), dev.address(1));
    let to = Address::repeat_byte(0x42);
    let base_fee = dev.chain.info().next_base_fee.0;

    let tx = dev.tx(0, TxKind::Call(to), ether(1), vec![]);
    let result = dev.send(0, tx).unwrap();

    assert!(result.success);
    assert_eq!(result.gas_used, 21_000);
    assert_eq!(result.block_number, 1);
    assert_eq!(dev.head(), 1);
    assert_eq!(dev.balance(to), ether(1));
    assert_eq!(dev.nonce(alice), 1);
    // Effective price: base fee + the 1 gwei tip (below the 10 gwei cap).
    let price = base_fee + U256::from(GWEI);
    assert_eq!(dev.balance(alice), ether(10_000) - ether(1) - price * U256::from(21_000));
    assert_eq!(dev.balance(bob), ether(10_000));

    let receipt = dev.chain.receipt(result.tx_hash.0).unwrap();
    assert_eq!(receipt.gas_used, 21_000);
    assert_eq!(receipt.effective_gas_price.0, price);
    assert_eq!(receipt.block_hash, result.block_hash);
    let envelope = ReceiptEnvelope::decode_2718(&mut receipt.receipt.as_ref()).unwrap();
    assert!(envelope.status());
    assert_eq!(envelope.cumulative_gas_used(), 21_000);

    let block = dev.chain.block(BlockTag::Latest, true).unwrap();
    assert_eq!(block.hash, result.block_hash);
    assert_eq!(block.transactions, vec![result.tx_hash]);
    assert_eq!(block.full_transactions[0].from, alice.into());
    let header = Header::decode(&mut block.header.as_ref()).unwrap();
    assert_eq!(header.hash_slow(), block.hash.0, "the block hash is the keccak of the RLP header");
    assert_eq!(header.number, 1);
    assert_eq!(header.gas_used, 21_000);
    assert_eq!(header.parent_hash, dev.chain.block(BlockTag::Earliest, false).unwrap().hash.0);
    assert_eq!(header.base_fee_per_gas, Some(base_fee.to::<u64>()));
}

#[test]
fn the_base_fee_follows_eip_1559() {
    let mut dev = Dev::new();
    let genesis = dev.chain.info().next_base_fee.0;
    // An empty parent block lowers the base fee by 1/8.
    assert_eq!(genesis, U256::from(GWEI * 7 / 8));
    let tx = dev.tx(0, TxKind::Call(Address::ZERO), U256::from(1), vec![]);
    dev.send(0, tx).unwrap();
    let next = dev.chain.info().next_base_fee.0;
    assert!(next < genesis, "a block far below its gas target lowers the base fee");
}

#[test]
fn block_timestamps_strictly_increase() {
    let mut dev = Dev::new();
    dev.now = (GENESIS_TIME + 100) * 1_000_000_000;
    for _ in 0..3 {
        let tx = dev.tx(0, TxKind::Call(Address::ZERO), U256::from(1), vec![]);
        dev.chain.submit(&dev.sign(0, tx), dev.now).unwrap(); // same clock each time
    }
    let stamps: Vec<u64> = (0..=3)
        .map(|n| {
            let block = dev.chain.block(BlockTag::Number(n), false).unwrap();
            Header::decode(&mut block.header.as_ref()).unwrap().timestamp
        })
        .collect();
    assert_eq!(
        stamps,
        vec![GENESIS_TIME, GENESIS_TIME + 100, GENESIS_TIME + 101, GENESIS_TIME + 102]
    );
}

#[test]
fn legacy_transactions_with_and_without_eip155_are_accepted() {
    let mut dev = Dev::new();
    let to = Address::repeat_byte(7);
    let tx = dev.legacy(0, to, U256::from(5), Some(CHAIN_ID));
    dev.send_raw(&dev.sign(0, tx)).unwrap();
    let tx = dev.legacy(0, to, U256::from(5), None);
    dev.send_raw(&dev.sign(0, tx)).unwrap();
    assert_eq!(dev.balance(to), U256::from(10));
}

#[test]
fn an_erc20_transfer_emits_a_log_found_by_filters() {
    let mut dev = Dev::new();
    let (alice, bob) = (dev.address(0), dev.address(1));
    let args = alloy_sol_types::SolValue::abi_encode_params(&(
        "Token".to_string(),
        "TOK".to_string(),
        ether(1_000),
    ));
    let token = dev.deploy(0, "Token", &args);

    let call = transferCall { to: bob, amount: ether(5) }.abi_encode();
    let result = dev.send(0, dev.tx(0, TxKind::Call(token), U256::ZERO, call)).unwrap();
    assert!(result.success);

    let balance = |owner| {
        let out = dev.chain.call(
            &evm_canister_api::CallArgs {
                to: Some(token.into()),
                input: balanceOfCall { owner }.abi_encode().into(),
                ..Default::default()
            },
            BlockTag::Latest,
            &[],
            dev.now,
        );
        match out.unwrap() {
            evm_canister_api::CallOutcome::Success { output, .. } => U256::from_be_slice(&output),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(balance(bob), ether(5));
    assert_eq!(balance(alice), ether(995));

    let transfer_topic = Transfer::SIGNATURE_HASH;
    let logs = dev
        .chain
        .logs(&LogFilter {
            from_block: Some(BlockTag::Earliest),
            addresses: vec![token.into()],
            topics: vec![vec![transfer_topic.into()], vec![], vec![bob.into_word().into()]],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(logs.len(), 1, "the mint's Transfer goes to alice, not bob");
    let log = &logs[0];
    assert_eq!(log.tx_hash, result.tx_hash);
    assert_eq!(log.block_number, result.block_number);
    assert_eq!(log.log_index, 0);
    assert_eq!(U256::from_be_slice(&log.data), ether(5));

    // Both Transfer events (mint and transfer), in chain order.
    let all = dev
        .chain
        .logs(&LogFilter { from_block: Some(BlockTag::Number(0)), ..Default::default() })
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].block_number < all[1].block_number);
    // A filter on an address that emitted nothing finds nothing.
    let none = dev
        .chain
        .logs(&LogFilter {
            from_block: Some(BlockTag::Earliest),
            addresses: vec![Address::repeat_byte(9).into()],
            ..Default::default()
        })
        .unwrap();
    assert!(none.is_empty());
    // Ranges past the head are empty; reversed ranges are invalid.
    let future = LogFilter {
        from_block: Some(BlockTag::Number(100)),
        to_block: Some(BlockTag::Number(200)),
        ..Default::default()
    };
    assert_eq!(dev.chain.logs(&future), Ok(vec![]));
    let reversed = LogFilter {
        from_block: Some(BlockTag::Number(2)),
        to_block: Some(BlockTag::Number(1)),
        ..Default::default()
    };
    assert!(matches!(
        dev.chain.logs(&reversed),
        Err(evm_canister_api::QueryError::InvalidArgument(_))
    ));
}

#[test]
fn state_of_earlier_blocks_stays_readable() {
    let mut dev = Dev::new();
    let to = Address::repeat_byte(0x42);
    for _ in 0..3 {
        let tx = dev.tx(0, TxKind::Call(to), ether(1), vec![]);
        dev.send(0, tx).unwrap();
    }
    for n in 0..=3u64 {
        let account = dev.chain.account(to, BlockTag::Number(n)).unwrap();
        assert_eq!(account.balance.0, ether(n), "balance after block {n}");
        let sender = dev.chain.account(dev.address(0), BlockTag::Number(n)).unwrap();
        assert_eq!(sender.nonce, n);
    }
    let hash = dev.chain.block(BlockTag::Number(2), false).unwrap().hash;
    assert_eq!(dev.chain.account(to, BlockTag::Hash(hash)).unwrap().balance.0, ether(2));
}

#[test]
fn contract_storage_and_code_are_readable_per_block() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let deployed = dev.head();
    let call = storeCall { key: U256::from(1), value: U256::from(99) }.abi_encode();
    let result = dev.send(0, dev.tx(0, TxKind::Call(tester), U256::ZERO, call)).unwrap();
    assert!(result.success);

    // `values` is the first slot (the immutable owner takes none), so the
    // value of key 1 is at keccak(key . 0).
    let slot = alloy_primitives::keccak256([U256::from(1).to_be_bytes::<32>(), [0u8; 32]].concat());
    assert_eq!(
        dev.chain.storage(tester, slot, BlockTag::Latest).unwrap(),
        alloy_primitives::B256::from(U256::from(99))
    );
    assert_eq!(
        dev.chain.storage(tester, slot, BlockTag::Number(deployed)).unwrap(),
        alloy_primitives::B256::ZERO
    );
    assert!(!dev.chain.code(tester, BlockTag::Latest).unwrap().is_empty());
    assert!(dev.chain.code(tester, BlockTag::Number(deployed - 1)).unwrap().is_empty());

    let logs = dev.chain.logs(&LogFilter::default()).unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].topics[0].0, Stored::SIGNATURE_HASH);
}

#[test]
fn fee_history_reports_base_fees_and_rewards() {
    let mut dev = Dev::new();
    for _ in 0..3 {
        let tx = dev.tx(0, TxKind::Call(Address::ZERO), U256::from(1), vec![]);
        dev.send(0, tx).unwrap();
    }
    let history = dev.chain.fee_history(2, BlockTag::Latest, &[10.0, 90.0]).unwrap();
    assert_eq!(history.oldest_block, 2);
    assert_eq!(history.base_fee_per_gas.len(), 3);
    assert_eq!(history.base_fee_per_gas[2], dev.chain.info().next_base_fee);
    assert_eq!(history.gas_used_ratio, vec![21_000.0 / 30_000_000.0; 2]);
    assert_eq!(history.reward, vec![vec![U256::from(GWEI).into(); 2]; 2]);
    // More blocks than exist: the history starts at genesis.
    let all = dev.chain.fee_history(100, BlockTag::Latest, &[]).unwrap();
    assert_eq!(all.oldest_block, 0);
    assert_eq!(all.base_fee_per_gas.len(), 5);
    assert!(all.reward.is_empty());
    assert!(dev.chain.fee_history(1, BlockTag::Latest, &[50.0, 10.0]).is_err());
}
