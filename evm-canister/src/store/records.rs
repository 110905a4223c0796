//! Byte encodings of what the canister keeps in stable memory.
//!
//! Hot records (accounts, storage slots) have fixed-width encodings; the rest
//! are RLP, Ethereum's own encoding, through `alloy-rlp`. Every change here
//! must bump [`LAYOUT_VERSION`]; the golden
//! tests at the bottom fail when an encoding drifts.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use ic_stable_structures::storable::{Bound, Storable};
use std::borrow::Cow;

use crate::store::layout::{LAYOUT_VERSION, MAGIC};

/// Encodes as RLP; decoding failure means the stable memory is corrupt, which
/// is a trap (no message can proceed safely).
macro_rules! rlp_storable {
    ($ty:ty) => {
        impl Storable for $ty {
            fn to_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(alloy_rlp::encode(self))
            }
            fn into_bytes(self) -> Vec<u8> {
                alloy_rlp::encode(&self)
            }
            fn from_bytes(bytes: Cow<'_, [u8]>) -> Self {
                <$ty as Decodable>::decode(&mut bytes.as_ref())
                    .unwrap_or_else(|e| panic!("corrupt {} in stable memory: {e}", stringify!($ty)))
            }
            const BOUND: Bound = Bound::Unbounded;
        }
    };
}

/// Balance, nonce and code hash of an account.
///
/// ```text
///  0        32       40        72
///  ├────────┼────────┼─────────┤
///  │balance │ nonce  │code hash│   big-endian
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AccountRecord {
    pub balance: U256,
    pub nonce: u64,
    pub code_hash: B256,
}

impl AccountRecord {
    const SIZE: usize = 72;

    fn encode(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[..32].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[32..40].copy_from_slice(&self.nonce.to_be_bytes());
        out[40..].copy_from_slice(self.code_hash.as_slice());
        out
    }

    fn decode(bytes: &[u8]) -> Self {
        assert_eq!(bytes.len(), Self::SIZE, "corrupt account record");
        Self {
            balance: U256::from_be_slice(&bytes[..32]),
            nonce: u64::from_be_bytes(bytes[32..40].try_into().unwrap()),
            code_hash: B256::from_slice(&bytes[40..]),
        }
    }
}

impl Storable for AccountRecord {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.encode().to_vec())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.encode().to_vec()
    }
    fn from_bytes(bytes: Cow<'_, [u8]>) -> Self {
        Self::decode(&bytes)
    }
    const BOUND: Bound = Bound::Bounded { max_size: Self::SIZE as u32, is_fixed_size: true };
}

/// An account as it was before a block changed it: absent, or a record.
///
/// Encoded as nothing (absent) or as the 72 bytes of [`AccountRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PriorAccount(pub Option<AccountRecord>);

impl Storable for PriorAccount {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.map_or_else(Vec::new, |r| r.encode().to_vec()))
    }
    fn into_bytes(self) -> Vec<u8> {
        self.to_bytes().into_owned()
    }
    fn from_bytes(bytes: Cow<'_, [u8]>) -> Self {
        Self((!bytes.is_empty()).then(|| AccountRecord::decode(&bytes)))
    }
    const BOUND: Bound =
        Bound::Bounded { max_size: AccountRecord::SIZE as u32, is_fixed_size: false };
}

/// Key of a storage slot: the address followed by the slot, big-endian.
pub type SlotKey = [u8; 52];

pub fn slot_key(address: &Address, slot: &U256) -> SlotKey {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

pub fn split_slot_key(key: &SlotKey) -> (Address, U256) {
    (Address::from_slice(&key[..20]), U256::from_be_slice(&key[20..]))
}

/// An address that may be absent, RLP-encoded as an empty string when absent
/// (as a transaction's `to` is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MaybeAddress(pub Option<Address>);

impl Encodable for MaybeAddress {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        match &self.0 {
            Some(address) => address.encode(out),
            None => out.put_u8(alloy_rlp::EMPTY_STRING_CODE),
        }
    }
    fn length(&self) -> usize {
        self.0.as_ref().map_or(1, Encodable::length)
    }
}

impl Decodable for MaybeAddress {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        if buf.first() == Some(&alloy_rlp::EMPTY_STRING_CODE) {
            *buf = &buf[1..];
            return Ok(Self(None));
        }
        Address::decode(buf).map(|a| Self(Some(a)))
    }
}

