//! What messages cost in cycles: the IC's fee table, in one place.
//!
//! The values are the replica's `CyclesAccountManagerConfig::application_subnet`
//! in `rs/config/src/subnet_config.rs` of dfinity/ic at commit `002d5530`
//! ([`FEE_TABLE_VERSION`]), for a 13-node application subnet: the reference
//! size the replica's fees are defined for (larger subnets scale them by
//! `nodes / 13`).
//!
//! An ingress update pays for its reception (a base fee plus a fee per byte
//! of method name and argument) and for its execution (a base fee plus one
//! cycle per instruction, two for wasm64). Queries are free, as on the IC.

/// Where the numbers below come from.
pub const FEE_TABLE_VERSION: &str =
    "dfinity/ic rs/config/src/subnet_config.rs @ 002d5530, application subnet, 13 nodes";

/// The number of nodes the fees are for.
pub const SUBNET_SIZE: u32 = 13;

/// Cycle prices of a subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeTable {
    /// Base fee of executing an update message.
    pub update_message_execution_fee: u128,
    /// Fee per ten instructions executed by a wasm32 canister.
    pub ten_update_instructions_execution_fee: u128,
    /// Fee per ten instructions executed by a wasm64 canister.
    pub ten_update_instructions_execution_fee_wasm64: u128,
    /// Base fee of receiving an ingress message.
    pub ingress_message_reception_fee: u128,
    /// Fee per byte of an ingress message.
    pub ingress_byte_reception_fee: u128,
    /// Base fee of a call to another canister.
    pub xnet_call_fee: u128,
    /// Fee per byte of a call to another canister.
    pub xnet_byte_transmission_fee: u128,
    pub canister_creation_fee: u128,
}

/// The fee table this host charges.
pub const FEES: FeeTable = FeeTable {
    update_message_execution_fee: 5_000_000,
    ten_update_instructions_execution_fee: 10,
    ten_update_instructions_execution_fee_wasm64: 20,
    ingress_message_reception_fee: 1_200_000,
    ingress_byte_reception_fee: 2_000,
    xnet_call_fee: 260_000,
    xnet_byte_transmission_fee: 1_000,
    canister_creation_fee: 500_000_000_000,
};

impl FeeTable {
    /// Cycles for receiving an ingress message to `method` with `arg_bytes`.
    pub fn ingress_cost(&self, method: &str, arg_bytes: usize) -> u128 {
        self.ingress_message_reception_fee
            + self.ingress_byte_reception_fee * (method.len() + arg_bytes) as u128
    }

    /// Cycles for executing `instructions` in an update message.
    pub fn execution_cost(&self, instructions: u64, wasm64: bool) -> u128 {
        self.update_message_execution_fee + self.instruction_cost(instructions, wasm64)
    }

    /// Cycles for `instructions` alone, without the fee every update pays.
    pub fn instruction_cost(&self, instructions: u64, wasm64: bool) -> u128 {
        let per_ten = if wasm64 {
            self.ten_update_instructions_execution_fee_wasm64
        } else {
            self.ten_update_instructions_execution_fee
        };
        u128::from(instructions) * per_ten / 10
    }

    /// Cycles a call to another canister would cost (`ic0.cost_call`).
    pub fn call_cost(&self, method_name_bytes: u64, payload_bytes: u64) -> u128 {
        self.xnet_call_fee
            + self.xnet_byte_transmission_fee * u128::from(method_name_bytes + payload_bytes)
    }

    /// Cycles an HTTPS outcall would cost (`ic0.cost_http_request`).
    pub fn http_request_cost(&self, request_bytes: u64, max_response_bytes: u64) -> u128 {
        let n = u128::from(SUBNET_SIZE);
        (3_000_000 + 60_000 * n) * n
            + 400 * n * u128::from(request_bytes)
            + 800 * n * u128::from(max_response_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_costs_reception_plus_execution() {
        // 1.2M + 2,000 per byte of "transfer" (8) and a 100-byte argument.
        assert_eq!(FEES.ingress_cost("transfer", 100), 1_200_000 + 2_000 * 108);
        // 5M + one cycle per instruction (two for wasm64).
        assert_eq!(FEES.execution_cost(10_000_000, false), 15_000_000);
        assert_eq!(FEES.execution_cost(10_000_000, true), 25_000_000);
    }
}
