//! Backups in an S3-compatible bucket (AWS S3, MinIO, Garage, Ceph RGW…). The bucket is
//! listed from this machine (ListObjectsV2, SigV4-signed by rusty-s3, sent by reqwest);
//! for a restore test the backups' host fetches the object itself, with a presigned GET
//! URL that reaches `curl` on stdin — never argv, never a file — so the dump never
//! travels through this machine and the bucket's keys never reach the server.
//!
//! Not for: writing to the bucket (the console only reads it), or directory-format dumps
//! (a folder is not one object).

use std::time::{Duration, SystemTime};

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::backups::{BackupFile, BackupFormat, BackupStore, Encryption, time_in_name};
use crate::engine::profiles::S3Bucket;
use crate::engine::secret::Sensitive;
use crate::engine::ssh::output::display_safe;
use crate::engine::{Error, Result};

/// At most this many pages of a listing are read (1000 keys each).
const MAX_PAGES: usize = 50;
/// An answer of the bucket is read up to this size.
const MAX_ANSWER: usize = 8 * 1024 * 1024;
/// How long a presigned URL works: long enough to start a download on a slow link.
pub const URL_LIFETIME: Duration = Duration::from_secs(3600);

/// A bucket and its keys (from the keychain).
pub struct Store {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
}

impl Store {
    pub fn new(
        s3: &S3Bucket,
        access_key: &Sensitive<String>,
        secret_key: &Sensitive<String>,
    ) -> Result<Store> {
        let endpoint = url::Url::parse(s3.endpoint.get_ref()).map_err(|e| Error::Restore {
            message: format!("backups.s3.endpoint {:?}: {e}", s3.endpoint.get_ref()),
        })?;
        let style = if s3.path_style() {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            s3.bucket.get_ref().clone(),
            s3.region().to_owned(),
        )
        .map_err(|e| Error::Restore {
            message: format!(
                "the bucket {} at {} cannot be addressed: {e}",
                s3.bucket.get_ref(),
                s3.endpoint.get_ref()
            ),
        })?;
        Ok(Store {
            bucket,
            credentials: Credentials::new(access_key.expose().clone(), secret_key.expose().clone()),
            prefix: s3.prefix().to_owned(),
        })
    }

    fn place(&self) -> String {
        format!("s3://{}/{}", self.bucket.name(), self.prefix)
    }

    /// The bucket's backups under the prefix whose name (the key's last part) matches
    /// `pattern`, newest first. `host` is where they will be restored from.
    pub async fn list(&self, host: &str, pattern: Option<&str>) -> Result<Vec<BackupFile>> {
        let pattern = match pattern {
            Some(p) => Some(glob::Pattern::new(p).map_err(|e| Error::Restore {
                message: format!("backups.pattern {p:?}: {e}"),
            })?),
            None => None,
        };
        // The console's one client: short timeouts, no redirects (a page is < 1 MB).
        let client = crate::engine::http::client();
        let now = SystemTime::now();
        let mut files = Vec::new();
        let mut token: Option<String> = None;
        for page in 0.. {
            if page == MAX_PAGES {
                return Err(Error::Restore {
                    message: format!(
                        "{} holds more than {} objects: narrow it with backups.s3.prefix",
                        self.place(),
                        MAX_PAGES * 1000
                    ),
                });
            }
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            if !self.prefix.is_empty() {
                action.with_prefix(self.prefix.as_str());
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(Duration::from_secs(300));
            let body = self.get(&client, url).await?;
            let parsed =
                rusty_s3::actions::ListObjectsV2::parse_response(&body).map_err(|e| Error::Restore {
                    message: format!(
                        "{} answered a listing this console cannot read: {e}",
                        self.place()
                    ),
                })?;
            for obj in parsed.contents {
                let key = obj.key;
                let name = key.rsplit('/').next().unwrap_or_default();
                if name.is_empty() || key.chars().any(char::is_control) || key.len() > 1024 {
                    continue;
                }
                if pattern.as_ref().is_some_and(|p| !p.matches(name)) {
                    continue;
                }
                let modified = obj
                    .last_modified
                    .as_deref()
                    .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok());
                let (taken, from) = match (time_in_name(name), modified) {
                    (Some((t, true)), _) => (t, "name"),
                    (Some((t, false)), Some(m)) if m >= t && m < t + Duration::from_secs(86_400) => {
                        (m, "last_modified")
                    }
                    (Some((t, false)), _) => (t, "name"),
                    (None, Some(m)) => (m, "last_modified"),
                    (None, None) => continue,
                };
                let (encryption, plain) = Encryption::from_name(name);
                files.push(BackupFile {
                    name: key.clone(),
                    path: format!("s3://{}/{key}", self.bucket.name()),
                    host: host.to_owned(),
                    store: BackupStore::S3,
                    size: obj.size.unwrap_or(0),
                    taken_at: humantime::format_rfc3339_seconds(taken).to_string(),
                    taken_from: from.into(),
                    age_secs: now.duration_since(taken).map(|d| d.as_secs()).unwrap_or(0),
                    format: BackupFormat::from_name(plain),
                    encryption,
                    pg_version: None,
                    taken,
                });
            }
            match parsed.next_continuation_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        super::backups::sort_newest_first(&mut files);
        Ok(files)
    }

    /// A GET of `url`, its body read up to [`MAX_ANSWER`]; an error answer says S3's
    /// own code and message.
    async fn get(&self, client: &reqwest::Client, url: url::Url) -> Result<String> {
        let unreachable = |e: reqwest::Error| Error::Restore {
            message: format!("{} cannot be reached: {}", self.place(), e.without_url()),
        };
        let mut res = client.get(url.as_str()).send().await.map_err(unreachable)?;
        let status = res.status();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(Error::Restore {
                    message: format!(
                        "{} answered more than {MAX_ANSWER} bytes for one page",
                        self.place()
                    ),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(Error::Restore {
                message: format!("{} answered {status}: {}", self.place(), s3_error(&body)),
            });
        }
        Ok(body)
    }

    /// A URL that GETs `key` for [`URL_LIFETIME`]: a credential for that object, kept as
    /// one.
    pub fn presigned_get(&self, key: &str) -> Sensitive<String> {
        Sensitive::new(
            self.bucket
                .get_object(Some(&self.credentials), key)
                .sign(URL_LIFETIME)
                .to_string(),
        )
    }
}

/// S3's `<Code>` and `<Message>` of an error answer, for a person (what the server
/// printed, made safe and short); the body's start when it is not S3's XML.
pub fn s3_error(body: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(
            display_safe(&body.as_bytes()[start..end])
                .chars()
                .take(300)
                .collect::<String>(),
        )
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(msg)) => format!("{code}: {msg}{}", hint(&code)),
        (Some(code), None) => format!("{code}{}", hint(&code)),
        _ => {
            let text: String = display_safe(body.as_bytes()).chars().take(200).collect();
            if text.trim().is_empty() {
                "no explanation".into()
            } else {
                text
            }
        }
    }
}