/// Chain configuration and the head of the chain.
///
/// Prefixed by [`MAGIC`] and [`LAYOUT_VERSION`] so a canister recognises
/// memory it did not write.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
#[rlp(trailing)]
pub struct Meta {
    pub chain_id: u64,
    /// `revm::primitives::hardfork::SpecId` as a number.
    pub spec: u8,
    pub block_gas_limit: u64,
    pub coinbase: Address,
    pub genesis_hash: B256,
    pub head_number: u64,
    pub head_hash: B256,
    /// The environment the block after genesis must have, until it exists
    /// (`InitArgs::first_block`).
    pub first_block: Option<PinnedBlock>,
}

/// The parts of a block's environment that are otherwise derived from its
/// parent and the clock.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct PinnedBlock {
    pub timestamp: u64,
    pub base_fee: u64,
    pub prevrandao: B256,
    pub excess_blob_gas: u64,
}

impl Storable for Meta {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.clone().into_bytes())
    }
    fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&LAYOUT_VERSION.to_be_bytes());
        self.encode(&mut out);
        out
    }
    fn from_bytes(bytes: Cow<'_, [u8]>) -> Self {
        assert!(
            bytes.len() > 6 && bytes[..4] == MAGIC,
            "stable memory does not hold an EVM canister's chain (bad magic)"
        );
        let version = u16::from_be_bytes([bytes[4], bytes[5]]);
        assert_eq!(
            version, LAYOUT_VERSION,
            "stable memory has layout version {version}; this canister reads version {LAYOUT_VERSION}"
        );
        Meta::decode(&mut &bytes[6..]).unwrap_or_else(|e| panic!("corrupt chain metadata: {e}"))
    }
    const BOUND: Bound = Bound::Unbounded;
}

/// A sealed block.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredBlock {
    pub hash: B256,
    /// RLP of the `alloy_consensus::Header`.
    pub header: Bytes,
    /// Size of the RLP-encoded block.
    pub size: u64,
    pub transactions: Vec<B256>,
}
rlp_storable!(StoredBlock);

impl StoredBlock {
    /// The block's header; a header that does not decode means the stable
    /// memory is corrupt, which is a trap.
    pub fn decoded_header(&self) -> alloy_consensus::Header {
        alloy_rlp::Decodable::decode(&mut self.header.as_ref())
            .unwrap_or_else(|e| panic!("corrupt block header in stable memory: {e}"))
    }
}

/// An included transaction and where it is.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredTx {
    /// EIP-2718 encoding of the signed transaction.
    pub raw: Bytes,
    pub from: Address,
    pub block_number: u64,
    pub index: u64,
    pub effective_gas_price: u128,
}
rlp_storable!(StoredTx);

/// The receipt of an included transaction and what JSON-RPC adds to it.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct StoredReceipt {
    /// EIP-2718 receipt envelope (type, status, cumulative gas, bloom, logs).
    pub envelope: Bytes,
    pub block_number: u64,
    pub index: u64,
    pub from: Address,
    pub to: MaybeAddress,
    pub contract_address: MaybeAddress,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    pub first_log_index: u64,
}
rlp_storable!(StoredReceipt);

/// Dev-node settings the controller changes (`evm_setAutomine`, snapshots).
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct DevSettings {
    /// Produce a block per transaction as it arrives.
    pub automine: bool,
    /// Id the next snapshot gets.
    pub next_snapshot: u64,
    /// Transactions that entered the pool so far: orders equal fees.
    pub pool_seq: u64,
}
rlp_storable!(DevSettings);

impl Default for DevSettings {
    fn default() -> Self {
        Self { automine: true, next_snapshot: 1, pool_seq: 0 }
    }
}

/// A transaction waiting in the pool.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct PoolEntry {
    /// EIP-2718 encoding of the transaction.
    pub raw: Bytes,
    pub from: Address,
    pub nonce: u64,
    /// Sent as an impersonated account: the signature is a placeholder and
    /// `from` is not recovered from it.
    pub impersonated: bool,
    /// Arrival order.
    pub seq: u64,
}
rlp_storable!(PoolEntry);

