//! Redis's password, rotated without a moment in which a consumer holds no working one:
//! the new password is added to the `default` user beside the old one (`ACL SETUSER
//! default >new`, Redis 6 and later), the consumers roll onto it, then the old one is
//! removed (`<old`, and `requirepass` set to the new one, so that the configuration
//! file does not keep the old one beside the new user line) and the change written to
//! Redis's configuration file when it has one (`CONFIG REWRITE`; without one the step
//! says it lasts until Redis restarts).
//! The passwords travel in Redis's protocol over the SSH channel, never in a command
//! line.

use futures_util::future::BoxFuture;

use super::super::{ActionSpec, Ctx, Step, StepDone};
use super::RotateUndo;
use crate::engine::redis::{Redis, RedisError, Value};
use crate::engine::secret::Sensitive;
use crate::engine::{Error, Result};

/// Redis with `password` (AUTH of the `default` user), or why not.
async fn connect(
    ctx: &Ctx<'_>,
    password: &Sensitive<String>,
) -> Result<std::result::Result<Redis, RedisError>> {
    let r = ctx
        .profile
        .redis
        .as_ref()
        .ok_or_else(|| Error::ActionUnavailable {
            reason: "the profile has no [redis]".into(),
        })?;
    let session = ctx.engine.session(ctx.deployment(), r.via_host.get_ref()).await?;
    Ok(Redis::connect(&session, &r.address, r.port, Some(password.clone()), r.database).await)
}

async fn acl(ctx: &Ctx<'_>, auth: &Sensitive<String>, rule: &str, pw: &Sensitive<String>) -> Result<()> {
    let mut r = connect(ctx, auth).await?.map_err(Error::from)?;
    let arg = Sensitive::new(format!("{rule}{}", pw.expose()));
    match r
        .call("ACL", &[b"SETUSER", b"default", arg.expose().as_bytes()])
        .await?
    {
        Value::Simple(_) => Ok(()),
        Value::Error(m) => Err(Error::ActionUnavailable {
            reason: format!(
                "Redis refused to change the default user's passwords ({}): ACL needs Redis 6 or later",
                crate::engine::ssh::output::display_safe(m.as_bytes())
            ),
        }),
        other => Err(Error::ActionUnavailable {
            reason: format!("Redis answered ACL SETUSER with {other:?}"),
        }),
    }
}

/// Who is connected to Redis as the `default` user now (`CLIENT LIST`), for the plan:
/// counts by client address, this console's own connection left out. Addresses only (a
/// client's name is whatever it set, and is not shown).
pub async fn clients_now(ctx: &Ctx<'_>, password: &Sensitive<String>) -> Result<String> {
    let mut r = connect(ctx, password).await?.map_err(Error::from)?;
    let list = match r.call("CLIENT", &[b"LIST"]).await? {
        Value::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        Value::Simple(s) => s,
        other => {
            return Err(Error::ActionUnavailable {
                reason: format!("Redis answered CLIENT LIST with {other:?}"),
            });
        }
    };
    Ok(describe_clients(&list))
}

