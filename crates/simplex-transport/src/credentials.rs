//! Server certificate chains: loading the reference's PEM files and generating new ones.
//!
//! A server has an offline CA certificate (`ca.crt`, identity of the server: its SHA-256 is the
//! key hash in `smp://<keyhash>@host`) and an online certificate (`server.crt`, `server.key`)
//! signed by it. The chain sent in TLS is the online certificate followed by the CA.
//! Generation makes the same certificates as the reference's `smp-server init`, which runs the
//! `openssl` command line (see `createServerX509` in the reference's `Server/CLI.hs`): subjects
//! `CN=SMP server CA, O=SimpleX` and `CN=<host>`, 999,999 days of validity, the CA with a
//! critical `CA:TRUE` basic constraint and key identifiers, the server certificate with
//! `CA:FALSE`, key usage digitalSignature/nonRepudiation/keyAgreement and serverAuth.

use std::fs;
use std::io::Write;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, PKeyRef, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509NameRef, X509Ref, X509};

use simplex_crypto::KeyHash;

use crate::error::TransportError;

/// The reference's file names inside the server's configuration directory.
pub mod files {
    /// The offline CA certificate (the server identity).
    pub const CA_CRT: &str = "ca.crt";
    /// The CA private key; operators should move it off the server.
    pub const CA_KEY: &str = "ca.key";
    /// The online server certificate.
    pub const SERVER_CRT: &str = "server.crt";
    /// The online server private key.
    pub const SERVER_KEY: &str = "server.key";
    /// The base64url CA fingerprint, one line.
    pub const FINGERPRINT: &str = "fingerprint";
}

/// Days of validity of generated certificates (the reference's `-days 999999`).
pub const VALIDITY_DAYS: u32 = 999_999;

/// Subject common name of the generated CA certificate.
pub const CA_COMMON_NAME: &str = "SMP server CA";

/// Subject organization of the generated CA certificate.
pub const CA_ORGANIZATION: &str = "SimpleX";

/// The signature algorithm of generated certificates (`smp-server init -a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignAlgorithm {
    /// Ed25519.
    Ed25519,
    /// Ed448 (the reference's default).
    #[default]
    Ed448,
}

impl SignAlgorithm {
    /// Parses `ED25519` or `ED448` (the reference's spelling; case-insensitive here).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ED25519" => Some(SignAlgorithm::Ed25519),
            "ED448" => Some(SignAlgorithm::Ed448),
            _ => None,
        }
    }

    /// The reference's spelling, `ED25519` or `ED448`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignAlgorithm::Ed25519 => "ED25519",
            SignAlgorithm::Ed448 => "ED448",
        }
    }

    fn generate_key(self) -> Result<PKey<Private>, TransportError> {
        Ok(match self {
            SignAlgorithm::Ed25519 => PKey::generate_ed25519()?,
            SignAlgorithm::Ed448 => PKey::generate_ed448()?,
        })
    }
}

/// SHA-256 of a certificate's DER: the identity (`KeyHash`) when it is the CA's.
pub fn cert_fingerprint(cert: &X509Ref) -> Result<[u8; 32], TransportError> {
    Ok(openssl::sha::sha256(&cert.to_der()?))
}

/// A server's TLS chain (leaf first, CA last) and the leaf's private key.
pub struct ServerCredentials {
    chain: Vec<X509>,
    key: PKey<Private>,
}

impl std::fmt::Debug for ServerCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCredentials")
            .field("chain_len", &self.chain.len())
            .field("key", &"<private>")
            .finish()
    }
}

fn cred_err(what: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Credentials(format!("{what}: {e}"))
}

fn read_pem_chain(path: &Path) -> Result<Vec<X509>, TransportError> {
    let pem = fs::read(path).map_err(|e| cred_err(&path.display().to_string(), e))?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| cred_err(&path.display().to_string(), e))?;
    if certs.is_empty() {
        return Err(cred_err(&path.display().to_string(), "no certificate"));
    }
    Ok(certs)
}

fn check_sign_key(key: &PKeyRef<Private>) -> Result<(), TransportError> {
    match key.id() {
        Id::ED25519 | Id::ED448 => Ok(()),
        _ => Err(cred_err(
            "private key",
            "only Ed25519 and Ed448 keys are supported",
        )),
    }
}

