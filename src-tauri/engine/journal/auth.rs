//! The journal's authentication: HMAC-SHA256 under the console's [`JournalKey`], with a
//! distinct domain for entries and for the head so one can never stand in for the other.
//!
//! - entry MAC = HMAC(key, `"breakglass.journal.entry.v1\0"` ‖ entry hash). The entry hash
//!   already covers every field and the previous hash, so the MAC over it authenticates
//!   the entry and, through the chain, every entry before it.
//! - head MAC = HMAC(key, `"breakglass.journal.head.v1\0"` ‖ seq (8 bytes, big-endian) ‖
//!   hash ‖ `\0` ‖ at).
//!
//! MACs are stored as lowercase hex. Checking uses the constant-time comparison of the
//! `hmac` crate.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::JournalKey;
use crate::engine::{Error, Result};

const ENTRY_DOMAIN: &[u8] = b"breakglass.journal.entry.v1\0";
const HEAD_DOMAIN: &[u8] = b"breakglass.journal.head.v1\0";

fn hmac(key: &JournalKey) -> Result<Hmac<Sha256>> {
    Hmac::<Sha256>::new_from_slice(key.bytes()).map_err(|_| Error::Journal {
        message: "the journal key cannot key HMAC-SHA256".into(),
    })
}

fn entry_mac_state(key: &JournalKey, hash: &str) -> Result<Hmac<Sha256>> {
    let mut m = hmac(key)?;
    m.update(ENTRY_DOMAIN);
    m.update(hash.as_bytes());
    Ok(m)
}

fn head_mac_state(key: &JournalKey, seq: i64, hash: &str, at: &str) -> Result<Hmac<Sha256>> {
    let mut m = hmac(key)?;
    m.update(HEAD_DOMAIN);
    m.update(&seq.to_be_bytes());
    m.update(hash.as_bytes());
    m.update(b"\0");
    m.update(at.as_bytes());
    Ok(m)
}

fn check(m: Hmac<Sha256>, mac_hex: &str) -> bool {
    match hex::decode(mac_hex) {
        Ok(bytes) => m.verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

pub(super) fn entry_mac(key: &JournalKey, hash: &str) -> Result<String> {
    Ok(hex::encode(entry_mac_state(key, hash)?.finalize().into_bytes()))
}

pub(super) fn entry_mac_ok(key: &JournalKey, hash: &str, mac_hex: &str) -> Result<bool> {
    Ok(check(entry_mac_state(key, hash)?, mac_hex))
}

pub(super) fn head_mac(key: &JournalKey, seq: i64, hash: &str, at: &str) -> Result<String> {
    Ok(hex::encode(
        head_mac_state(key, seq, hash, at)?.finalize().into_bytes(),
    ))
}

pub(super) fn head_mac_ok(key: &JournalKey, seq: i64, hash: &str, at: &str, mac_hex: &str) -> Result<bool> {
    Ok(check(head_mac_state(key, seq, hash, at)?, mac_hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_check_and_domains_differ() {
        let k = JournalKey::from_bytes([1; 32]);
        let other = JournalKey::from_bytes([2; 32]);
        let m = entry_mac(&k, "abc").unwrap();
        assert!(entry_mac_ok(&k, "abc", &m).unwrap());
        assert!(!entry_mac_ok(&k, "abd", &m).unwrap());
        assert!(!entry_mac_ok(&other, "abc", &m).unwrap());
        assert!(!entry_mac_ok(&k, "abc", "not hex").unwrap());
        let h = head_mac(&k, 3, "abc", "t").unwrap();
        assert!(head_mac_ok(&k, 3, "abc", "t", &h).unwrap());
        assert!(!head_mac_ok(&k, 2, "abc", "t", &h).unwrap());
        assert!(!head_mac_ok(&k, 3, "abc", "u", &h).unwrap());
        assert_ne!(h, m);
    }
}
