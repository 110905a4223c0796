//! Real Ethereum clients against the node.

use crate::harness::{Node, node_test};

#[test]
fn ethers_v6_deploys_and_uses_contracts() {
    let node = Node::start(&[]);
    node_test(&node, "ethers.test.mjs");
}
