//! The real transactions of a chain, for the cost report: from a running
//! node over JSON-RPC (`--url`), or from a data directory (`--data-dir`).
//!
//! Contracts and methods are named as the node's log names them
//! ([`Names`]): by the ABIs of `contracts/` and of `--abi` files, and by
//! address for contracts deployed from known bytecode.

use std::path::{Path, PathBuf};

use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::eip2718::Decodable2718 as _;
use alloy_primitives::{Address, B256};
use anyhow::{Context as _, anyhow, bail};
use evm_canister_api::{BlockTag, Hash};
use serde_json::{Value, json};

use super::Sample;
use crate::cost::TxCost;
use crate::node::Queries as _;
use crate::node::{Node, NodeConfig};
use crate::txlog::Names;

/// Names `Sample`s as the node's log does.
fn sample(
    names: &mut Names,
    hash: B256,
    to: Option<Address>,
    input: &[u8],
    created: Option<Address>,
    cost: &TxCost,
) -> Sample {
    let (contract, method) = match (to, created) {
        (None, Some(address)) => {
            let name = names.deployed(address, input);
            (name.unwrap_or_else(|| "(unknown)".to_owned()), "deploy".to_owned())
        }
        (None, None) => ("(unknown)".to_owned(), "deploy".to_owned()),
        (Some(to), _) => {
            let selector = input.get(..4).map(|s| <[u8; 4]>::try_from(s).expect("four bytes"));
            match names.call(Some(to), selector) {
                _ if selector.is_none() => ("(ether)".to_owned(), "transfer".to_owned()),
                (Some(contract), method) => (contract, method),
                (None, method) => ("(unknown)".to_owned(), method),
            }
        }
    };
    Sample::new(&contract, &method, hash, cost)
}

/// The ABIs in `files` (artifacts with an `abi` field, or bare ABI arrays),
/// each named after its file, added to `names`.
pub fn add_abis(names: &mut Names, files: &[PathBuf]) -> anyhow::Result<()> {
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        let (abi, name) = match &value {
            Value::Array(_) => (value.clone(), None),
            Value::Object(object) => (
                object
                    .get("abi")
                    .cloned()
                    .with_context(|| format!("{} has no `abi`", file.display()))?,
                object.get("contractName").and_then(Value::as_str).map(str::to_owned),
            ),
            _ => bail!("{} is neither an ABI nor an artifact", file.display()),
        };
        let abi = serde_json::from_value(abi)
            .with_context(|| format!("the ABI in {}", file.display()))?;
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("Contract").to_owned();
        names.add(&name.unwrap_or(stem), &abi);
    }
    Ok(())
}

/// Every transaction of the node at `url` (plain HTTP).
pub async fn from_url(url: &str, mut names: Names) -> anyhow::Result<Vec<Sample>> {
    let mut client = Client::connect(url).await?;
    let head = quantity(&client.call("eth_blockNumber", json!([])).await?)?;
    let mut samples = Vec::new();
    for number in 0..=head {
        let block =
            client.call("eth_getBlockByNumber", json!([format!("{number:#x}"), true])).await?;
        let txs = block["transactions"].as_array().cloned().unwrap_or_default();
        if txs.is_empty() {
            continue;
        }
        let receipts = client.call("eth_getBlockReceipts", json!([format!("{number:#x}")])).await?;
        for (tx, receipt) in txs.iter().zip(receipts.as_array().into_iter().flatten()) {
            let hash: B256 = serde_json::from_value(tx["hash"].clone())?;
            let to: Option<Address> = serde_json::from_value(tx["to"].clone())?;
            let input = alloy_primitives::hex::decode(tx["input"].as_str().unwrap_or("0x"))?;
            let created: Option<Address> =
                serde_json::from_value(receipt["contractAddress"].clone())?;
            let cost = receipt_cost(receipt).with_context(|| format!("the receipt of {hash}"))?;
            samples.push(sample(&mut names, hash, to, &input, created, &cost));
        }
    }
    Ok(samples)
}

/// The cost fields of a receipt from our node.
fn receipt_cost(receipt: &Value) -> anyhow::Result<TxCost> {
    let field = |name: &str| -> anyhow::Result<u64> {
        quantity(&receipt[name]).with_context(|| format!("`{name}` (is this a canister-evm node?)"))
    };
    let breakdown = match receipt.get("costBreakdown") {
        Some(b) if b.is_object() => {
            let phase =
                |name: &str| quantity(&b[name]).with_context(|| format!("costBreakdown.{name}"));
            Some(crate::cost::CostBreakdown {
                decoding: phase("decoding")?,
                sender_recovery: phase("senderRecovery")?,
                validation: phase("validation")?,
                evm_execution: phase("evmExecution")?,
                state_write: phase("stateWrite")?,
                block_seal: phase("blockSeal")?,
                other: phase("other")?,
            })
        }
        _ => None,
    };
    Ok(TxCost {
        gas_used: field("gasUsed")?,
        instructions: field("wasmInstructions")?,
        cycles: field("cycles")?.into(),
        stable_bytes_written: 0,
        breakdown,
    })
}

