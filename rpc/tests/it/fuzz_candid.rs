//! Fuzzing every method of the EVM canister, in wasm under the host, with
//! arbitrary Candid: random bytes, and well-typed arguments with arbitrary
//! values (block tags past the head, NaN percentiles, huge gas, malformed
//! tracer options, …), sent by a caller that does not control the canister.
//!
//! Properties:
//! - the only traps are deliberate: an argument that does not decode, and
//!   a controller-only method called by someone else;
//! - a reply decodes as the method's declared result;
//! - the chain (its head and pool) is unchanged by anything refused, and
//!   the canister goes on answering.
//!
//! `CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true PROPTEST_CASES=5000 cargo test
//! --release -p canister-evm --test it fuzz_candid` runs a long campaign.

use canister_evm::node::Queries as _;
use std::sync::{LazyLock, Mutex};

use alloy_primitives::{TxKind, U256};
use candid::{CandidType, Principal};
use canister_evm::node::{Node, NodeError};
use evm_canister_api::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

/// The chain every case runs on: contracts deployed, a few blocks.
static NODE: LazyLock<Mutex<Node>> = LazyLock::new(|| {
    let (mut node, signers) = crate::start();
    let tester = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contracts/artifacts/Tester.json"
    ))
    .unwrap();
    let tester: serde_json::Value = serde_json::from_str(&tester).unwrap();
    let code = alloy_primitives::hex::decode(tester["bytecode"].as_str().unwrap()).unwrap();
    let deploy =
        crate::signed_with_gas(&signers[0], 0, TxKind::Create, U256::ZERO, code, 5_000_000);
    node.send_raw_transaction(&deploy).unwrap().unwrap();
    for nonce in 1..4 {
        node.send_raw_transaction(&crate::transfer(&signers[0], nonce)).unwrap().unwrap();
    }
    Mutex::new(node)
});

/// A caller that does not control the canister.
fn stranger() -> Principal {
    Principal::self_authenticating(b"somebody else")
}

/// What must not change when a message is refused.
fn fingerprint(node: &mut Node) -> (ChainInfo, usize) {
    (node.chain_info().unwrap(), node.pool_content().unwrap().len())
}

/// Traps the canister means: an argument that does not decode (ic-cdk's
/// decoding fails and its panic hook traps with Candid's reason), or a
/// controller-only method called by somebody else.
fn deliberate(trap: &str) -> bool {
    const UNDECODABLE: &str = "canister called `ic0.trap` with message: Panicked at 'called `Result::unwrap()` on an `Err` value: ";
    let candid_error = |rest: &str| {
        ["Custom(", "Subtype(", "Binread(", "Reserve", "Parse("].iter().any(|e| rest.starts_with(e))
    };
    trap.find(UNDECODABLE).is_some_and(|at| candid_error(&trap[at + UNDECODABLE.len()..]))
        || trap.contains("only a controller of the canister may call this method")
}

/// Every method of `evm.did`, and whether it is an update.
fn methods() -> Vec<(String, bool)> {
    let did = include_str!("../../../evm-canister/evm.did");
    let service = &did[did.find("service :").expect("a service")..];
    let body = &service[service.find('{').unwrap() + 1..service.rfind('}').unwrap()];
    let body: Vec<&str> =
        body.lines().filter(|line| !line.trim_start().starts_with("//")).collect();
    body.join(" ")
        .split(';')
        .filter_map(|entry| {
            let (name, signature) = entry.trim().split_once(" : ")?;
            Some((name.to_owned(), !signature.trim_end().ends_with("query")))
        })
        .collect()
}

/// Sends `arg` to `method` and checks the properties; `decode` checks the
/// reply's type.
fn check(
    method: &str,
    update: bool,
    arg: &[u8],
    decode: fn(&[u8]) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    let mut node = NODE.lock().unwrap_or_else(|e| e.into_inner());
    let before = fingerprint(&mut node);
    let answer =
        if update { node.update_as(stranger(), method, arg) } else { node.query_raw(method, arg) };
    match answer {
        Ok(reply) => {
            let decoded = decode(&reply);
            prop_assert!(decoded.is_ok(), "{}: the reply does not decode: {:?}", method, decoded);
        }
        Err(NodeError::Call(canister_host::CallError::Trapped(trap))) => {
            let trap = trap.to_string();
            prop_assert!(deliberate(&trap), "{} trapped: {}", method, trap);
        }
        Err(NodeError::Call(canister_host::CallError::Rejected(_))) => {}
        Err(NodeError::Call(canister_host::CallError::Refused(why))) => {
            // `canister_inspect_message` refuses a stranger's dev controls,
            // undecodable arguments and invalid transactions, on purpose.
            let on_purpose = why.contains("canister_inspect_message trapped")
                && ["only a controller", "undecodable argument", "transaction refused: "]
                    .iter()
                    .any(|reason| why.contains(reason));
            prop_assert!(on_purpose, "{} refused: {}", method, why);
        }
        Err(other) => prop_assert!(false, "{}: {}", method, other),
    }
    let after = fingerprint(&mut node);
    // Only a controller can change the chain, and a stranger's transactions
    // here are never valid: nothing changes.
    prop_assert_eq!(before, after, "{} changed the chain", method);
    Ok(())
}

