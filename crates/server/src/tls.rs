//! HTTPS on the service's own listener: the certificate chain and private key (PEM files) loaded at
//! start-up and again on SIGHUP. A reload swaps the key that new handshakes get; connections already
//! open keep theirs. A reload that fails keeps the previous key. See docs/tls.md.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert: PathBuf,
    /// The leaf's private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// A certificate or key that cannot be served; the message names the file. `runhub serve` exits
/// with status 2 on it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// The key every new handshake gets; replaced on reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// The service's TLS configuration.
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
    http1_acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads and checks the files: both readable, a certificate, a usable key that matches it.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = load_certified_key(&files, &provider)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(key))));
        let config = |alpn: &[&[u8]]| -> Result<TlsAcceptor, TlsError> {
            let mut config = ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError(format!("TLS configuration: {e}")))?
                .with_no_client_auth()
                .with_cert_resolver(current.clone());
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Ok(TlsAcceptor::from(Arc::new(config)))
        };
        let acceptor = config(&[b"h2", b"http/1.1"])?;
        let http1_acceptor = config(&[b"http/1.1"])?;
        Ok(Self { files, provider, current, acceptor, http1_acceptor })
    }

    /// Reads the files again; on success new handshakes use them, on failure nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = load_certified_key(&self.files, &self.provider)?;
        *self.current.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        Ok(())
    }

    /// The acceptor for served connections: ALPN offers `h2` and `http/1.1`.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// An acceptor that offers only `http/1.1` by ALPN (for the one-reply connections over the cap).
    pub fn http1_acceptor(&self) -> &TlsAcceptor {
        &self.http1_acceptor
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("cannot read the TLS {what} file '{}': {e}", path.display())))
}

fn load_certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_file = files.cert.display();
    let key_file = files.key.display();
    let pem = read(&files.cert, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("the TLS certificate file '{cert_file}' is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError(format!("the TLS certificate file '{cert_file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")));
    }
    let pem = read(&files.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        TlsError(format!("the TLS key file '{key_file}' holds no usable PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC): {e}"))
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError(format!("the TLS key file '{key_file}' holds a key that cannot be used (RSA or ECDSA expected): {e}")))?;
    warn_if_outside_validity(&files.cert, &chain[0])?;
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(key),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(TlsError(format!("the TLS key file '{key_file}' does not hold the private key of the certificate in '{cert_file}'")))
        }
        Err(e) => Err(TlsError(format!("the first certificate in the TLS certificate file '{cert_file}' cannot be used: {e}"))),
    }
}

/// An expired (or not yet valid) certificate is still served — replacing it is the operator's
/// call, and clients decide whether to accept it — but the operator is told.
fn warn_if_outside_validity(path: &Path, leaf: &CertificateDer<'_>) -> Result<(), TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| TlsError(format!("the first certificate in the TLS certificate file '{}' is not valid X.509: {e}", path.display())))?;
    let validity = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    if validity.not_after < now {
        tracing::warn!(certificate = %path.display(), not_after = %validity.not_after, "the TLS certificate has expired; clients that check it will refuse the connection");
    } else if validity.not_before > now {
        tracing::warn!(certificate = %path.display(), not_before = %validity.not_before, "the TLS certificate is not valid yet; clients that check it will refuse the connection");
    }
    Ok(())
}

/// Reloads the files whenever the process gets SIGHUP, for as long as it runs. The handler is
/// installed before this returns, so a SIGHUP sent after the listening line never kills the process.
pub fn reload_on_sighup(tls: Arc<Tls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot handle SIGHUP: the TLS files will not be reloaded");
                return;
            }
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!(certificate = %tls.files().cert.display(), "SIGHUP: TLS certificate and key reloaded"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: TLS reload failed; still serving the previous certificate"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = tls;
}
