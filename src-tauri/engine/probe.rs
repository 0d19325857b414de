//! Asking the app itself whether an action took. Whoever holds the leaked `.env` can shape
//! what the database says, so a verify that re-reads the rows the action wrote can be
//! fooled; the app's own answer to a client is another witness. The deployment names a
//! canary account (`[probe] user`), the keychain holds its password and an API token, and
//! the app profile's `[probes]` says which requests to make: after a revoke its token must
//! be refused, after a lock its login, after an expiry the session a login gave it before.
//!
//! An answer is `Accepted` (2xx), `Refused` (one of the profile's refusal statuses) or
//! `Inconclusive` (anything else, or no answer): only the first two are evidence, and an
//! inconclusive probe is said to be one. Not for status or health checks (`review/status`),
//! and never a proof on its own: verify always asks the database as well.

use crate::engine::keychain::{self, KeychainError};
use crate::engine::profiles::DeploymentProfile;
use crate::engine::profiles::app::{AppProfile, Probes};
use crate::engine::secret::Sensitive;
use crate::engine::ssh::output::display_safe;
use crate::engine::{Engine, Error, Result};

/// What the app answered a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted(u16),
    Refused(u16),
    /// Neither a 2xx nor a refusal (a 404, a 500, a redirect), or no answer at all.
    Inconclusive(String),
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Accepted(s) => write!(f, "accepted ({s})"),
            Answer::Refused(s) => write!(f, "refused ({s})"),
            Answer::Inconclusive(why) => write!(f, "inconclusive: {why}"),
        }
    }
}

/// The canary, its credentials and the requests to make.
pub struct Prober {
    client: reqwest::Client,
    base: String,
    probes: Probes,
    user: String,
    password: Option<Sensitive<String>>,
    token: Option<Sensitive<String>>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prober({} at {})", self.user, self.base)
    }
}

/// A response body is never read beyond this (a probe only needs the status).
const MAX_BODY: usize = 64 * 1024;

