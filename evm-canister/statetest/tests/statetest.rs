//! The state-test runner on the vendored sample of the official fixtures
//! (`tests/statetests/`): in wasm under the host, natively, and on fixtures
//! altered so that the chain must be judged wrong; and the `evm-statetest`
//! command, its output and exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use evm_statetest::{self as statetest, CaseResult, Mode, Options, Report, Verdict};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample() -> PathBuf {
    repo().join("tests/statetests")
}

fn options(paths: Vec<PathBuf>, mode: Mode) -> Options {
    Options { paths, forks: Vec::new(), filter: None, mode, jobs: 2, progress: false }
}

/// The sample run once in each mode, shared by the tests.
fn sample_report(mode: Mode) -> &'static Report {
    static WASM: OnceLock<Report> = OnceLock::new();
    static NATIVE: OnceLock<Report> = OnceLock::new();
    let cell = match mode {
        Mode::Wasm => &WASM,
        Mode::Native => &NATIVE,
    };
    cell.get_or_init(|| statetest::run(&options(vec![sample()], mode)).unwrap())
}

fn failures(report: &Report) -> Vec<String> {
    report
        .cases
        .iter()
        .filter_map(|case| match &case.verdict {
            Verdict::Failed(reason) => Some(format!("{}: {reason}", case.name())),
            _ => None,
        })
        .collect()
}

fn tally<'a>(report: &'a Report, fork: &str) -> &'a statetest::Tally {
    &report.forks.iter().find(|(name, _)| name == fork).unwrap_or_else(|| panic!("no {fork}")).1
}

#[test]
fn the_sample_passes_in_wasm() {
    let report = sample_report(Mode::Wasm);
    assert_eq!(failures(report), Vec::<String>::new());
    assert!(report.total.passed >= 450, "{:?}", report.total);
    assert!(tally(report, "Cancun").passed >= 250);
    assert!(tally(report, "Prague").passed >= 60);
    assert!(tally(report, "Shanghai").passed > 0 && tally(report, "Paris").passed > 0);
    // Every executed case reports what its update cost.
    for case in report.cases.iter().filter(|case| case.verdict == Verdict::Passed) {
        let observed = case.observed.as_ref().unwrap();
        assert!(observed.instructions.is_some_and(|n| n > 0), "{}", case.name());
    }
    // Cases that expect an invalid transaction pass because it was refused.
    let refused = report
        .cases
        .iter()
        .filter(|case| case.observed.as_ref().is_some_and(|o| o.rejected.is_some()))
        .count();
    assert!(refused >= 10, "{refused} refused");
}

#[test]
fn skips_are_by_rule_and_say_why() {
    let report = sample_report(Mode::Wasm);
    let reasons: Vec<&str> = report
        .cases
        .iter()
        .filter_map(|case| match &case.verdict {
            Verdict::Skipped(reason) => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(reasons.iter().any(|r| r.contains("blob transaction (EIP-4844, type 3)")));
    assert!(reasons.iter().any(|r| r.starts_with("London predates the Merge")));
    assert!(
        reasons.iter().all(|r| r.contains("blob transaction") || r.contains("predates the Merge")),
        "{reasons:?}"
    );
    // A blob transaction is skipped in every fork, also when it must fail.
    let blob_cases = reasons.iter().filter(|r| r.contains("blob")).count();
    assert!(blob_cases >= 3);
    let text = report.to_text();
    assert!(text.contains("SKIP "), "{text}");
}

/// The canister's code gives exactly the same results natively as in wasm
/// under the host: the same refusals, state roots and logs hashes.
#[test]
fn wasm_and_native_agree_on_the_sample() {
    let wasm = sample_report(Mode::Wasm);
    let native = sample_report(Mode::Native);
    assert_eq!(wasm.cases.len(), native.cases.len());
    let key =
        |case: &CaseResult| (case.file.clone(), case.test.clone(), case.fork.clone(), case.index);
    for (w, n) in wasm.cases.iter().zip(&native.cases) {
        assert_eq!(key(w), key(n));
        assert_eq!(w.verdict, n.verdict, "{}", w.name());
        let (Some(w_obs), Some(n_obs)) = (&w.observed, &n.observed) else {
            assert!(w.observed.is_none() && n.observed.is_none(), "{}", w.name());
            continue;
        };
        assert_eq!(w_obs.rejected, n_obs.rejected, "{}", w.name());
        assert_eq!(w_obs.state_root, n_obs.state_root, "{}", w.name());
        assert_eq!(w_obs.logs_hash, n_obs.logs_hash, "{}", w.name());
        assert_eq!(n_obs.instructions, None);
    }
    assert_eq!(wasm.total, native.total);
}

/// A fixture from the sample, edited by `edit`, written to a directory of
/// its own.
fn altered(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let original = sample().join(name);
    let mut fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&original).unwrap()).unwrap();
    edit(&mut fixture);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("altered.json"), serde_json::to_vec(&fixture).unwrap()).unwrap();
    dir
}

