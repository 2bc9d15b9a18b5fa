//! Secrets the server hands out and checks: one-time enrolment codes (typed by a person, so
//! short, unambiguous and grouped) and device credentials (random 256-bit secrets). The server
//! keeps only their SHA-256; both are high-entropy, so a plain hash is enough, and comparison
//! is in constant time.

use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new enrolment code: 20 symbols (100 bits) in four groups, e.g. `7K2QX-...`.
pub fn new_code() -> Zeroizing<String> {
    let mut code = String::with_capacity(23);
    for i in 0..20 {
        if i > 0 && i % 5 == 0 {
            code.push('-');
        }
        code.push(ALPHABET[OsRng.gen_range(0..ALPHABET.len())] as char);
    }
    Zeroizing::new(code)
}

/// A code as typed, in canonical form: case and separators do not matter, and the letters
/// people confuse with digits are read as those digits.
pub fn normalise_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new device credential `<device id>.<secret>` and the secret's hash to store.
pub fn new_credential(device_id: &str) -> (Zeroizing<String>, String) {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    let secret = Zeroizing::new(hex::encode(bytes.as_ref()));
    let credential = Zeroizing::new(format!("{device_id}.{}", secret.as_str()));
    (credential, hash(&secret))
}

/// Splits a presented credential into device id and secret.
pub fn split_credential(presented: &str) -> Option<(&str, &str)> {
    let (id, secret) = presented.split_once('.')?;
    if id.is_empty() || id.len() > 64 || secret.len() != 64 {
        return None;
    }
    Some((id, secret))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn matches(secret: &str, stored: &str) -> bool {
    let presented = hash(secret);
    presented.len() == stored.len()
        && presented
            .bytes()
            .zip(stored.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_read_forgivingly() {
        let code = new_code();
        assert_eq!(code.len(), 23);
        assert_eq!(code.matches('-').count(), 3);
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(normalise_code(&typed), normalise_code(&code));
        assert_eq!(normalise_code("o1-il"), "0111");
    }

    #[test]
    fn credentials_check_against_their_hash_only() {
        let (cred, stored) = new_credential("dev-1");
        let (id, secret) = split_credential(&cred).unwrap();
        assert_eq!(id, "dev-1");
        assert!(matches(secret, &stored));
        assert!(!matches(&"0".repeat(64), &stored));
        assert!(split_credential("dev-1.short").is_none());
        assert!(split_credential("nodot").is_none());
    }
}
