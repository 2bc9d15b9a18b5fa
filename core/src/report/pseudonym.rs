//! Keyed identifiers for reports: who a victim is, and which case an attendance is, without
//! saying either.
//!
//! - The **victim digest** is HMAC-SHA256, under a key the server keeps in its own database, of
//!   the victim's normalised identity (name lower-cased with whitespace collapsed, then `|` and
//!   the date of birth or nothing). It lets the server count repeat victims without keeping a
//!   name in its reporting table. A victim with no name has no digest.
//! - A **pseudonym** in an export is HMAC-SHA256 under the server's *report* key (a file apart
//!   from the database) of a labelled value, cut to 32 hex digits. The same victim has the same
//!   pseudonym in every export made with that key; without the key it cannot be reversed or
//!   recomputed from a guessed name.

use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;

use crate::model::Victim;

/// The length of every key used here.
pub const KEY_LEN: usize = 32;

/// Hex digits in an export pseudonym (128 bits).
pub const PSEUDONYM_HEX: usize = 32;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so this cannot fail
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// A name as compared for identity: Unicode lower case, runs of whitespace made one space,
/// trimmed.
pub fn normalise_name(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The normalised identity `name|dob` of a victim, or `None` when the name is empty.
pub fn victim_identity(victim: &Victim) -> Option<String> {
    let name = normalise_name(&victim.name);
    if name.is_empty() {
        return None;
    }
    let dob = victim.dob.as_deref().map(str::trim).unwrap_or("");
    Some(format!("{name}|{dob}"))
}

/// The victim digest (64 hex digits) under the server's identity key.
pub fn victim_digest(identity_key: &[u8], victim: &Victim) -> Option<String> {
    victim_identity(victim).map(|id| hex::encode(hmac_sha256(identity_key, id.as_bytes())))
}

/// A police reference as compared when searching: upper case, with no whitespace.
pub fn normalise_reference(reference: &str) -> String {
    reference
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// What a closed case can be found by on the server when the safeguarding unit asks for it
/// (issue 15): its police reference, or its victim's whole name (as `normalise_name`
/// compares). The server keeps only these digests (HMAC-SHA256 under its identity key, like
/// the victim digest), never the text, so its lookup table holds no name.
pub fn reference_lookup(identity_key: &[u8], reference: &str) -> Option<String> {
    let r = normalise_reference(reference);
    (!r.is_empty()).then(|| hex::encode(hmac_sha256(identity_key, format!("ref:{r}").as_bytes())))
}

/// See `reference_lookup`.
pub fn name_lookup(identity_key: &[u8], name: &str) -> Option<String> {
    let n = normalise_name(name);
    (!n.is_empty()).then(|| hex::encode(hmac_sha256(identity_key, format!("name:{n}").as_bytes())))
}

fn pseudonym(report_key: &[u8], label: &str, value: &str) -> String {
    let mut message = Vec::with_capacity(label.len() + 1 + value.len());
    message.extend_from_slice(label.as_bytes());
    message.push(0);
    message.extend_from_slice(value.as_bytes());
    let mut text = hex::encode(hmac_sha256(report_key, &message));
    text.truncate(PSEUDONYM_HEX);
    text
}

/// The export pseudonym of a victim digest.
pub fn victim_pseudonym(report_key: &[u8], victim_digest: &str) -> String {
    pseudonym(report_key, "victim", victim_digest)
}

/// The export id of an attendance (a keyed pseudonym of the case id).
pub fn attendance_pseudonym(report_key: &[u8], case_id: &str) -> String {
    pseudonym(report_key, "attendance", case_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn victim(name: &str, dob: Option<&str>) -> Victim {
        Victim {
            name: name.into(),
            dob: dob.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn names_normalise_across_case_and_whitespace() {
        assert_eq!(normalise_name("  Jane \t  FICTIONAL\n"), "jane fictional");
        assert_eq!(normalise_name("ÉLODIE  Exemple"), "élodie exemple");
        assert_eq!(normalise_name("   "), "");
        let key = [7u8; KEY_LEN];
        let a = victim_digest(&key, &victim("Jane Fictional", Some("1990-02-03")));
        let b = victim_digest(&key, &victim(" jane   FICTIONAL ", Some("1990-02-03")));
        assert_eq!(a, b);
        assert_eq!(a.as_deref().map(str::len), Some(64));
    }

    #[test]
    fn dob_and_key_separate_identities_and_an_empty_name_has_none() {
        let key = [7u8; KEY_LEN];
        let with = victim_digest(&key, &victim("Jane Fictional", Some("1990-02-03")));
        let other = victim_digest(&key, &victim("Jane Fictional", Some("1991-02-03")));
        let without = victim_digest(&key, &victim("Jane Fictional", None));
        assert_ne!(with, other);
        assert_ne!(with, without);
        assert_eq!(
            victim_identity(&victim("Jane Fictional", None)).as_deref(),
            Some("jane fictional|")
        );
        assert_ne!(
            with,
            victim_digest(
                &[8u8; KEY_LEN],
                &victim("Jane Fictional", Some("1990-02-03"))
            )
        );
        assert_eq!(
            victim_digest(&key, &victim(" \n ", Some("1990-02-03"))),
            None
        );
    }

    #[test]
    fn pseudonyms_are_keyed_labelled_and_32_hex_digits() {
        let k1 = [1u8; KEY_LEN];
        let k2 = [2u8; KEY_LEN];
        let p = victim_pseudonym(&k1, "abc");
        assert_eq!(p.len(), PSEUDONYM_HEX);
        assert!(p.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(p, victim_pseudonym(&k1, "abc"));
        assert_ne!(p, victim_pseudonym(&k2, "abc"));
        assert_ne!(p, attendance_pseudonym(&k1, "abc"));
    }
}
