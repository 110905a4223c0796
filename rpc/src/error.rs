//! Every JSON-RPC error the node returns, with the codes and wording that
//! Ethereum clients parse (geth's, which ethers, viem and web3 match on).
//!
//! The chain's own errors (reverts, refused transactions, queries) are
//! `evm-jsonrpc`'s, which the canister's HTTP endpoint answers too; here
//! they are jsonrpsee's error objects, with what only the node adds: its
//! own failures ([`node_error`]).
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

use evm_canister_api::{CallError, CallOutcome, QueryError, TxError};
use evm_jsonrpc::RpcError;
use evm_jsonrpc::error as chain;
use jsonrpsee::types::ErrorObjectOwned;

use crate::node::NodeError;

pub use evm_jsonrpc::error::{
    EXECUTION_REVERTED, INTERNAL_ERROR, INVALID_PARAMS, LIMIT_EXCEEDED, NOT_FOUND, SERVER_ERROR,
};

pub fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    chain::invalid_params(message).into()
}

/// geth's generic server error, `-32000`, with `message`.
pub fn server_error(message: impl Into<String>) -> ErrorObjectOwned {
    chain::server_error(message).into()
}

/// A request beyond one of the node's limits (`-32005`).
pub fn limit_exceeded(message: impl Into<String>) -> ErrorObjectOwned {
    chain::limit_exceeded(message).into()
}

pub fn internal(message: impl Into<String>) -> ErrorObjectOwned {
    chain::internal(message).into()
}

/// A transaction the canister refused, in geth's words.
pub fn tx_error(err: &TxError) -> ErrorObjectOwned {
    chain::tx_error(err).into()
}

pub fn query_error(err: &QueryError) -> ErrorObjectOwned {
    chain::query_error(err).into()
}

pub fn call_error(err: &CallError) -> ErrorObjectOwned {
    chain::call_error(err).into()
}

/// `execution reverted[: reason]`, code 3, with the revert bytes as `data`.
pub fn reverted(output: &[u8]) -> ErrorObjectOwned {
    chain::reverted(output).into()
}

/// An execution that did not succeed, as `eth_call` reports it.
pub fn failed_call(outcome: &CallOutcome) -> ErrorObjectOwned {
    chain::failed_call(outcome).into()
}

/// A failure of the node or canister itself (not of the transaction).
pub fn node_error(err: &NodeError) -> ErrorObjectOwned {
    RpcError::from(err).into()
}

impl From<&NodeError> for RpcError {
    fn from(err: &NodeError) -> Self {
        use canister_host::{CallError as Host, Trap};
        match err {
            NodeError::Call(Host::Trapped(Trap::OutOfInstructions(limit))) => {
                chain::server_error(format!(
                    "the canister ran out of instructions (limit {limit}); nothing was executed"
                ))
            }
            NodeError::Call(Host::OutOfCycles { balance, needed }) => chain::server_error(format!(
                "the canister is out of cycles: it holds {balance}, the call needs {needed}"
            )),
            NodeError::Call(Host::ArgumentTooLarge { size, limit }) => chain::invalid_params(
                format!("request too large for the canister: {size} bytes, limit {limit}"),
            ),
            other => chain::internal(other.to_string()),
        }
    }
}

impl From<NodeError> for RpcError {
    fn from(err: NodeError) -> Self {
        Self::from(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain's errors reach clients as jsonrpsee objects unchanged
    /// (their wording is tested in `evm-jsonrpc`).
    #[test]
    fn revert_data_survives_the_conversion() {
        let error = reverted(&[0xde, 0xad]);
        assert_eq!(error.code(), 3);
        assert_eq!(error.message(), "execution reverted");
        assert_eq!(error.data().unwrap().get(), "\"0xdead\"");
        assert_eq!(tx_error(&TxError::Malformed("rlp: x".into())).code(), -32602);
    }
}
