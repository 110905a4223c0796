//! secp256k1 public-key recovery, for transaction senders and the
//! `ecrecover` precompile, installed as alloy's and revm's crypto provider.
//!
//! Recovery was most of what a plain transfer cost in the canister: 8.7 M of
//! its 10.5 M instructions (`canister-evm costs report`, `recover` phase).
//! alloy and revm recover with k256 0.13 / ecdsa 0.16, whose
//! `recover_from_prehash` computes the key as `r⁻¹·(s·R − z·G)` in constant
//! time and then verifies the signature against it again, a second
//! double-scalar multiplication whose answer is known. k256 0.14 / ecdsa
//! 0.17 recover without the re-verification and multiply in variable time
//! (GLV and wNAF), which is right for recovery: everything in it is public.
//! This module puts that recovery behind both libraries' provider hooks;
//! the tests check it against ecdsa 0.16's on signed and arbitrary input.
//!
//! On wasm32, k256 0.14's arithmetic would pick 64-bit limbs (the
//! `cpubits` crate's heuristic), whose 64×64-bit products wasm can only do
//! through compiler-rt's `__multi3`; `.cargo/config.toml` sets 32-bit
//! limbs for the wasm target.

use alloy_primitives::{Address, keccak256};
use k256_recovery::ecdsa::{RecoveryId, Signature, VerifyingKey};

/// Recovers the uncompressed public key (x ‖ y, 64 bytes) that signed
/// `prehash` with `(r, s)` and recovery id `recid` (bit 0: the parity of
/// R's y; bit 1: R's x is `r + n`). High `s` values are accepted, as
/// ecrecover accepts them; EIP-2's low-`s` rule is the caller's.
pub fn recover_public_key(sig: &[u8; 64], recid: u8, prehash: &[u8; 32]) -> Option<[u8; 64]> {
    // `r` and `s` in [1, n), as ECDSA requires.
    let signature = Signature::from_slice(sig).ok()?;
    let key =
        VerifyingKey::recover_from_prehash(prehash, &signature, RecoveryId::from_byte(recid)?)
            .ok()?;
    key.to_sec1_point(false).as_bytes()[1..].try_into().ok()
}

/// The address of an uncompressed public key (x ‖ y).
pub fn address_of(public_key: &[u8; 64]) -> Address {
    Address::from_word(keccak256(public_key))
}

/// The address that signed `prehash`, or `None` if none did.
pub fn recover_address(sig: &[u8; 64], recid: u8, prehash: &[u8; 32]) -> Option<Address> {
    recover_public_key(sig, recid, prehash).map(|key| address_of(&key))
}

/// The provider given to alloy (sender recovery) and revm (the `ecrecover`
/// precompile).
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovery;

impl alloy_consensus::crypto::CryptoProvider for Recovery {
    fn recover_signer_unchecked(
        &self,
        sig: &[u8; 65],
        msg: &[u8; 32],
    ) -> Result<Address, alloy_consensus::crypto::RecoveryError> {
        let (rs, v) = sig.split_at(64);
        recover_address(rs.try_into().expect("64 bytes"), v[0], msg)
            .ok_or_else(alloy_consensus::crypto::RecoveryError::new)
    }

    fn verify_and_compute_signer_unchecked(
        &self,
        pubkey: &[u8; 65],
        sig: &[u8; 64],
        msg: &[u8; 32],
    ) -> Result<Address, alloy_consensus::crypto::RecoveryError> {
        // Not on any path of the canister's; what alloy's k256 backend does.
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        let failed = |_| alloy_consensus::crypto::RecoveryError::new();
        let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(pubkey).map_err(failed)?;
        let signature = k256::ecdsa::Signature::from_slice(sig).map_err(failed)?;
        let signature = signature.normalize_s().unwrap_or(signature);
        key.verify_prehash(msg, &signature).map_err(failed)?;
        let public: &[u8; 64] = pubkey[1..].try_into().expect("64 bytes");
        Ok(address_of(public))
    }
}

impl revm::precompile::Crypto for Recovery {
    fn secp256k1_ecrecover(
        &self,
        sig: &[u8; 64],
        recid: u8,
        msg: &[u8; 32],
    ) -> Result<[u8; 32], revm::precompile::PrecompileHalt> {
        let key = recover_public_key(sig, recid, msg)
            .ok_or(revm::precompile::PrecompileHalt::Secp256k1RecoverFailed)?;
        let mut word = keccak256(key).0;
        word[..12].fill(0);
        Ok(word)
    }
}

/// Installs [`Recovery`] as alloy's and revm's secp256k1 backend, once per
/// heap. Every entry point that may recover a key calls this first.
pub fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = alloy_consensus::crypto::install_default_provider(std::sync::Arc::new(Recovery));
        revm::precompile::install_crypto(Recovery);
    });
}

