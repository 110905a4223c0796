//! The cost instrument end to end, in the real canister under the host:
//! the workload suite against the committed baseline, the report against
//! its schema, the plots, and the calibration's determinism.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use canister_evm::costs::baseline::Baseline;
use canister_evm::costs::calibrate::{self, Class};
use canister_evm::costs::lab::Lab;
use canister_evm::costs::report::{Format, Prices, Report};
use canister_evm::costs::{plot, suite};

fn cache() -> Option<PathBuf> {
    Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache"))
}

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/costs")
}

/// The suite's report, run once for all the tests that read it.
fn suite_report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let mut lab = Lab::start(cache()).unwrap();
        let samples = suite::run(&mut lab).unwrap();
        Report::new("the built-in workload suite", samples, Prices::default())
    })
}

/// The suite's instructions are what `docs/costs/baseline.json` records,
/// within the threshold: CI fails when a change makes them grow. To
/// accept a change, regenerate it (the README's "Gas vs cycles").
#[test]
fn the_workload_suite_is_within_the_committed_baseline() {
    let report = suite_report();
    let json = std::fs::read_to_string(docs().join("baseline.json")).unwrap();
    let committed = Baseline::from_json(&json).unwrap();
    let comparison = committed.compare(&Baseline::of(report), 2.0);
    assert!(
        comparison.passed(),
        "instructions grew beyond the baseline; if that is meant, regenerate it with \
         `cargo run --release -- costs report --save docs/costs/baseline.json`:\n{}",
        comparison.table()
    );
    // Every workload of the suite is in the baseline, and nothing else.
    let now = Baseline::of(report);
    assert_eq!(
        committed.workloads.keys().collect::<Vec<_>>(),
        now.workloads.keys().collect::<Vec<_>>(),
        "the suite's workloads changed: regenerate the baseline"
    );
}

/// Every workload ran, and the phases of each transaction add up to its
/// instructions exactly.
#[test]
fn the_suite_covers_its_workloads_and_phases_add_up() {
    let report = suite_report();
    let labels: Vec<String> =
        report.methods.iter().map(|m| format!("{}.{}", m.contract, m.method)).collect();
    for expected in [
        "(ether).transfer",
        "Token.deploy",
        "Token.transfer",
        "Token.approve",
        "Token.transferFrom",
        "WETH.deposit",
        "WETH.withdraw",
        "Pair.addLiquidity",
        "Pair.swap",
        "Collectible.mint",
        "Workloads.hashLoop",
        "Workloads.storageLoop",
        "Workloads.ecrecoverCall",
        "Workloads.bn254PairingCall",
    ] {
        assert!(labels.iter().any(|l| l == expected), "{expected} missing from {labels:?}");
    }
    for tx in &report.transactions {
        let phases = tx.phases.expect("the canister measures phases");
        assert_eq!(phases.values().iter().sum::<u64>(), tx.instructions, "{}", tx.label());
        assert!(tx.gas >= 21_000 && tx.cycles > 0, "{}", tx.label());
    }
    // Heavier EVM work costs more instructions: 1,000 keccak rounds more
    // than a transfer.
    let mean = |label: &str| {
        let m = report
            .methods
            .iter()
            .find(|m| format!("{}.{}", m.contract, m.method) == label)
            .unwrap();
        m.instructions.avg
    };
    assert!(mean("Workloads.hashLoop") > mean("Token.transfer"));
}

/// The JSON report is what `docs/costs/report.schema.json` documents.
#[test]
fn the_json_report_validates_against_its_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docs().join("report.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let report: serde_json::Value =
        serde_json::from_str(&suite_report().render(Format::Json)).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&report).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And the schema does reject what is not a report.
    let mut broken = report.clone();
    broken["methods"][0]["calls"] = serde_json::json!("five");
    assert!(!validator.is_valid(&broken));
}

