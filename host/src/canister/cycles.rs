//! What messages cost a canister: the balance an update must hold before
//! it runs, and the cycles charged once it has ([`crate::fees`]).

use super::{Canister, Execution};
use crate::CallError;
use crate::fees::FEES;

impl Canister {
    /// The ingress fee of a message to `method` with `arg_len` bytes of
    /// argument, if the canister can pay it together with the most an update
    /// can cost.
    pub(super) fn ingress_fee(&self, method: &str, arg_len: usize) -> Result<u128, CallError> {
        let ingress = FEES.ingress_cost(method, arg_len);
        let needed = ingress + FEES.execution_cost(self.limits.update, self.module.wasm64());
        let balance = self.store.data().system.cycles;
        if balance < needed {
            return Err(CallError::OutOfCycles { balance, needed });
        }
        Ok(ingress)
    }

    /// What the instructions of `execution` cost.
    pub(super) fn execution_cost(&self, execution: &Execution) -> u128 {
        FEES.execution_cost(execution.instructions, self.module.wasm64())
    }

    /// Deducts what `execution` costs, plus `extra` cycles, from the balance.
    pub(super) fn charge(&mut self, execution: &mut Execution, extra: u128) {
        let cost = extra + self.execution_cost(execution);
        let system = &mut self.store.data_mut().system;
        let paid = cost.min(system.cycles);
        system.cycles -= paid;
        execution.cycles = paid;
    }
}
