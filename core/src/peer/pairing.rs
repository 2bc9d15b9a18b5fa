//! Pairing at the start of a shift: one device shows a short code (and a QR code of the same
//! text where there is a camera), the other enters it. The code never crosses the link: each
//! side proves it knows the code with an HMAC over both certificates' key fingerprints, so a
//! proof is bound to this pair of devices and useless to anyone relaying the connection.
//!
//! A code is 10 characters of Crockford's base32 (no I, L, O or U: nothing to misread in a
//! moving car), about 50 bits, shown as `ABCDE-FGHJK`. A listener takes at most
//! `MAX_WRONG_PROOFS` wrong proofs for one code and then stops taking it, so it cannot be
//! guessed online.

use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;

use crate::error::{Error, Result};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_CHARS: usize = 10;
/// Wrong proofs a listener takes for one code before it stops taking it.
pub const MAX_WRONG_PROOFS: u32 = 5;

/// A fresh pairing code, as shown (`ABCDE-FGHJK`).
pub fn new_code() -> String {
    let bytes = crate::crypto::random_bytes::<CODE_CHARS>();
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A code as typed, in its one form: upper case, without separators, with the letters people
/// mistake for digits read as those digits. `None` if it cannot be a code.
pub fn normalise(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !ALPHABET.contains(&(c as u32 as u8)) || !c.is_ascii() {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// Which side a proof is from: a proof from one side is never accepted as the other's.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    Listener,
    Dialer,
}

/// The MAC of `side`'s proof of `code`, bound to the two key fingerprints.
fn keyed(code: &str, side: Side, listener_key: &str, dialer_key: &str) -> Option<Hmac<Sha256>> {
    let code = normalise(code)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(code.as_bytes()).ok()?;
    mac.update(b"provide pairing v1\0");
    mac.update(match side {
        Side::Listener => b"listener\0",
        Side::Dialer => b"dialer\0\0\0",
    });
    mac.update(listener_key.as_bytes());
    mac.update(b"\0");
    mac.update(dialer_key.as_bytes());
    Some(mac)
}

/// `side`'s proof that it knows `code`, bound to the listener's and the dialer's key
/// fingerprints.
pub fn proof(code: &str, side: Side, listener_key: &str, dialer_key: &str) -> Result<[u8; 32]> {
    let mac = keyed(code, side, listener_key, dialer_key)
        .ok_or_else(|| Error::InvalidInput("the pairing code is 10 letters and digits".into()))?;
    Ok(mac.finalize().into_bytes().into())
}

/// Whether `given` is `side`'s proof of `code` (in constant time).
pub fn verify(code: &str, side: Side, listener_key: &str, dialer_key: &str, given: &[u8]) -> bool {
    keyed(code, side, listener_key, dialer_key).is_some_and(|mac| mac.verify_slice(given).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_typed() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), 11);
            let n = normalise(&code).unwrap();
            assert_eq!(normalise(&code.to_lowercase().replace('-', " ")), Some(n));
        }
        assert_eq!(normalise("abcde-fghjk"), Some("ABCDEFGHJK".into()));
        assert_eq!(normalise("oooo0-iiiil"), Some("0000011111".into()));
        assert_eq!(normalise("ABCDE-FGHJ"), None);
        assert_eq!(normalise("ABCDE-FGHJU"), None);
        assert_eq!(normalise("ABCDE-FGHJ\u{e9}"), None);
    }

    #[test]
    fn a_proof_is_bound_to_its_code_side_and_keys() {
        let p = proof("ABCDE-FGHJK", Side::Dialer, "l", "d").unwrap();
        assert!(verify("abcde fghjk", Side::Dialer, "l", "d", &p));
        assert!(!verify("ABCDE-FGHJM", Side::Dialer, "l", "d", &p));
        assert!(!verify("ABCDE-FGHJK", Side::Listener, "l", "d", &p));
        assert!(!verify("ABCDE-FGHJK", Side::Dialer, "l", "x", &p));
        assert!(!verify("ABCDE-FGHJK", Side::Dialer, "d", "l", &p));
    }
}
