//! The public URL from the outside, beyond its headers: plain HTTP redirecting to HTTPS,
//! the TLS versions the server accepts (a TLS 1.0 and a TLS 1.1 ClientHello written here
//! by hand, since rustls speaks neither), the certificate's validity and expiry, and a
//! short burst of bad logins that must get throttled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::report::Redirect;

/// A `ClientHello` offering exactly `version` (0x0301 TLS 1.0, 0x0302 TLS 1.1) with the
/// cipher suites servers of that age speak, and SNI when `host` is a name.
pub fn legacy_client_hello(version: u16, host: Option<&str>) -> Vec<u8> {
    let suites: [u16; 10] = [
        0xc014, 0xc013, 0xc00a, 0xc009, 0x0035, 0x002f, 0x0039, 0x0033, 0x000a, 0x00ff,
    ];
    let mut body = Vec::new();
    body.extend(version.to_be_bytes());
    body.extend(rand::random::<[u8; 32]>());
    body.push(0); // no session id
    body.extend(u16::try_from(suites.len() * 2).unwrap_or(0).to_be_bytes());
    for s in suites {
        body.extend(s.to_be_bytes());
    }
    body.extend([1, 0]); // compression: null
    let mut ext = Vec::new();
    if let Some(h) = host.filter(|h| h.parse::<std::net::IpAddr>().is_err() && h.len() < 250) {
        let name = h.as_bytes();
        let n = u16::try_from(name.len()).unwrap_or(0);
        ext.extend(0u16.to_be_bytes());
        ext.extend((n + 5).to_be_bytes());
        ext.extend((n + 3).to_be_bytes());
        ext.push(0);
        ext.extend(n.to_be_bytes());
        ext.extend(name);
    }
    // supported_groups: secp256r1, secp384r1, x25519; ec_point_formats: uncompressed.
    ext.extend([
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x17, 0x00, 0x18, 0x00, 0x1d,
    ]);
    ext.extend([0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    body.extend(u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
    body.extend(ext);
    let mut hs = vec![1];
    hs.extend(&u32::try_from(body.len()).unwrap_or(0).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend(u16::try_from(hs.len()).unwrap_or(0).to_be_bytes());
    rec.extend(hs);
    rec
}

/// What a server answered a legacy `ClientHello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyAnswer {
    /// A ServerHello for this version: it speaks it.
    Accepted(u16),
    /// An alert, a close, or a ServerHello for another version.
    Refused,
}

/// Reads the first record of the answer.
pub fn judge_legacy_answer(first: &[u8], offered: u16) -> LegacyAnswer {
    // Record: type, version, length; handshake: type, length (3), server_version.
    if first.len() >= 11 && first[0] == 0x16 && first[5] == 0x02 {
        let v = u16::from_be_bytes([first[9], first[10]]);
        if v == offered {
            return LegacyAnswer::Accepted(v);
        }
    }
    LegacyAnswer::Refused
}

/// Offers TLS `version` alone to `host:port`.
pub async fn probe_legacy(host: &str, port: u16, version: u16) -> Result<LegacyAnswer, String> {
    let mut s = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| format!("{host}:{port} did not answer in 5 s"))?
    .map_err(|e| format!("{host}:{port}: {e}"))?;
    s.write_all(&legacy_client_hello(version, Some(host)))
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while got < 11 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => {
                return Err(format!(
                    "{host}:{port} sent no answer to a TLS ClientHello in 5 s"
                ));
            }
        }
    }
    Ok(judge_legacy_answer(&buf[..got], version))
}

/// What a modern handshake showed.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub version: String,
    /// Seconds until the certificate expires (negative: expired).
    pub expires_in: Option<i64>,
    pub not_after: Option<String>,
}

/// A TLS 1.2/1.3 handshake, the certificate checked against the system's roots and
/// `ca_file`: its version, and the certificate's end of validity.
pub async fn handshake(host: &str, port: u16, ca_file: Option<&str>) -> Result<Handshake, String> {
    let mut roots = rustls::RootCertStore::empty();
    static SYSTEM: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    let system = SYSTEM.get_or_init(|| rustls_native_certs::load_native_certs().certs);
    roots.add_parsable_certificates(system.iter().cloned());
    if let Some(ca) = ca_file {
        let certs = CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("cannot read public_url_ca {ca}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("public_url_ca {ca}: {e}"))?;
        roots.add_parsable_certificates(certs);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| format!("{host}:{port} did not answer in 5 s"))?
    .map_err(|e| format!("{host}:{port}: {e}"))?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| "the TLS handshake took over 10 s".to_owned())?
    .map_err(|e| e.to_string())?;
    let (_, conn) = tls.get_ref();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "unknown",
    }
    .to_owned();
    let (expires_in, not_after) = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| not_after(c.as_ref()))
        .map_or((None, None), |(secs, text)| (Some(secs), Some(text)));
    Ok(Handshake {
        version,
        expires_in,
        not_after,
    })
}

