//! The block explorer the node serves at `GET /`: its committed bundle is
//! what its sources build to, it is served (and `--no-explorer` turns it
//! off) beside JSON-RPC, and a real browser finds in it what JSON-RPC says.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Node, node_check, node_command_env, repo};

#[test]
fn the_explorer_bundle_matches_its_sources() {
    node_check(&repo().join("rpc/explorer"), "build.mjs");
}

fn get(url: &str) -> (u16, String, String) {
    let response = ureq::get(url).config().http_status_as_error(false).build().call().unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.into_body().read_to_string().unwrap())
}

#[test]
fn the_page_is_served_beside_json_rpc_unless_turned_off() {
    let node = Node::start(&[]);
    let (status, kind, html) = get(&node.url);
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(html.contains("/explorer/explorer.js"), "{html}");
    let (status, kind, _) = get(&format!("{}/explorer/explorer.js", node.url));
    assert_eq!((status, kind.as_str()), (200, "text/javascript; charset=utf-8"));
    assert!(node.banner.contains(&format!("Explorer: {}/", node.url)), "{}", node.banner);
    // JSON-RPC on the same path is untouched.
    let answer = crate::harness::rpc(&node, "eth_chainId", serde_json::json!([]));
    assert_eq!(answer["result"], "0x7a69");

    let node = Node::start(&["--no-explorer"]);
    let (status, _, _) = get(&node.url);
    assert_ne!(status, 200, "--no-explorer serves no page");
    assert!(!node.banner.contains("Explorer:"), "{}", node.banner);
}

/// Debian's Chromium, installed with apt when it is missing and this runs
/// as root (as in CI); `CHROMIUM` may name another binary.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return path;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root, "the browser test needs Chromium: `apt-get install chromium`, or set CHROMIUM");
    for args in [&["update", "-qq"][..], &["install", "-y", "-qq", "chromium"]] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("run apt-get");
        assert!(status.success(), "apt-get {args:?} failed");
    }
    assert!(path.exists(), "apt-get installed no {}", path.display());
    path
}

/// Headless Chromium drives the explorer while ethers transacts: see
/// `tests/js/explorer.test.mjs`. Screenshots land in
/// `target/explorer-screenshots`.
#[test]
fn a_browser_sees_transactions_live_with_their_gas_instructions_and_cycles() {
    let chromium = chromium();
    let screenshots = repo().join("target/explorer-screenshots");
    let node = Node::start(&[]);
    node_command_env(
        &node,
        "explorer.test.mjs",
        &[("CHROMIUM", chromium.as_os_str()), ("SCREENSHOTS", screenshots.as_os_str())],
    );
}