impl Prober {
    /// The deployment's prober, or why there is none (no `[probe]` in the deployment, no
    /// `[probes]` in the app profile). Credentials the keychain does not hold leave that
    /// probe out; a keychain that cannot be read is an error.
    pub async fn for_deployment(
        engine: &Engine,
        profile: &DeploymentProfile,
        app: &AppProfile,
    ) -> Result<std::result::Result<Prober, String>> {
        let Some(account) = &profile.probe else {
            return Ok(Err(
                "the deployment profile names no [probe] canary account".into()
            ));
        };
        let Some(probes) = app.probes.clone() else {
            return Ok(Err(format!(
                "the app profile {:?} declares no [probes]",
                app.name
            )));
        };
        let Some(base) = profile.public_url.as_ref().map(|u| u.get_ref().clone()) else {
            return Ok(Err("the deployment profile sets no public_url".into()));
        };
        let deployment = profile.name();
        let optional = |r: std::result::Result<Sensitive<String>, KeychainError>| match r {
            Ok(v) => Ok(Some(v)),
            Err(KeychainError::NotSet { .. }) => Ok(None),
            Err(e) => Err(Error::from(e)),
        };
        let password = optional(engine.keychain().get(deployment, keychain::PROBE_PASSWORD).await)?;
        let token = optional(engine.keychain().get(deployment, keychain::PROBE_TOKEN).await)?;
        let ca = profile.public_url_ca.as_ref().map(|c| c.get_ref().clone());
        let client = match client(ca.as_deref()) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(Prober {
            client,
            base: base.trim_end_matches('/').to_owned(),
            probes,
            user: account.user.get_ref().clone(),
            password,
            token,
        }))
    }

    /// The canary account's name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The canary's API token presented to the token path. `None`: no such probe (no
    /// `token_path`, or no `probe-token` in the keychain).
    pub async fn token(&self) -> Option<Answer> {
        let path = self.probes.token_path.as_ref()?;
        let token = self.token.as_ref()?;
        let value = Sensitive::new(format!("{}{}", self.probes.token_prefix, token.expose()));
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .header(self.probes.token_header.as_str(), value.expose().as_str());
        Some(self.answer(req.send().await).await.0)
    }

    /// The canary logs in. `None`: no such probe (no `login_path`, or no
    /// `probe-password`). With the answer, the session cookies a successful login set
    /// (as one `Cookie` header value).
    pub async fn login(&self) -> Option<(Answer, Option<Sensitive<String>>)> {
        self.login_with_jwt().await.map(|(a, c, _)| (a, c))
    }

    /// The canary logs in, and with a successful login's cookies also the JWT its answer
    /// carries in the profile's `jwt_field` (none without one).
    #[allow(clippy::type_complexity)]
    pub async fn login_with_jwt(
        &self,
    ) -> Option<(Answer, Option<Sensitive<String>>, Option<Sensitive<String>>)> {
        let path = self.probes.login_path.as_ref()?;
        let password = self.password.as_ref()?;
        let mut body = serde_json::Map::new();
        body.insert(self.probes.username_field.clone(), self.user.clone().into());
        body.insert(
            self.probes.password_field.clone(),
            password.expose().clone().into(),
        );
        let body = Sensitive::new(serde_json::Value::Object(body).to_string());
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.expose().clone());
        let (answer, cookies, body) = self.answer_with_body(req.send().await).await;
        let jwt = match (&answer, &self.probes.jwt_field) {
            (Answer::Accepted(_), Some(field)) => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get(field)?.as_str().map(|s| Sensitive::new(s.to_owned()))),
            _ => None,
        };
        Some((answer, cookies, jwt))
    }

    /// A JWT (of an earlier login) presented to the JWT path.
    pub async fn jwt(&self, jwt: &Sensitive<String>) -> Option<Answer> {
        let path = self.probes.jwt_path.as_ref()?;
        let value = Sensitive::new(format!("{}{}", self.probes.jwt_prefix, jwt.expose()));
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .header(self.probes.token_header.as_str(), value.expose().as_str());
        Some(self.answer(req.send().await).await.0)
    }

    /// A session (the cookies of an earlier login) presented to the session path.
    pub async fn session(&self, cookies: &Sensitive<String>) -> Option<Answer> {
        let path = self.probes.session_path.as_ref()?;
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", cookies.expose().as_str());
        Some(self.answer(req.send().await).await.0)
    }

    async fn answer(
        &self,
        res: std::result::Result<reqwest::Response, reqwest::Error>,
    ) -> (Answer, Option<Sensitive<String>>) {
        let (answer, cookies, _) = self.answer_with_body(res).await;
        (answer, cookies)
    }

    /// The answer, its cookies, and its body (at most [`MAX_BODY`] bytes; zeroed when
    /// dropped: a login's answer may carry a credential).
    async fn answer_with_body(
        &self,
        res: std::result::Result<reqwest::Response, reqwest::Error>,
    ) -> (Answer, Option<Sensitive<String>>, zeroize::Zeroizing<Vec<u8>>) {
        let mut res = match res {
            Ok(r) => r,
            // reqwest's error names the URL, never a header or a body.
            Err(e) => {
                return (
                    Answer::Inconclusive(format!("no answer: {e}")),
                    None,
                    zeroize::Zeroizing::new(Vec::new()),
                );
            }
        };
        let status = res.status().as_u16();
        let cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(|pair| pair.trim().to_owned())
            .filter(|pair| pair.contains('='))
            .collect();
        // Read a little of the body (the connection can then be reused); never more.
        let mut body = zeroize::Zeroizing::new(Vec::new());
        while body.len() < MAX_BODY {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                _ => break,
            }
        }
        let answer = if (200..300).contains(&status) {
            Answer::Accepted(status)
        } else if self.probes.refused.contains(&status) {
            Answer::Refused(status)
        } else {
            Answer::Inconclusive(format!(
                "the app answered {status}, neither a success nor one of the refusals {:?}",
                self.probes.refused
            ))
        };
        let cookies = (!cookies.is_empty()).then(|| Sensitive::new(cookies.join("; ")));
        (answer, cookies, body)
    }
}

