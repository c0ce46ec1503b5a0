//! One command after the handshake (`processRequest`, `verifyXFTPTransmission` and
//! `processXFTPRequest` in the reference's `Server.hs`): the block is decoded, the
//! authorization verified against the chunk's key (a missing chunk costs a verification
//! with a dummy key and answers `AUTH`, exactly as a wrong key), then the command runs.

use std::path::PathBuf;

use rand::RngCore;
use simplex_crypto::nacl::{cb_verify, CbAuthenticator, CbKey, CbNonce};
use simplex_crypto::{
    dh_x25519, verify, PrivateKeyX25519, PublicAuthKey, PublicKeyEd25519, PublicKeyX25519,
    PublicSignKey, Sha256Stream,
};
use simplex_encoding::{Decode, Reader, ShortBytes};
use simplex_transport::http2::Body;
use smp_proto::transmission::Authorization;
use smp_proto::BlockingInfo;
use tokio::io::AsyncWriteExt;
use xftp_proto::transmission::{decode_server_block, encode_response_block};
use xftp_proto::{FileCommand, FileInfo, FileResponse, Version, XftpErrorType, XFTP_BLOCK_SIZE};

use crate::config::FILE_ID_SIZE;
use crate::relay::Relay;
use crate::stats::Stats;
use crate::store::FileStatus;
use crate::store_log::LogRecord;

/// The session a command arrives on.
#[derive(Debug)]
pub struct Params {
    /// `tls-unique` of the connection.
    pub session_id: Vec<u8>,
    /// The negotiated version (1 without a handshake).
    pub version: Version,
    /// The server's session DH key (after a handshake), for X25519 authenticators.
    pub server_dh: Option<PrivateKeyX25519>,
}

/// A chunk body to send after the response block (`FGET`).
#[derive(Debug)]
pub struct FileBody {
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub size: u32,
    /// The transfer key (DH of the recipient's and the server's keys).
    pub key: CbKey,
    /// The nonce sent in `FILE`.
    pub nonce: CbNonce,
}

/// Ed25519's base point: verified against when there is no key, so that `AUTH` costs the
/// same whether or not the chunk exists.
const DUMMY_ED25519: [u8; 32] = [
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
];

fn verify_auth(
    key: Option<&PublicAuthKey>,
    auth: Option<&Authorization>,
    msg: &[u8],
    corr_id: &[u8],
    server_dh: Option<&PrivateKeyX25519>,
) -> bool {
    match auth {
        None => false,
        Some(Authorization::Signature(sig)) => match key.and_then(PublicAuthKey::as_sign_key) {
            Some(k) => verify(&k, sig, msg),
            None => {
                if let Ok(k) = PublicKeyEd25519::from_raw(&DUMMY_ED25519) {
                    let _ = verify(&PublicSignKey::Ed25519(k), sig, msg);
                }
                false
            }
        },
        Some(Authorization::Authenticator(a)) => {
            let Some(srv) = server_dh else {
                return false;
            };
            // The reference's `cbNonce`: the correlation ID cut or zero-padded to 24 bytes.
            let nonce = CbNonce::from_bytes_lenient(corr_id);
            let auth = CbAuthenticator(*a);
            match key {
                Some(PublicAuthKey::X25519(k)) => cb_verify(k, srv, &nonce, &auth, msg),
                _ => {
                    let mut base = [0u8; 32];
                    base[0] = 9;
                    if let Ok(dummy) = PublicKeyX25519::from_raw(&base) {
                        let _ = cb_verify(&dummy, srv, &nonce, &auth, msg);
                    }
                    false
                }
            }
        }
    }
}

/// A verified command on an existing chunk: its sender ID and the ID the command named.
struct Target {
    sender_id: Vec<u8>,
    entity_id: Vec<u8>,
}

fn random_id() -> Vec<u8> {
    let mut id = vec![0u8; FILE_ID_SIZE];
    rand::rngs::OsRng.fill_bytes(&mut id);
    id
}

