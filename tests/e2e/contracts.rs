//! The committed contract artifacts are what the sources compile to.

use crate::harness::{node_check, repo};

#[test]
fn artifacts_match_the_solidity_sources() {
    node_check(&repo().join("contracts"), "compile.mjs");
}
