//! The database's password, rotated with the `.env`: PostgreSQL is given a SCRAM-SHA-256
//! verifier computed here (RFC 5802/7677: salt, 4096 iterations, stored and server keys),
//! so neither the new password nor the old one crosses the wire or lands in the server's
//! log (`log_statement = all` shows the verifier, from which the password cannot be
//! recovered). A role holds one password: from this step until a host's containers are
//! recreated, new connections from that host's old containers are refused (the plan says
//! so); open connections stay.

use base64::Engine as _;
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::super::{ActionSpec, Ctx, Step, StepDone};
use super::RotateUndo;
use crate::engine::db::{DbCredentials, RemoteDb};
use crate::engine::secret::Sensitive;
use crate::engine::{Error, Result};

/// PostgreSQL's default iteration count.
const ITERATIONS: u32 = 4096;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as `ALTER ROLE … PASSWORD`
/// takes it. The password is used as is (an ASCII password is its own SASLprep form).
pub fn scram_verifier(password: &str, salt: &[u8]) -> String {
    // Hi(password, salt, i): PBKDF2 with HMAC-SHA-256 and one block.
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password.as_bytes(), &block);
    let mut salted = u;
    for _ in 1..ITERATIONS {
        u = hmac(password.as_bytes(), &u);
        for (s, x) in salted.iter_mut().zip(u.iter()) {
            *s ^= x;
        }
    }
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

/// `ALTER ROLE` of `user` to the verifier of `password`, on `db`.
async fn set_password(db: &RemoteDb, user: &str, password: &str) -> Result<()> {
    let verifier = scram_verifier(password, &rand::random::<[u8; 16]>());
    // Base64, digits, `$`, `:`: nothing to escape in the literal.
    let sql = format!(
        "ALTER ROLE {} PASSWORD '{verifier}'",
        crate::engine::actions::quote_ident(user)
    );
    sqlx::raw_sql(crate::engine::actions::audited(&sql))
        .execute(&db.pool)
        .await
        .map_err(|e| Error::ActionUnavailable {
            reason: format!("PostgreSQL refused the new password of {user}: {e}"),
        })?;
    Ok(())
}

/// Whether PostgreSQL lets `user` in with `password` (a fresh connection through the
/// tunnel). `Ok(false)`: refused as a wrong password.
pub async fn accepts(ctx: &Ctx<'_>, user: &str, password: &Sensitive<String>) -> Result<bool> {
    let Some(db) = &ctx.profile.database else {
        return Ok(false);
    };
    let session = ctx
        .engine
        .session(ctx.deployment(), db.via_host.get_ref())
        .await?;
    let creds = DbCredentials {
        user: user.to_owned(),
        password: password.clone(),
    };
    match RemoteDb::connect(session, db, creds).await {
        Ok(_) => Ok(true),
        Err(crate::engine::db::DbError::Connect { source, .. })
            if source
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "28P01" || c == "28000") =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// A fresh connection as `user` with `password`, through `via_host`.
async fn connect_as(
    ctx: &Ctx<'_>,
    via_host: &str,
    user: &str,
    password: &Sensitive<String>,
) -> Result<RemoteDb> {
    let db = ctx
        .profile
        .database
        .as_ref()
        .ok_or_else(|| Error::ActionUnavailable {
            reason: "the profile has no [database]".into(),
        })?;
    let session = ctx.engine.session(ctx.deployment(), via_host).await?;
    Ok(RemoteDb::connect(
        session,
        db,
        DbCredentials {
            user: user.to_owned(),
            password: password.clone(),
        },
    )
    .await?)
}

/// Step (alternating roles): the idle role gets the new password, set by itself (its
/// current password is the keychain's `db-standby-password`). The role in use is not
/// touched: every host keeps working while it moves over.
pub struct SetStandbyPassword {
    pub user: String,
    pub standby: Sensitive<String>,
    pub new: Sensitive<String>,
    pub via_host: String,
}

impl Step for SetStandbyPassword {
    fn description(&self) -> String {
        format!(
            "database: the idle role {} gets the new password (a SCRAM-SHA-256 verifier computed here); the role in use keeps working",
            self.user
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let db = connect_as(ctx, &self.via_host, &self.user, &self.standby).await?;
            set_password(&db, &self.user, self.new.expose()).await?;
            Ok(StepDone {
                detail: format!("the role {} has the new password", self.user),
                changed: 1,
            })
        })
    }

    /// The journal holds no password: after a killed console the idle role keeps the new
    /// one (in the `.env` backups); the next rotation's plan then asks for
    /// `db-standby-password` again.
    fn undo(&self) -> Option<ActionSpec> {
        Some(RotateUndo::nothing(&self.via_host))
    }

    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let db = connect_as(ctx, &self.via_host, &self.user, &self.new).await?;
            set_password(&db, &self.user, self.standby.expose()).await?;
            Ok(format!("the role {} has its standby password again", self.user))
        })
    }
}

