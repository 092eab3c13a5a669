//! TLS for the proxy: the jail's own CA (made per jail; the jail trusts it, nothing else does),
//! the certificates it issues for the hosts whose TLS the proxy terminates, the roots the proxy
//! verifies upstream servers against, and the bundle the jail trusts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The host's CA bundle (Debian's); the jail's bundle starts with it.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// A PEM file of extra roots the proxy trusts upstream (a private CA, a test CA).
pub const EXTRA_ROOTS_ENV: &str = "STOCKADE_EGRESS_CA_FILE";

/// A jail's CA.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    issued: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca { .. }")
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Ca {
    /// A fresh CA (ECDSA P-256), valid for a day.
    pub fn generate() -> Result<Ca, String> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "stockade jail CA (this jail only)");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = time_now();
        params.not_before = now - std::time::Duration::from_secs(3600);
        params.not_after = now + std::time::Duration::from_secs(24 * 3600);
        let cert = params.self_signed(&key).map_err(err)?;
        Ok(Ca {
            cert,
            key,
            issued: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate (PEM), for the jail's bundle.
    #[must_use]
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A server configuration presenting a certificate for `host` (made once per host).
    pub fn server_config(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut issued = self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = issued.get(host) {
            return Ok(c.clone());
        }
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(vec![host.to_owned()]).map_err(err)?;
        let now = time_now();
        params.not_before = now - std::time::Duration::from_secs(3600);
        params.not_after = now + std::time::Duration::from_secs(24 * 3600);
        let cert = params.signed_by(&key, &self.cert, &self.key).map_err(err)?;
        let chain = vec![cert.der().clone()];
        let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(err)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(err)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        issued.insert(host.to_owned(), config.clone());
        Ok(config)
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The crypto provider (ring: what this workspace builds).
#[allow(deprecated)] // ring's default provider has no post-quantum key exchange; fine for this.
#[must_use]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The PEM bundle the jail trusts: the host's bundle, then `extra` (the jail's CA).
#[must_use]
pub fn jail_bundle(extra: Option<&str>) -> String {
    let mut out = std::fs::read_to_string(SYSTEM_BUNDLE).unwrap_or_default();
    if let Some(pem) = extra {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(pem);
    }
    out
}

/// The client configuration the proxy verifies upstream servers with: the host's bundle plus
/// `$STOCKADE_EGRESS_CA_FILE`.
pub fn upstream_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let mut files = vec![SYSTEM_BUNDLE.to_owned()];
    if let Some(extra) = std::env::var_os(EXTRA_ROOTS_ENV) {
        files.push(extra.to_string_lossy().into_owned());
    }
    for (i, file) in files.iter().enumerate() {
        let certs = match CertificateDer::pem_file_iter(file) {
            Ok(it) => it.collect::<Result<Vec<_>, _>>().map_err(|e| format!("{file}: {e}"))?,
            // The host may have no system bundle; an explicitly named file must exist.
            Err(_) if i == 0 => Vec::new(),
            Err(e) => return Err(format!("{EXTRA_ROOTS_ENV}={file}: {e}")),
        };
        roots.add_parsable_certificates(certs);
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
