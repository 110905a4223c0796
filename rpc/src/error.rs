//! Every JSON-RPC error the node returns, with the codes and wording that
//! Ethereum clients parse (geth's, which ethers, viem and web3 match on).
//!
//! | code   | meaning                                                         |
//! |--------|-----------------------------------------------------------------|
//! | 3      | execution reverted; `data` holds the revert bytes               |
//! | -32000 | transaction refused (nonce, funds, fees, gas) or execution failed |
//! | -32001 | block not found                                                 |
//! | -32005 | a query exceeds a limit                                         |
//! | -32602 | invalid parameters (malformed hex, RLP, values)                 |
//! | -32000 | … or the canister ran out of instructions or cycles             |
//! | -32603 | internal error (the canister trapped, broke its interface, or    |
//! |        | two compilers diverged in `--verify-with` mode)                  |

use alloy_primitives::Bytes;
use alloy_sol_types::SolError;
use evm_canister_api::{CallError, CallOutcome, QueryError, TxError};
use jsonrpsee::types::ErrorObjectOwned;

use crate::node::NodeError;

pub const EXECUTION_REVERTED: i32 = 3;
pub const SERVER_ERROR: i32 = -32000;
pub const NOT_FOUND: i32 = -32001;
pub const LIMIT_EXCEEDED: i32 = -32005;
pub const INVALID_PARAMS: i32 = -32602;
pub const INTERNAL_ERROR: i32 = -32603;

fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message, None::<()>)
}

pub fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(INVALID_PARAMS, message)
}

/// geth's generic server error, `-32000`, with `message`.
pub fn server_error(message: impl Into<String>) -> ErrorObjectOwned {
    error(SERVER_ERROR, message)
}

/// A request beyond one of the node's limits (`-32005`).
pub fn limit_exceeded(message: impl Into<String>) -> ErrorObjectOwned {
    error(LIMIT_EXCEEDED, message)
}

pub fn internal(message: impl Into<String>) -> ErrorObjectOwned {
    error(INTERNAL_ERROR, message)
}

/// A transaction the canister refused, in geth's words: a malformed one
/// is invalid params (`-32602`), the rest are server errors (`-32000`).
pub fn tx_error(err: &TxError) -> ErrorObjectOwned {
    match err {
        TxError::Malformed(_) => invalid_params(err.to_string()),
        _ => error(SERVER_ERROR, err.to_string()),
    }
}

pub fn query_error(err: &QueryError) -> ErrorObjectOwned {
    match err {
        QueryError::BlockNotFound => error(NOT_FOUND, "header not found"),
        QueryError::InvalidArgument(message) => invalid_params(message.clone()),
        QueryError::LimitExceeded(message) => limit_exceeded(message.clone()),
        QueryError::Internal(message) => internal(message.clone()),
    }
}

pub fn call_error(err: &CallError) -> ErrorObjectOwned {
    match err {
        CallError::Tx(tx) => tx_error(tx),
        CallError::Query(query) => query_error(query),
    }
}

/// A failure of the node or canister itself (not of the transaction).
pub fn node_error(err: &NodeError) -> ErrorObjectOwned {
    use canister_host::{CallError as Host, Trap};
    match err {
        NodeError::Call(Host::Trapped(Trap::OutOfInstructions(limit))) => error(
            SERVER_ERROR,
            format!("the canister ran out of instructions (limit {limit}); nothing was executed"),
        ),
        NodeError::Call(Host::OutOfCycles { balance, needed }) => error(
            SERVER_ERROR,
            format!("the canister is out of cycles: it holds {balance}, the call needs {needed}"),
        ),
        NodeError::Call(Host::ArgumentTooLarge { size, limit }) => invalid_params(format!(
            "request too large for the canister: {size} bytes, limit {limit}"
        )),
        other => internal(other.to_string()),
    }
}

/// `execution reverted[: reason]`, code 3, with the revert bytes as `data`.
pub fn reverted(output: &[u8]) -> ErrorObjectOwned {
    let message = match revert_reason(output) {
        Some(reason) => format!("execution reverted: {reason}"),
        None => "execution reverted".to_owned(),
    };
    ErrorObjectOwned::owned(EXECUTION_REVERTED, message, Some(Bytes::copy_from_slice(output)))
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
pub fn failed_call(outcome: &CallOutcome) -> ErrorObjectOwned {
    match outcome {
        CallOutcome::Revert { output, .. } => reverted(output),
        CallOutcome::Halt { reason, .. } => error(SERVER_ERROR, reason.to_string()),
        CallOutcome::Success { .. } => internal("a successful call is not an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use alloy_sol_types::SolError;

    #[test]
    fn a_reason_string_is_in_the_message_and_the_bytes_in_data() {
        let output = alloy_sol_types::Revert::from("not the owner").abi_encode();
        let error = reverted(&output);
        assert_eq!(error.code(), 3);
        assert_eq!(error.message(), "execution reverted: not the owner");
        let data: Bytes = serde_json::from_str(error.data().unwrap().get()).unwrap();
        assert_eq!(data.as_ref(), &output[..]);
    }

    #[test]
    fn a_custom_error_is_only_data() {
        let output = [0xde, 0xad, 0xbe, 0xef, 1, 2, 3];
        let error = reverted(&output);
        assert_eq!(error.message(), "execution reverted");
        assert_eq!(error.data().unwrap().get(), "\"0xdeadbeef010203\"");
    }

    #[test]
    fn panics_are_named() {
        let output = alloy_sol_types::Panic::from(U256::from(0x12)).abi_encode();
        assert_eq!(
            reverted(&output).message(),
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
            assert_eq!(object.code(), -32000);
            assert_eq!(object.message(), message);
        }
        assert_eq!(tx_error(&TxError::Malformed("rlp: x".into())).code(), -32602);
    }
}