/// Handles one command block: the response block and, for `FGET`, the body to send after.
pub async fn process(
    relay: &Relay,
    params: &Params,
    head: &[u8],
    body: &mut Body,
) -> (Vec<u8>, Option<FileBody>) {
    let v = params.version;
    let respond = |corr: &[u8], ent: &[u8], resp: &FileResponse| {
        encode_response_block(v, &params.session_id, corr, ent, resp)
            .or_else(|_| {
                let err = FileResponse::Err(XftpErrorType::Internal);
                encode_response_block(v, &params.session_id, corr, ent, &err)
            })
            .unwrap_or_default()
    };
    if head.len() != XFTP_BLOCK_SIZE {
        return (
            respond(b"", b"", &FileResponse::Err(XftpErrorType::Block)),
            None,
        );
    }
    let t = match decode_server_block(v, &params.session_id, head) {
        Ok(t) => t,
        Err(e) => {
            let resp = FileResponse::Err(e.error);
            return (respond(&e.corr_id, &e.entity_id, &resp), None);
        }
    };
    let corr_id = t.raw.corr_id.to_vec();
    let entity_id = t.raw.entity_id.to_vec();
    let auth = t.authorization.as_ref();
    let msg = t.raw.signed_body();
    let dh = params.server_dh.as_ref();
    let (resp, file) = match &t.command {
        FileCommand::Ping => (FileResponse::Pong, None),
        FileCommand::New {
            file,
            rcv_keys,
            auth: password,
        } => {
            if verify_auth(Some(&file.snd_key), auth, msg, &corr_id, dh) {
                (create_file(relay, file, rcv_keys, password.as_ref()), None)
            } else {
                (FileResponse::Err(XftpErrorType::Auth), None)
            }
        }
        cmd => {
            let found = relay
                .store()
                .get(cmd.party(), &entity_id)
                .map(|(f, k)| (f.status.clone(), k, f.sender_id.clone()));
            let checked = match found {
                Some((FileStatus::Active, k, sender_id)) => {
                    if verify_auth(Some(&k), auth, msg, &corr_id, dh) {
                        Ok(Target {
                            sender_id,
                            entity_id: entity_id.clone(),
                        })
                    } else {
                        Err(XftpErrorType::Auth)
                    }
                }
                Some((FileStatus::Blocked(info), _, _)) => {
                    let mut r = Reader::new(info.as_bytes());
                    Err(BlockingInfo::decode(&mut r)
                        .map(XftpErrorType::Blocked)
                        .unwrap_or(XftpErrorType::Auth))
                }
                Some((FileStatus::Off, _, _)) | None => {
                    verify_auth(None, auth, msg, &corr_id, dh);
                    Err(XftpErrorType::Auth)
                }
            };
            match checked {
                Err(e) => (FileResponse::Err(e), None),
                Ok(target) => file_command(relay, cmd, target, body).await,
            }
        }
    };
    (respond(&corr_id, &entity_id, &resp), file)
}

fn add_recipients(
    relay: &Relay,
    sender_id: &[u8],
    keys: &[PublicAuthKey],
) -> Result<Vec<ShortBytes>, XftpErrorType> {
    let mut added = Vec::with_capacity(keys.len());
    for k in keys {
        let mut tries = 0;
        let rid = loop {
            tries += 1;
            let rid = random_id();
            match relay.store().add_recipient(sender_id, &rid, k.clone()) {
                Ok(()) => break rid,
                Err(XftpErrorType::Duplicate) if tries < 3 => continue,
                Err(XftpErrorType::Duplicate) => return Err(XftpErrorType::Internal),
                Err(e) => return Err(e),
            }
        };
        added.push((rid, k.clone()));
    }
    relay.log(&LogRecord::AddRecipients(sender_id.to_vec(), added.clone()));
    Stats::add(&relay.stats.file_recipients, keys.len() as i64);
    added
        .into_iter()
        .map(|(r, _)| ShortBytes::from_slice(&r).map_err(|_| XftpErrorType::Internal))
        .collect()
}

