//! Real Ethereum clients against the node: each test starts its own node and
//! runs one client's suite, installing the client from its lockfile or
//! pinned requirements first.

use crate::harness::{Node, gateway_test, hardhat_run, node_test, pytest};

#[test]
fn ethers_v6_deploys_and_uses_contracts() {
    let node = Node::start(&[]);
    node_test(&node, "ethers.test.mjs");
}

/// ethers and viem pointed at the canister's own JSON-RPC, through the
/// node's HTTP gateway (`--gateway-port`) and not its JSON-RPC server:
/// the `.wasm` serves wallets by itself, as it would on ICP.
#[test]
fn ethers_and_viem_use_the_canister_through_the_http_gateway() {
    let node = Node::start(&["--gateway-port", "0"]);
    gateway_test(&node, "gateway.test.mjs");
}

/// The controls Hardhat and Foundry test suites use: snapshots, edits,
/// impersonation, manual mining, tracing, access lists (through ethers).
#[test]
fn dev_node_controls_work_through_ethers() {
    let node = Node::start(&[]);
    node_test(&node, "devnode.test.mjs");
}

#[test]
fn viem_deploys_and_uses_contracts() {
    let node = Node::start(&[]);
    node_test(&node, "viem.test.mjs");
}

#[test]
fn web3js_v4_deploys_and_uses_contracts() {
    let node = Node::start(&[]);
    node_test(&node, "web3js.test.mjs");
}

/// MetaMask's own network stack: JSON-RPC engine, middleware, block tracker.
#[test]
fn metamask_provider_stack_sends_and_tracks_transactions() {
    let node = Node::start(&[]);
    node_test(&node, "metamask.test.mjs");
}

/// web3.py in a virtualenv under `tests/py/.venv`.
#[test]
fn web3py_deploys_and_uses_contracts() {
    let node = Node::start(&[]);
    pytest(&node, "test_web3py.py");
}

/// Hardhat 3 (under the Node 22 its lockfile pins) deploying prebuilt
/// artifacts to the node as an `http` network.
#[test]
fn hardhat3_deploys_prebuilt_artifacts() {
    let node = Node::start(&[]);
    hardhat_run(&node, "scripts/token.js");
}