/// The transaction's sender, through the installed provider: EIP-2's
/// low-`s` rule applies.
pub fn sender<T: alloy_consensus::transaction::SignerRecoverable>(
    tx: &T,
) -> Result<Address, alloy_consensus::crypto::RecoveryError> {
    install();
    tx.recover_signer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;
    use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
    use k256::elliptic_curve::bigint::ArrayEncoding as _;
    use k256::elliptic_curve::{Curve as _, PrimeField as _};
    use k256::{Scalar, Secp256k1};
    use proptest::prelude::*;

    /// What ecdsa 0.16 recovers, as alloy and revm called it before.
    fn reference(sig: &[u8; 64], recid: u8, prehash: &[u8; 32]) -> Option<[u8; 64]> {
        let mut signature = Signature::from_slice(sig).ok()?;
        let mut recid = recid;
        if let Some(normalized) = signature.normalize_s() {
            signature = normalized;
            recid ^= 1;
        }
        let key =
            VerifyingKey::recover_from_prehash(prehash, &signature, RecoveryId::from_byte(recid)?)
                .ok()?;
        key.to_encoded_point(false).as_bytes()[1..].try_into().ok()
    }

    fn key(seed: [u8; 32]) -> Option<SigningKey> {
        SigningKey::from_bytes(&seed.into()).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Signatures made by a key recover to it, as ecdsa's recovery
        /// says, with high and low `s` alike.
        #[test]
        fn recovers_what_ecdsa_recovers(seed in any::<[u8; 32]>(), msg in any::<[u8; 32]>(), flip in any::<bool>()) {
            let Some(signing) = key(seed) else { return Ok(()) };
            let (signature, id) = signing.sign_prehash_recoverable(&msg).unwrap();
            let (mut sig, mut recid): ([u8; 64], u8) = (signature.to_bytes().into(), id.to_byte());
            if flip {
                // (r, n − s) with the other parity names the same key.
                let s = <[u8; 32]>::try_from(&sig[32..]).unwrap();
                let s = -Option::<Scalar>::from(Scalar::from_repr(s.into())).unwrap();
                sig[32..].copy_from_slice(&s.to_bytes());
                recid ^= 1;
            }
            let expected: [u8; 64] = signing.verifying_key().to_encoded_point(false).as_bytes()[1..].try_into().unwrap();
            prop_assert_eq!(recover_public_key(&sig, recid, &msg), Some(expected));
            prop_assert_eq!(reference(&sig, recid, &msg), Some(expected));
        }

        /// Whatever the bytes, both recoveries agree: on the key, or on
        /// there being none.
        #[test]
        fn agrees_with_ecdsa_on_arbitrary_input(sig in any::<[u8; 64]>(), recid in 0u8..4, msg in any::<[u8; 32]>()) {
            prop_assert_eq!(recover_public_key(&sig, recid, &msg), reference(&sig, recid, &msg));
        }
    }

    #[test]
    fn refuses_out_of_range_scalars_and_ids() {
        let signing = key([7; 32]).unwrap();
        let msg = [9; 32];
        let (signature, id) = signing.sign_prehash_recoverable(&msg).unwrap();
        let sig: [u8; 64] = signature.to_bytes().into();
        assert!(recover_public_key(&sig, id.to_byte(), &msg).is_some());
        assert_eq!(recover_public_key(&sig, 4, &msg), None);
        let order: [u8; 32] = Secp256k1::ORDER.to_be_byte_array().into();
        for (at, value) in [(0, [0; 32]), (32, [0; 32]), (0, order), (32, order)] {
            let mut bad = sig;
            bad[at..at + 32].copy_from_slice(&value);
            assert_eq!(recover_public_key(&bad, id.to_byte(), &msg), None, "at {at}");
        }
        // x = r + n, for a small r: ids 2 and 3 as ecdsa reads them.
        let mut small_r = sig;
        small_r[..32].fill(0);
        small_r[31] = 1;
        for recid in 2..4 {
            assert_eq!(recover_public_key(&small_r, recid, &msg), reference(&small_r, recid, &msg));
        }
        // For any larger r, r + n is beyond the field.
        assert_eq!(recover_public_key(&sig, id.to_byte() | 2, &msg), None);
    }

    #[test]
    fn the_installed_provider_recovers_senders_and_ecrecover() {
        install();
        let signing = key([3; 32]).unwrap();
        let msg = B256::repeat_byte(5);
        let (signature, id) = signing.sign_prehash_recoverable(msg.as_slice()).unwrap();
        let expected = address_of(
            signing.verifying_key().to_encoded_point(false).as_bytes()[1..].try_into().unwrap(),
        );
        let sig = alloy_primitives::Signature::from_signature_and_parity(signature, id.is_y_odd());
        assert_eq!(
            alloy_consensus::crypto::secp256k1::recover_signer(&sig, msg).unwrap(),
            expected
        );
        // Both libraries answer through this module, not their defaults.
        let mut bytes = [0; 65];
        bytes[..64].copy_from_slice(&signature.to_bytes());
        bytes[64] = id.to_byte();
        let provider = alloy_consensus::crypto::backend::get_default_provider();
        assert_eq!(provider.recover_signer_unchecked(&bytes, &msg.0).unwrap(), expected);
        assert_eq!(format!("{:?}", revm::precompile::crypto()), "Recovery");
        let word = revm::precompile::crypto()
            .secp256k1_ecrecover(&signature.to_bytes().into(), id.to_byte(), &msg.0)
            .unwrap();
        assert_eq!(&word[12..], expected.as_slice());
    }
}
