//! New values: generated from the operating system's CSPRNG in the form the app profile
//! sets (`profiles::rotation::ValueForm`), or pasted by the user (a third party's
//! secret), checked before anything changes. Values live in memory only.

use std::collections::BTreeMap;

use base64::Engine as _;
use rand::TryRngCore;
use zeroize::Zeroizing;

use crate::engine::profiles::rotation::{Alphabet, ValueForm};
use crate::engine::secret::Sensitive;
use crate::engine::{Error, Result};

/// Values the user pasted, by variable. Never serialized (not in the journal, the
/// window's requests or the bindings); its `Debug` names the variables only.
#[derive(Clone, Default, PartialEq)]
pub struct Pasted(pub BTreeMap<String, Sensitive<String>>);

impl Eq for Pasted {}

impl std::fmt::Debug for Pasted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The longest value accepted from the user.
pub const MAX_PASTED: usize = 4096;

fn random(buf: &mut [u8]) -> Result<()> {
    rand::rngs::OsRng
        .try_fill_bytes(buf)
        .map_err(|e| Error::ActionUnavailable {
            reason: format!("the operating system's random generator failed: {e}"),
        })
}

/// A new value of `form`, from the operating system's CSPRNG.
pub fn generate(form: ValueForm) -> Result<Sensitive<String>> {
    let n = usize::from(form.len);
    let text = match form.alphabet {
        Alphabet::Hex | Alphabet::Base64 | Alphabet::Base64Url => {
            let mut bytes = Zeroizing::new(vec![0u8; n]);
            random(&mut bytes)?;
            match form.alphabet {
                Alphabet::Hex => hex::encode(&*bytes),
                Alphabet::Base64 => base64::engine::general_purpose::STANDARD.encode(&*bytes),
                _ => base64::engine::general_purpose::URL_SAFE.encode(&*bytes),
            }
        }
        Alphabet::Alnum => {
            // Rejection sampling: a byte below 248 (= 4 × 62) maps uniformly to one of
            // the 62 characters; the rest are drawn again.
            const CHARS: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            let mut out = String::with_capacity(n);
            let mut buf = Zeroizing::new([0u8; 64]);
            while out.len() < n {
                random(&mut *buf)?;
                for b in buf.iter().filter(|b| **b < 248) {
                    if out.len() == n {
                        break;
                    }
                    out.push(char::from(CHARS[usize::from(*b % 62)]));
                }
            }
            out
        }
    };
    Ok(Sensitive::new(text))
}

/// Why a pasted value cannot go into a `.env`, if it cannot. Never quotes the value.
pub fn check_pasted(var: &str, value: &Sensitive<String>) -> Result<()> {
    let v = value.expose();
    let bad = |why: &str| Error::BadArgument {
        message: format!("the value pasted for {var} {why}"),
    };
    if v.trim().is_empty() {
        return Err(bad("is empty"));
    }
    if v.len() > MAX_PASTED {
        return Err(bad(&format!("is longer than {MAX_PASTED} bytes")));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(bad(
            "holds a control character (a line break, a tab…): paste it on one line",
        ));
    }
    if v != v.trim() {
        return Err(bad(
            "starts or ends with a space (a copy that took too much?): paste the value alone",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> ValueForm {
        s.parse().unwrap()
    }

    #[test]
    fn every_form_has_its_length_and_alphabet_and_values_differ() {
        let hex = generate(form("hex-32")).unwrap();
        assert_eq!(hex.expose().len(), 64);
        assert!(
            hex.expose()
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(generate(form("rails")).unwrap().expose().len(), 128);
        let b64 = generate(form("base64-32")).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(b64.expose())
                .unwrap()
                .len(),
            32
        );
        let url = generate(form("fernet")).unwrap();
        assert!(!url.expose().contains(['+', '/']));
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE
                .decode(url.expose())
                .unwrap()
                .len(),
            32
        );
        let alnum = generate(form("alnum-40")).unwrap();
        assert_eq!(alnum.expose().len(), 40);
        assert!(alnum.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(generate(form("hex-32")).unwrap(), hex);
    }

    #[test]
    fn alnum_uses_the_whole_alphabet_evenly() {
        // 62 characters, 62,000 draws: each about 1,000 times. A bias (e.g. `% 62` over
        // all 256 byte values) would put the first 8 characters near 1,290.
        let mut counts = BTreeMap::new();
        for _ in 0..500 {
            for c in generate(form("alnum-124")).unwrap().expose().chars() {
                *counts.entry(c).or_insert(0u32) += 1;
            }
        }
        assert_eq!(counts.len(), 62);
        assert!(counts.values().all(|n| (800..1200).contains(n)), "{counts:?}");
    }

    #[test]
    fn pasted_values_are_checked_without_being_quoted() {
        let ok = Sensitive::new("GOCSPX-abc_DEF-123".to_owned());
        check_pasted("GOOGLE_CLIENT_SECRET", &ok).unwrap();
        for bad in [
            "",
            "   ",
            "two\nlines",
            "tab\there",
            " padded",
            "x".repeat(5000).as_str(),
        ] {
            let e = check_pasted("K", &Sensitive::new(bad.to_owned()))
                .unwrap_err()
                .to_string();
            assert!(e.contains("K"), "{e}");
            if bad.len() > 3 && bad.len() < 100 {
                assert!(!e.contains(bad.trim()), "the error quotes the value: {e}");
            }
        }
        assert_eq!(format!("{:?}", Pasted([("K".to_owned(), ok)].into())), "[\"K\"]");
    }
}
