//! Every JSON-RPC error the chain's methods return, with the codes and
//! wording that Ethereum clients parse (geth's, which ethers, viem and web3
//! match on).
//!
//! | code   | meaning                                                         |
//! |--------|-----------------------------------------------------------------|
//! | 3      | execution reverted; `data` holds the revert bytes               |
//! | -32000 | transaction refused (nonce, funds, fees, gas) or execution failed |
//! | -32001 | block not found                                                 |
//! | -32005 | a query exceeds a limit                                         |
//! | -32600 | not a JSON-RPC request                                          |
//! | -32601 | no such method                                                  |
//! | -32602 | invalid parameters (malformed hex, RLP, values)                 |
//! | -32603 | internal error                                                  |
//! | -32700 | the body is not JSON                                            |

use alloy_primitives::Bytes;
use alloy_sol_types::SolError;
use evm_canister_api::{CallError, CallOutcome, QueryError, TxError};
use serde::Serialize;

pub const EXECUTION_REVERTED: i32 = 3;
pub const SERVER_ERROR: i32 = -32000;
pub const NOT_FOUND: i32 = -32001;
pub const LIMIT_EXCEEDED: i32 = -32005;
pub const PARSE_ERROR: i32 = -32700;
pub const INVALID_REQUEST: i32 = -32600;
pub const METHOD_NOT_FOUND: i32 = -32601;
pub const INVALID_PARAMS: i32 = -32602;
pub const INTERNAL_ERROR: i32 = -32603;

/// A JSON-RPC error object: what a method answers instead of a result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

#[cfg(feature = "jsonrpsee")]
impl From<RpcError> for jsonrpsee_types::ErrorObjectOwned {
    fn from(error: RpcError) -> Self {
        jsonrpsee_types::ErrorObjectOwned::owned(error.code, error.message, error.data)
    }
}

impl From<std::convert::Infallible> for RpcError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

pub fn invalid_params(message: impl Into<String>) -> RpcError {
    RpcError::new(INVALID_PARAMS, message)
}

/// geth's generic server error, `-32000`, with `message`.
pub fn server_error(message: impl Into<String>) -> RpcError {
    RpcError::new(SERVER_ERROR, message)
}

/// A request beyond one of the chain's limits (`-32005`).
pub fn limit_exceeded(message: impl Into<String>) -> RpcError {
    RpcError::new(LIMIT_EXCEEDED, message)
}

pub fn internal(message: impl Into<String>) -> RpcError {
    RpcError::new(INTERNAL_ERROR, message)
}

/// `-32601`, in geth's words.
pub fn method_not_found(method: &str) -> RpcError {
    RpcError::new(METHOD_NOT_FOUND, format!("the method {method} does not exist/is not available"))
}

/// A transaction the canister refused, in geth's words: a malformed one
/// is invalid params (`-32602`), the rest are server errors (`-32000`).
pub fn tx_error(err: &TxError) -> RpcError {
    match err {
        TxError::Malformed(_) => invalid_params(err.to_string()),
        _ => server_error(err.to_string()),
    }
}

pub fn query_error(err: &QueryError) -> RpcError {
    match err {
        QueryError::BlockNotFound => RpcError::new(NOT_FOUND, "header not found"),
        QueryError::InvalidArgument(message) => invalid_params(message.clone()),
        QueryError::LimitExceeded(message) => limit_exceeded(message.clone()),
        QueryError::Internal(message) => internal(message.clone()),
    }
}

pub fn call_error(err: &CallError) -> RpcError {
    match err {
        CallError::Tx(tx) => tx_error(tx),
        CallError::Query(query) => query_error(query),
    }
}

/// `execution reverted[: reason]`, code 3, with the revert bytes as `data`.
pub fn reverted(output: &[u8]) -> RpcError {
    let message = match revert_reason(output) {
        Some(reason) => format!("execution reverted: {reason}"),
        None => "execution reverted".to_owned(),
    };
    RpcError {
        code: EXECUTION_REVERTED,
        message,
        data: Some(serde_json::Value::String(Bytes::copy_from_slice(output).to_string())),
    }
}

/// The reason of an `Error(string)` revert, or the kind of a `Panic(uint256)`.
fn revert_reason(output: &[u8]) -> Option<String> {
    if let Ok(revert) = alloy_sol_types::Revert::abi_decode(output) {
        return Some(revert.reason);
    }
    alloy_sol_types::Panic::abi_decode(output).ok().map(|panic| match panic.kind() {
        Some(kind) => format!("panic: {kind} (0x{:02x})", panic.code),
        None => format!("panic: 0x{:x}", panic.code),
    })
}

/// An execution that did not succeed, as `eth_call` reports it.
pub fn failed_call(outcome: &CallOutcome) -> RpcError {
    match outcome {
        CallOutcome::Revert { output, .. } => reverted(output),
        CallOutcome::Halt { reason, .. } => server_error(reason.to_string()),
        CallOutcome::Success { .. } => internal("a successful call is not an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    #[test]
    fn a_reason_string_is_in_the_message_and_the_bytes_in_data() {
        let output = alloy_sol_types::Revert::from("not the owner").abi_encode();
        let error = reverted(&output);
        assert_eq!(error.code, 3);
        assert_eq!(error.message, "execution reverted: not the owner");
        let data: Bytes = serde_json::from_value(error.data.unwrap()).unwrap();
        assert_eq!(data.as_ref(), &output[..]);
    }

    #[test]
    fn a_custom_error_is_only_data() {
        let output = [0xde, 0xad, 0xbe, 0xef, 1, 2, 3];
        let error = reverted(&output);
        assert_eq!(error.message, "execution reverted");
        assert_eq!(error.data.unwrap(), serde_json::json!("0xdeadbeef010203"));
    }

    #[test]
    fn panics_are_named() {
        let output = alloy_sol_types::Panic::from(U256::from(0x12)).abi_encode();
        assert_eq!(
            reverted(&output).message,
            "execution reverted: panic: division or modulo by zero (0x12)"
        );
    }

    #[test]
    fn pool_errors_use_geths_wording() {
        let cases = [
            (
                TxError::NonceTooLow { expected: 2, got: 1 },
                "nonce too low: next nonce 2, tx nonce 1",
            ),
            (TxError::TypeNotSupported(3), "transaction type not supported"),
            (
                TxError::Oversized { size: 131_073, limit: 131_072 },
                "oversized data: transaction size 131073, limit 131072",
            ),
            (
                TxError::GasLimitExceedsBlock { gas: 2, limit: 1 },
                "exceeds block gas limit: gas 2, limit 1",
            ),
            (
                TxError::InvalidChainId { expected: 31337, got: Some(1) },
                "invalid chain id for signer: have 1 want 31337",
            ),
        ];
        for (err, message) in cases {
            let object = tx_error(&err);
            assert_eq!(object.code, -32000);
            assert_eq!(object.message, message);
        }
        assert_eq!(tx_error(&TxError::Malformed("rlp: x".into())).code, -32602);
    }
}
