//! The application's public URL, with reqwest and rustls: its `/health`, and (for the
//! actions' verify step) requests as a user would make them.

use std::time::{Duration, Instant};

use crate::engine::review::status::Check;

/// A client with short timeouts and no redirects (a health check that redirects to a
/// login page is not healthy).
pub fn client() -> reqwest::Client {
    client_as(concat!("breakglass/", env!("CARGO_PKG_VERSION")))
}

/// The same client, presenting itself as `user_agent` (the app probes say they are).
pub fn client_as(user_agent: &'static str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .unwrap_or_default()
}

/// [`client_as`], also trusting the CA certificates of the PEM file `ca` (a profile's
/// `public_url_ca`).
pub fn client_for(user_agent: &'static str, ca: Option<&str>) -> Result<reqwest::Client, String> {
    let Some(ca) = ca else {
        return Ok(client_as(user_agent));
    };
    let pem = std::fs::read(ca).map_err(|e| format!("cannot read public_url_ca {ca}: {e}"))?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("public_url_ca {ca}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("public_url_ca {ca} holds no PEM certificate"));
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .tls_certs_merge(certs)
        .build()
        .map_err(|e| format!("public_url_ca {ca}: {e}"))
}

/// `GET {url}{path}`: healthy when it answers 2xx. `ca`: the profile's `public_url_ca`.
pub async fn check_health(url: &str, path: &str, ca: Option<&str>) -> Check {
    let target = format!("{}{}", url.trim_end_matches('/'), path);
    let t = Instant::now();
    let client = match client_for(concat!("breakglass/", env!("CARGO_PKG_VERSION")), ca) {
        Ok(c) => c,
        Err(e) => {
            return Check {
                ok: false,
                latency_ms: None,
                detail: format!("{target} not checked"),
                error: Some(crate::engine::ErrorReport::new(
                    crate::engine::error::ErrorCode::HttpUnreachable,
                    e,
                )),
            };
        }
    };
    let res = client.get(&target).send().await;
    let latency_ms = Some((t.elapsed().as_secs_f64() * 100_000.0).round() / 100.0);
    match res {
        Ok(r) => {
            let status = r.status();
            Check {
                ok: status.is_success(),
                latency_ms,
                detail: format!("{target} answered {status}"),
                error: None,
            }
        }
        Err(e) => Check {
            ok: false,
            latency_ms,
            detail: format!("{target} did not answer"),
            error: Some(crate::engine::ErrorReport::new(
                crate::engine::error::ErrorCode::HttpUnreachable,
                e.to_string(),
            )),
        },
    }
}