/// Step (alternating roles), once every host uses the other role: the role that was in
/// use gets a password no `.env` holds (random, kept in the keychain as the next
/// rotation's `db-standby-password`), so its old password is refused from now on.
pub struct RetireRole {
    pub user: String,
    pub old: Sensitive<String>,
    pub retired: Sensitive<String>,
    /// The keychain's standby password before this run (put back by a revert).
    pub standby_before: Sensitive<String>,
    pub via_host: String,
}

impl Step for RetireRole {
    fn description(&self) -> String {
        format!(
            "database: {} (no longer used) gets a password no .env holds, kept in the keychain for the next rotation; its old one is refused from now on",
            self.user
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let db = connect_as(ctx, &self.via_host, &self.user, &self.old).await?;
            set_password(&db, &self.user, self.retired.expose()).await?;
            ctx.engine
                .keychain()
                .set(
                    ctx.deployment(),
                    crate::engine::keychain::DB_STANDBY_PASSWORD,
                    self.retired.clone(),
                )
                .await?;
            Ok(StepDone {
                detail: format!(
                    "{} retired: its old password no longer works; its new one is the keychain's {}",
                    self.user,
                    crate::engine::keychain::DB_STANDBY_PASSWORD
                ),
                changed: 1,
            })
        })
    }

    /// A console killed after this step and before the run ended: the keychain holds the
    /// retired role's password; undoing the hosts puts them back on it with a password it
    /// no longer has, and the undo says so (as a superuser: ALTER ROLE … PASSWORD).
    fn undo(&self) -> Option<ActionSpec> {
        Some(RotateUndo::nothing(&self.via_host))
    }

    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let db = match connect_as(ctx, &self.via_host, &self.user, &self.retired).await {
                Ok(db) => db,
                // The step failed before the password changed.
                Err(_) => connect_as(ctx, &self.via_host, &self.user, &self.old).await?,
            };
            set_password(&db, &self.user, self.old.expose()).await?;
            ctx.engine
                .keychain()
                .set(
                    ctx.deployment(),
                    crate::engine::keychain::DB_STANDBY_PASSWORD,
                    self.standby_before.clone(),
                )
                .await?;
            Ok(format!(
                "{} has its old password again, the keychain its standby password",
                self.user
            ))
        })
    }
}

/// Step: the role's password becomes the new one (its verifier). Undone with the old
/// one's, which this step keeps in memory for a run that fails; the journaled undo sets
/// the password found in `via_host`'s `.env` at that time (by then restored).
pub struct SetDbPassword {
    pub user: String,
    pub old: Sensitive<String>,
    pub new: Sensitive<String>,
    pub via_host: String,
}

