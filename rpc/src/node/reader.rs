//! Queries off the update path: a [`Reader`] holds read-only replicas of
//! the node's canister (and of its verifier), synced with the committed
//! state after every update, so that reads run while a transaction
//! executes, as an ICP replica runs queries on a snapshot of the state.

use std::sync::{Arc, RwLock};

use alloy_primitives::B256;
use canister_host::{Canister, Execution, MessageEnv};
use evm_canister_api::ChainInfo;

use super::clock::query_time;
use super::queries::{Caller, Queries};
use super::{Clock, CostLedger, Node, NodeError, compare};
use crate::cost::TxCost;

/// Replicas of the node's canister for queries. Between syncs it answers
/// from the state of the last one: [`Node::sync`] runs after every request
/// that reached the node, so a reply never predates an acknowledged update.
pub struct Reader {
    canister: Canister,
    verifier: Option<Canister>,
    /// The node's principal.
    caller: Vec<u8>,
    /// The node's clock as of the last sync, for the time queries see.
    clock: Clock,
    last_time: u64,
    time_offset: u64,
    chain_info: Option<(u64, ChainInfo)>,
    costs: CostLedger,
}

impl Reader {
    /// The canister version the replicas are at.
    pub fn version(&self) -> u64 {
        self.canister.version()
    }

    /// How many of the reader's queries had grown the heap
    /// ([`Canister::fresh_instances`]), on both compilers if verifying.
    pub fn fresh_instances(&self) -> u64 {
        self.canister.fresh_instances()
            + self.verifier.as_ref().map_or(0, Canister::fresh_instances)
    }

    /// What the replicas hold in memory: linear memory, the committed heap
    /// image and stable memory, for each.
    pub fn memory_bytes(&self) -> u64 {
        let held = |canister: &Canister| {
            canister.allocated_memory()
                + canister.heap().len() as u64
                + canister.stable_memory().resident_bytes()
        };
        held(&self.canister) + self.verifier.as_ref().map_or(0, held)
    }
}

impl Queries for Reader {
    fn execute_query(
        &mut self,
        method: &str,
        arg: &[u8],
        caller: Caller,
    ) -> Result<Execution, NodeError> {
        let time = query_time(self.clock, self.last_time, self.time_offset);
        let env = MessageEnv { caller: caller.principal(&self.caller), time };
        let execution = self.canister.query(method, arg, &env)?;
        if let Some(verifier) = &mut self.verifier {
            let check = verifier.query(method, arg, &env)?;
            compare(method, &execution, &check, None, None)?;
        }
        Ok(execution)
    }

    fn chain_info(&mut self) -> Result<ChainInfo, NodeError> {
        let version = self.canister.version();
        if let Some((at, info)) = &self.chain_info
            && *at == version
        {
            return Ok(info.clone());
        }
        let info: ChainInfo = self.query("chain_info", ())?;
        self.chain_info = Some((version, info.clone()));
        Ok(info)
    }

    fn transaction_cost(&self, hash: B256) -> Option<TxCost> {
        self.costs.read().unwrap_or_else(|e| e.into_inner()).get(&hash).copied()
    }
}

impl Node {
    /// Replicas of the canister (and the verifier) for queries. The node
    /// records what its messages change from now on, for [`Node::sync`].
    pub fn reader(&mut self) -> Result<Reader, NodeError> {
        let replica = |canister: &mut Canister, host| {
            canister.replica(host).map_err(|e| NodeError::Failed(format!("replicating: {e}")))
        };
        let canister = replica(&mut self.canister, &self.host)?;
        let verifier = match &mut self.verifier {
            Some((host, verifier)) => Some(replica(verifier, host)?),
            None => None,
        };
        Ok(Reader {
            canister,
            verifier,
            caller: self.caller.clone(),
            clock: self.clock,
            last_time: self.last_time,
            time_offset: self.time_offset,
            chain_info: None,
            costs: Arc::clone(&self.costs),
        })
    }

    /// Brings `reader` to the committed state and the clock as they are now.
    pub fn sync(&mut self, reader: &mut Reader) -> Result<(), NodeError> {
        let failed = |e| NodeError::Failed(format!("syncing the query replica: {e}"));
        self.canister.sync_replica(&self.host, &mut reader.canister).map_err(failed)?;
        if let (Some((host, verifier)), Some(replica)) = (&mut self.verifier, &mut reader.verifier)
        {
            verifier.sync_replica(host, replica).map_err(failed)?;
        }
        reader.clock = self.clock;
        reader.last_time = self.last_time;
        reader.time_offset = self.time_offset;
        if !Arc::ptr_eq(&reader.costs, &self.costs) {
            reader.costs = Arc::clone(&self.costs);
        }
        Ok(())
    }
}

/// The cost ledger, shared by the node (which records costs) and its reader.
pub(super) fn new_ledger(costs: std::collections::HashMap<B256, TxCost>) -> CostLedger {
    Arc::new(RwLock::new(costs))
}
