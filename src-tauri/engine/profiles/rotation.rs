//! How an app's secrets are rotated (`[rotate]` in an app profile): the form of each
//! variable's new value, which secrets are a third party's (pasted, never generated),
//! which keys encrypt stored data (refused: a new value makes the data unreadable),
//! what a rotation ends (every cookie session, every JWT), and named groups for
//! `breakglass rotate DEPLOYMENT --group NAME`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::envfile::is_var_name;

/// `[rotate]`. Every field is optional; an app profile without the section rotates
/// every variable as 32 random bytes in hex.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRules {
    /// The form of a variable's new value, e.g. `{ SECRET_KEY_BASE = "hex-64" }`
    /// (default `hex-32`).
    #[serde(default)]
    pub forms: BTreeMap<String, ValueForm>,
    /// A third party's secrets (an OAuth client secret, a payment provider's key): never
    /// generated. Rotate them at the provider, then paste the new value.
    #[serde(default)]
    pub pasted: Vec<String>,
    /// Keys of stored data: a new value makes what they encrypted unreadable, so they are
    /// refused, and the refusal says what to do.
    #[serde(default)]
    pub encryption_keys: Vec<String>,
    /// Rotating one of these ends every cookie session.
    #[serde(default)]
    pub ends_sessions: Vec<String>,
    /// Rotating one of these makes every JWT signed before invalid.
    #[serde(default)]
    pub ends_jwts: Vec<String>,
    /// Named sets of variables, e.g. `{ sessions = ["SECRET_KEY_BASE"] }`.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

impl RotateRules {
    /// Every variable the rules name.
    pub fn named(&self) -> impl Iterator<Item = &String> {
        self.forms
            .keys()
            .chain(&self.pasted)
            .chain(&self.encryption_keys)
            .chain(&self.ends_sessions)
            .chain(&self.ends_jwts)
            .chain(self.groups.values().flatten())
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(bad) = self.named().find(|v| !is_var_name(v)) {
            return Err(format!("rotate: {bad:?} is not a variable name"));
        }
        if let Some(bad) = self.groups.keys().find(|g| !is_group_name(g)) {
            return Err(format!(
                "rotate.groups: {bad:?} is not a group name (letters, digits, - and _)"
            ));
        }
        if let Some(v) = self.pasted.iter().find(|v| self.forms.contains_key(*v)) {
            return Err(format!(
                "rotate: {v} is pasted (a third party's secret) and has a form: it is never generated"
            ));
        }
        Ok(())
    }

    /// The form of `var`'s new value.
    pub fn form(&self, var: &str) -> ValueForm {
        self.forms.get(var).copied().unwrap_or_default()
    }

    pub fn is_pasted(&self, var: &str) -> bool {
        self.pasted.iter().any(|v| v == var)
    }

    pub fn is_encryption_key(&self, var: &str) -> bool {
        self.encryption_keys.iter().any(|v| v == var)
    }
}

fn is_group_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The alphabet of a generated value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// Lower-case hex; the length is in bytes (`hex-32` = 64 digits).
    Hex,
    /// Standard base64 with padding; the length is in bytes.
    Base64,
    /// URL-safe base64 with padding (a Python `Fernet` key is `base64url-32`).
    Base64Url,
    /// `[A-Za-z0-9]`, uniformly; the length is in characters (for passwords that end up
    /// in URLs and shell-unfriendly places).
    Alnum,
}

/// A value's form: `hex-32`, `base64-32`, `base64url-32`, `alnum-40`, or an alias:
/// `rails` (`hex-64`, what `rails secret` prints), `fernet` (`base64url-32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ValueForm {
    pub alphabet: Alphabet,
    pub len: u16,
}

impl Default for ValueForm {
    fn default() -> Self {
        ValueForm {
            alphabet: Alphabet::Hex,
            len: 32,
        }
    }
}

impl TryFrom<String> for ValueForm {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ValueForm> for String {
    fn from(f: ValueForm) -> String {
        f.to_string()
    }
}

impl std::fmt::Display for ValueForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = match self.alphabet {
            Alphabet::Hex => "hex",
            Alphabet::Base64 => "base64",
            Alphabet::Base64Url => "base64url",
            Alphabet::Alnum => "alnum",
        };
        write!(f, "{a}-{}", self.len)
    }
}

impl std::str::FromStr for ValueForm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a value form: expected hex-N, base64-N, base64url-N (N bytes, 16 to 128), alnum-N (N characters, 20 to 128), rails or fernet"
            )
        };
        let (alphabet, len) = match s {
            "rails" => (Alphabet::Hex, 64),
            "fernet" => (Alphabet::Base64Url, 32),
            _ => {
                let (a, n) = s.rsplit_once('-').ok_or_else(bad)?;
                let alphabet = match a {
                    "hex" => Alphabet::Hex,
                    "base64" => Alphabet::Base64,
                    "base64url" => Alphabet::Base64Url,
                    "alnum" => Alphabet::Alnum,
                    _ => return Err(bad()),
                };
                let n: u16 = n.parse().map_err(|_| bad())?;
                (alphabet, n)
            }
        };
        // At least 128 bits of entropy (alnum: 20 characters are 119 bits, hence 22).
        let min = if alphabet == Alphabet::Alnum { 22 } else { 16 };
        if !(min..=128).contains(&len) {
            return Err(bad());
        }
        Ok(ValueForm { alphabet, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_and_print_back() {
        for s in ["hex-32", "hex-64", "base64-32", "base64url-32", "alnum-40"] {
            assert_eq!(s.parse::<ValueForm>().unwrap().to_string(), s);
        }
        assert_eq!("rails".parse::<ValueForm>().unwrap().to_string(), "hex-64");
        assert_eq!("fernet".parse::<ValueForm>().unwrap().to_string(), "base64url-32");
        for bad in [
            "hex", "hex-8", "hex-129", "alnum-20", "sha-32", "hex-x", "", "-32",
        ] {
            assert!(bad.parse::<ValueForm>().is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_are_validated() {
        let rules: RotateRules = toml::from_str(
            r#"forms = { SECRET_KEY_BASE = "rails" }
pasted = ["GOOGLE_CLIENT_SECRET"]
groups = { sessions = ["SECRET_KEY_BASE"] }"#,
        )
        .unwrap();
        rules.validate().unwrap();
        assert_eq!(rules.form("SECRET_KEY_BASE").len, 64);
        assert_eq!(rules.form("OTHER"), ValueForm::default());
        let bad: RotateRules = toml::from_str(r#"pasted = ["not a var"]"#).unwrap();
        assert!(bad.validate().is_err());
        let both: RotateRules = toml::from_str(
            r#"pasted = ["K"]
forms = { K = "hex-32" }"#,
        )
        .unwrap();
        assert!(both.validate().unwrap_err().contains("never generated"));
        assert!(toml::from_str::<RotateRules>(r#"forms = { K = "md5" }"#).is_err());
        assert!(toml::from_str::<RotateRules>(r#"unknown = 1"#).is_err());
    }
}