impl ServerCredentials {
    /// Builds credentials from a chain (leaf first, CA last) and the leaf's key.
    ///
    /// Refuses chains outside 2–4 certificates (clients refuse them too), keys other than
    /// Ed25519/Ed448, and a key that does not match the leaf certificate.
    pub fn new(chain: Vec<X509>, key: PKey<Private>) -> Result<Self, TransportError> {
        if !(2..=4).contains(&chain.len()) {
            return Err(cred_err(
                "certificate chain",
                format!("{} certificates, 2 to 4 needed", chain.len()),
            ));
        }
        check_sign_key(&key)?;
        let leaf_key = chain
            .first()
            .ok_or_else(|| cred_err("certificate chain", "empty"))?
            .public_key()?;
        if !leaf_key.public_eq(&key) {
            return Err(cred_err("server.key", "does not match server.crt"));
        }
        Ok(ServerCredentials { chain, key })
    }

    /// Loads `server.crt` (one or more PEM certificates), then `ca.crt`, and `server.key`
    /// (PKCS#8 PEM), as the reference's server does.
    pub fn load(
        ca_crt: &Path,
        server_crt: &Path,
        server_key: &Path,
    ) -> Result<Self, TransportError> {
        let mut chain = read_pem_chain(server_crt)?;
        chain.extend(read_pem_chain(ca_crt)?);
        let key_pem = fs::read(server_key).map_err(|e| cred_err("server.key", e))?;
        let key = PKey::private_key_from_pem(&key_pem).map_err(|e| cred_err("server.key", e))?;
        Self::new(chain, key)
    }

    /// Loads a web certificate file (the leaf, then any intermediates, PEM) and its key
    /// (PEM), such as the XFTP relay's `[WEB] cert` and `key`: a certificate browsers accept
    /// (any key type, any chain length), for TLS only — not a relay identity, so the chain
    /// and key rules of [`ServerCredentials::new`] do not apply.
    pub fn load_web(cert: &Path, key: &Path) -> Result<Self, TransportError> {
        let chain = read_pem_chain(cert)?;
        let key_pem = fs::read(key).map_err(|e| cred_err(&key.display().to_string(), e))?;
        let key = PKey::private_key_from_pem(&key_pem)
            .map_err(|e| cred_err(&key.display().to_string(), e))?;
        let leaf = chain
            .first()
            .ok_or_else(|| cred_err(&cert.display().to_string(), "no certificate"))?;
        if !leaf.public_key()?.public_eq(&key) {
            return Err(cred_err(
                "the web key",
                "does not match the web certificate",
            ));
        }
        Ok(ServerCredentials { chain, key })
    }

    /// Loads `ca.crt`, `server.crt` and `server.key` from a configuration directory.
    pub fn load_dir(dir: &Path) -> Result<Self, TransportError> {
        Self::load(
            &dir.join(files::CA_CRT),
            &dir.join(files::SERVER_CRT),
            &dir.join(files::SERVER_KEY),
        )
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[X509] {
        &self.chain
    }

    /// The chain as DER blobs, leaf first (as sent in the server's hello).
    pub fn chain_der(&self) -> Result<Vec<Vec<u8>>, TransportError> {
        self.chain.iter().map(|c| Ok(c.to_der()?)).collect()
    }

    /// The leaf's private key (signs the TLS handshake and the session DH key).
    pub fn private_key(&self) -> &PKeyRef<Private> {
        &self.key
    }

    /// The leaf's private key as PKCS#8 DER.
    pub fn private_key_der(&self) -> Result<Vec<u8>, TransportError> {
        Ok(self.key.private_key_to_pkcs8()?)
    }

    /// The server identity: SHA-256 of the CA certificate (the last one) as clients pin it.
    ///
    /// Clients compare against the second certificate of the chain, which is the CA in the
    /// two-certificate chains servers use.
    pub fn identity(&self) -> Result<KeyHash, TransportError> {
        let id_cert = self
            .chain
            .get(1)
            .ok_or_else(|| cred_err("certificate chain", "no identity certificate"))?;
        Ok(KeyHash::from(cert_fingerprint(id_cert)?))
    }
}

/// A newly generated offline CA and online server certificate, as PEM.
pub struct GeneratedCredentials {
    /// `ca.crt`.
    pub ca_cert_pem: Vec<u8>,
    /// `ca.key` (PKCS#8 PEM).
    pub ca_key_pem: Vec<u8>,
    /// `server.crt`.
    pub server_cert_pem: Vec<u8>,
    /// `server.key` (PKCS#8 PEM).
    pub server_key_pem: Vec<u8>,
    /// SHA-256 of the CA certificate's DER: the server identity.
    pub fingerprint: KeyHash,
}

impl std::fmt::Debug for GeneratedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCredentials")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn random_serial() -> Result<openssl::asn1::Asn1Integer, TransportError> {
    // Like the openssl command line: a random positive 159-bit serial.
    let mut bn = BigNum::new()?;
    bn.rand(159, MsbOption::MAYBE_ZERO, false)?;
    Ok(bn.to_asn1_integer()?)
}

