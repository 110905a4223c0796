//! Instruction costs of wasm operators, as the replica charges them.
//!
//! The replica meters canisters by instrumenting them
//! (`instruction_to_cost` in dfinity/ic `rs/embedders/src/wasm_utils/
//! instrumentation.rs`, commit `002d5530`). This host counts with wasmtime
//! fuel instead and gives every operator the replica's cost through
//! [`wasmtime::OperatorCost`]. Where the two differ:
//!
//! - The replica charges a whole basic block when it is entered, so a
//!   message that traps mid-block pays for the rest of the block; fuel is
//!   consumed operator by operator. Completed messages cost the same.
//! - The replica adds one instruction at every function entry. wasmtime
//!   charges a function's closing `end` like a `return` (one instruction),
//!   which stands in for it. The replica's own metering tests
//!   (`metering_plain`, `_block`, `_if`, `_loop` in
//!   `rs/embedders/tests/instrumentation.rs` at `0441fbd7`), transcribed in
//!   `tests/it/replica_metering.rs`, give the same counts here, early
//!   returns, traps, branches and loop iterations included.
//! - The per-byte cost of `memory.copy`, `memory.fill` and `memory.init`
//!   (one instruction per byte, on top of the flat 100) is charged by a call
//!   to a host function the instrumentation inserts before each of them
//!   ([`crate::instrument`]), not by fuel's variable costs: Winch does not
//!   charge those, and the host must count identically with both compilers.
//! - wasm64 loads and stores cost 2, as in the replica; wasm64 modules are
//!   compiled by a second engine with that table.
//! - Fuel costs are bytes: `memory.grow`, `data.drop` and `elem.drop`, which
//!   cost 300 on the replica, cost 255 here.

use wasmtime::OperatorCost;

/// Cost of the call instruction the instrumentation inserts, and of the
/// conversions around it, which the host refunds so that instrumentation
/// itself costs nothing (as in the replica).
pub fn injected_charge_cost(wasm64: bool) -> u64 {
    let table = operator_cost(wasm64);
    let conversions =
        if wasm64 { 0 } else { u64::from(table.I64ExtendI32U) + u64::from(table.I32WrapI64) };
    u64::from(table.Call) + conversions
}

/// The replica's instruction costs, as a fuel table.
pub fn operator_cost(wasm64: bool) -> OperatorCost {
    let mut table = OperatorCost::new();
    let memory_access: u8 = if wasm64 { 2 } else { 1 };
    macro_rules! set_costs {
        ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
            $( table.$op = ic_cost!($op, memory_access); )*
        };
    }
    wasmtime::wasmparser::for_each_operator!(set_costs);
    // Dynamic costs are charged by instrumentation; see the module docs.
    table.variable = wasmtime::VariableOperatorCost {
        memory_copy_per_byte: 0,
        memory_fill_per_byte: 0,
        memory_init_per_byte: 0,
        memory_grow_per_page: 0,
        table_copy_per_element: 0,
        table_fill_per_element: 0,
        table_init_per_element: 0,
        table_grow_per_element: 0,
        ..wasmtime::VariableOperatorCost::new()
    };
    table
}

