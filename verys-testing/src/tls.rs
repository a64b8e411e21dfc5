//! HTTPS for the embedded Verys: a certificate authority generated at start-up (rcgen), the
//! certificate it signs for `127.0.0.1`, and the acceptor that serves it (tokio-rustls on ring).
//!
//! Each server has a CA of its own, so a client trusts one server only when a test gives it that
//! server's CA, and a client with the usual public roots does not trust it at all.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What a TLS server holds: its acceptor, and the CA certificate its clients must trust.
pub(super) struct Tls {
    pub acceptor: TlsAcceptor,
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
}

impl Tls {
    /// A new CA and a server certificate for the IP address `127.0.0.1` signed by it.
    ///
    /// # Panics
    ///
    /// If rcgen or rustls refuse what they are given, which only a bug here can cause.
    pub(crate) fn generate() -> Tls {
        let ca_key = KeyPair::generate().expect("VerysServer: cannot generate the CA key");
        let mut ca = CertificateParams::new(Vec::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "verys-client test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_certificate = ca.self_signed(&ca_key).expect("self-signed CA certificate");
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().expect("VerysServer: cannot generate the TLS key");
        // rcgen reads "127.0.0.1" as an IP address name, which is what the issuer URL holds.
        let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server name");
        server
            .distinguished_name
            .push(DnType::CommonName, "embedded verys");
        server.use_authority_key_identifier_extension = true;
        let server_certificate = server
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![server_certificate.der().clone()];
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("rustls accepts the generated certificate");
        Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem: ca_certificate.pem(),
            ca_der: ca_certificate.der().to_vec(),
        }
    }
}