/// The first case of the first test's fork `fork`.
fn first_case<'a>(fixture: &'a mut serde_json::Value, fork: &str) -> &'a mut serde_json::Value {
    let test = fixture.as_object_mut().unwrap().values_mut().next().unwrap();
    &mut test["post"][fork][0]
}

const ADD11: &str = "GeneralStateTests/stExample/add11.json";

fn run_altered(dir: &tempfile::TempDir, mode: Mode) -> Report {
    let mut options = options(vec![dir.path().to_owned()], mode);
    options.forks = vec!["Cancun".to_owned()];
    statetest::run(&options).unwrap()
}

#[test]
fn a_wrong_state_root_or_logs_hash_fails() {
    let dir = altered(ADD11, |fixture| {
        first_case(fixture, "Cancun")["hash"] = format!("0x{}", "11".repeat(32)).into();
    });
    for mode in [Mode::Wasm, Mode::Native] {
        let report = run_altered(&dir, mode);
        assert_eq!(report.total.failed, 1, "{mode:?}");
        let failed = failures(&report);
        assert!(
            failed[0].contains("state root") && failed[0].contains("expected 0x1111"),
            "{failed:?}"
        );
    }

    let dir = altered(ADD11, |fixture| {
        first_case(fixture, "Cancun")["logs"] = format!("0x{}", "22".repeat(32)).into();
    });
    let failed = failures(&run_altered(&dir, Mode::Wasm));
    assert!(failed.len() == 1 && failed[0].contains("logs hash"), "{failed:?}");
}

#[test]
fn an_expected_exception_passes_only_if_the_chain_refuses() {
    let dir = altered(ADD11, |fixture| {
        first_case(fixture, "Cancun")["expectException"] =
            "TransactionException.INTRINSIC_GAS_TOO_LOW".into();
    });
    let failed = failures(&run_altered(&dir, Mode::Wasm));
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("accepted a transaction that must fail"), "{failed:?}");
}

#[test]
fn a_fixture_that_does_not_parse_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), b"{\"test\": {\"env\": 1}}").unwrap();
    let report = statetest::run(&options(vec![dir.path().to_owned()], Mode::Native)).unwrap();
    assert_eq!(report.total.failed, 1);
    assert!(failures(&report)[0].contains("does not parse"));
}

#[test]
fn an_unknown_fork_is_an_error() {
    let mut options = options(vec![sample()], Mode::Native);
    options.forks = vec!["Cancn".to_owned()];
    let error = statetest::run(&options).unwrap_err();
    assert!(error.to_string().contains("unknown fork \"Cancn\""), "{error}");
}

/// Runs the `evm-statetest` command.
fn command(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evm-statetest"))
        .args(args)
        .output()
        .expect("run evm-statetest")
}

#[test]
fn the_command_reports_per_fork_and_exits_zero_when_all_pass() {
    let dir = repo().join("tests/statetests/eest-v5.4.0/state_tests/prague/eip7702_set_code_tx");
    let output = command(&["--fork", "Prague,Cancun", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("canister in wasm"), "{stdout}");
    let prague = stdout.lines().find(|line| line.starts_with("Prague")).expect(&stdout);
    assert!(prague.ends_with("100.00%"), "{prague}");
    assert!(!stdout.lines().any(|line| line.starts_with("Osaka")), "--fork selects: {stdout}");

    let output = command(&["--json", "--native", "--fork", "Prague", dir.to_str().unwrap()]);
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
fn the_command_lists_failures_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("tests/statetests/GeneralStateTests/stExample/add11.json");
    let mut fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(source).unwrap()).unwrap();
    let test = fixture.as_object_mut().unwrap().values_mut().next().unwrap();
    test["post"]["Cancun"][0]["hash"] = format!("0x{}", "00".repeat(32)).into();
    std::fs::write(dir.path().join("add11.json"), serde_json::to_vec(&fixture).unwrap()).unwrap();

    let output = command(&[dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let fail = stdout.lines().find(|line| line.starts_with("FAIL ")).expect(&stdout);
    assert!(fail.contains("add11.json: add11 [Cancun #0]: state root"), "{fail}");
    assert!(stdout.contains("(FAILED)"), "{stdout}");

    let output = command(&["--fork", "Frontierr", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown fork"));
}
