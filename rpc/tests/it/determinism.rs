//! A long mixed workload on two compilers at once: no divergence.

use alloy_primitives::{Address, TxKind, U256, keccak256};
use alloy_sol_types::{SolCall, SolValue, sol};
use canister_evm::node::NodeError;
use canister_evm::node::Queries as _;
use canister_host::costs::Limits;
use canister_host::{CallError, Compiler, Trap};
use evm_canister_api::{BlockTag, CallArgs};

use crate::{signed_with_gas, start_with};

sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function checkLimit(uint256 amount, uint256 limit) returns (uint256);
    function keccakStore(bytes32 seed, uint256 rounds) returns (bytes32);
    function store(uint256 key, uint256 value);
}

fn artifact(name: &str) -> Vec<u8> {
    let path = format!("{}/../contracts/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    alloy_primitives::hex::decode(json["bytecode"].as_str().unwrap()).unwrap()
}

/// 1,000 messages — deployments, ERC20 transfers, reverted transactions,
/// refused transactions, calls, and updates that run out of instructions —
/// each executed by Cranelift and by Winch, compared before committing.
#[test]
fn a_thousand_transactions_agree_on_cranelift_and_winch() {
    // Low enough that a long keccak loop runs out of instructions.
    let limits = Limits {
        update: 400_000_000,
        query: 1_000_000_000,
        install: 50_000_000_000,
        inspect: 200_000_000,
    };
    let (mut node, signers) = start_with(Some(Compiler::Winch), limits);
    assert!(node.verifying());
    let alice = &signers[0];
    let mut nonce = 0u64;
    let send = |node: &mut canister_evm::node::Node, to: TxKind, input: Vec<u8>, nonce: u64| {
        node.send_raw_transaction(&signed_with_gas(alice, nonce, to, U256::ZERO, input, 15_000_000))
    };

    let mut token_code = artifact("Token");
    token_code.extend(
        ("Token".to_string(), "TOK".to_string(), U256::from(10u64).pow(U256::from(30)))
            .abi_encode_params(),
    );
    let token = alice.address().create(nonce);
    send(&mut node, TxKind::Create, token_code.clone(), nonce).unwrap().unwrap();
    nonce += 1;
    let mut tester = alice.address().create(nonce);
    send(&mut node, TxKind::Create, artifact("Tester"), nonce).unwrap().unwrap();
    nonce += 1;

    let (mut included, mut reverted, mut refused, mut trapped, mut calls) = (0, 0, 0, 0, 0);
    for i in 0..996u64 {
        let outcome = match i % 10 {
            // A new contract now and then.
            0 if i % 100 == 0 => {
                tester = alice.address().create(nonce);
                send(&mut node, TxKind::Create, artifact("Tester"), nonce)
            }
            // A transaction that reverts with a custom error (mined, status 0).
            3 => send(
                &mut node,
                TxKind::Call(tester),
                checkLimitCall { amount: U256::from(9), limit: U256::from(1) }.abi_encode(),
                nonce,
            ),
            // One that runs out of instructions: the canister traps.
            5 if i % 50 == 5 => send(
                &mut node,
                TxKind::Call(tester),
                keccakStoreCall { seed: keccak256(i.to_be_bytes()), rounds: U256::from(40_000) }
                    .abi_encode(),
                nonce,
            ),
            // A stale nonce: refused, nothing changes.
            7 => send(&mut node, TxKind::Call(token), vec![], nonce.saturating_sub(1)),
            // Storage writes and calls.
            8 => {
                calls += 1;
                let args = CallArgs {
                    to: Some(token.into()),
                    input: transferCall { to: Address::ZERO, amount: U256::from(1) }
                        .abi_encode()
                        .into(),
                    from: Some(alice.address().into()),
                    ..Default::default()
                };
                node.call(args, BlockTag::Latest, Vec::new()).unwrap().unwrap();
                send(
                    &mut node,
                    TxKind::Call(tester),
                    storeCall { key: U256::from(i), value: U256::from(i * i) }.abi_encode(),
                    nonce,
                )
            }
            _ => {
                let to = Address::from_word(keccak256(i.to_be_bytes()));
                send(
                    &mut node,
                    TxKind::Call(token),
                    transferCall { to, amount: U256::from(i + 1) }.abi_encode(),
                    nonce,
                )
            }
        };
        match outcome {
            Ok(Ok(submitted)) => {
                nonce += 1;
                included += 1;
                if !submitted.result.included().expect("automined").success {
                    reverted += 1;
                }
            }
            Ok(Err(_)) => refused += 1,
            Err(NodeError::Call(CallError::Trapped(Trap::OutOfInstructions(_)))) => trapped += 1,
            Err(other) => panic!("message {i}: {other}"),
        }
    }
    assert_eq!(included + refused + trapped, 996);
    assert!(reverted >= 90, "{reverted} reverted");
    assert!(refused >= 90, "{refused} refused");
    assert!(trapped >= 15, "{trapped} trapped");
    assert!(calls >= 90);
    assert_eq!(node.chain_info().unwrap().latest_block, included as u64 + 2);
}