fn create_file(
    relay: &Relay,
    file: &FileInfo,
    rcv_keys: &[PublicAuthKey],
    password: Option<&smp_proto::BasicAuth>,
) -> FileResponse {
    let cfg = &relay.cfg;
    let allowed = cfg.allow_new_files
        && cfg
            .create_password
            .as_ref()
            .is_none_or(|p| Some(p) == password);
    if !allowed {
        return FileResponse::Err(XftpErrorType::Auth);
    }
    if !cfg.chunk_sizes.contains(&file.size) {
        return FileResponse::Err(XftpErrorType::Size);
    }
    let created_at = relay.file_time();
    let mut tries = 0;
    let sid = loop {
        tries += 1;
        let sid = random_id();
        let added = relay
            .store()
            .add_file(&sid, file.clone(), created_at, FileStatus::Active);
        match added {
            Ok(()) => break sid,
            Err(XftpErrorType::Duplicate) if tries < 3 => continue,
            Err(_) => return FileResponse::Err(XftpErrorType::Internal),
        }
    };
    relay.log(&LogRecord::AddFile {
        sender_id: sid.clone(),
        info: file.clone(),
        created_at,
        status: FileStatus::Active,
    });
    Stats::add(&relay.stats.files_created, 1);
    match add_recipients(relay, &sid, rcv_keys) {
        Ok(recipient_ids) => match ShortBytes::from_slice(&sid) {
            Ok(sender_id) => FileResponse::SndIds {
                sender_id,
                recipient_ids,
            },
            Err(_) => FileResponse::Err(XftpErrorType::Internal),
        },
        Err(e) => FileResponse::Err(e),
    }
}

async fn file_command(
    relay: &Relay,
    cmd: &FileCommand,
    target: Target,
    body: &mut Body,
) -> (FileResponse, Option<FileBody>) {
    let sid = &target.sender_id;
    match cmd {
        FileCommand::Add { rcv_keys } => match add_recipients(relay, sid, rcv_keys) {
            Ok(ids) => (FileResponse::RcvIds(ids), None),
            Err(e) => (FileResponse::Err(e), None),
        },
        FileCommand::Put => (receive_chunk(relay, sid, body).await, None),
        FileCommand::Del => (delete_file(relay, sid), None),
        FileCommand::Get { rcv_dh_key } => send_file(relay, sid, rcv_dh_key),
        FileCommand::Ack => {
            relay.log(&LogRecord::AckFile(target.entity_id.clone()));
            let _ = relay.store().ack_file(&target.entity_id);
            Stats::add(&relay.stats.file_download_acks, 1);
            (FileResponse::Ok, None)
        }
        // Handled before the chunk is looked up.
        FileCommand::New { .. } | FileCommand::Ping => {
            (FileResponse::Err(XftpErrorType::Internal), None)
        }
    }
}

/// Deletes a chunk and its body (`FDEL`, and the control port's `delete`).
pub(crate) fn delete_file(relay: &Relay, sid: &[u8]) -> FileResponse {
    relay.log(&LogRecord::DeleteFile(sid.to_vec()));
    let path = relay.store().file(sid).and_then(|f| f.path.clone());
    if let Some(p) = &path {
        if p.exists() {
            if std::fs::remove_file(p).is_err() {
                return FileResponse::Err(XftpErrorType::FileIo);
            }
            if let Some(f) = relay.store().file(sid) {
                Stats::add(&relay.stats.files_count, -1);
                Stats::add(&relay.stats.files_size, -i64::from(f.info.size));
            }
        }
    }
    match relay.store().delete_file(sid) {
        Ok(_) => {
            Stats::add(&relay.stats.files_deleted, 1);
            FileResponse::Ok
        }
        Err(e) => FileResponse::Err(e),
    }
}

fn send_file(
    relay: &Relay,
    sid: &[u8],
    rcv_dh_key: &PublicKeyX25519,
) -> (FileResponse, Option<FileBody>) {
    let Some((path, size)) = relay
        .store()
        .file(sid)
        .and_then(|f| f.path.clone().map(|p| (p, f.info.size)))
    else {
        return (FileResponse::Err(XftpErrorType::NoFile), None);
    };
    if !path.exists() {
        return (FileResponse::Err(XftpErrorType::Auth), None);
    }
    let server_key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
    let key = CbKey::from_dh(&dh_x25519(rcv_dh_key, &server_key));
    let nonce = CbNonce::random(&mut rand::rngs::OsRng);
    Stats::add(&relay.stats.file_downloads, 1);
    let resp = FileResponse::File {
        srv_dh_key: server_key.public_key(),
        nonce,
    };
    (
        resp,
        Some(FileBody {
            path,
            size,
            key,
            nonce,
        }),
    )
}

