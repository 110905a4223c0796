//! `canister-evm costs`: the report and its baseline check, calibration,
//! and a running node's transactions, through the binary.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{Node, dev_keys, repo, send_raw, signed};

fn costs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canister-evm"))
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache"))
        .arg("costs")
        .args(args)
        .output()
        .expect("run canister-evm costs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--check` passes on the committed baseline and exits 1, with the diff,
/// on a baseline the suite now exceeds (as if a change had made it grow).
#[test]
fn the_report_checks_the_committed_baseline_and_fails_on_a_regression() {
    let committed = repo().join("docs/costs/baseline.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.md");
    let passed = costs(&[
        "report",
        "--check",
        committed.to_str().unwrap(),
        "--format",
        "markdown",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(passed.status.success(), "{}", text(&passed.stderr));
    assert!(text(&passed.stderr).contains("cost check passed"), "{}", text(&passed.stderr));
    let markdown = std::fs::read_to_string(&out).unwrap();
    assert!(markdown.contains("| Token.transfer | 5 |"), "{markdown}");

    // Lower one workload's recorded instructions by 10 %: this run is then
    // 11 % over it.
    let mut baseline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&committed).unwrap()).unwrap();
    let recorded = &mut baseline["workloads"]["Token.transfer"]["instructions"];
    *recorded = serde_json::json!(recorded.as_u64().unwrap() * 9 / 10);
    let tampered = dir.path().join("baseline.json");
    std::fs::write(&tampered, baseline.to_string()).unwrap();
    let failed = costs(&["report", "--check", tampered.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    let stderr = text(&failed.stderr);
    assert!(stderr.contains("Token.transfer") && stderr.contains("regressed (> 2 %)"), "{stderr}");
    assert!(stderr.contains("cost check failed: 1 workload(s)"), "{stderr}");
}

/// The report reads a running node's transactions over JSON-RPC.
#[test]
fn the_report_reads_a_running_node() {
    let node = Node::start(&["--quiet"]);
    let keys = dev_keys();
    let to = alloy_primitives::TxKind::Call(alloy_primitives::Address::repeat_byte(0x42));
    for nonce in 0..3 {
        send_raw(&node.url, &signed(&keys[0], nonce, to, 1, Vec::new()).1).unwrap();
    }
    let report = costs(&["report", "--url", &node.url, "--format", "csv"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let csv = text(&report.stdout);
    assert!(csv.contains("\n(ether),transfer,3,21000,21000,21000,21000,"), "{csv}");
}

/// The report reads a stopped node's data directory, from a copy: the
/// directory is byte for byte as it was.
#[test]
fn the_report_reads_a_data_directory_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    let node = Node::start_in(&chain, &["--quiet"]);
    let keys = dev_keys();
    let to = alloy_primitives::TxKind::Call(alloy_primitives::Address::repeat_byte(0x42));
    for nonce in 0..2 {
        send_raw(&node.url, &signed(&keys[0], nonce, to, 1, Vec::new()).1).unwrap();
    }
    node.stop();
    let snapshot = |dir: &Path| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&chain);
    let report = costs(&["report", "--data-dir", chain.to_str().unwrap(), "--format", "csv"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    assert!(
        text(&report.stdout).contains("\n(ether),transfer,2,21000,"),
        "{}",
        text(&report.stdout)
    );
    assert!(before == snapshot(&chain), "the data directory is unchanged");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let refused = costs(&["report", "--data-dir", empty.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("holds no chain"), "{}", text(&refused.stderr));
}

/// `costs calibrate` prints a row per benchmark it runs.
#[test]
fn calibrate_prints_the_gas_and_instructions_of_each_operation() {
    let output = costs(&["calibrate", "--only", "ADD", "--format", "markdown"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    assert!(table.contains("| arithmetic | ADD | 11 |"), "{table}");
    assert!(table.contains("| arithmetic | ADDMOD | "), "{table}");
    assert!(!table.contains("MULMOD"), "--only picks: {table}");
}