fn decodes<R: CandidType + DeserializeOwned>(reply: &[u8]) -> Result<(), String> {
    candid::decode_one::<R>(reply).map(|_| ()).map_err(|e| e.to_string())
}

fn blob(max: usize) -> impl Strategy<Value = ByteBuf> {
    vec(any::<u8>(), 0..max).prop_map(ByteBuf::from)
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        Just(Address(alloy_primitives::Address::ZERO)),
        (1u8..=0x11).prop_map(|n| Address(alloy_primitives::Address::with_last_byte(n))),
        any::<[u8; 20]>().prop_map(|bytes| Address(bytes.into())),
    ]
}

fn hash() -> impl Strategy<Value = Hash> {
    prop_oneof![Just(Hash::default()), any::<[u8; 32]>().prop_map(|b| Hash(b.into()))]
}

fn wei() -> impl Strategy<Value = Wei> {
    prop_oneof![
        Just(Wei(U256::ZERO)),
        any::<u64>().prop_map(|n| Wei(U256::from(n))),
        any::<[u8; 32]>().prop_map(|b| Wei(U256::from_be_bytes(b))),
    ]
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![0..8u64, Just(u64::MAX), any::<u64>()]
}

fn tag() -> impl Strategy<Value = BlockTag> {
    prop_oneof![
        Just(BlockTag::Latest),
        Just(BlockTag::Pending),
        Just(BlockTag::Earliest),
        Just(BlockTag::Safe),
        Just(BlockTag::Finalized),
        number().prop_map(BlockTag::Number),
        hash().prop_map(BlockTag::Hash),
    ]
}

fn access_list() -> impl Strategy<Value = Vec<AccessListItem>> {
    vec(
        (address(), vec(hash(), 0..3))
            .prop_map(|(address, storage_keys)| AccessListItem { address, storage_keys }),
        0..3,
    )
}

prop_compose! {
    fn call_args()(
        from in proptest::option::of(address()),
        to in proptest::option::of(address()),
        gas in proptest::option::of(number()),
        gas_price in proptest::option::of(wei()),
        max_fee_per_gas in proptest::option::of(wei()),
        max_priority_fee_per_gas in proptest::option::of(wei()),
        value in proptest::option::of(wei()),
        input in blob(300),
        nonce in proptest::option::of(number()),
        access_list in access_list(),
        authorization_list in vec(blob(120), 0..2),
    ) -> CallArgs {
        CallArgs {
            from, to, gas, gas_price, max_fee_per_gas, max_priority_fee_per_gas, value, input,
            nonce, access_list, authorization_list,
        }
    }
}

prop_compose! {
    fn state_override()(
        address in address(),
        balance in proptest::option::of(wei()),
        nonce in proptest::option::of(number()),
        code in proptest::option::of(blob(100)),
        state in proptest::option::of(vec((hash(), hash()), 0..3)),
        state_diff in vec((hash(), hash()), 0..3),
    ) -> StateOverride {
        StateOverride { address, balance, nonce, code, state, state_diff }
    }
}

prop_compose! {
    fn log_filter()(
        from_block in proptest::option::of(tag()),
        to_block in proptest::option::of(tag()),
        block_hash in proptest::option::of(hash()),
        addresses in vec(address(), 0..3),
        topics in vec(vec(hash(), 0..3), 0..5),
        max_blocks in proptest::option::of(number()),
        max_logs in proptest::option::of(number()),
    ) -> LogFilter {
        LogFilter { from_block, to_block, block_hash, addresses, topics, max_blocks, max_logs }
    }
}

