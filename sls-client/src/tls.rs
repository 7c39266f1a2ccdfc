//! Which certificate authorities `https://` endpoints are checked
//! against: webpki's bundled roots (Mozilla's list) by default, the
//! system's store on request, and extra roots from the user, such as a
//! TLS-inspecting proxy's CA.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::Error;

/// The trust settings a [`ClientBuilder`](crate::ClientBuilder) collects.
#[derive(Clone)]
pub(crate) struct TlsRoots {
    pub(crate) built_in: bool,
    pub(crate) native: bool,
    /// Extra roots as given: PEM bundles or DER certificates, parsed at
    /// build time so that the builder's methods stay infallible.
    pub(crate) extra: Vec<ExtraRoot>,
}

#[derive(Clone)]
pub(crate) enum ExtraRoot {
    Pem(Vec<u8>),
    Der(Vec<u8>),
}

impl Default for TlsRoots {
    fn default() -> Self {
        Self {
            built_in: true,
            native: false,
            extra: Vec::new(),
        }
    }
}

impl fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsRoots")
            .field("built_in", &self.built_in)
            .field("native", &self.native)
            .field("extra", &self.extra.len())
            .finish()
    }
}

impl TlsRoots {
    /// The rustls client configuration (ring, TLS 1.2 and 1.3) trusting
    /// these roots. Fails, naming the setting, on a certificate that does
    /// not parse, a system store with nothing usable, or no roots at all.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, Error> {
        let invalid = |why: String| Error::InvalidArgument(format!("tls roots: {why}"));
        let mut roots = RootCertStore::empty();
        if self.built_in {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if self.native {
            let found = rustls_native_certs::load_native_certs();
            for err in &found.errors {
                tracing::warn!(error = %err, "a system root certificate could not be read");
            }
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                tracing::warn!(ignored, "system root certificates rustls cannot use");
            }
            if added == 0 {
                return Err(invalid(
                    "no usable certificate in the system's store".to_owned(),
                ));
            }
        }
        for (i, extra) in self.extra.iter().enumerate() {
            let certificates: Vec<CertificateDer<'static>> = match extra {
                ExtraRoot::Der(der) => vec![CertificateDer::from(der.clone())],
                ExtraRoot::Pem(pem) => CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|err| invalid(format!("extra root #{}: bad PEM: {err}", i + 1)))?,
            };
            if certificates.is_empty() {
                return Err(invalid(format!(
                    "extra root #{}: no CERTIFICATE block in the PEM",
                    i + 1
                )));
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|err| {
                    invalid(format!("extra root #{}: not a usable CA: {err}", i + 1))
                })?;
            }
        }
        if roots.is_empty() {
            return Err(invalid(
                "no root certificates: built-in roots are off and none were added".to_owned(),
            ));
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|err| invalid(err.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(config)
    }
}
