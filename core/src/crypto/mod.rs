//! Key handling: passphrase-derived keys (Argon2id), authenticated encryption
//! (XChaCha20-Poly1305), the random data key that opens the database, and binding a
//! passphrase key to a secret held by the OS keystore. Secrets live in `Zeroizing` buffers and
//! are wiped when dropped.

pub mod keyslots;
pub mod keystore;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A 256-bit secret, wiped on drop.
pub type SecretKey = Zeroizing<[u8; 32]>;

/// Argon2id cost parameters, stored beside whatever they protect so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// The smallest memory cost accepted for any key slot or bundle: OWASP's floor for Argon2id
/// (19 MiB with 2 passes, one lane).
pub const MIN_KDF_MEMORY_KIB: u32 = 19 * 1024;
/// The fewest passes accepted (OWASP's floor at 19 MiB).
pub const MIN_KDF_ITERATIONS: u32 = 2;

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about half a second on a patrol laptop.
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// The cheapest cost accepted anywhere (19 MiB, 2 passes, 1 lane): what tests use, so they
    /// stay fast without ever going below the floor.
    pub const FLOOR: KdfParams = KdfParams {
        memory_kib: MIN_KDF_MEMORY_KIB,
        iterations: MIN_KDF_ITERATIONS,
        parallelism: 1,
    };

    pub fn validate(&self) -> Result<()> {
        if self.memory_kib < MIN_KDF_MEMORY_KIB || self.memory_kib > 4 * 1024 * 1024 {
            return Err(Error::InvalidSetting(format!(
                "Argon2id memory must be between {MIN_KDF_MEMORY_KIB} KiB and 4 GiB"
            )));
        }
        if !(MIN_KDF_ITERATIONS..=10).contains(&self.iterations)
            || !(1..=8).contains(&self.parallelism)
        {
            return Err(Error::InvalidSetting(format!(
                "Argon2id passes must be {MIN_KDF_ITERATIONS}-10 and lanes 1-8"
            )));
        }
        Ok(())
    }
}

/// Derives a key from a passphrase with Argon2id.
pub fn derive_key(passphrase: &[u8], salt: &[u8], p: KdfParams) -> Result<SecretKey> {
    p.validate()?;
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(out)
}

/// The wrapping key of a key slot bound to the OS keystore: keyed BLAKE2b-256 (personalised for
/// this one use) of the binding secret under the Argon2id output. Neither input alone gives the
/// key, so a passphrase cannot be tried without the secret, nor the secret used without the
/// passphrase.
pub fn bind_key(passphrase_key: &SecretKey, binding_secret: &SecretKey) -> Result<SecretKey> {
    use blake2::digest::consts::U32;
    use blake2::digest::Mac;
    use zeroize::Zeroize;
    let mut mac = blake2::Blake2bMac::<U32>::new_with_salt_and_personal(
        passphrase_key.as_ref(),
        b"",
        BIND_PERSONAL,
    )
    .map_err(|_| Error::Crypto("key binding failed".into()))?;
    mac.update(binding_secret.as_ref());
    let mut tag = mac.finalize().into_bytes();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&tag);
    tag.as_mut_slice().zeroize();
    Ok(out)
}

/// BLAKE2b personalisation of `bind_key` (16 bytes).
const BIND_PERSONAL: &[u8; 16] = b"provide-keyslot1";

/// A fresh random 256-bit key.
pub fn random_key() -> SecretKey {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// Encrypts with XChaCha20-Poly1305 under a random nonce; returns (nonce, ciphertext).
pub fn seal(key: &SecretKey, plaintext: &[u8], aad: &[u8]) -> Result<([u8; 24], Vec<u8>)> {
    let nonce = random_bytes::<24>();
    let ct = XChaCha20Poly1305::new(key.as_ref().into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Crypto("encryption failed".into()))?;
    Ok((nonce, ct))
}

/// Decrypts and authenticates; `None` when the key is wrong or the data was altered.
pub fn open(
    key: &SecretKey,
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if nonce.len() != 24 {
        return None;
    }
    XChaCha20Poly1305::new(key.as_ref().into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        Zeroizing::new([byte; 32])
    }

    #[test]
    fn binding_needs_both_inputs() {
        let k = bind_key(&key(1), &key(2)).unwrap();
        assert_eq!(*k, *bind_key(&key(1), &key(2)).unwrap(), "deterministic");
        assert_ne!(*k, *bind_key(&key(1), &key(3)).unwrap(), "another secret");
        assert_ne!(
            *k,
            *bind_key(&key(4), &key(2)).unwrap(),
            "another passphrase"
        );
        assert_ne!(*k, *key(1), "not the passphrase key");
        assert_ne!(*k, *key(2), "not the secret");
        // the two inputs have distinct roles
        assert_ne!(*bind_key(&key(2), &key(1)).unwrap(), *k);
    }

    #[test]
    fn binding_is_keyed_blake2b_personalised() {
        // pinned so the derivation never changes under existing bound slots
        let k = bind_key(&key(0x11), &key(0x22)).unwrap();
        assert_eq!(hex::encode(*k), PINNED);
    }

    /// Python: hashlib.blake2b(b'\x22' * 32, digest_size=32, key=b'\x11' * 32, person=b'provide-keyslot1')
    const PINNED: &str = "4fb27358c578bf30ce7ad9b739846a7c34bba09d8caa6ab0b5903b844bab70de";
}
