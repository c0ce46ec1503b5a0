//! The destination relay's side of private message routing, without I/O: opening `RFWD` and
//! sealing `RRES` (`processForwardedCommand` in the reference's `Server.hs`; the layers are
//! described in `smp_proto::proxy`).
//!
//! `RFWD` is accepted only on a session whose client hello carried a DH key (a proxy's);
//! the proxy layer is opened with that session's secret under the `RFWD` correlation ID, the
//! client layer with the secret of the client's per-command key and this session's server
//! key under the `PFWD` correlation ID. The response is sealed in reverse, each nonce
//! byte-reversed. The forwarded command itself is checked and executed by the caller as any
//! other sender command, with the proxy–relay session ID in its authorized bytes.

use simplex_crypto::nacl::{cb_decrypt, cb_decrypt_no_pad, cb_encrypt, cb_encrypt_no_pad, CbNonce};
use simplex_crypto::{dh_x25519, DhSecretX25519, PrivateKeyX25519};
use simplex_encoding::{decode_all, Encode, ShortBytes};
use smp_proto::error::{BrokerErrorType, ErrorType, ProxyError, TransportError};
use smp_proto::proxy::{
    decode_single_batch, encode_single_batch, FwdResponse, FwdTransmission, PADDED_PROXIED_LEN,
};
use smp_proto::version::Version;

/// An opened `RFWD`: what is needed to run the forwarded transmission and seal its answer.
pub struct Opened {
    /// The nonce of the proxy layer (the `RFWD` correlation ID).
    proxy_nonce: CbNonce,
    /// The `PFWD` correlation ID, echoed in the response.
    fwd_corr_id: ShortBytes,
    /// The nonce of the client layer (the `PFWD` correlation ID).
    client_nonce: CbNonce,
    /// The secret of the client's per-command key with this session's server key.
    client_secret: DhSecretX25519,
    /// The version the client uses with this relay.
    pub version: Version,
    /// The forwarded batch, decrypted (see [`Opened::transmission`]).
    batch: Vec<u8>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// `ERR PROXY BROKER TRANSPORT NO_AUTH`: `RFWD` on a session without a proxy's DH key.
pub fn no_session_secret() -> ErrorType {
    ErrorType::Proxy(Box::new(ProxyError::Broker(BrokerErrorType::Transport(
        TransportError::NoAuth,
    ))))
}

/// Opens both layers of `RFWD`. Errors are the reference's: a layer that does not open is
/// `CRYPTO`, a forwarded record that does not parse is `CMD SYNTAX`.
pub fn open(
    session_secret: &DhSecretX25519,
    server_key: &PrivateKeyX25519,
    corr_id: &[u8],
    enc: &[u8],
) -> Result<Opened, ErrorType> {
    let proxy_nonce = CbNonce::from_bytes_lenient(corr_id);
    let plain =
        cb_decrypt_no_pad(session_secret, &proxy_nonce, enc).map_err(|_| ErrorType::Crypto)?;
    let fwd = decode_all::<FwdTransmission>(&plain)
        .map_err(|_| ErrorType::Cmd(smp_proto::CommandError::Syntax))?;
    let client_secret = dh_x25519(&fwd.key, server_key);
    let client_nonce = CbNonce::from_bytes_lenient(fwd.corr_id.as_slice());
    let batch = cb_decrypt(&client_secret, &client_nonce, &fwd.enc_transmission)
        .map_err(|_| ErrorType::Crypto)?;
    Ok(Opened {
        proxy_nonce,
        fwd_corr_id: fwd.corr_id,
        client_nonce,
        client_secret,
        version: fwd.version,
        batch,
    })
}

impl Opened {
    /// The forwarded transmission: the batch must hold exactly one (else `BLOCK`).
    pub fn transmission(&self) -> Result<&[u8], ErrorType> {
        decode_single_batch(&self.batch).map_err(|_| ErrorType::Block)
    }