/// Receives an `FPUT` body (`receiveServerFile`).
async fn receive_chunk(relay: &Relay, sid: &[u8], body: &mut Body) -> FileResponse {
    let Some((size, digest, committed)) = relay
        .store()
        .file(sid)
        .map(|f| (f.info.size, f.info.digest.clone(), f.path.is_some()))
    else {
        return FileResponse::Err(XftpErrorType::Auth);
    };
    if body.at_end().await.unwrap_or(true) {
        return FileResponse::Err(XftpErrorType::Size);
    }
    if committed {
        // Already uploaded: the body is read (the client blocks until it is sent) and its
        // size checked, and nothing changes.
        return match drain(body, u64::from(size)).await {
            Ok(n) if n == u64::from(size) => FileResponse::Ok,
            Ok(_) => FileResponse::Err(XftpErrorType::Size),
            Err(e) => FileResponse::Err(e),
        };
    }
    if !relay.store().reserve(u64::from(size), relay.cfg.quota) {
        return FileResponse::Err(XftpErrorType::Quota);
    }
    let path = relay
        .cfg
        .files_path
        .join(simplex_encoding::string::base64url_encode(sid));
    let received = tokio::time::timeout(
        relay.cfg.file_timeout,
        write_chunk(&path, size, digest.as_slice(), body),
    )
    .await
    .unwrap_or(Err(XftpErrorType::Timeout));
    let committed = received.and_then(|()| relay.store().set_path(sid, path.clone()));
    match committed {
        Ok(()) => {
            relay.log(&LogRecord::PutFile(sid.to_vec(), path));
            Stats::add(&relay.stats.files_uploaded, 1);
            Stats::add(&relay.stats.files_count, 1);
            Stats::add(&relay.stats.files_size, i64::from(size));
            FileResponse::Ok
        }
        Err(e) => {
            relay.store().release(u64::from(size));
            let _ = tokio::fs::remove_file(&path).await;
            FileResponse::Err(e)
        }
    }
}

/// Reads up to `limit + 1` bytes of the body and drops them; returns the count (more than
/// `limit` means too much was sent).
async fn drain(body: &mut Body, limit: u64) -> Result<u64, XftpErrorType> {
    let mut n = 0u64;
    while n <= limit {
        let want = usize::try_from(limit + 1 - n)
            .unwrap_or(usize::MAX)
            .min(1 << 16);
        let piece = body.read(want).await.map_err(|_| XftpErrorType::Timeout)?;
        if piece.is_empty() {
            break;
        }
        n += piece.len() as u64;
    }
    Ok(n)
}

async fn write_chunk(
    path: &std::path::Path,
    size: u32,
    digest: &[u8],
    body: &mut Body,
) -> Result<(), XftpErrorType> {
    let io = |_| XftpErrorType::FileIo;
    let file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 16, file);
    let mut hash = Sha256Stream::new();
    let limit = u64::from(size);
    let mut n = 0u64;
    while n <= limit {
        let want = usize::try_from(limit + 1 - n)
            .unwrap_or(usize::MAX)
            .min(1 << 16);
        let piece = body.read(want).await.map_err(|_| XftpErrorType::Timeout)?;
        if piece.is_empty() {
            break;
        }
        n += piece.len() as u64;
        if n > limit {
            return Err(XftpErrorType::Size);
        }
        hash.update(&piece);
        file.write_all(&piece).await.map_err(io)?;
    }
    if n != limit {
        return Err(XftpErrorType::Size);
    }
    file.flush().await.map_err(io)?;
    file.get_ref().sync_data().await.map_err(io)?;
    if hash.finish().as_slice() != digest {
        return Err(XftpErrorType::Digest);
    }
    Ok(())
}
