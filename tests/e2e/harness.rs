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
    /// Starts the node with `args` on a free port and waits until it listens.
    pub fn start(args: &[&str]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_canister-evm"));
        command
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--cache-dir")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut command);
        let mut child = command.spawn().expect("start canister-evm");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = String::new();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let status = child.wait().unwrap();
                panic!("canister-evm exited ({status}) before listening:\n{banner}");
            };
            if let Some(addr) = line.strip_prefix("Listening on ") {
                break format!("http://{addr}");
            }
            banner.push_str(&line);
            banner.push('\n');
        };
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node { child, url, banner }
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
