//! The committed contract artifacts are what the sources compile to.

use std::process::Command;

use crate::harness::{npm_ci, repo};

#[test]
fn artifacts_match_the_solidity_sources() {
    let dir = repo().join("contracts");
    npm_ci(&dir);
    let output =
        Command::new("node").args(["compile.mjs", "--check"]).current_dir(&dir).output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
