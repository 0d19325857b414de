//! TLS to PostgreSQL, run by the tunnel itself rather than by sqlx.
//!
//! Through an SSH tunnel the TCP peer sqlx sees is a local endpoint, not the server: a
//! driver doing `verify-full` would check the certificate against the wrong name, or
//! connect to the wrong place. So the tunnel speaks PostgreSQL's TLS opening itself on
//! each channel (an `SSLRequest`, the server's `S`, then a rustls handshake with the
//! server's real name) and hands sqlx the decrypted stream on the private Unix socket.
//! Everything that leaves this process is encrypted end to end to the server.
//!
//! - `require`: encrypted, certificate not checked (libpq's `sslmode=require`).
//! - `verify-full`: the chain must lead to `ca_file` (or the system's roots) and the
//!   certificate must name `server_name` (or `address`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::DbError;
use crate::engine::profiles::{Database, DbTls};

/// PostgreSQL's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// How the tunnel opens TLS to one database.
#[derive(Clone)]
pub struct TlsSetup {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    /// For messages: the name checked, or the address when nothing is checked.
    shown: String,
    verified: bool,
}

impl TlsSetup {
    /// The TLS the profile asks for, or `None` for `tls = "disable"`.
    pub fn for_profile(db: &Database) -> Result<Option<Arc<TlsSetup>>, DbError> {
        if db.tls == DbTls::Disable {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(&db.address, e.to_string()))?;
        let (config, name, verified) = match db.tls {
            DbTls::Disable => return Ok(None),
            DbTls::Require => (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
                    .with_no_client_auth(),
                db.address.clone(),
                false,
            ),
            DbTls::VerifyFull => {
                let roots = roots(db)?;
                let name = db
                    .server_name
                    .as_ref()
                    .map(|n| n.get_ref().clone())
                    .unwrap_or_else(|| db.address.clone());
                (
                    builder.with_root_certificates(roots).with_no_client_auth(),
                    name,
                    true,
                )
            }
        };
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| tls_err(&name, "not a DNS name or an IP address".into()))?;
        Ok(Some(Arc::new(TlsSetup {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
            shown: name,
            verified,
        })))
    }

    /// Opens TLS on a fresh stream to the server: `SSLRequest`, then the handshake.
    pub async fn handshake<S>(&self, mut stream: S) -> Result<tokio_rustls::client::TlsStream<S>, DbError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let io = |e: std::io::Error| tls_err(&self.shown, format!("the TLS request failed: {e}"));
        stream.write_all(&SSL_REQUEST).await.map_err(io)?;
        stream.flush().await.map_err(io)?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await.map_err(io)?;
        match answer[0] {
            b'S' => {}
            b'N' => {
                return Err(tls_err(
                    &self.shown,
                    "the server does not offer TLS (ssl = off); the profile requires it".into(),
                ));
            }
            other => {
                return Err(tls_err(
                    &self.shown,
                    format!("unexpected answer to the TLS request (byte 0x{other:02x}): is this PostgreSQL?"),
                ));
            }
        }
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| tls_err(&self.shown, self.explain(&e)))
    }

    fn explain(&self, e: &std::io::Error) -> String {
        use rustls::CertificateError as C;
        let cert = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .and_then(|r| match r {
                rustls::Error::InvalidCertificate(c) => Some(c),
                _ => None,
            });
        let hint = match cert {
            _ if !self.verified => "",
            Some(C::UnknownIssuer) => {
                "; the certificate is not signed by a trusted CA: set database.ca_file to the \
                 provider's CA certificate"
            }
            Some(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                "; set database.server_name to a name the certificate carries"
            }
            Some(C::Expired | C::ExpiredContext { .. }) => "; the server's certificate has expired",
            _ => "",
        };
        format!("{e}{hint}")
    }
}

fn tls_err(name: &str, detail: String) -> DbError {
    DbError::Tls {
        server: name.to_owned(),
        detail,
    }
}

/// `ca_file`'s certificates, or the operating system's.
fn roots(db: &Database) -> Result<RootCertStore, DbError> {
    let mut roots = RootCertStore::empty();
    if let Some(ca) = &db.ca_file {
        let path = crate::engine::ssh::expand_home(ca.get_ref());
        let shown = path.display().to_string();
        let certs = CertificateDer::pem_file_iter(&path)
            .map_err(|e| tls_err(&db.address, format!("cannot read database.ca_file {shown}: {e}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_err(&db.address, format!("database.ca_file {shown}: {e}")))?;
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(tls_err(
                &db.address,
                format!("database.ca_file {shown} holds no usable CA certificate (expected PEM)"),
            ));
        }
    } else {
        // The system's store is read once per process.
        static SYSTEM: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
        let system = SYSTEM.get_or_init(|| rustls_native_certs::load_native_certs().certs);
        roots.add_parsable_certificates(system.iter().cloned());
        if roots.is_empty() {
            return Err(tls_err(
                &db.address,
                "no system CA certificates found; set database.ca_file".into(),
            ));
        }
    }
    Ok(roots)
}

/// `tls = "require"`: the handshake's signatures are checked (the session is really
/// with whoever holds the certificate's key), the certificate itself is not.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