/// The pictures are written as SVG and PNG, and each SVG carries its axis
/// labels and the workloads' names.
#[test]
fn the_report_draws_its_plots() {
    let dir = tempfile::tempdir().unwrap();
    let report = suite_report();
    let written: Vec<PathBuf> = plot::scatter(report, dir.path())
        .unwrap()
        .into_iter()
        .chain(plot::phases(report, dir.path()).unwrap())
        .collect();
    assert_eq!(written.len(), 4);
    let svg = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let scatter = svg("gas-vs-instructions.svg");
    assert!(scatter.contains("EVM gas (mean per call)"), "the x axis is labelled");
    assert!(scatter.contains("Wasm instructions (mean per call)"), "the y axis is labelled");
    assert!(scatter.contains("least-squares fit"), "the fit is in the legend");
    let phases = svg("phases.svg");
    for name in
        ["Token.transfer", "Workloads.hashLoop", "Pair.swap", "sender recovery", "EVM execution"]
    {
        assert!(phases.contains(name), "{name} is in the phases chart");
    }
    assert!(phases.contains("share of the method"), "the x axis is labelled");
    for png in ["gas-vs-instructions.png", "phases.png"] {
        let bytes = std::fs::read(dir.path().join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{png} is a PNG");
    }
}

/// Calibration measures the same on two chains to the last instruction,
/// and the figures are the EVM's own gas schedule.
#[test]
fn calibration_is_identical_on_two_runs() {
    let picked =
        ["ADD", "MULMOD", "KECCAK256 1 KiB", "SSTORE set (cold, 0 → x)", "LOG2 32 B", "ecrecover"];
    let run = || {
        let mut lab = Lab::start(cache()).unwrap();
        let mut micros = calibrate::suite(&mut lab).unwrap();
        micros.retain(|m| picked.contains(&m.name));
        calibrate::run(&mut lab, &micros).unwrap()
    };
    let (first, second) = (run(), run());
    assert_eq!(first.len(), picked.len());
    assert_eq!(first, second, "calibration is deterministic");
    let gas = |name: &str| first.iter().find(|r| r.name == name).unwrap().gas;
    // DUP3 DUP3 ADD POP: 3 + 3 + 3 + 2.
    assert_eq!(gas("ADD"), 11.0);
    // DUP1 DUP1, then a cold SSTORE of a new slot: 3 + 3 + 22,100.
    assert_eq!(gas("SSTORE set (cold, 0 → x)"), 22_106.0);
    // DUP1 ×2, PUSH1, PUSH0, LOG2 of 32 bytes: 3+3+3+2 + 375+2·375+8·32.
    assert_eq!(gas("LOG2 32 B"), 1_392.0);
    let row = |name: &str| first.iter().find(|r| r.name == name).unwrap().clone();
    let (set, log) = (row("SSTORE set (cold, 0 → x)"), row("LOG2 32 B"));
    assert!(
        set.instructions > 10.0 * set.evm_instructions,
        "a new slot's cost is its state write: {set:?}"
    );
    assert!(log.instructions > 10.0 * log.evm_instructions, "a log's cost is its receipt: {log:?}");
    for row in &first {
        assert!(row.evm_instructions > 0.0 && row.cycles > 0.0, "{row:?}");
        // The state write and seal add nothing but noise to what writes
        // no state, and much to what does.
        assert!(row.instructions >= row.evm_instructions * 0.98, "{row:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    plot::opcode_classes(&first, dir.path()).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("instructions-per-gas.svg")).unwrap();
    for class in [Class::Arithmetic, Class::Keccak, Class::Storage, Class::Log, Class::Precompile] {
        assert!(svg.contains(class.name()), "{} is in the chart", class.name());
    }
    assert!(svg.contains("Wasm instructions per gas"), "the y axis is labelled");
    let table = calibrate::render(&first, Format::Markdown);
    assert!(table.contains("| arithmetic | ADD | 11 |"), "{table}");
}