impl Step for SetDbPassword {
    fn description(&self) -> String {
        format!(
            "database: the role {} gets the new password (a SCRAM-SHA-256 verifier computed here); from now until each host's containers are recreated, their new connections are refused",
            self.user
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            let db = ctx.db().await?;
            set_password(db, &self.user, self.new.expose()).await?;
            Ok(StepDone {
                detail: format!("the role {} has its new password", self.user),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(ActionSpec::RotateUndo(RotateUndo {
            host: self.via_host.clone(),
            env: None,
            container: None,
            db_password_from_env: true,
        }))
    }

    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            // The run's pool may hold only connections opened with the old password; a
            // fresh one with the new password is the fallback.
            let pooled = match ctx.db().await {
                Ok(db) => set_password(db, &self.user, self.old.expose()).await,
                Err(e) => Err(e),
            };
            if pooled.is_err() {
                let fresh = connect_as(ctx, &self.via_host, &self.user, &self.new).await?;
                set_password(&fresh, &self.user, self.old.expose()).await?;
            }
            Ok(format!("the role {} has its old password again", self.user))
        })
    }
}

/// Step (`[database] credentials = "keychain"`): the console's keychain holds the new
/// password, right after the role got it. Undone in the run with the old one (kept in
/// memory). A console killed between the two steps holds the old one while the role has
/// the new: the journal's undo then says what to run as a superuser.
pub struct StoreDbPassword {
    pub old: Sensitive<String>,
    pub new: Sensitive<String>,
    pub via_host: String,
}

impl Step for StoreDbPassword {
    fn description(&self) -> String {
        format!(
            "keychain: the console's database password ({}) becomes the new one",
            crate::engine::keychain::DB_PASSWORD
        )
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            ctx.engine
                .keychain()
                .set(
                    ctx.deployment(),
                    crate::engine::keychain::DB_PASSWORD,
                    self.new.clone(),
                )
                .await?;
            Ok(StepDone {
                detail: "the keychain holds the new database password".into(),
                changed: 1,
            })
        })
    }

    /// The journal holds no password: after a killed console the keychain keeps the new
    /// one, which the role also has unless its own undo ran (that undo needs a password
    /// PostgreSQL accepts, and says what to do when it has none).
    fn undo(&self) -> Option<ActionSpec> {
        Some(RotateUndo::nothing(&self.via_host))
    }

    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            ctx.engine
                .keychain()
                .set(
                    ctx.deployment(),
                    crate::engine::keychain::DB_PASSWORD,
                    self.old.clone(),
                )
                .await?;
            Ok("the keychain holds the old database password again".into())
        })
    }
}

/// Step: the old password is refused and the new one accepted, each by a fresh
/// connection. Changes nothing.
pub struct ProveDb {
    pub user: String,
    /// The role the new password belongs to (another one with alternating roles).
    pub new_user: String,
    pub old: Sensitive<String>,
    pub new: Sensitive<String>,
    pub via_host: String,
}

impl Step for ProveDb {
    fn description(&self) -> String {
        if self.new_user == self.user {
            format!(
                "database: prove that {}'s old password is refused and the new one accepted",
                self.user
            )
        } else {
            format!(
                "database: prove that {}'s old password is refused and {} accepts the new one",
                self.user, self.new_user
            )
        }
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            if accepts(ctx, &self.user, &self.old).await? {
                return Err(Error::ActionUnavailable {
                    reason: format!("PostgreSQL still accepts {}'s old password", self.user),
                });
            }
            if !accepts(ctx, &self.new_user, &self.new).await? {
                return Err(Error::ActionUnavailable {
                    reason: format!("PostgreSQL refuses {}'s new password", self.new_user),
                });
            }
            Ok(StepDone {
                detail: format!(
                    "PostgreSQL refuses {}'s old password and accepts {}'s new one",
                    self.user, self.new_user
                ),
                changed: 0,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        // Nothing to undo: it only looked.
        Some(RotateUndo::nothing(&self.via_host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example (password "pencil", its salt, 4096 iterations); the keys
    /// cross-checked with Python's `hashlib.pbkdf2_hmac` and `hmac`. That PostgreSQL
    /// accepts the result is the integration test's business.
    #[test]
    fn the_verifier_matches_rfc_7677() {
        let salt = base64::engine::general_purpose::STANDARD
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .unwrap();
        let v = scram_verifier("pencil", &salt);
        assert!(
            v.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"),
            "{v}"
        );
        assert_eq!(
            v,
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }
}
