//! Any canister, not only Rust: a Motoko actor, compiled by the test with
//! `moc` from the npm package `motoko`. Motoko canisters are wasm64 and call
//! the System API with 64-bit pointers.

use std::path::{Path, PathBuf};
use std::process::Command;

use candid::{Decode, Encode, Nat};
use canister_host::{Canister, CanisterSettings, Host, HostConfig, MessageEnv};

/// Compiles `Counter.mo`, installing the compiler from the lockfile first.
fn compile_counter() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/motoko");
    let lock = std::fs::read(dir.join("package-lock.json")).unwrap();
    let stamp = dir.join("node_modules/.installed-lockfile");
    if std::fs::read(&stamp).ok().as_deref() != Some(&lock[..]) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("run npm (is Node.js installed?)");
        assert!(status.success(), "npm ci failed in {}", dir.display());
        std::fs::write(&stamp, &lock).unwrap();
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("motoko/counter.wasm");
    let output = Command::new("node")
        .arg("compile.mjs")
        .arg("Counter.mo")
        .arg(&out)
        .current_dir(&dir)
        .output()
        .expect("run node");
    assert!(output.status.success(), "moc failed: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::read(out).unwrap()
}

fn env(time: u64) -> MessageEnv {
    MessageEnv { caller: vec![4], time }
}

#[test]
fn a_motoko_canister_installs_answers_and_keeps_its_state() {
    let wasm = compile_counter();
    let host = Host::new(HostConfig::default()).unwrap();
    let module = host.compile(&wasm).unwrap();
    assert!(module.wasm64(), "Motoko produces wasm64 modules");
    let (mut canister, _) =
        Canister::install(&host, module, CanisterSettings::default(), &Encode!().unwrap(), &env(1))
            .unwrap();

    for expected in 1u32..=3 {
        let execution = canister
            .update("increment", &Encode!().unwrap(), &env(u64::from(expected) + 1))
            .unwrap();
        assert_eq!(Decode!(execution.reply().unwrap(), Nat).unwrap(), Nat::from(expected));
    }
    let execution = canister.update("remember", &Encode!(&"motoko").unwrap(), &env(10)).unwrap();
    assert_eq!(Decode!(execution.reply().unwrap(), Nat).unwrap(), Nat::from(1u32));

    let get = canister.query("get", &Encode!().unwrap(), &env(11)).unwrap();
    assert_eq!(Decode!(get.reply().unwrap(), Nat).unwrap(), Nat::from(3u32));
    let last = canister.query("last", &Encode!().unwrap(), &env(12)).unwrap();
    assert_eq!(Decode!(last.reply().unwrap(), Option<String>).unwrap().as_deref(), Some("motoko"));
    // wasm64 instructions cost twice the cycles.
    assert!(execution.cycles > 0);
}
