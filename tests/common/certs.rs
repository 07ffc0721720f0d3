//! Certificates made by the tests themselves (rcgen), so none that could expire is committed: a
//! root CA, an intermediate CA under it, and server certificates for 127.0.0.1 and localhost that
//! the intermediate signs. A server's certificate file holds the chain (leaf, then intermediate);
//! clients trust only the root, so the chain is needed.

#![allow(dead_code)]
use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

/// The kind of a server certificate's key.
#[derive(Debug, Clone, Copy)]
pub enum KeyKind {
    /// ECDSA P-256, key file in PKCS#8 PEM (`PRIVATE KEY`).
    Ecdsa,
    /// RSA 2048 (the fixture key), key file in PKCS#1 PEM (`RSA PRIVATE KEY`).
    Rsa,
}

pub struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate: its chain and key, as PEM.
pub struct ServerCert {
    pub chain_pem: String,
    pub key_pem: String,
    /// The leaf certificate, DER (to tell which certificate a server presented).
    pub leaf_der: Vec<u8>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

const RSA_PKCS1: &[u8] = include_bytes!("../fixtures/rsa-private.der");

/// PKCS#8 around a PKCS#1 RSA key (ring loads RSA keys only as PKCS#8).
fn rsa_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    fn der_len(n: usize) -> Vec<u8> {
        assert!(n < 65536);
        if n < 128 {
            vec![n as u8]
        } else if n < 256 {
            vec![0x81, n as u8]
        } else {
            vec![0x82, (n >> 8) as u8, n as u8]
        }
    }
    // version 0, AlgorithmIdentifier { rsaEncryption, NULL }, OCTET STRING { pkcs1 }
    let mut body = vec![0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x04];
    body.extend(der_len(pkcs1.len()));
    body.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    out.extend(der_len(body.len()));
    out.extend(body);
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

impl Pki {
    pub fn new() -> Self {
        let root = CertifiedIssuer::self_signed(ca_params("runhub test root CA"), KeyPair::generate().unwrap()).unwrap();
        let intermediate =
            CertifiedIssuer::signed_by(ca_params("runhub test intermediate CA"), KeyPair::generate().unwrap(), &root).unwrap();
        Self { root, intermediate }
    }

    /// The root CA certificate (PEM): what clients trust.
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost, valid now (or, with `expired`, only in 2020).
    pub fn server(&self, name: &str, kind: KeyKind, expired: bool) -> ServerCert {
        let (key, key_pem) = match kind {
            KeyKind::Ecdsa => {
                let key = KeyPair::generate().unwrap();
                let pem = key.serialize_pem();
                (key, pem)
            }
            KeyKind::Rsa => {
                let pkcs8 = rsa_pkcs8(RSA_PKCS1);
                let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_slice().into(), &rcgen::PKCS_RSA_SHA256).unwrap();
                (key, pem("RSA PRIVATE KEY", RSA_PKCS1))
            }
        };
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        let leaf = params.signed_by(&key, &self.intermediate).unwrap();
        ServerCert { chain_pem: format!("{}{}", leaf.pem(), self.intermediate.pem()), key_pem, leaf_der: leaf.der().to_vec() }
    }
}

impl ServerCert {
    /// Writes `<name>.crt` (the chain) and `<name>.key` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.chain_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}