/// A certificate's end of validity: seconds from now, and as RFC 3339.
pub fn not_after(der: &[u8]) -> Option<(i64, String)> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let end = cert.tbs_certificate().validity().not_after.to_unix_duration();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let secs = i64::try_from(end.as_secs()).ok()? - i64::try_from(now.as_secs()).ok()?;
    let text = humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + end).to_string();
    Some((secs, text))
}

/// `GET http_url` without following: where it sends a browser.
pub async fn redirect(client: &reqwest::Client, http_url: &str, public_host: &str) -> (Redirect, String) {
    match client.get(http_url).send().await {
        Err(e) if e.is_connect() || e.is_timeout() => (
            Redirect::NoHttp,
            format!("{http_url}: nothing answers plain HTTP"),
        ),
        Err(e) => (
            Redirect::Missing,
            format!("{http_url}: {}", super::error_chain(&e.without_url())),
        ),
        Ok(r) => {
            let status = r.status();
            let location = r
                .headers()
                .get("location")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let shown = format!(
                "HTTP {status}{}",
                location
                    .as_ref()
                    .map(|l| format!("\nlocation: {l}"))
                    .unwrap_or_default()
            );
            match location {
                Some(l) if status.is_redirection() => {
                    let to = reqwest::Url::parse(&l).ok();
                    match to {
                        Some(u) if u.scheme() == "https" && u.host_str() == Some(public_host) => {
                            (Redirect::ToHttps, shown)
                        }
                        Some(u) if u.scheme() == "https" => (Redirect::OffHost, shown),
                        _ => (Redirect::NotToHttps, shown),
                    }
                }
                _ => (Redirect::Missing, shown),
            }
        }
    }
}

/// How a burst of bad logins went: each answer's status, in order.
pub fn judge_burst(statuses: &[u16], refused: &[u16]) -> (super::Verdict, String) {
    use super::Verdict;
    if let Some(i) = statuses.iter().position(|s| *s == 429 || *s == 503) {
        return (
            Verdict::Pass,
            format!(
                "throttled at bad login {} of {} (HTTP {})",
                i + 1,
                statuses.len(),
                statuses[i]
            ),
        );
    }
    if statuses.iter().all(|s| refused.contains(s) || *s == 400) {
        return (
            Verdict::Fail,
            format!(
                "{} bad logins in a row, none throttled (each answered {})",
                statuses.len(),
                statuses.first().copied().unwrap_or(0)
            ),
        );
    }
    (
        Verdict::Unknown,
        format!("the login answered statuses that are neither a refusal nor throttling: {statuses:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_hello_is_well_formed() {
        let h = legacy_client_hello(0x0301, Some("example.org"));
        assert_eq!(&h[..3], &[0x16, 0x03, 0x01]);
        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        assert_eq!(h.len(), 5 + len);
        assert_eq!(h[5], 1);
        let hs_len = usize::from(h[7]) << 8 | usize::from(h[8]);
        assert_eq!(hs_len + 4, len);
        assert_eq!(&h[9..11], &[0x03, 0x01]);
        assert!(h.windows(11).any(|w| w == b"example.org"));
        // No SNI for an IP address.
        let ip = legacy_client_hello(0x0302, Some("127.0.0.1"));
        assert!(!ip.windows(9).any(|w| w == b"127.0.0.1"));
    }

    #[test]
    fn legacy_answers() {
        let hello = [0x16, 0x03, 0x01, 0x00, 0x31, 0x02, 0x00, 0x00, 0x2d, 0x03, 0x01];
        assert_eq!(
            judge_legacy_answer(&hello, 0x0301),
            LegacyAnswer::Accepted(0x0301)
        );
        // A ServerHello choosing another version is not an acceptance of this one.
        let other = [0x16, 0x03, 0x03, 0x00, 0x31, 0x02, 0x00, 0x00, 0x2d, 0x03, 0x03];
        assert_eq!(judge_legacy_answer(&other, 0x0301), LegacyAnswer::Refused);
        let alert = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];
        assert_eq!(judge_legacy_answer(&alert, 0x0302), LegacyAnswer::Refused);
        assert_eq!(judge_legacy_answer(&[], 0x0302), LegacyAnswer::Refused);
    }

    #[test]
    fn bursts() {
        use super::super::Verdict;
        assert_eq!(
            judge_burst(&[401, 401, 401, 401, 401, 429], &[401]).0,
            Verdict::Pass
        );
        assert_eq!(judge_burst(&[401; 10], &[401, 403]).0, Verdict::Fail);
        assert_eq!(judge_burst(&[500, 500], &[401]).0, Verdict::Unknown);
    }

    #[test]
    fn certificate_end_of_validity() {
        // Not a certificate: nothing, no panic.
        assert!(not_after(b"garbage").is_none());
    }
}
