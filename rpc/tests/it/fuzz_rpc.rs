//! Fuzzing the JSON-RPC server: every method with arbitrary and plausible
//! parameters through `RpcModule` (no socket), and arbitrary bodies and
//! WebSocket messages over a socket.
//!
//! Properties:
//! - every answer is a JSON-RPC response, and every error carries one of
//!   the codes clients parse (never `-32603`, which means a bug);
//! - a refused request changes nothing: not the head, not the pool, not the
//!   dev accounts;
//! - the node keeps serving.
//!
//! `CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true PROPTEST_CASES=20000 cargo test
//! --release -p canister-evm --test it fuzz_rpc` runs a long campaign
//! (overflow checks on, as in the debug build CI runs: a campaign without
//! them once missed an overflow on `evm_increaseTime 0xff…ff`).

use canister_evm::node::Queries as _;
use std::sync::LazyLock;

use alloy_primitives::Address;
use canister_evm::handle::NodeHandle;
use canister_evm::server::rpc_module;
use evm_canister_api::BlockTag;
use jsonrpsee::RpcModule;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

struct Fixture {
    /// Held by each case: the two targets share the node, and a case must
    /// see only its own changes.
    turn: std::sync::Mutex<()>,
    runtime: tokio::runtime::Runtime,
    module: RpcModule<()>,
    handle: NodeHandle,
    accounts: Vec<Address>,
    /// A server on a socket for the same node.
    addr: std::net::SocketAddr,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (node, signers) = crate::start();
    let accounts = signers.iter().map(|s| s.address()).collect();
    let handle = NodeHandle::new(node, signers);
    let module = rpc_module(handle.clone()).unwrap();
    let addr = runtime.block_on(async {
        let (addr, server) =
            canister_evm::server::serve(handle.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        // Serves until the test process ends.
        std::mem::forget(server);
        addr
    });
    Fixture { turn: std::sync::Mutex::new(()), runtime, module, handle, accounts, addr }
});

/// Methods left out: interval mining keeps producing blocks after the
/// case, which would look like a change made by the next one.
const SKIPPED: &[&str] = &["evm_setIntervalMining", "anvil_setIntervalMining"];

/// The codes an answer may carry (see `rpc/src/error.rs`).
const CODES: &[i64] = &[3, -32000, -32001, -32005, -32600, -32601, -32602, -32700];

/// What a refused request must leave as it was.
fn fingerprint(fixture: &Fixture) -> Value {
    let accounts = fixture.accounts.clone();
    fixture
        .runtime
        .block_on(fixture.handle.run(move |node| {
            let info = node.chain_info()?;
            let pool = node.pool_content()?.len();
            let mut state = Vec::new();
            for account in accounts {
                let account = node.account(account.into(), BlockTag::Latest)?;
                state.push(format!("{account:?}"));
            }
            Ok(json!({ "info": format!("{info:?}"), "pool": pool, "accounts": state }))
        }))
        .unwrap()
}

fn method() -> impl Strategy<Value = String> {
    let mut names: Vec<String> = FIXTURE
        .module
        .method_names()
        .filter(|name| !SKIPPED.contains(name))
        .map(str::to_owned)
        .collect();
    names.sort();
    prop_oneof![
        9 => proptest::sample::select(names),
        1 => "[a-z_]{1,24}",
    ]
}

fn hex(max_bytes: usize) -> impl Strategy<Value = String> {
    vec(any::<u8>(), 0..max_bytes).prop_map(alloy_primitives::hex::encode_prefixed)
}

/// Values of the shapes Ethereum methods take, and some they do not.
fn plausible() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        hex(40).prop_map(Value::from),
        hex(3).prop_map(Value::from),
        Just(Value::from("0x")),
        prop_oneof![
            Just("latest"),
            Just("pending"),
            Just("earliest"),
            Just("safe"),
            Just("finalized"),
            Just("0x0"),
            Just("0x1"),
            Just("0xffffffffffffffff"),
            Just("0x10000000000000000"),
        ]
        .prop_map(Value::from),
        any::<u64>().prop_map(|n| Value::from(format!("{n:#x}"))),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("from"),
            Just("to"),
            Just("data"),
            Just("input"),
            Just("gas"),
            Just("gasPrice"),
            Just("maxFeePerGas"),
            Just("maxPriorityFeePerGas"),
            Just("value"),
            Just("nonce"),
            Just("accessList"),
            Just("fromBlock"),
            Just("toBlock"),
            Just("blockHash"),
            Just("address"),
            Just("topics"),
            Just("tracer"),
            Just("tracerConfig"),
            Just("balance"),
            Just("code"),
            Just("state"),
            Just("stateDiff"),
            Just("limit"),
        ];
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((keys, inner), 0..5).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn params() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => vec(plausible(), 0..4).prop_map(Value::Array),
        1 => plausible(),
    ]
}