fn build_name(entries: &[(&str, &str)]) -> Result<X509Name, TransportError> {
    let mut name = X509Name::builder()?;
    for (field, value) in entries {
        name.append_entry_by_text(field, value)?;
    }
    Ok(name.build())
}

fn ca_certificate(key: &PKeyRef<Private>) -> Result<X509, TransportError> {
    let name = build_name(&[("CN", CA_COMMON_NAME), ("O", CA_ORGANIZATION)])?;
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = random_serial()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(VALIDITY_DAYS)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(None, None))?;
    b.append_extension(aki)?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    // Ed25519/Ed448 sign the message itself: no digest.
    b.sign(key, MessageDigest::null())?;
    Ok(b.build())
}

fn server_certificate(
    key: &PKeyRef<Private>,
    common_name: &str,
    ca: &X509Ref,
    ca_key: &PKeyRef<Private>,
) -> Result<X509, TransportError> {
    let subject = build_name(&[("CN", common_name)])?;
    let issuer: &X509NameRef = ca.subject_name();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = random_serial()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&subject)?;
    b.set_issuer_name(issuer)?;
    b.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(VALIDITY_DAYS)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.append_extension(BasicConstraints::new().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .digital_signature()
            .non_repudiation()
            .key_agreement()
            .build()?,
    )?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(ski)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(false)
        .build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(aki)?;
    b.sign(ca_key, MessageDigest::null())?;
    Ok(b.build())
}

impl GeneratedCredentials {
    /// Generates a CA and a server certificate signed by it, as `smp-server init` does.
    /// `common_name` is the server's host name or IP address (the reference uses the FQDN
    /// when given, else the IP).
    pub fn generate(alg: SignAlgorithm, common_name: &str) -> Result<Self, TransportError> {
        let ca_key = alg.generate_key()?;
        let ca = ca_certificate(&ca_key)?;
        let server_key = alg.generate_key()?;
        let server = server_certificate(&server_key, common_name, &ca, &ca_key)?;
        Ok(GeneratedCredentials {
            ca_cert_pem: ca.to_pem()?,
            ca_key_pem: ca_key.private_key_to_pem_pkcs8()?,
            server_cert_pem: server.to_pem()?,
            server_key_pem: server_key.private_key_to_pem_pkcs8()?,
            fingerprint: KeyHash::from(cert_fingerprint(&ca)?),
        })
    }

    /// Writes `ca.crt`, `ca.key`, `server.crt`, `server.key` and `fingerprint` into `dir`
    /// (which must exist). Key files are created readable by the owner only.
    pub fn write_to_dir(&self, dir: &Path) -> Result<(), TransportError> {
        write_file(&dir.join(files::CA_CRT), &self.ca_cert_pem, false)?;
        write_file(&dir.join(files::CA_KEY), &self.ca_key_pem, true)?;
        write_file(&dir.join(files::SERVER_CRT), &self.server_cert_pem, false)?;
        write_file(&dir.join(files::SERVER_KEY), &self.server_key_pem, true)?;
        let mut fp = self.fingerprint.to_string().into_bytes();
        fp.push(b'\n');
        write_file(&dir.join(files::FINGERPRINT), &fp, false)?;
        Ok(())
    }

    /// The credentials the server would load from the written files.
    pub fn server_credentials(&self) -> Result<ServerCredentials, TransportError> {
        let mut chain = X509::stack_from_pem(&self.server_cert_pem)?;
        chain.extend(X509::stack_from_pem(&self.ca_cert_pem)?);
        let key = PKey::private_key_from_pem(&self.server_key_pem)?;
        ServerCredentials::new(chain, key)
    }
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TransportError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts
        .open(path)
        .map_err(|e| cred_err(&path.display().to_string(), e))?;
    f.write_all(bytes)
        .map_err(|e| cred_err(&path.display().to_string(), e))?;
    Ok(())
}