/// A client for probes: short timeouts, no redirects (a redirect to a login page is
/// neither an acceptance nor a refusal), no cookie store (each probe says what it sends).
fn client(ca: Option<&str>) -> std::result::Result<reqwest::Client, String> {
    crate::engine::http::client_for(concat!("breakglass-probe/", env!("CARGO_PKG_VERSION")), ca)
}

/// What the app said before the steps ran and after: the evidence verify adds to the
/// database's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// No probe applies; the reason is shown ("verified in the database only: …").
    None(String),
    /// The in-scope credential was refused after the run (and, if asked, accepted before).
    Refused(String),
    /// The in-scope credential still works: not contained, whatever the database says.
    StillAccepted(String),
    /// The app was asked but its answers prove nothing (already refused before, a 404…).
    Inconclusive(String),
}

impl Evidence {
    /// Judges a probe's answers. `what` names the credential (`the canary's API token`).
    pub fn judge(what: &str, before: Option<&Answer>, after: Option<Answer>) -> Evidence {
        let Some(after) = after else {
            return Evidence::None(format!(
                "{what} could not be presented (not in the keychain, or the app profile's [probes] has no path for it)"
            ));
        };
        match (before, after) {
            (_, Answer::Accepted(s)) => {
                Evidence::StillAccepted(format!("the app still accepts {what} ({s}): NOT contained"))
            }
            (Some(Answer::Refused(b)), Answer::Refused(_)) => Evidence::Inconclusive(format!(
                "{what} was refused before the run too ({b}): the app's answer proves nothing"
            )),
            (Some(Answer::Inconclusive(why)), _) => Evidence::Inconclusive(format!(
                "before the run, {what}: {}",
                display_safe(why.as_bytes())
            )),
            (_, Answer::Refused(s)) => {
                let before = match before {
                    Some(Answer::Accepted(b)) => format!(" (accepted before the run: {b})"),
                    _ => String::new(),
                };
                Evidence::Refused(format!("the app refuses {what} ({s}){before}"))
            }
            (_, Answer::Inconclusive(why)) => {
                Evidence::Inconclusive(format!("after the run, {what}: {}", display_safe(why.as_bytes())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Answer, Evidence};

    #[test]
    fn only_a_refusal_after_an_acceptance_or_no_earlier_look_is_evidence() {
        let w = "the canary's API token";
        assert!(matches!(
            Evidence::judge(w, Some(&Answer::Accepted(200)), Some(Answer::Refused(401))),
            Evidence::Refused(_)
        ));
        assert!(matches!(
            Evidence::judge(w, None, Some(Answer::Refused(403))),
            Evidence::Refused(_)
        ));
        // Still accepted: not contained, whatever came before.
        for before in [None, Some(Answer::Accepted(200)), Some(Answer::Refused(401))] {
            assert!(matches!(
                Evidence::judge(w, before.as_ref(), Some(Answer::Accepted(200))),
                Evidence::StillAccepted(_)
            ));
        }
        // Refused before and after: proves nothing.
        assert!(matches!(
            Evidence::judge(w, Some(&Answer::Refused(401)), Some(Answer::Refused(401))),
            Evidence::Inconclusive(_)
        ));
        // A 404 (the app has no such endpoint) is never a refusal.
        assert!(matches!(
            Evidence::judge(
                w,
                Some(&Answer::Accepted(200)),
                Some(Answer::Inconclusive("404".into()))
            ),
            Evidence::Inconclusive(_)
        ));
        assert!(matches!(Evidence::judge(w, None, None), Evidence::None(_)));
    }
}