/// The replica's cost of one operator (capped at 255: fuel costs are `u8`).
#[rustfmt::skip]
macro_rules! ic_cost {
    // Block boundaries.
    (Block, $m:ident) => { 0 };
    (Loop, $m:ident) => { 0 };
    (Else, $m:ident) => { 0 };
    (End, $m:ident) => { 0 };
    (If, $m:ident) => { 2 };
    (Br, $m:ident) => { 2 };
    (BrIf, $m:ident) => { 2 };
    (BrTable, $m:ident) => { 2 };
    (Call, $m:ident) => { 5 };
    (CallIndirect, $m:ident) => { 10 };
    (ReturnCall, $m:ident) => { 3 };
    (ReturnCallIndirect, $m:ident) => { 60 };
    (GlobalGet, $m:ident) => { 2 };
    (GlobalSet, $m:ident) => { 2 };
    // Integer division.
    (I32DivS, $m:ident) => { 10 };
    (I32DivU, $m:ident) => { 10 };
    (I32RemS, $m:ident) => { 10 };
    (I32RemU, $m:ident) => { 10 };
    (I64DivS, $m:ident) => { 10 };
    (I64DivU, $m:ident) => { 10 };
    (I64RemS, $m:ident) => { 10 };
    (I64RemU, $m:ident) => { 10 };
    // Floats.
    (F32Add, $m:ident) => { 2 };
    (F32Sub, $m:ident) => { 2 };
    (F32Mul, $m:ident) => { 2 };
    (F32Ceil, $m:ident) => { 2 };
    (F32Floor, $m:ident) => { 2 };
    (F32Trunc, $m:ident) => { 2 };
    (F32Nearest, $m:ident) => { 2 };
    (F64Add, $m:ident) => { 2 };
    (F64Sub, $m:ident) => { 2 };
    (F64Mul, $m:ident) => { 2 };
    (F64Ceil, $m:ident) => { 2 };
    (F64Floor, $m:ident) => { 2 };
    (F64Trunc, $m:ident) => { 2 };
    (F64Nearest, $m:ident) => { 2 };
    (F32Div, $m:ident) => { 3 };
    (F64Div, $m:ident) => { 5 };
    (F32Min, $m:ident) => { 18 };
    (F32Max, $m:ident) => { 18 };
    (F64Min, $m:ident) => { 18 };
    (F64Max, $m:ident) => { 18 };
    (F32Copysign, $m:ident) => { 2 };
    (F64Copysign, $m:ident) => { 3 };
    (F32Sqrt, $m:ident) => { 5 };
    (F64Sqrt, $m:ident) => { 8 };
    (F32Eq, $m:ident) => { 3 };
    (F32Ne, $m:ident) => { 3 };
    (F32Lt, $m:ident) => { 3 };
    (F32Gt, $m:ident) => { 3 };
    (F32Le, $m:ident) => { 3 };
    (F32Ge, $m:ident) => { 3 };
    (F64Eq, $m:ident) => { 3 };
    (F64Ne, $m:ident) => { 3 };
    (F64Lt, $m:ident) => { 3 };
    (F64Gt, $m:ident) => { 3 };
    (F64Le, $m:ident) => { 3 };
    (F64Ge, $m:ident) => { 3 };
    // Conversions.
    (F32ConvertI32S, $m:ident) => { 3 };
    (F32ConvertI64S, $m:ident) => { 3 };
    (F64ConvertI32S, $m:ident) => { 3 };
    (F64ConvertI64S, $m:ident) => { 3 };
    (F32ConvertI32U, $m:ident) => { 16 };
    (F32ConvertI64U, $m:ident) => { 16 };
    (F64ConvertI32U, $m:ident) => { 16 };
    (F64ConvertI64U, $m:ident) => { 16 };
    (I32TruncF32S, $m:ident) => { 20 };
    (I32TruncF32U, $m:ident) => { 20 };
    (I32TruncF64S, $m:ident) => { 20 };
    (I32TruncF64U, $m:ident) => { 20 };
    (I64TruncF32S, $m:ident) => { 20 };
    (I64TruncF32U, $m:ident) => { 20 };
    (I64TruncF64S, $m:ident) => { 20 };
    (I64TruncF64U, $m:ident) => { 20 };
    (I32TruncSatF32S, $m:ident) => { 20 };
    (I32TruncSatF32U, $m:ident) => { 20 };
    (I32TruncSatF64S, $m:ident) => { 20 };
    (I32TruncSatF64U, $m:ident) => { 20 };
    (I64TruncSatF32S, $m:ident) => { 20 };
    (I64TruncSatF32U, $m:ident) => { 20 };
    (I64TruncSatF64S, $m:ident) => { 20 };
    (I64TruncSatF64U, $m:ident) => { 20 };
    // Memory.
    (I32Load, $m:ident) => { $m };
    (I64Load, $m:ident) => { $m };
    (F32Load, $m:ident) => { $m };
    (F64Load, $m:ident) => { $m };
    (I32Load8S, $m:ident) => { $m };
    (I32Load8U, $m:ident) => { $m };
    (I32Load16S, $m:ident) => { $m };
    (I32Load16U, $m:ident) => { $m };
    (I64Load8S, $m:ident) => { $m };
    (I64Load8U, $m:ident) => { $m };
    (I64Load16S, $m:ident) => { $m };
    (I64Load16U, $m:ident) => { $m };
    (I64Load32S, $m:ident) => { $m };
    (I64Load32U, $m:ident) => { $m };
    (I32Store, $m:ident) => { $m };
    (I64Store, $m:ident) => { $m };
    (F32Store, $m:ident) => { $m };
    (F64Store, $m:ident) => { $m };
    (I32Store8, $m:ident) => { $m };
    (I32Store16, $m:ident) => { $m };
    (I64Store8, $m:ident) => { $m };
    (I64Store16, $m:ident) => { $m };
    (I64Store32, $m:ident) => { $m };
    (V128Load, $m:ident) => { $m };
    (V128Load8x8S, $m:ident) => { $m };
    (V128Load8x8U, $m:ident) => { $m };
    (V128Load16x4S, $m:ident) => { $m };
    (V128Load16x4U, $m:ident) => { $m };
    (V128Load32x2S, $m:ident) => { $m };
    (V128Load32x2U, $m:ident) => { $m };
    (V128Load8Splat, $m:ident) => { $m };
    (V128Load16Splat, $m:ident) => { $m };
    (V128Load32Splat, $m:ident) => { $m };
    (V128Load64Splat, $m:ident) => { $m };
    (V128Load32Zero, $m:ident) => { $m };
    (V128Load64Zero, $m:ident) => { $m };
    (V128Store, $m:ident) => { $m };
    (V128Load8Lane, $m:ident) => { $m };
    (V128Load16Lane, $m:ident) => { $m };
    (V128Load32Lane, $m:ident) => { $m };
    (V128Load64Lane, $m:ident) => { $m };
    (V128Store8Lane, $m:ident) => { $m };
    (V128Store16Lane, $m:ident) => { $m };
    (V128Store32Lane, $m:ident) => { $m };
    (V128Store64Lane, $m:ident) => { $m };
    (MemorySize, $m:ident) => { 20 };
    (MemoryGrow, $m:ident) => { 255 };
    (MemoryFill, $m:ident) => { 100 };
    (MemoryCopy, $m:ident) => { 100 };
    (MemoryInit, $m:ident) => { 100 };
    (DataDrop, $m:ident) => { 255 };
    // Tables and references.
    (TableGet, $m:ident) => { 5 };
    (TableSet, $m:ident) => { 5 };
    (TableSize, $m:ident) => { 100 };
    (TableGrow, $m:ident) => { 255 };
    (TableFill, $m:ident) => { 100 };
    (TableCopy, $m:ident) => { 100 };
    (TableInit, $m:ident) => { 100 };
    (ElemDrop, $m:ident) => { 255 };
    (RefIsNull, $m:ident) => { 5 };
    (RefFunc, $m:ident) => { 130 };
    // SIMD operators that cost more than one.
    (I8x16LtU, $m:ident) => { 2 };
    (I8x16GtU, $m:ident) => { 2 };
    (I16x8LtU, $m:ident) => { 2 };
    (I16x8GtU, $m:ident) => { 2 };
    (I32x4LtU, $m:ident) => { 2 };
    (I32x4GtU, $m:ident) => { 2 };
    (I8x16Shuffle, $m:ident) => { 3 };
    (I8x16Popcnt, $m:ident) => { 3 };
    (I8x16Shl, $m:ident) => { 3 };
    (I8x16ShrS, $m:ident) => { 3 };
    (I8x16ShrU, $m:ident) => { 2 };
    (I16x8Shl, $m:ident) => { 2 };
    (I16x8ShrS, $m:ident) => { 2 };
    (I16x8ShrU, $m:ident) => { 2 };
    (I32x4Shl, $m:ident) => { 2 };
    (I32x4ShrS, $m:ident) => { 2 };
    (I32x4ShrU, $m:ident) => { 2 };
    (I64x2Shl, $m:ident) => { 2 };
    (I64x2ShrS, $m:ident) => { 3 };
    (I64x2ShrU, $m:ident) => { 2 };
    (I32x4ExtAddPairwiseI16x8U, $m:ident) => { 3 };
    (I16x8ExtAddPairwiseI8x16U, $m:ident) => { 2 };
    (I16x8ExtMulHighI8x16S, $m:ident) => { 2 };
    (I16x8ExtMulHighI8x16U, $m:ident) => { 2 };
    (I32x4Mul, $m:ident) => { 2 };
    (I32x4ExtMulLowI16x8S, $m:ident) => { 2 };
    (I32x4ExtMulHighI16x8S, $m:ident) => { 2 };
    (I32x4ExtMulLowI16x8U, $m:ident) => { 2 };
    (I32x4ExtMulHighI16x8U, $m:ident) => { 2 };
    (I64x2Mul, $m:ident) => { 4 };
    (F32x4Ceil, $m:ident) => { 2 };
    (F32x4Floor, $m:ident) => { 2 };
    (F32x4Trunc, $m:ident) => { 2 };
    (F32x4Nearest, $m:ident) => { 2 };
    (F32x4Abs, $m:ident) => { 2 };
    (F32x4Neg, $m:ident) => { 2 };
    (F32x4Add, $m:ident) => { 2 };
    (F32x4Sub, $m:ident) => { 2 };
    (F32x4Mul, $m:ident) => { 2 };
    (F64x2Ceil, $m:ident) => { 2 };
    (F64x2Floor, $m:ident) => { 2 };
    (F64x2Trunc, $m:ident) => { 2 };
    (F64x2Nearest, $m:ident) => { 2 };
    (F64x2Abs, $m:ident) => { 2 };
    (F64x2Neg, $m:ident) => { 2 };
    (F64x2Add, $m:ident) => { 2 };
    (F64x2Sub, $m:ident) => { 2 };
    (F64x2Mul, $m:ident) => { 2 };
    (F32x4Sqrt, $m:ident) => { 5 };
    (F32x4Div, $m:ident) => { 10 };
    (F32x4Min, $m:ident) => { 4 };
    (F32x4Max, $m:ident) => { 4 };
    (F64x2Sqrt, $m:ident) => { 14 };
    (F64x2Div, $m:ident) => { 12 };
    (F64x2Min, $m:ident) => { 4 };
    (F64x2Max, $m:ident) => { 5 };
    (I32x4TruncSatF32x4S, $m:ident) => { 2 };
    (I32x4TruncSatF32x4U, $m:ident) => { 4 };
    (F32x4ConvertI32x4U, $m:ident) => { 4 };
    (I32x4TruncSatF64x2SZero, $m:ident) => { 2 };
    (I32x4TruncSatF64x2UZero, $m:ident) => { 3 };
    // Everything else: nop, drop, return, unreachable, select, locals,
    // constants, integer arithmetic and comparisons, the other conversions
    // and SIMD operators.
    ($op:ident, $m:ident) => {
        1
    };
}
use ic_cost;

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::wasmparser::Operator;

    #[test]
    fn costs_follow_the_replica() {
        let table = operator_cost(false);
        assert_eq!(table.cost(&Operator::I32Add), 1);
        assert_eq!(table.cost(&Operator::I64DivU), 10);
        assert_eq!(table.cost(&Operator::F64Max), 18);
        assert_eq!(table.cost(&Operator::MemoryGrow { mem: 0 }), 255);
        assert_eq!(
            table.cost(&Operator::Block { blockty: wasmtime::wasmparser::BlockType::Empty }),
            0
        );
        assert_eq!(table.cost(&Operator::Nop), 1);
        assert_eq!(table.variable.memory_copy_per_byte, 0);
        let memarg = wasmtime::wasmparser::MemArg { align: 2, max_align: 2, offset: 0, memory: 0 };
        let load = Operator::I32Load { memarg };
        assert_eq!(table.cost(&load), 1);
        assert_eq!(operator_cost(true).cost(&load), 2);
    }
}