fn quantity(value: &Value) -> anyhow::Result<u64> {
    let text = value.as_str().context("a hex quantity")?;
    u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|e| anyhow!("{text}: {e}"))
}

/// A JSON-RPC client on one HTTP/1.1 connection.
struct Client {
    uri: http::Uri,
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
    id: u64,
}

impl Client {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("{url}: only http:// URLs are supported");
        }
        let host = uri.host().context("the URL has no host")?.trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { uri, sender, id: 0 })
    }

    async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        use http_body_util::BodyExt as _;
        self.id += 1;
        let body = json!({ "jsonrpc": "2.0", "id": self.id, "method": method, "params": params });
        let authority = self.uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let request = http::Request::post(self.uri.clone())
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body.to_string())))?;
        self.sender.ready().await?;
        let response =
            self.sender.send_request(request).await.with_context(|| method.to_owned())?;
        let bytes = response.into_body().collect().await?.to_bytes();
        let mut reply: Value =
            serde_json::from_slice(&bytes).with_context(|| format!("the reply to {method}"))?;
        if let Some(error) = reply.get("error") {
            bail!("{method} failed: {error}");
        }
        Ok(reply["result"].take())
    }
}

/// Every transaction of the chain in `dir`, read from a copy of the
/// directory so that the original is never touched (a node may be
/// running on it).
pub fn from_data_dir(
    dir: &Path,
    config: NodeConfig,
    mut names: Names,
) -> anyhow::Result<Vec<Sample>> {
    if std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(true) {
        bail!("{} holds no chain", dir.display());
    }
    let copy = std::env::temp_dir().join(format!("canister-evm-costs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(dir, &copy).with_context(|| format!("copying {}", dir.display()))?;
    let result = (|| {
        let config = NodeConfig { data_dir: Some(copy.clone()), ..config };
        let (mut node, _) = Node::start(crate::CANISTER_WASM, config)?;
        let head = node.chain_info().map_err(|e| anyhow!("{e}"))?.latest_block;
        let mut samples = Vec::new();
        for number in 0..=head {
            let block = node.block(BlockTag::Number(number), true).map_err(|e| anyhow!("{e}"))?;
            for tx in block.map(|b| b.full_transactions).unwrap_or_default() {
                let envelope = TxEnvelope::decode_2718(&mut &tx.raw[..])
                    .map_err(|e| anyhow!("transaction {} does not decode: {e}", tx.hash.0))?;
                let Some(cost) = node.transaction_cost(tx.hash.0) else { continue };
                let created = match envelope.to() {
                    None => node
                        .receipt(Hash(tx.hash.0))
                        .map_err(|e| anyhow!("{e}"))?
                        .and_then(|r| r.contract_address)
                        .map(|a| a.0),
                    Some(_) => None,
                };
                samples.push(sample(
                    &mut names,
                    tx.hash.0,
                    envelope.to(),
                    envelope.input(),
                    created,
                    &cost,
                ));
            }
        }
        Ok(samples)
    })();
    let _ = std::fs::remove_dir_all(&copy);
    result
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_named_like_the_log_names_them() {
        let mut names = Names::builtin();
        let cost = TxCost {
            gas_used: 21_000,
            instructions: 1,
            cycles: 1,
            stable_bytes_written: 0,
            breakdown: None,
        };
        let token = Address::repeat_byte(7);
        let bytecode = crate::contracts::artifact("Token").unwrap().bytecode;
        let deploy = sample(&mut names, B256::ZERO, None, &bytecode, Some(token), &cost);
        assert_eq!(deploy.label(), "Token.deploy");
        let transfer = alloy_primitives::keccak256("transfer(address,uint256)")[..4].to_vec();
        assert_eq!(
            sample(&mut names, B256::ZERO, Some(token), &transfer, None, &cost).label(),
            "Token.transfer"
        );
        let elsewhere = Address::repeat_byte(8);
        assert_eq!(
            sample(&mut names, B256::ZERO, Some(elsewhere), &transfer, None, &cost).label(),
            "(unknown).transfer"
        );
        assert_eq!(
            sample(&mut names, B256::ZERO, Some(elsewhere), &[], None, &cost).label(),
            "(ether).transfer"
        );
    }

    #[test]
    fn receipts_without_our_fields_are_refused() {
        let err = receipt_cost(&json!({ "gasUsed": "0x5208" })).unwrap_err();
        assert!(format!("{err:#}").contains("canister-evm node"), "{err:#}");
        let cost = receipt_cost(
            &json!({ "gasUsed": "0x5208", "wasmInstructions": "0x10", "cycles": "0x20" }),
        )
        .unwrap();
        assert_eq!((cost.gas_used, cost.instructions, cost.cycles), (21_000, 16, 32));
    }
}