prop_compose! {
    fn account_edit()(
        address in address(),
        balance in proptest::option::of(wei()),
        nonce in proptest::option::of(number()),
        code in proptest::option::of(blob(100)),
        storage in vec((hash(), hash()), 0..3),
    ) -> AccountEdit {
        AccountEdit { address, balance, nonce, code, storage }
    }
}

/// Tracer options: geth's, broken ones, and arbitrary text.
fn tracer_options() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("{}".to_owned()),
        Just(r#"{"tracer":"callTracer","tracerConfig":{"withLog":true}}"#.to_owned()),
        Just(r#"{"tracer":"prestateTracer","tracerConfig":{"diffMode":true}}"#.to_owned()),
        Just(r#"{"tracer":"4byteTracer"}"#.to_owned()),
        Just(r#"{"tracer":"flatCallTracer"}"#.to_owned()),
        Just(
            r#"{"tracer":"muxTracer","tracerConfig":{"callTracer":{},"4byteTracer":{}}}"#
                .to_owned()
        ),
        number().prop_map(|limit| format!(r#"{{"limit":{limit},"enableMemory":true}}"#)),
        ".*",
    ]
}

fn percentile() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..=100.0f64, Just(f64::NAN), Just(f64::INFINITY), Just(-1.0), any::<f64>()]
}

/// One call of a method with well-typed, arbitrary arguments.
#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    arg: Vec<u8>,
    decode: fn(&[u8]) -> Result<(), String>,
}

fn case<A: candid::utils::ArgumentEncoder>(
    method: &'static str,
    args: A,
    decode: fn(&[u8]) -> Result<(), String>,
) -> Case {
    Case { method, arg: candid::encode_args(args).unwrap(), decode }
}

fn typed_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        Just(case("mine", (), decodes::<MinedBlock>)),
        (blob(300), address()).prop_map(|(raw, from)| case(
            "send_impersonated_transaction",
            (raw, from),
            decodes::<Result<SubmitResult, TxError>>
        )),
        account_edit().prop_map(|edit| case("edit_account", (edit,), decodes::<()>)),
        Just(case("snapshot", (), decodes::<u64>)),
        number().prop_map(|id| case("revert", (id,), decodes::<bool>)),
        any::<bool>().prop_map(|automine| case(
            "set_mining_mode",
            (MiningMode { automine },),
            decodes::<Vec<MinedBlock>>
        )),
        blob(400).prop_map(|raw| case(
            "send_raw_transaction",
            (raw,),
            decodes::<Result<SubmitResult, TxError>>
        )),
        Just(case("mining_mode", (), decodes::<MiningMode>)),
        Just(case("pool_content", (), decodes::<Vec<PooledTx>>)),
        hash().prop_map(|h| case("get_pooled_transaction", (h,), decodes::<Option<PooledTx>>)),
        Just(case("chain_info", (), decodes::<ChainInfo>)),
        (address(), tag()).prop_map(|(a, t)| case(
            "get_account",
            (a, t),
            decodes::<Result<AccountState, QueryError>>
        )),
        (address(), tag()).prop_map(|(a, t)| case(
            "get_code",
            (a, t),
            decodes::<Result<ByteBuf, QueryError>>
        )),
        (address(), hash(), tag()).prop_map(|(a, s, t)| case(
            "get_storage",
            (a, s, t),
            decodes::<Result<Hash, QueryError>>
        )),
        (address(), vec(hash(), 0..300), tag()).prop_map(|(a, s, t)| case(
            "get_proof",
            (a, s, t),
            decodes::<Result<AccountProof, QueryError>>
        )),
        (call_args(), tag(), vec(state_override(), 0..3)).prop_map(|(c, t, o)| case(
            "call",
            (c, t, o),
            decodes::<Result<CallOutcome, CallError>>
        )),
        (call_args(), tag(), vec(state_override(), 0..3)).prop_map(|(c, t, o)| case(
            "estimate_gas",
            (c, t, o),
            decodes::<Result<Estimate, CallError>>
        )),
        (call_args(), tag(), vec(state_override(), 0..3)).prop_map(|(c, t, o)| case(
            "create_access_list",
            (c, t, o),
            decodes::<Result<AccessListOutcome, CallError>>
        )),
        (hash(), tracer_options()).prop_map(|(h, o)| case(
            "trace_transaction",
            (h, o),
            decodes::<Result<Option<String>, QueryError>>
        )),
        (tag(), tracer_options()).prop_map(|(t, o)| case(
            "trace_block",
            (t, o),
            decodes::<Result<Vec<(Hash, String)>, QueryError>>
        )),
        (call_args(), tag(), tracer_options()).prop_map(|(c, t, o)| case(
            "trace_call",
            (c, t, o),
            decodes::<Result<String, CallError>>
        )),
        (tag(), any::<bool>()).prop_map(|(t, full)| case(
            "get_block",
            (t, full),
            decodes::<Option<BlockView>>
        )),
        hash().prop_map(|h| case("get_transaction", (h,), decodes::<Option<TransactionView>>)),
        hash().prop_map(|h| case("get_receipt", (h,), decodes::<Option<ReceiptView>>)),
        tag().prop_map(|t| case("get_block_receipts", (t,), decodes::<Option<Vec<ReceiptView>>>)),
        log_filter().prop_map(|f| case(
            "get_logs",
            (f,),
            decodes::<Result<Vec<LogView>, QueryError>>
        )),
        (number(), tag(), vec(percentile(), 0..5)).prop_map(|(n, t, p)| case(
            "fee_history",
            (n, t, p),
            decodes::<Result<FeeHistory, QueryError>>
        )),
        http_request().prop_map(|r| case("http_request", (r,), decodes::<http::HttpResponse>)),
        http_request().prop_map(|r| case(
            "http_request_update",
            (http::HttpUpdateRequest {
                method: r.method,
                url: r.url,
                headers: r.headers,
                body: r.body
            },),
            decodes::<http::HttpResponse>
        )),
    ]
}

