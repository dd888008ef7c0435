//! TLS for `wss://` servers: the platform's root certificates, plus a
//! private CA given with `--ca FILE`. rustls with the ring provider.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The client TLS configuration: platform roots, and `ca` if given.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken certificate in the system store is not ours to fail on.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .with_context(|| format!("cannot read the CA certificate {}", path.display()))?;
        if certs.is_empty() {
            bail!("no PEM certificate in {}", path.display());
        }
        for cert in certs {
            roots.add(cert).with_context(|| format!("the CA certificate in {} is not usable", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pem");
        let err = client_config(Some(&missing)).expect_err("missing");
        assert!(format!("{err:#}").contains("nope.pem"), "{err:#}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").expect("write");
        assert!(format!("{:#}", client_config(Some(&junk)).expect_err("junk")).contains("junk.pem"));
        assert!(client_config(None).is_ok());
    }
}