    /// Seals the response transmission for the client, then for the proxy: the body of
    /// `RRES`. A response too large for the padded size is `BLOCK`.
    pub fn seal(
        &self,
        session_secret: &DhSecretX25519,
        transmission: &[u8],
    ) -> Result<Vec<u8>, ErrorType> {
        let batch = encode_single_batch(transmission).map_err(|_| ErrorType::Block)?;
        let enc_response = cb_encrypt(
            &self.client_secret,
            &self.client_nonce.reversed(),
            &batch,
            PADDED_PROXIED_LEN,
        )
        .map_err(|_| ErrorType::Block)?;
        let fr = FwdResponse {
            corr_id: self.fwd_corr_id.clone(),
            enc_response,
        };
        Ok(cb_encrypt_no_pad(
            session_secret,
            &self.proxy_nonce.reversed(),
            &fr.to_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    struct Sides {
        server: PrivateKeyX25519,
        session: DhSecretX25519,
        cmd: PrivateKeyX25519,
    }

    fn sides() -> Sides {
        let server = PrivateKeyX25519::generate(&mut OsRng);
        let proxy = PrivateKeyX25519::generate(&mut OsRng);
        Sides {
            session: dh_x25519(&proxy.public_key(), &server),
            server,
            cmd: PrivateKeyX25519::generate(&mut OsRng),
        }
    }

    /// `RFWD` as a proxy and a client build it.
    fn rfwd(s: &Sides, outer: &[u8; 24], inner: &[u8; 24], t: &[u8]) -> Vec<u8> {
        rfwd_padded(s, outer, inner, t, PADDED_PROXIED_LEN)
    }

    fn rfwd_padded(s: &Sides, outer: &[u8; 24], inner: &[u8; 24], t: &[u8], pad: usize) -> Vec<u8> {
        let client_secret = dh_x25519(&s.server.public_key(), &s.cmd);
        let batch = encode_single_batch(t).expect("fits");
        let et = cb_encrypt(&client_secret, &CbNonce(*inner), &batch, pad).expect("fits");
        let fwd = FwdTransmission {
            corr_id: ShortBytes::from_slice(inner).expect("short"),
            version: Version(9),
            key: s.cmd.public_key(),
            enc_transmission: et,
        };
        cb_encrypt_no_pad(&s.session, &CbNonce(*outer), &fwd.to_bytes())
    }

    #[test]
    fn opens_and_seals_both_layers_with_reversed_nonces() {
        let s = sides();
        let (outer, inner) = ([1u8; 24], [2u8; 24]);
        let mut outer_n = outer;
        outer_n[0] = 7;
        let mut inner_n = inner;
        inner_n[23] = 9;
        let enc = rfwd(&s, &outer_n, &inner_n, b"transmission");
        let opened = open(&s.session, &s.server, &outer_n, &enc).expect("opens");
        assert_eq!(opened.version, Version(9));
        assert_eq!(opened.transmission().expect("one"), b"transmission");
        let rres = opened.seal(&s.session, b"response").expect("seals");
        // The proxy opens its layer with the reversed RFWD nonce...
        let mut rev = outer_n;
        rev.reverse();
        let fr = decode_all::<FwdResponse>(
            &cb_decrypt_no_pad(&s.session, &CbNonce(rev), &rres).expect("proxy layer"),
        )
        .expect("FwdResponse");
        assert_eq!(fr.corr_id.as_slice(), &inner_n);
        assert_eq!(fr.enc_response.len(), 16 + PADDED_PROXIED_LEN);
        // ...and the client its layer with the reversed PFWD nonce.
        let mut rev = inner_n;
        rev.reverse();
        let client_secret = dh_x25519(&s.server.public_key(), &s.cmd);
        let batch = cb_decrypt(&client_secret, &CbNonce(rev), &fr.enc_response).expect("client");
        assert_eq!(decode_single_batch(&batch).expect("one"), b"response");
    }

    #[test]
    fn clients_of_the_older_padded_size_are_accepted() {
        // Reference clients before its v11 padded to 16242.
        let s = sides();
        let enc = rfwd_padded(&s, &[1; 24], &[2; 24], b"old client", 16_242);
        let opened = open(&s.session, &s.server, &[1; 24], &enc).expect("opens");
        assert_eq!(opened.transmission().expect("one"), b"old client");
    }

    #[test]
    fn bad_layers_are_the_references_errors() {
        let s = sides();
        let enc = rfwd(&s, &[1; 24], &[2; 24], b"t");
        // Wrong RFWD nonce, or a tampered byte: the proxy layer does not open.
        assert!(matches!(
            open(&s.session, &s.server, &[3; 24], &enc),
            Err(ErrorType::Crypto)
        ));
        let mut bad = enc.clone();
        if let Some(b) = bad.last_mut() {
            *b ^= 1;
        }
        assert!(matches!(
            open(&s.session, &s.server, &[1; 24], &bad),
            Err(ErrorType::Crypto)
        ));
        // Another server key: the client layer does not open.
        let other = PrivateKeyX25519::generate(&mut OsRng);
        assert!(matches!(
            open(&s.session, &other, &[1; 24], &enc),
            Err(ErrorType::Crypto)
        ));
        // A proxy layer that opens but holds no FwdTransmission.
        let junk = cb_encrypt_no_pad(&s.session, &CbNonce([1; 24]), b"\x05abc");
        assert!(matches!(
            open(&s.session, &s.server, &[1; 24], &junk),
            Err(ErrorType::Cmd(smp_proto::CommandError::Syntax))
        ));
        // A batch of two forwarded transmissions.
        let client_secret = dh_x25519(&s.server.public_key(), &s.cmd);
        let two = [2u8, 0, 1, b'a', 0, 1, b'b'];
        let et =
            cb_encrypt(&client_secret, &CbNonce([2; 24]), &two, PADDED_PROXIED_LEN).expect("fits");
        let fwd = FwdTransmission {
            corr_id: ShortBytes::from_slice(&[2; 24]).expect("short"),
            version: Version(9),
            key: s.cmd.public_key(),
            enc_transmission: et,
        };
        let enc = cb_encrypt_no_pad(&s.session, &CbNonce([1; 24]), &fwd.to_bytes());
        let opened = open(&s.session, &s.server, &[1; 24], &enc).expect("opens");
        assert!(matches!(opened.transmission(), Err(ErrorType::Block)));
    }
}
