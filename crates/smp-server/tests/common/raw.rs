//! A raw SMP connection for tests that write hand-made transmissions and read the relay's
//! blocks as they come (bad input, batching): the TLS handshake through
//! `simplex-transport`, then blocks encoded and decoded here.

use simplex_crypto::PrivateKeyEd25519;
use simplex_transport::handshake::{
    connect as raw_connect, ClientConnection, ClientTransportConfig,
};
use smp_proto::block::{decode_block, encode_block};
use smp_proto::command::Command;
use smp_proto::response::Response;
use smp_proto::transmission::{RawTransmission, TransmissionForAuth};
use smp_proto::version::Version;
use smp_proto::SmpServer;

/// One answer: correlation ID, entity ID, response.
pub type Answer = (Vec<u8>, Vec<u8>, Response);

/// Makes authorization bytes from the bytes to authorize.
pub type Authorize<'a> = dyn Fn(&[u8]) -> Vec<u8> + 'a;

/// A raw connection: hand-made transmissions out, decoded answers in.
pub struct Raw {
    pub conn: ClientConnection,
    pub v: Version,
    pub sid: Vec<u8>,
    next: u64,
}

impl Raw {
    pub async fn open(server: &SmpServer) -> Raw {
        let conn = raw_connect(
            ("127.0.0.1", server.port_or_default()),
            &server.key_hash,
            &ClientTransportConfig::default(),
            None,
        )
        .await
        .expect("handshake");
        let v = conn.session.params.version;
        let sid = conn.session.params.session_id.clone();
        Raw {
            conn,
            v,
            sid,
            next: 1,
        }
    }

    /// A fresh correlation ID.
    pub fn corr(&mut self) -> Vec<u8> {
        let mut c = vec![0u8; 24];
        c[..8].copy_from_slice(&self.next.to_be_bytes());
        self.next += 1;
        c
    }

    /// A transmission authorized with raw authorization bytes made by `auth` from the bytes
    /// to authorize (`None`: no authorization).
    pub fn tx_with(
        &self,
        corr: &[u8],
        entity: &[u8],
        cmd: &[u8],
        auth: Option<&Authorize<'_>>,
    ) -> Vec<u8> {
        let t = TransmissionForAuth::new(self.v, &self.sid, corr, entity, cmd).expect("layout");
        let a = auth.map(|f| f(t.for_auth()));
        t.encode(a.as_deref()).expect("encode")
    }

    /// A transmission of encoded command bytes, signed with an Ed25519 key (or not
    /// authorized).
    pub fn tx(
        &self,
        corr: &[u8],
        key: Option<&PrivateKeyEd25519>,
        entity: &[u8],
        cmd: &[u8],
    ) -> Vec<u8> {
        match key {
            Some(k) => self.tx_with(corr, entity, cmd, Some(&|b: &[u8]| k.sign(b).to_vec())),
            None => self.tx_with(corr, entity, cmd, None),
        }
    }

    /// [`Raw::tx`] of a command, encoded at the session's version.
    pub fn tx_cmd(
        &self,
        corr: &[u8],
        key: Option<&PrivateKeyEd25519>,
        entity: &[u8],
        cmd: &Command,
    ) -> Vec<u8> {
        self.tx(corr, key, entity, &cmd.to_bytes(self.v))
    }

    /// Writes the transmissions as one block.
    pub async fn write(&mut self, ts: &[Vec<u8>]) {
        let block = encode_block(ts).expect("fits one block");
        self.conn.writer.write_raw(&block).await.expect("write");
    }

    /// Writes `ts` as one block and returns the transmissions of the next block read.
    pub async fn round(&mut self, ts: &[Vec<u8>]) -> Vec<Answer> {
        self.write(ts).await;
        self.read().await
    }

    /// The transmissions of the next block read (a batch in the reference's format).
    pub async fn read(&mut self) -> Vec<Answer> {
        let block = self.conn.reader.read_raw().await.expect("read").to_vec();
        decode_block(&block)
            .expect("a batch in the reference's format")
            .into_iter()
            .map(|t| {
                let raw = RawTransmission::decode(self.v, t).expect("server transmission");
                let resp = Response::decode(self.v, raw.command).expect("server response");
                (raw.corr_id.to_vec(), raw.entity_id.to_vec(), resp)
            })
            .collect()
    }
}
