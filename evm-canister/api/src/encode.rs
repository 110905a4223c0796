//! Candid messages encoded with their type tables cached per Rust type, for
//! the canister's replies and its clients' arguments alike.
//!
//! A Candid message is `DIDL`, a type table and the arguments' types, then
//! their values. `candid::encode_args` builds the first part afresh for
//! every message, and clears candid's per-thread memo of Rust types as it
//! starts (`IDLBuilder::new`), so the next decode rebuilds its expected
//! types too: measured with `perf`, about a quarter of the node's CPU time
//! per `eth_call`, on the host and inside the canister. The first part
//! depends on the types alone, so [`encode`] builds it once per argument
//! tuple, as `IDLBuilder` does, and after that serializes only the values
//! (with candid's `ValueSerializer`, as `IDLBuilder::arg` does). The bytes
//! are those `candid::encode_args` gives.
//!
//! In the canister a query's changes to the heap are discarded, so what a
//! query caches is lost: [`prepare`] the types of every method's arguments
//! and reply in `init` and `post_upgrade`, then [`remember`] them, so that
//! they stay in the committed heap.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use candid::CandidType;
use candid::ser::{TypeSerialize, ValueSerializer};
use candid::types::Type;

/// A tuple of arguments (or of a method's results).
pub trait Args: 'static {
    /// The Candid types of the tuple's elements.
    fn types() -> Vec<Type>;
    /// Serializes the elements' values, without their types.
    fn values(&self, out: &mut ValueSerializer) -> candid::Result<()>;
}

macro_rules! tuple_args {
    ($($name:ident),*) => {
        impl<$($name: CandidType + 'static),*> Args for ($($name,)*) {
            fn types() -> Vec<Type> {
                vec![$($name::ty()),*]
            }
            #[allow(non_snake_case, unused_variables)]
            fn values(&self, out: &mut ValueSerializer) -> candid::Result<()> {
                let ($($name,)*) = self;
                $($name.idl_serialize(&mut *out)?;)*
                Ok(())
            }
        }
    };
}

tuple_args!();
tuple_args!(A);
tuple_args!(A, B);
tuple_args!(A, B, C);
tuple_args!(A, B, C, D);

thread_local! {
    /// Per argument tuple: `DIDL`, its type table and argument types.
    static PREFIXES: RefCell<BTreeMap<TypeId, Rc<[u8]>>> = const { RefCell::new(BTreeMap::new()) };
}

/// Builds and keeps the type part of `A`'s messages, as `IDLBuilder` builds
/// it (from a cleared memo of Rust types); returns it.
pub fn prepare<A: Args>() -> candid::Result<Rc<[u8]>> {
    if let Some(prefix) = PREFIXES.with_borrow(|p| p.get(&TypeId::of::<A>()).cloned()) {
        return Ok(prefix);
    }
    candid::types::internal::env_clear();
    let mut types = TypeSerialize::new();
    for ty in A::types() {
        types.push_type(&ty)?;
    }
    types.serialize()?;
    let mut prefix = b"DIDL".to_vec();
    prefix.extend_from_slice(types.get_result());
    let prefix: Rc<[u8]> = prefix.into();
    PREFIXES.with_borrow_mut(|p| p.insert(TypeId::of::<A>(), prefix.clone()));
    Ok(prefix)
}

/// Fills candid's memo of Rust types with `A`'s, which decoding `A` reads
/// (and [`prepare`] clears).
pub fn remember<A: Args>() {
    let _ = A::types();
}

/// `args` as a Candid message: the bytes `candid::encode_args` gives.
pub fn encode<A: Args>(args: &A) -> candid::Result<Vec<u8>> {
    let prefix = prepare::<A>()?;
    let mut values = ValueSerializer::new();
    args.values(&mut values)?;
    let values = values.get_result();
    let mut message = Vec::with_capacity(prefix.len() + values.len());
    message.extend_from_slice(&prefix);
    message.extend_from_slice(values);
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockTag, CallArgs, CallError, CallOutcome, Hash, StateOverride, TxError};
    use alloy_primitives::{Address, B256};
    use serde_bytes::ByteBuf;

    fn call_args(input: &[u8]) -> CallArgs {
        CallArgs { input: ByteBuf::from(input.to_vec()), ..Default::default() }
    }

    #[test]
    fn messages_are_the_bytes_encode_args_gives() {
        let override_ =
            StateOverride { address: Address::repeat_byte(7).into(), ..Default::default() };
        // The second encoding of a tuple uses the kept prefix.
        for (input, tag) in [(&b""[..], BlockTag::Latest), (b"\x01\x02", BlockTag::Number(9))] {
            for _ in 0..2 {
                let args = (call_args(input), tag, vec![override_.clone()]);
                assert_eq!(encode(&args).unwrap(), candid::encode_args(args.clone()).unwrap());
            }
        }
        assert_eq!(encode(&()).unwrap(), candid::encode_args(()).unwrap());
        let one = (ByteBuf::from(vec![1, 2, 3]),);
        assert_eq!(encode(&one).unwrap(), candid::encode_args(one.clone()).unwrap());
        assert_eq!(encode(&(5u64, true)).unwrap(), candid::encode_args((5u64, true)).unwrap());
        let outcomes: [Result<CallOutcome, CallError>; 2] = [
            Ok(CallOutcome::Success { output: ByteBuf::from(vec![9]), gas_used: 21_000 }),
            Err(CallError::Tx(TxError::TipAboveFeeCap)),
        ];
        for outcome in outcomes {
            assert_eq!(encode(&(outcome.clone(),)).unwrap(), candid::encode_one(outcome).unwrap());
        }
    }

    #[test]
    fn decoders_read_them_with_types_remembered() {
        let hash = Hash(B256::repeat_byte(3));
        let args = (call_args(b"abc"), BlockTag::Hash(hash), Vec::<StateOverride>::new());
        prepare::<(CallArgs, BlockTag, Vec<StateOverride>)>().unwrap();
        remember::<(CallArgs, BlockTag, Vec<StateOverride>)>();
        for _ in 0..2 {
            let bytes = encode(&args).unwrap();
            let (call, tag, overrides): (CallArgs, BlockTag, Vec<StateOverride>) =
                candid::decode_args(&bytes).unwrap();
            assert_eq!(call.input.as_slice(), b"abc");
            assert_eq!(tag, BlockTag::Hash(hash));
            assert!(overrides.is_empty());
        }
    }
}