/// `CLIENT LIST`'s lines, as the plan says them.
fn describe_clients(list: &str) -> String {
    let mut by_addr: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for line in list.lines() {
        let field = |k: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        // This console's own connection is the one asking.
        if field("cmd").is_some_and(|c| c == "client|list" || c == "client") {
            continue;
        }
        if field("user").is_some_and(|u| u != "default") {
            continue;
        }
        let addr = field("addr").unwrap_or("?");
        let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
        *by_addr
            .entry(crate::engine::ssh::output::display_safe(ip.as_bytes()))
            .or_default() += 1;
    }
    let total: usize = by_addr.values().sum();
    format!(
        "redis: {total} client(s) connected as the default user now ({}): they stay connected; once the old password is removed, every new connection needs the new one",
        if by_addr.is_empty() {
            "none".to_owned()
        } else {
            by_addr
                .iter()
                .map(|(a, n)| format!("{n} from {a}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )
}

/// `CONFIG SET requirepass`: the default user's only password from now on.
async fn set_requirepass(r: &mut Redis, pw: &Sensitive<String>) -> Result<()> {
    match r
        .call("CONFIG", &[b"SET", b"requirepass", pw.expose().as_bytes()])
        .await?
    {
        Value::Simple(_) => Ok(()),
        Value::Error(m) => Err(Error::ActionUnavailable {
            reason: format!(
                "Redis refused CONFIG SET requirepass ({})",
                crate::engine::ssh::output::display_safe(m.as_bytes())
            ),
        }),
        other => Err(Error::ActionUnavailable {
            reason: format!("Redis answered CONFIG SET with {other:?}"),
        }),
    }
}

/// Step: Redis accepts the new password as well as the old one.
pub struct AddRedisPassword {
    pub old: Sensitive<String>,
    pub new: Sensitive<String>,
    pub via_host: String,
}

impl Step for AddRedisPassword {
    fn description(&self) -> String {
        "redis: accept the new password beside the old one (ACL SETUSER default >…)".into()
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            acl(ctx, &self.old, ">", &self.new).await?;
            Ok(StepDone {
                detail: "Redis accepts the old and the new password".into(),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(RotateUndo::nothing(&self.via_host))
    }

    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            // Only the old one: `requirepass` sets the default user's one password.
            let mut r = match connect(ctx, &self.old).await? {
                Ok(r) => r,
                Err(_) => connect(ctx, &self.new).await?.map_err(Error::from)?,
            };
            set_requirepass(&mut r, &self.old).await?;
            // Best effort: the file as it was (a Redis without one says so, and that is fine).
            let _ = r.call("CONFIG", &[b"REWRITE"]).await;
            Ok("Redis accepts only the old password again".into())
        })
    }
}

/// Step: Redis refuses the old password; the change persisted when Redis has a
/// configuration file.
pub struct RemoveRedisPassword {
    pub old: Sensitive<String>,
    pub new: Sensitive<String>,
    pub via_host: String,
}

impl Step for RemoveRedisPassword {
    fn description(&self) -> String {
        "redis: refuse the old password (ACL SETUSER default <…), and keep it so in its configuration file"
            .into()
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            acl(ctx, &self.new, "<", &self.old).await?;
            let mut r = connect(ctx, &self.new).await?.map_err(Error::from)?;
            // `requirepass` too, or the configuration file keeps the old one beside the
            // new user line, and a restart may bring it back (seen with Redis 7.0).
            set_requirepass(&mut r, &self.new).await?;
            let kept = match r.call("CONFIG", &[b"REWRITE"]).await? {
                Value::Simple(_) => "written to its configuration file".to_owned(),
                Value::Error(m) => format!(
                    "NOT written to a configuration file ({}): it lasts until Redis restarts; set the new password where Redis is started",
                    crate::engine::ssh::output::display_safe(m.as_bytes())
                ),
                other => format!("CONFIG REWRITE answered {other:?}"),
            };
            Ok(StepDone {
                detail: format!("Redis refuses the old password; {kept}"),
                changed: 1,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(RotateUndo::nothing(&self.via_host))
    }

    fn revert<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            acl(ctx, &self.new, ">", &self.old).await?;
            Ok("Redis accepts the old password again".into())
        })
    }
}

/// Step: a fresh connection with the old password is refused, with the new one let in.
pub struct ProveRedis {
    pub old: Sensitive<String>,
    pub new: Sensitive<String>,
    pub via_host: String,
}

impl Step for ProveRedis {
    fn description(&self) -> String {
        "redis: prove that the old password is refused and the new one accepted".into()
    }

    fn run<'a>(&'a self, ctx: &'a Ctx<'_>) -> BoxFuture<'a, Result<StepDone>> {
        Box::pin(async move {
            match connect(ctx, &self.old).await? {
                Err(RedisError::Refused { command: "AUTH", .. }) => {}
                Ok(_) => {
                    return Err(Error::ActionUnavailable {
                        reason: "Redis still accepts the old password".into(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
            connect(ctx, &self.new)
                .await?
                .map_err(|e| Error::ActionUnavailable {
                    reason: format!("Redis refuses the new password: {e}"),
                })?;
            Ok(StepDone {
                detail: "Redis refuses the old password and accepts the new one".into(),
                changed: 0,
            })
        })
    }

    fn undo(&self) -> Option<ActionSpec> {
        Some(RotateUndo::nothing(&self.via_host))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clients_are_counted_by_address_without_the_console_or_other_users() {
        let list = "id=3 addr=10.0.0.5:40112 laddr=10.0.0.2:6379 fd=8 name=sidekiq age=9 user=default cmd=brpop\n\
id=4 addr=10.0.0.5:40114 laddr=10.0.0.2:6379 fd=9 name= age=9 user=default cmd=get\n\
id=5 addr=[::1]:51000 laddr=[::1]:6379 fd=10 name= age=1 user=default cmd=ping\n\
id=6 addr=10.0.0.9:1 laddr=10.0.0.2:6379 fd=11 name=x age=1 user=reports cmd=get\n\
id=7 addr=127.0.0.1:5 laddr=127.0.0.1:6379 fd=12 name= age=0 user=default cmd=client|list\n";
        let d = super::describe_clients(list);
        assert!(d.starts_with("redis: 3 client(s)"), "{d}");
        assert!(d.contains("2 from 10.0.0.5") && d.contains("1 from [::1]"), "{d}");
        assert!(!d.contains("10.0.0.9") && !d.contains("127.0.0.1"), "{d}");
    }
}
