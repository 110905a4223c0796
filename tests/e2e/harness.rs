//! Starting the node and running client test suites.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A running `canister-evm`, killed when dropped.
pub struct Node {
    child: Child,
    pub url: String,
    /// Everything the node printed before it started listening.
    pub banner: String,
}

impl Node {
    /// Starts an in-memory node with `args` on a free port and waits until
    /// it listens.
    pub fn start(args: &[&str]) -> Node {
        let mut all = vec!["--ephemeral"];
        all.extend_from_slice(args);
        Self::spawn(&all).expect("the node starts")
    }

    /// Starts a node keeping its chain in `dir`.
    pub fn start_in(dir: &Path, args: &[&str]) -> Node {
        Self::try_start_in(dir, args)
            .unwrap_or_else(|output| panic!("the node did not start:\n{output}"))
    }

    /// Like [`Node::start_in`], but returns what the node printed if it exits
    /// instead of listening.
    pub fn try_start_in(dir: &Path, args: &[&str]) -> Result<Node, String> {
        let mut all = vec!["--data-dir", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        Self::spawn(&all)
    }

    /// Starts a node in `dir` that cannot write files larger than
    /// `max_file_bytes` (`RLIMIT_FSIZE`): a disk that fills up.
    pub fn start_limited(dir: &Path, max_file_bytes: u64) -> Node {
        let args = ["--data-dir", dir.to_str().unwrap()];
        Self::spawn_with(&args, Some(max_file_bytes)).expect("the node starts")
    }

    fn spawn(args: &[&str]) -> Result<Node, String> {
        Self::spawn_with(args, None)
    }

    fn spawn_with(args: &[&str], max_file_bytes: Option<u64>) -> Result<Node, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_canister-evm"));
        command
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--cache-dir")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut command);
        if let Some(limit) = max_file_bytes {
            limit_file_size(&mut command, limit);
        }
        let mut child = command.spawn().expect("start canister-evm");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        // Forward the node's log to the test's output, and keep it for errors.
        let log = std::sync::Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("  [node] {line}");
                sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&(line + "\n"));
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = String::new();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let status = child.wait().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                return Err(format!(
                    "canister-evm exited ({status}) before listening:\n{banner}{log}"
                ));
            };
            if let Some(addr) = line.strip_prefix("Listening on ") {
                break format!("http://{addr}");
            }
            banner.push_str(&line);
            banner.push('\n');
        };
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Node { child, url, banner })
    }

    /// Stops the node as Ctrl-C would (it checkpoints), and waits.
    pub fn stop(mut self) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the node exited with {status}");
    }

    /// Kills the node with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the child die with the test process, even if the test is killed.
fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: `prctl` is async-signal-safe and touches no memory of the
        // parent; it runs in the child between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// Makes writes past `limit` bytes of any file fail (EFBIG), as on a full disk.
fn limit_file_size(command: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: `setrlimit` and `signal` are async-signal-safe; they run in the
    // child between fork and exec and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

static NPM: Mutex<()> = Mutex::new(());

/// Installs the npm packages of `dir` from its lockfile, unless the lockfile
/// is what was installed last time.
pub fn npm_ci(dir: &Path) {
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let lock = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json");
    let stamp = dir.join("node_modules/.installed-lockfile");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("run npm (is Node.js installed?)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
    std::fs::write(stamp, lock).unwrap();
}

/// Runs a `node --test` suite against `node`; panics with its output if any
/// test fails.
pub fn node_test(node: &Node, suite: &str) {
    let dir = repo().join("tests/js");
    npm_ci(&dir);
    let output = Command::new("node")
        .args(["--test", "--test-reporter=spec", "--test-timeout=120000", suite])
        .current_dir(&dir)
        .env("RPC_URL", &node.url)
        .output()
        .expect("run node");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    assert!(
        output.status.success(),
        "{suite} failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Sends one JSON-RPC request and returns the parsed response object.
pub fn rpc(node: &Node, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    post(node, &body.to_string())
}

/// POSTs a raw body (which need not be valid JSON).
pub fn post(node: &Node, body: &str) -> serde_json::Value {
    let response = ureq::post(&node.url)
        .header("content-type", "application/json")
        .config()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .send(body)
        .expect("the node answers");
    let text = response.into_body().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The node's development accounts (the standard test mnemonic).
pub fn dev_keys() -> Vec<alloy_signer_local::PrivateKeySigner> {
    canister_evm::dev::DevChain::default().signers()
}

/// A signed EIP-1559 transaction, hex-encoded for `eth_sendRawTransaction`.
pub fn signed(
    key: &alloy_signer_local::PrivateKeySigner,
    nonce: u64,
    to: alloy_primitives::TxKind,
    value: u64,
    input: Vec<u8>,
) -> (alloy_primitives::B256, Vec<u8>) {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_signer::SignerSync;
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 3_000_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: alloy_primitives::U256::from(value),
        access_list: Default::default(),
        input: input.into(),
    };
    let signature = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let envelope = TxEnvelope::from(tx.into_signed(signature));
    (*envelope.tx_hash(), envelope.encoded_2718())
}

/// Sends a raw transaction; the hash if the node accepted it.
pub fn send_raw(url: &str, raw: &[u8]) -> Result<alloy_primitives::B256, String> {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
        "params": [alloy_primitives::hex::encode_prefixed(raw)],
    });
    let response = ureq::post(url)
        .header("content-type", "application/json")
        .config()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .send(body.to_string())
        .map_err(|e| e.to_string())?;
    let text = response.into_body().read_to_string().map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    match value["result"].as_str() {
        Some(hash) => Ok(hash.parse().unwrap()),
        None => Err(value["error"].to_string()),
    }
}

/// A JSON-RPC quantity as a number.
pub fn quantity(value: &serde_json::Value) -> u128 {
    let text = value.as_str().unwrap_or_else(|| panic!("not a quantity: {value}"));
    u128::from_str_radix(text.trim_start_matches("0x"), 16).unwrap()
}