/// A JSON-RPC body: a request for one of the methods the canister serves
/// (or not) with arbitrary parameters, a batch of them, or any bytes.
fn json_rpc_body() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec![
        "eth_chainId",
        "eth_getBalance",
        "eth_call",
        "eth_estimateGas",
        "eth_getLogs",
        "eth_getBlockByNumber",
        "eth_getTransactionReceipt",
        "eth_feeHistory",
        "eth_sendRawTransaction",
        "eth_getStorageAt",
        "evm_mine",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "(0x)?[0-9a-f]{0,70}|latest|pending|earliest".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            vec(("[a-zA-Z]{1,10}", inner), 0..4)
                .prop_map(|pairs| serde_json::Value::Object(pairs.into_iter().collect())),
        ]
    });
    let request = (method, vec(value, 0..4)).prop_map(|(method, params)| {
        serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params })
    });
    prop_oneof![
        request.clone().prop_map(|r| serde_json::to_vec(&r).unwrap()),
        vec(request, 0..4).prop_map(|batch| serde_json::to_vec(&batch).unwrap()),
        vec(any::<u8>(), 0..200),
    ]
}

fn http_request() -> impl Strategy<Value = http::HttpRequest> {
    let method = prop::sample::select(vec!["POST", "GET", "OPTIONS", "PUT", "post"]);
    (method, json_rpc_body(), vec(("[a-z-]{1,12}", "[ -~]{0,20}"), 0..3)).prop_map(
        |(method, body, headers)| http::HttpRequest {
            method: method.to_owned(),
            url: "/".to_owned(),
            headers,
            body: body.into(),
            certificate_version: Some(2),
        },
    )
}

/// Whether `method` is an update, per `evm.did`.
fn is_update(method: &str) -> bool {
    methods().into_iter().find(|(name, _)| name == method).expect("a method of evm.did").1
}

/// Every method of the interface has a typed case above.
#[test]
fn every_method_is_fuzzed() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..5_000 {
        seen.insert(typed_case().new_tree(&mut runner).unwrap().current().method);
    }
    for (method, _) in methods() {
        assert!(seen.contains(method.as_str()), "{method} has no fuzz case");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Well-typed arguments with arbitrary values.
    #[test]
    fn typed_arguments_into_every_method(case in typed_case()) {
        check(case.method, is_update(case.method), &case.arg, case.decode)?;
    }

    /// Bytes that are not (or barely) Candid.
    #[test]
    fn arbitrary_bytes_into_every_method(
        which in any::<prop::sample::Index>(),
        bytes in vec(any::<u8>(), 0..200),
        didl in any::<bool>(),
    ) {
        let methods = methods();
        let (method, update) = &methods[which.index(methods.len())];
        let mut arg = if didl { b"DIDL".to_vec() } else { Vec::new() };
        arg.extend_from_slice(&bytes);
        check(method, *update, &arg, |_| Ok(()))?;
    }
}