/// What to do about S3's commonest refusals.
fn hint(code: &str) -> &'static str {
    match code {
        "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
            " (check the keys: `breakglass secret set DEPLOYMENT s3-access-key`, `… s3-secret-key`)"
        }
        "NoSuchBucket" => " (check backups.s3.bucket and backups.s3.endpoint)",
        "AccessDenied" => {
            " (the key may not list or read this bucket: it needs s3:ListBucket and s3:GetObject)"
        }
        "AuthorizationHeaderMalformed" | "PermanentRedirect" => " (check backups.s3.region)",
        _ => "",
    }
}

/// `text` with any word that holds a presigned URL's signature replaced: what `curl`
/// printed is shown, never a credential it may have quoted.
pub fn without_urls(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.contains("X-Amz-") {
                "<presigned URL>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `curl` config (read by `curl --config -` from stdin) that downloads `url` into
/// `output`: each value quoted as curl's config format wants.
pub fn curl_config(url: &Sensitive<String>, output: &str) -> Sensitive<String> {
    let quote = |s: &str| {
        let mut q = String::with_capacity(s.len() + 2);
        q.push('"');
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                _ => q.push(c),
            }
        }
        q.push('"');
        q
    };
    Sensitive::new(format!(
        "url = {}\noutput = {}\n",
        quote(url.expose()),
        quote(output)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(endpoint: &str, style: Option<&str>) -> S3Bucket {
        let text = format!(
            "endpoint = {endpoint:?}\nbucket = \"backups\"\nprefix = \"db/\"\n{}",
            style.map(|s| format!("url_style = {s:?}\n")).unwrap_or_default()
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn a_presigned_url_names_the_object_and_signs_for_a_limited_time() {
        let keys = (
            Sensitive::new("AKIAIOSFODNN7EXAMPLE".to_owned()),
            Sensitive::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned()),
        );
        let store = Store::new(&bucket("http://127.0.0.1:9000", None), &keys.0, &keys.1).unwrap();
        let url = store.presigned_get("db/sandbox 2026-12-03.dump");
        let url = url.expose();
        assert!(
            url.starts_with("http://127.0.0.1:9000/backups/db/sandbox%202026-12-03.dump?"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=3600"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"), "{url}");
        assert!(!url.contains("wJalrXUtnFEMI"), "the secret key is never in a URL");
        // AWS's own endpoints are addressed by host, others by path.
        let aws = Store::new(
            &bucket("https://s3.eu-central-1.amazonaws.com", None),
            &keys.0,
            &keys.1,
        )
        .unwrap();
        assert!(
            aws.presigned_get("x.dump")
                .expose()
                .starts_with("https://backups.s3.eu-central-1.amazonaws.com/x.dump?")
        );
        let path = Store::new(
            &bucket("https://s3.eu-central-1.amazonaws.com", Some("path")),
            &keys.0,
            &keys.1,
        )
        .unwrap();
        assert!(
            path.presigned_get("x.dump")
                .expose()
                .starts_with("https://s3.eu-central-1.amazonaws.com/backups/x.dump?")
        );
    }

    #[test]
    fn s3_errors_are_told_with_their_code_message_and_what_to_do() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
        let e = s3_error(body);
        assert!(
            e.starts_with("SignatureDoesNotMatch: The request signature"),
            "{e}"
        );
        assert!(e.contains("s3-secret-key"), "{e}");
        assert_eq!(s3_error(""), "no explanation");
        let hostile = s3_error("<Code>\u{1b}[31mNoSuchBucket</Code>");
        assert!(!hostile.contains('\u{1b}'), "{hostile}");
    }

    #[test]
    fn what_curl_prints_loses_any_presigned_url() {
        assert_eq!(
            without_urls("curl: (22) http://h/b/k?X-Amz-Signature=abc returned 403"),
            "curl: (22) <presigned URL> returned 403"
        );
    }

    #[test]
    fn the_curl_config_quotes_what_it_holds() {
        let c = curl_config(
            &Sensitive::new("http://h/b/k?X-Amz-Signature=ab".to_owned()),
            "/var/tmp/bg_restore_0/we\"ird\\name",
        );
        assert_eq!(
            c.expose(),
            "url = \"http://h/b/k?X-Amz-Signature=ab\"\noutput = \"/var/tmp/bg_restore_0/we\\\"ird\\\\name\"\n"
        );
    }
}