/// The chain as `evm_snapshot` found it.
#[derive(Clone, Debug, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct SnapshotRecord {
    pub block: u64,
    pub hash: B256,
    /// Account edits already made to the block after `block`.
    pub edits: u64,
}
rlp_storable!(SnapshotRecord);

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, hex};

    // Golden encodings: if one of these fails, the layout changed and
    // LAYOUT_VERSION must be bumped.

    /// `value` encodes as `expected` (hex) and decodes back to itself.
    fn golden<T: Storable + PartialEq + std::fmt::Debug + Clone>(value: T, expected: &str) {
        let bytes = value.to_bytes();
        assert_eq!(
            hex::encode(&bytes),
            expected,
            "the stored layout of {} changed: bump LAYOUT_VERSION",
            std::any::type_name::<T>()
        );
        assert_eq!(T::from_bytes(bytes), value);
    }

    #[test]
    fn stored_block_layout() {
        golden(
            StoredBlock {
                hash: B256::repeat_byte(0xbb),
                header: Bytes::from_static(&[0xc0]),
                size: 600,
                transactions: vec![B256::repeat_byte(0x11), B256::repeat_byte(0x22)],
            },
            "f86aa0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb81c0820258f842a01111111111111111111111111111111111111111111111111111111111111111a02222222222222222222222222222222222222222222222222222222222222222",
        );
    }

    #[test]
    fn stored_tx_layout() {
        golden(
            StoredTx {
                raw: Bytes::from_static(&[0x02, 0xf8]),
                from: Address::repeat_byte(0xaa),
                block_number: 5,
                index: 1,
                effective_gas_price: 1_000_000_007,
            },
            "df8202f894aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0501843b9aca07",
        );
    }

    #[test]
    fn stored_receipt_layout() {
        golden(
            StoredReceipt {
                envelope: Bytes::from_static(&[0x02, 0xf9]),
                block_number: 9,
                index: 2,
                from: Address::repeat_byte(3),
                to: MaybeAddress(None),
                contract_address: MaybeAddress(Some(Address::repeat_byte(4))),
                gas_used: 21_000,
                effective_gas_price: 1_000_000_000,
                first_log_index: 7,
            },
            "f8398202f9090294030303030303030303030303030303030303030380940404040404040404040404040404040404040404825208843b9aca0007",
        );
    }

    #[test]
    fn dev_settings_layout() {
        golden(DevSettings::default(), "c3010180");
        golden(
            DevSettings { automine: false, next_snapshot: 300, pool_seq: 70_000 },
            "c88082012c83011170",
        );
    }

    #[test]
    fn pool_entry_layout() {
        golden(
            PoolEntry {
                raw: Bytes::from_static(&[0x01, 0x02, 0x03]),
                from: Address::repeat_byte(0x0f),
                nonce: 4,
                impersonated: true,
                seq: 12,
            },
            "dc83010203940f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f04010c",
        );
    }

    #[test]
    fn snapshot_layout() {
        golden(
            SnapshotRecord { block: 17, hash: B256::repeat_byte(0x5e), edits: 2 },
            "e311a05e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e02",
        );
    }

    /// The keys of the state maps are ic-stable-structures' tuple
    /// encodings of fixed-size arrays and integers; pinned with them.
    #[test]
    fn tuple_key_layouts() {
        let address = [0xaa; 20];
        let slot = slot_key(&Address::from(address), &U256::from(5));
        let keys = [
            hex::encode(slot),
            hex::encode((address, 9u64).to_bytes()),
            hex::encode((9u64, address).to_bytes()),
            hex::encode((slot, 9u64).to_bytes()),
            hex::encode((9u64, slot).to_bytes()),
            hex::encode(([0x77u8; 20], 3u64).to_bytes()),
            hex::encode((4u64, 1u64).to_bytes()),
        ];
        assert_eq!(keys.join("\n"), [
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000000000000000000000000000000000000000000000000000000000000005",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000000000000009",
            "0000000000000009aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa00000000000000000000000000000000000000000000000000000000000000050000000000000009",
            "0000000000000009aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000000000000000000000000000000000000000000000000000000000000005",
            "77777777777777777777777777777777777777770000000000000003",
            "00000000000000040000000000000001",
        ]
        .join("\n"), "a key layout changed: bump LAYOUT_VERSION");
    }

    /// Account edits are kept as Candid of `AccountEdit` (the log a revert
    /// replays), so that type's encoding is a stored format too.
    #[test]
    fn edit_log_layout() {
        let edit = evm_canister_api::AccountEdit {
            address: Address::repeat_byte(0x0a).into(),
            balance: Some(U256::from(1_000).into()),
            nonce: Some(3),
            code: None,
            storage: vec![(B256::repeat_byte(1).into(), B256::repeat_byte(2).into())],
        };
        let bytes = candid::encode_one(&edit).unwrap();
        assert_eq!(
            hex::encode(&bytes),
            "4449444c076c059cbab69c0201ade2928e0402bbbea3a50404b4e3ade80903ef9999fe09066e7d6e036d7b6d056c02000301036e78010001e8070001200101010101010101010101010101010101010101010101010101010101010101200202020202020202020202020202020202020202020202020202020202020202140a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a010300000000000000",
            "the edit log's layout changed: bump LAYOUT_VERSION"
        );
        assert_eq!(candid::decode_one::<evm_canister_api::AccountEdit>(&bytes).unwrap(), edit);
    }

    #[test]
    fn account_record_layout() {
        let record = AccountRecord {
            balance: U256::from(0x0102_0304u64),
            nonce: 7,
            code_hash: B256::repeat_byte(0xcc),
        };
        let bytes = record.to_bytes();
        assert_eq!(
            hex::encode(&bytes),
            concat!(
                "0000000000000000000000000000000000000000000000000000000001020304",
                "0000000000000007",
                "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
            )
        );
        assert_eq!(AccountRecord::from_bytes(bytes), record);
    }

    #[test]
    fn prior_account_layout() {
        assert!(PriorAccount(None).to_bytes().is_empty());
        let record = AccountRecord { balance: U256::from(1), nonce: 2, code_hash: B256::ZERO };
        assert_eq!(
            hex::encode(PriorAccount(Some(record)).to_bytes()),
            hex::encode(record.to_bytes()),
            "a prior account is the account's own record"
        );
        for prior in [PriorAccount(None), PriorAccount(Some(record))] {
            assert_eq!(PriorAccount::from_bytes(prior.to_bytes()), prior);
        }
    }

    #[test]
    fn slot_key_layout() {
        let key = slot_key(&address!("0x00000000000000000000000000000000000000aa"), &U256::from(5));
        assert_eq!(
            hex::encode(key),
            concat!(
                "00000000000000000000000000000000000000aa",
                "0000000000000000000000000000000000000000000000000000000000000005"
            )
        );
        assert_eq!(
            split_slot_key(&key),
            (address!("0x00000000000000000000000000000000000000aa"), U256::from(5))
        );
    }

    #[test]
    fn meta_layout() {
        let meta = Meta {
            chain_id: 31337,
            spec: 19,
            block_gas_limit: 30_000_000,
            coinbase: Address::ZERO,
            genesis_hash: b256!(
                "0x1111111111111111111111111111111111111111111111111111111111111111"
            ),
            head_number: 3,
            head_hash: B256::ZERO,
            first_block: None,
        };
        let bytes = meta.to_bytes();
        assert_eq!(&bytes[..6], b"CEVM\x00\x02");
        assert_eq!(
            hex::encode(&bytes[6..]),
            concat!(
                "f861827a69138401c9c380940000000000000000000000000000000000000000",
                "a01111111111111111111111111111111111111111111111111111111111111111",
                "03a00000000000000000000000000000000000000000000000000000000000000000"
            )
        );
        assert_eq!(Meta::from_bytes(bytes), meta);

        // A pinned first block is appended; without one nothing is.
        let pinned = Meta {
            first_block: Some(PinnedBlock {
                timestamp: 1000,
                base_fee: 10,
                prevrandao: B256::repeat_byte(0x22),
                excess_blob_gas: 0x0e0000,
            }),
            ..meta
        };
        let bytes = pinned.to_bytes();
        assert!(hex::encode(&bytes[6..]).ends_with(concat!(
            "e98203e80aa02222222222222222222222222222222222222222222222222222222222222222",
            "830e0000"
        )));
        assert_eq!(Meta::from_bytes(bytes), pinned);
    }

    #[test]
    #[should_panic(expected = "bad magic")]
    fn foreign_memory_is_refused() {
        Meta::from_bytes(Cow::Borrowed(b"something else entirely"));
    }

    #[test]
    fn receipt_round_trips_with_and_without_addresses() {
        for (to, created) in
            [(Some(Address::repeat_byte(1)), None), (None, Some(Address::repeat_byte(2)))]
        {
            let receipt = StoredReceipt {
                envelope: Bytes::from_static(&[1, 2, 3]),
                block_number: 9,
                index: 0,
                from: Address::repeat_byte(3),
                to: MaybeAddress(to),
                contract_address: MaybeAddress(created),
                gas_used: 21_000,
                effective_gas_price: 1_000_000_000,
                first_log_index: 0,
            };
            assert_eq!(StoredReceipt::from_bytes(receipt.to_bytes()), receipt);
        }
    }
}
