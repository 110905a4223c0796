//! What every block commits to (state, transactions, receipts) and
//! `eth_getProof`'s Merkle proofs against it.

use alloy_consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, KECCAK256_EMPTY, TxKind, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_sol_types::SolCall;
use alloy_trie::proof::verify_proof;
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieAccount};
use evm_canister_api::{
    AccountProof, BlockTag, CallArgs, CallOutcome, FirstBlock, Hash, InitArgs, QueryError,
};

use crate::dev::*;

alloy_sol_types::sol! {
    function store(uint256 key, uint256 value);
}

fn header(dev: &Dev, tag: BlockTag) -> Header {
    let block = dev.chain.block(tag, false).unwrap();
    Header::decode(&mut block.header.as_ref()).unwrap()
}

/// Checks `proof` against `root`: the account, then every slot.
fn verify(root: B256, address: Address, proof: &AccountProof) {
    let account =
        TrieAccount::new(proof.nonce, proof.balance.0, proof.storage_hash.0, proof.code_hash.0);
    let nodes: Vec<_> = proof.account_proof.iter().map(|n| n.to_vec().into()).collect();
    let exists =
        proof.nonce != 0 || !proof.balance.0.is_zero() || proof.code_hash.0 != KECCAK256_EMPTY;
    let expected = exists.then(|| alloy_rlp::encode(account));
    verify_proof(root, Nibbles::unpack(keccak256(address)), expected, &nodes).unwrap();
    for slot in &proof.storage_proof {
        let nodes: Vec<_> = slot.proof.iter().map(|n| n.to_vec().into()).collect();
        let value = U256::from_be_bytes(slot.value.0.0);
        let expected = (!value.is_zero()).then(|| alloy_rlp::encode(value));
        let key = Nibbles::unpack(keccak256(slot.key.0));
        verify_proof(proof.storage_hash.0, key, expected, &nodes).unwrap();
    }
}

#[test]
fn the_genesis_state_root_is_the_trie_of_the_allocations() {
    let dev = Dev::new();
    let accounts = (0..3)
        .map(|i| (dev.address(i), TrieAccount { balance: ether(10_000), ..Default::default() }));
    let expected = alloy_trie::root::state_root_unhashed(accounts.collect::<Vec<_>>());
    assert_ne!(expected, EMPTY_ROOT_HASH);
    assert_eq!(header(&dev, BlockTag::Earliest).state_root, expected);
}

#[test]
fn every_block_commits_to_its_state_transactions_and_receipts() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let input = storeCall { key: U256::from(1), value: U256::from(99) }.abi_encode();
    let tx = dev.tx(1, TxKind::Call(tester), U256::ZERO, input);
    dev.send(1, tx).unwrap();

    let mut roots = Vec::new();
    for number in 0..=dev.head() {
        let block = dev.chain.block(BlockTag::Number(number), true).unwrap();
        let header = Header::decode(&mut block.header.as_ref()).unwrap();
        assert_eq!(header.hash_slow(), block.hash.0);
        let txs: Vec<TxEnvelope> = block
            .full_transactions
            .iter()
            .map(|tx| TxEnvelope::decode_2718(&mut tx.raw.as_ref()).unwrap())
            .collect();
        let receipts: Vec<ReceiptEnvelope> = block
            .transactions
            .iter()
            .map(|hash| {
                let receipt = dev.chain.receipt(hash.0).unwrap();
                ReceiptEnvelope::decode_2718(&mut receipt.receipt.as_ref()).unwrap()
            })
            .collect();
        assert_eq!(header.transactions_root, calculate_transaction_root(&txs));
        assert_eq!(header.receipts_root, calculate_receipt_root(&receipts));
        roots.push(header.state_root);
    }
    // Each block changed the state, so each root is new.
    roots.dedup();
    assert_eq!(roots.len(), dev.head() as usize + 1);

    // The latest root proves the contract's storage and the accounts.
    let root = header(&dev, BlockTag::Latest).state_root;
    let slot = keccak256([U256::from(1).to_be_bytes::<32>(), [0u8; 32]].concat());
    let absent = B256::with_last_byte(7);
    let proof = dev.chain.proof(tester, &[slot, absent], BlockTag::Latest).unwrap();
    assert_ne!(proof.storage_hash.0, EMPTY_ROOT_HASH);
    assert_eq!(proof.storage_proof[0].value.0, B256::from(U256::from(99)));
    assert_eq!(proof.storage_proof[1].value.0, B256::ZERO);
    assert_ne!(proof.code_hash.0, KECCAK256_EMPTY);
    verify(root, tester, &proof);
    for address in [dev.address(0), dev.address(1), Address::repeat_byte(0x99)] {
        verify(root, address, &dev.chain.proof(address, &[], BlockTag::Pending).unwrap());
    }
    let sender = dev.chain.proof(dev.address(1), &[], BlockTag::Latest).unwrap();
    assert_eq!(sender.nonce, 1);
    assert_eq!(sender.storage_hash.0, EMPTY_ROOT_HASH);
}