/// Checks that `answer` is a JSON-RPC response with an allowed code.
fn well_formed(answer: &Value) -> Result<Option<i64>, TestCaseError> {
    prop_assert_eq!(&answer["jsonrpc"], "2.0", "{}", answer);
    let error = answer.get("error");
    prop_assert!(error.is_some() != answer.get("result").is_some(), "{}", answer);
    let Some(error) = error else { return Ok(None) };
    let code = error["code"].as_i64().unwrap_or_default();
    prop_assert!(CODES.contains(&code), "code {} in {}", code, answer);
    prop_assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer);
    Ok(Some(code))
}

/// One request through `RpcModule`; whether it succeeded.
fn one_request(method: &str, params: &Value) -> Result<bool, TestCaseError> {
    let fixture = &*FIXTURE;
    let _turn = fixture.turn.lock().unwrap_or_else(|e| e.into_inner());
    let before = fingerprint(fixture);
    let request = json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params });
    let (answer, _) = fixture
        .runtime
        .block_on(fixture.module.raw_json_request(&request.to_string(), 16))
        .unwrap();
    let answer: Value = serde_json::from_str(answer.get()).unwrap();
    let refused = well_formed(&answer)?.is_some();
    if refused {
        prop_assert_eq!(fingerprint(fixture), before, "{} refused, yet the chain changed", request);
    }
    still_serving(fixture)?;
    Ok(!refused)
}

/// Every method with arbitrary and plausible parameters.
#[test]
fn every_method_with_arbitrary_params() {
    let config = ProptestConfig { failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&(method(), params()), |(method, params)| {
        if one_request(&method, &params)? {
            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Plausible parameters get past parsing often enough to reach the
    // canister; otherwise this target tests only the parser.
    let answered = answered.into_inner();
    assert!(answered * 10 >= runner.config().cases as usize, "only {answered} requests succeeded");
}

fn still_serving(fixture: &Fixture) -> Result<(), TestCaseError> {
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let (answer, _) =
        fixture.runtime.block_on(fixture.module.raw_json_request(request, 1)).unwrap();
    prop_assert!(answer.get().contains("0x7a69"), "{}", answer.get());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes, and JSON near JSON-RPC, over HTTP.
    #[test]
    fn arbitrary_http_bodies(
        body in prop_oneof![
            vec(any::<u8>(), 0..300),
            (method(), params()).prop_map(|(m, p)| {
                json!({ "jsonrpc": "2.0", "id": 1, "method": m, "params": p }).to_string().into_bytes()
            }),
            vec((method(), params()), 0..4).prop_map(|calls| {
                let calls: Vec<Value> = calls.into_iter().enumerate().map(|(id, (m, p))| {
                    json!({ "jsonrpc": "2.0", "id": id, "method": m, "params": p })
                }).collect();
                serde_json::to_vec(&calls).unwrap()
            }),
        ],
    ) {
        let fixture = &*FIXTURE;
        let _turn = fixture.turn.lock().unwrap_or_else(|e| e.into_inner());
        let before = fingerprint(fixture);
        let url = format!("http://{}", fixture.addr);
        let answer = ureq::post(&url).header("content-type", "application/json").send(&body[..]);
        let (status, text) = match answer {
            Ok(mut response) => {
                (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
            }
            Err(ureq::Error::StatusCode(status)) => (status, String::new()),
            Err(error) => return Err(TestCaseError::fail(format!("{error}"))),
        };
        prop_assert!([200, 400].contains(&status), "HTTP {} for {:?}", status, body);
        // Refused: an HTTP error, or only error answers.
        let mut refused = status != 200;
        if !text.is_empty() {
            let answer: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            let answers = match answer {
                Value::Array(answers) => answers,
                single => vec![single],
            };
            let mut errors = 0;
            for answer in &answers {
                errors += usize::from(well_formed(answer)?.is_some());
            }
            refused |= !answers.is_empty() && errors == answers.len();
        }
        if refused {
            prop_assert_eq!(fingerprint(fixture), before);
        }
        still_serving(fixture)?;
    }
}