/// Reads the CA certificate file and returns its fingerprint (the server identity).
pub fn load_file_fingerprint(ca_crt: &Path) -> Result<KeyHash, TransportError> {
    let certs = read_pem_chain(ca_crt)?;
    let ca = certs
        .first()
        .ok_or_else(|| cred_err("ca.crt", "no certificate"))?;
    Ok(KeyHash::from(cert_fingerprint(ca)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_IDENTITY: &str = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=";

    #[test]
    fn fixture_chain_has_reference_identity() {
        let (Some(ca), Some(crt), Some(key)) = (
            test_support::fixture("ca.crt", "fixture identity"),
            test_support::fixture("server.crt", "fixture identity"),
            test_support::fixture("server.key", "fixture identity"),
        ) else {
            return;
        };
        let creds = ServerCredentials::load(&ca, &crt, &key).expect("fixture chain loads");
        assert_eq!(creds.chain().len(), 2);
        assert_eq!(creds.private_key().id(), Id::ED448);
        let id = creds.identity().expect("identity");
        assert_eq!(id.to_string(), FIXTURE_IDENTITY);
        assert_eq!(load_file_fingerprint(&ca).expect("fingerprint"), id);
    }

    #[test]
    fn ed25519_fixture_chain_loads() {
        let Some(dir) = test_support::fixture("ed25519/ca.crt", "ed25519 fixture") else {
            return;
        };
        let dir = dir.parent().expect("fixture dir");
        let creds = ServerCredentials::load_dir(dir).expect("ed25519 chain loads");
        assert_eq!(creds.private_key().id(), Id::ED25519);
        assert_eq!(
            creds.identity().expect("identity"),
            load_file_fingerprint(&dir.join("ca.crt")).expect("fingerprint")
        );
    }

    #[test]
    fn mismatched_key_is_refused() {
        let (Some(ca), Some(crt), Some(key)) = (
            test_support::fixture("ca.crt", "mismatched key"),
            test_support::fixture("server.crt", "mismatched key"),
            test_support::fixture("ed25519/server.key", "mismatched key"),
        ) else {
            return;
        };
        let err = ServerCredentials::load(&ca, &crt, &key).expect_err("key does not match");
        assert!(matches!(err, TransportError::Credentials(_)), "{err}");
    }

    fn name_entries(name: &X509NameRef) -> Vec<(&'static str, String)> {
        name.entries()
            .map(|e| {
                let field = e.object().nid().short_name().expect("short name");
                let value = e.data().to_string().expect("utf8");
                (field, value)
            })
            .collect()
    }

    fn check_generated(alg: SignAlgorithm, id: Id) {
        let gen = GeneratedCredentials::generate(alg, "smp.example.com").expect("generate");
        let dir = tempfile::tempdir().expect("tempdir");
        gen.write_to_dir(dir.path()).expect("write");
        let creds = ServerCredentials::load_dir(dir.path()).expect("load written files");
        assert_eq!(creds.private_key().id(), id);
        assert_eq!(creds.identity().expect("identity"), gen.fingerprint);
        let fp_file = fs::read_to_string(dir.path().join(files::FINGERPRINT)).expect("fingerprint");
        assert_eq!(fp_file, format!("{}\n", gen.fingerprint));

        let ca = &creds.chain()[1];
        let leaf = &creds.chain()[0];
        // The server certificate is signed by the CA, the CA by itself.
        assert!(leaf
            .verify(&ca.public_key().expect("ca key"))
            .expect("verify"));
        assert!(ca
            .verify(&ca.public_key().expect("ca key"))
            .expect("verify"));
        assert_eq!(
            name_entries(ca.subject_name()),
            [
                ("CN", "SMP server CA".to_owned()),
                ("O", "SimpleX".to_owned())
            ]
        );
        assert_eq!(
            name_entries(ca.issuer_name()),
            name_entries(ca.subject_name())
        );
        assert_eq!(
            name_entries(leaf.issuer_name()),
            name_entries(ca.subject_name())
        );
        assert_eq!(
            name_entries(leaf.subject_name()),
            [("CN", "smp.example.com".to_owned())]
        );
        let text = String::from_utf8(ca.to_text().expect("text")).expect("utf8");
        assert!(
            text.contains("critical") && text.contains("CA:TRUE"),
            "{text}"
        );
        let text = String::from_utf8(leaf.to_text().expect("text")).expect("utf8");
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        assert!(
            text.contains("Digital Signature, Non Repudiation, Key Agreement"),
            "{text}"
        );
        // 999999 days ≈ 2737 years.
        let not_after = leaf.not_after().to_string();
        let year: i32 = not_after
            .split_whitespace()
            .nth(3)
            .and_then(|y| y.parse().ok())
            .expect("year");
        assert!(year > 4700, "{not_after}");
    }

    #[test]
    fn generated_ed25519_round_trips_through_files() {
        check_generated(SignAlgorithm::Ed25519, Id::ED25519);
    }

    #[test]
    fn generated_ed448_round_trips_through_files() {
        check_generated(SignAlgorithm::Ed448, Id::ED448);
    }

    #[test]
    fn generated_keys_are_owner_only() {
        let gen = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "127.0.0.1").expect("gen");
        let dir = tempfile::tempdir().expect("tempdir");
        gen.write_to_dir(dir.path()).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(files::CA_KEY))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
    }
}
