//! `canister-evm statetest`, the command: its output and exit status.

use std::process::{Command, Output};

use crate::harness::repo;

fn statetest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canister-evm"))
        .arg("statetest")
        .args(args)
        .output()
        .expect("run canister-evm statetest")
}

#[test]
fn statetest_reports_per_fork_and_exits_zero_when_all_pass() {
    let dir = repo().join("tests/statetests/eest-v5.4.0/state_tests/prague/eip7702_set_code_tx");
    let output = statetest(&["--fork", "Prague,Cancun", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("canister in wasm"), "{stdout}");
    let prague = stdout.lines().find(|line| line.starts_with("Prague")).expect(&stdout);
    assert!(prague.ends_with("100.00%"), "{prague}");
    assert!(!stdout.lines().any(|line| line.starts_with("Osaka")), "--fork selects: {stdout}");

    let output = statetest(&["--json", "--native", "--fork", "Prague", dir.to_str().unwrap()]);
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["mode"], "native");
    assert_eq!(report["total"]["failed"], 0);
    let passed = report["total"]["passed"].as_u64().unwrap();
    assert!(passed > 20, "{passed}");
    assert_eq!(
        report["cases"].as_array().unwrap().len() as u64,
        passed + report["total"]["skipped"].as_u64().unwrap()
    );
    assert!(report["cases"][0]["observed"]["stateRoot"].is_string(), "{}", report["cases"][0]);
}

#[test]
fn statetest_lists_failures_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("tests/statetests/GeneralStateTests/stExample/add11.json");
    let mut fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(source).unwrap()).unwrap();
    let test = fixture.as_object_mut().unwrap().values_mut().next().unwrap();
    test["post"]["Cancun"][0]["hash"] = format!("0x{}", "00".repeat(32)).into();
    std::fs::write(dir.path().join("add11.json"), serde_json::to_vec(&fixture).unwrap()).unwrap();

    let output = statetest(&[dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let fail = stdout.lines().find(|line| line.starts_with("FAIL ")).expect(&stdout);
    assert!(fail.contains("add11.json: add11 [Cancun #0]: state root"), "{fail}");
    assert!(stdout.contains("(FAILED)"), "{stdout}");

    let output = statetest(&["--fork", "Frontierr", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown fork"));
}