#[test]
fn proofs_are_served_for_the_latest_block_only() {
    let mut dev = Dev::new();
    dev.send(0, dev.tx(0, TxKind::Call(Address::ZERO), U256::from(1), vec![])).unwrap();
    let err = dev.chain.proof(dev.address(0), &[], BlockTag::Earliest).unwrap_err();
    assert!(
        matches!(&err, QueryError::LimitExceeded(m) if m.contains("latest block (1)")),
        "{err:?}"
    );
    let too_many = vec![B256::ZERO; evm_canister::chain::MAX_PROOF_SLOTS + 1];
    assert!(matches!(
        dev.chain.proof(dev.address(0), &too_many, BlockTag::Latest),
        Err(QueryError::LimitExceeded(_))
    ));
    assert_eq!(
        dev.chain.proof(dev.address(0), &[], BlockTag::Number(5)).unwrap_err(),
        QueryError::BlockNotFound
    );
}

/// Init code that returns NUMBER, TIMESTAMP, BASEFEE, PREVRANDAO and
/// BLOBBASEFEE as five words.
const ENVIRONMENT: [u8; 27] = [
    0x43, 0x60, 0x00, 0x52, // NUMBER      -> mem[0]
    0x42, 0x60, 0x20, 0x52, // TIMESTAMP   -> mem[32]
    0x48, 0x60, 0x40, 0x52, // BASEFEE     -> mem[64]
    0x44, 0x60, 0x60, 0x52, // PREVRANDAO  -> mem[96]
    0x4a, 0x60, 0x80, 0x52, // BLOBBASEFEE -> mem[128]
    0x60, 0xa0, 0x60, 0x00, 0xf3, 0x00, 0x00, // RETURN(0, 160)
];

fn environment(dev: &Dev) -> Vec<U256> {
    let args = CallArgs { input: ENVIRONMENT.to_vec().into(), ..Default::default() };
    let CallOutcome::Success { output, .. } =
        dev.chain.call(&args, BlockTag::Pending, &[], dev.now).unwrap()
    else {
        panic!("the environment probe failed")
    };
    output.chunks(32).map(U256::from_be_slice).collect()
}

#[test]
fn a_pinned_first_block_has_the_given_environment() {
    let prevrandao = B256::repeat_byte(0x5e);
    let pin = |args: &mut InitArgs| {
        args.hardfork = Some("cancun".into());
        args.genesis_timestamp = 999;
        args.first_block = Some(FirstBlock {
            number: 5,
            timestamp: 1000,
            base_fee: 7,
            prevrandao: Hash(prevrandao),
            // With Cancun's update fraction this makes the blob base fee 2.
            excess_blob_gas: 0x240000,
        });
    };
    let mut dev = Dev::with(pin);
    let genesis = header(&dev, BlockTag::Earliest);
    assert_eq!((genesis.number, genesis.timestamp), (4, 999));
    // There are no blocks before genesis.
    assert_eq!(dev.chain.block(BlockTag::Number(3), false), None);
    assert_eq!(
        dev.chain.account(dev.address(0), BlockTag::Number(3)),
        Err(QueryError::BlockNotFound)
    );
    assert_eq!(dev.chain.fee_history(10, BlockTag::Latest, &[]).unwrap().oldest_block, 4);
    // Calls before the first block see its environment already.
    let expected =
        [U256::from(5), U256::from(1000), U256::from(7), prevrandao.into(), U256::from(2)];
    assert_eq!(environment(&dev), expected);

    let mut tx = dev.tx(0, TxKind::Call(Address::ZERO), U256::from(1), vec![]);
    tx.max_fee_per_gas = 100;
    tx.max_priority_fee_per_gas = 1;
    let result = dev.send(0, tx).unwrap();
    assert_eq!(result.block_number, 5);
    let first = header(&dev, BlockTag::Latest);
    assert_eq!(first.timestamp, 1000);
    assert_eq!(first.base_fee_per_gas, Some(7));
    assert_eq!(first.mix_hash, prevrandao);
    assert_eq!(first.excess_blob_gas, Some(0x240000));
    assert_eq!(first.parent_hash, dev.chain.block(BlockTag::Earliest, false).unwrap().hash.0);

    // The pin is used up: the next block is derived from its parent again.
    let next = environment(&dev);
    assert_eq!(next[0], U256::from(6));
    assert!(next[1] > U256::from(1000));
    assert_eq!(
        next[2],
        U256::from(
            first.next_block_base_fee(alloy_eips::eip1559::BaseFeeParams::ethereum()).unwrap()
        )
    );
    assert_ne!(next[3], U256::from_be_bytes(prevrandao.0));
    // No blob gas was used, so the excess fell by the target (EIP-4844).
    assert_eq!(next[4], U256::from(1));
}

#[test]
fn an_invalid_first_block_is_refused() {
    // Block 0 cannot follow a genesis; block 1 cannot predate it.
    for (number, timestamp) in [(0, 1000), (1, 5)] {
        let mut args = Dev::new().args;
        args.genesis_timestamp = 10;
        args.first_block = Some(FirstBlock {
            number,
            timestamp,
            base_fee: 7,
            prevrandao: Hash(B256::ZERO),
            excess_blob_gas: 0,
        });
        let memory = ic_stable_structures::DefaultMemoryImpl::default();
        assert_eq!(
            evm_canister::Chain::create(memory, &args).err(),
            Some(evm_canister::GenesisError::InvalidFirstBlock)
        );
    }
}
