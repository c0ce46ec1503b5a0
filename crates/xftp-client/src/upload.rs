//! Sending a file (`xftp send`, `Client/Main.hs` `cliSendFileOpts`): the file is encrypted
//! once to a work file (random key and nonce, its name in the header, padded to the chunk
//! sizes the reference chooses), each chunk registered (`FNEW`, with one key per recipient)
//! and uploaded (`FPUT`) to one of the relays in turn, several at a time; the result is one
//! description per recipient and one for the sender (to delete the file).
//!
//! Resumable: the keys, IDs and progress are saved to a state file beside the work file
//! after every step, so a run that was killed continues with the chunks not yet uploaded
//! (an `FPUT` repeated on a chunk the relay already has is answered `OK` unchanged).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use simplex_crypto::nacl::{CbNonce, SbKey};
use simplex_crypto::{PrivateAuthKey, PrivateKeyEd25519, Sha256Stream, Sha512Stream};
use simplex_encoding::ShortBytes;
use smp_proto::BasicAuth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use xftp_proto::chunks::encrypted_file_sizes;
use xftp_proto::{
    prepare_chunk_specs, FileChunk, FileChunkReplica, FileDescription, FileEncryptor, FileHeader,
    FileInfo, FileParty, XftpServer,
};

use crate::client::{ChunkBody, ClientConfig};
use crate::error::ClientError;
use crate::pool::{b64, b64_list, load_json, save_json, Pool};

/// Progress: (bytes done, bytes in all).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How to send.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// The relays; chunks go to them in turn.
    pub servers: Vec<XftpServer>,
    /// The number of recipients (one description each).
    pub recipients: usize,
    /// Chunks in flight at once.
    pub parallel: usize,
    /// Retries of a chunk after network errors.
    pub retries: usize,
    /// Passwords for new files, by relay address (`xftp://<fp>:<password>@…` in the
    /// reference's notation), for the relays that need one.
    pub auth: std::collections::HashMap<String, BasicAuth>,
    /// Connection settings.
    pub config: ClientConfig,
    /// Where the encrypted work file and the state file are kept until the upload ends.
    pub work_dir: PathBuf,
}

impl UploadOptions {
    /// Sending to `servers` for `recipients` recipients, working in `work_dir`.
    pub fn new(servers: Vec<XftpServer>, recipients: usize, work_dir: PathBuf) -> Self {
        UploadOptions {
            servers,
            recipients,
            parallel: 4,
            retries: 3,
            auth: std::collections::HashMap::new(),
            config: ClientConfig::default(),
            work_dir,
        }
    }
}

/// What an upload made.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The sender's description (to delete the file).
    pub sender: FileDescription,
    /// One description per recipient.
    pub recipients: Vec<FileDescription>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChunkState {
    no: u32,
    offset: u64,
    size: u32,
    #[serde(with = "b64")]
    digest: Vec<u8>,
    server: String,
    #[serde(with = "b64")]
    sender_key: Vec<u8>,
    #[serde(with = "b64_list")]
    rcv_keys: Vec<Vec<u8>>,
    #[serde(with = "b64")]
    sender_id: Vec<u8>,
    #[serde(with = "b64_list")]
    recipient_ids: Vec<Vec<u8>>,
    uploaded: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadState {
    file_name: String,
    file_size: u64,
    #[serde(default)]
    modified: u128,
    recipients: usize,
    #[serde(with = "b64")]
    key: Vec<u8>,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
    enc_size: u64,
    #[serde(with = "b64")]
    digest: Vec<u8>,
    chunks: Vec<ChunkState>,
}

fn new_key() -> PrivateAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut rand::rngs::OsRng))
}

fn auth_key(der: &[u8]) -> Result<PrivateAuthKey, ClientError> {
    PrivateAuthKey::from_der(der).map_err(|_| ClientError::Invalid("state: bad key".into()))
}

fn server_of(s: &str) -> Result<XftpServer, ClientError> {
    XftpServer::parse_str(s.as_bytes())
        .map_err(|_| ClientError::Invalid(format!("bad relay address: {s}")))
}

/// Encrypts `file` to `enc_path`; returns the state with every chunk's place, digest, relay
/// and keys (no IDs yet).
async fn encrypt(
    file: &Path,
    enc_path: &Path,
    name: &str,
    opts: &UploadOptions,
) -> Result<UploadState, ClientError> {
    let mut input = tokio::fs::File::open(file).await?;
    let file_size = input.metadata().await?.len();
    let key = SbKey::random(&mut rand::rngs::OsRng);
    let nonce = CbNonce::random(&mut rand::rngs::OsRng);
    let header = FileHeader {
        file_name: name.to_owned(),
        file_extra: None,
    };
    let header_len = header
        .encode()
        .map_err(|_| ClientError::Invalid("the file name is too long".into()))?
        .len() as u64;
    let (sizes, enc_size) = encrypted_file_sizes(header_len + file_size);
    let specs = prepare_chunk_specs(&sizes);
    let out = tokio::fs::File::create(enc_path).await?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 16, out);
    let mut file_hash = Sha512Stream::new();
    let mut chunk_hashes: Vec<[u8; 32]> = Vec::with_capacity(specs.len());
    let mut chunk_hash = Sha256Stream::new();
    let mut chunk_left = specs.first().map_or(0, |s| u64::from(s.size));
    let mut next_chunk = 1;
    let mut enc = Vec::with_capacity(1 << 17);
    let mut emit = |bytes: &[u8], out_hashes: &mut Vec<[u8; 32]>| {
        file_hash.update(bytes);
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = usize::try_from(chunk_left)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let (now, later) = rest.split_at(n);
            chunk_hash.update(now);
            chunk_left -= n as u64;
            rest = later;
            if chunk_left == 0 {
                out_hashes.push(std::mem::take(&mut chunk_hash).finish());
                chunk_left = specs.get(next_chunk).map_or(0, |s| u64::from(s.size));
                next_chunk += 1;
                if chunk_left == 0 {
                    break;
                }
            }
        }
    };
    let mut encryptor = FileEncryptor::new(&key, &nonce, &header, file_size, enc_size, &mut enc)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        emit(&enc, &mut chunk_hashes);
        out.write_all(&enc).await?;
        enc.clear();
        let n = input.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let piece = buf.get(..n).unwrap_or_default();
        encryptor
            .push(piece, &mut enc)
            .map_err(|_| ClientError::Invalid("the file changed while it was read".into()))?;
    }
    encryptor
        .finish(&mut enc)
        .map_err(|_| ClientError::Invalid("the file changed while it was read".into()))?;
    emit(&enc, &mut chunk_hashes);
    out.write_all(&enc).await?;
    out.flush().await?;
    let digest = file_hash.finish().to_vec();
    let chunks = chunk_states(&specs, &chunk_hashes, opts)?;
    Ok(UploadState {
        file_name: name.to_owned(),
        file_size,
        modified: 0,
        recipients: opts.recipients,
        key: key.0.to_vec(),
        nonce: nonce.as_bytes().to_vec(),
        enc_size,
        digest,
        chunks,
    })
}

/// Each chunk's place, digest, relay (the relays in turn) and fresh keys.
fn chunk_states(
    specs: &[xftp_proto::ChunkSpec],
    hashes: &[[u8; 32]],
    opts: &UploadOptions,
) -> Result<Vec<ChunkState>, ClientError> {
    let n_servers = opts.servers.len().max(1);
    let mut chunks = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let server = opts
            .servers
            .get(i % n_servers)
            .ok_or_else(|| ClientError::Invalid("no relays given".into()))?;
        chunks.push(ChunkState {
            no: u32::try_from(i + 1).unwrap_or(u32::MAX),
            offset: spec.offset,
            size: spec.size,
            digest: hashes.get(i).map(|h| h.to_vec()).unwrap_or_default(),
            server: server.to_string(),
            sender_key: new_key().to_der().to_vec(),
            rcv_keys: (0..opts.recipients)
                .map(|_| new_key().to_der().to_vec())
                .collect(),
            sender_id: Vec::new(),
            recipient_ids: Vec::new(),
            uploaded: false,
        });
    }
    Ok(chunks)
}

/// The work file and state file of sending `file`: named by the file's name and a hash of
/// its full path, so that files of the same name in different places do not meet.
pub fn work_paths(file: &Path, work_dir: &Path) -> (PathBuf, PathBuf) {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let full = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let tag: String = simplex_crypto::sha256(full.as_os_str().as_encoded_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    (
        work_dir.join(format!("{name}.{tag}.xftp-send.enc")),
        work_dir.join(format!("{name}.{tag}.xftp-send.json")),
    )
}

/// The file's modification time in nanoseconds (0 when unknown).
fn modified(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// Sends `file`; `progress` is told the encrypted bytes uploaded.
pub async fn upload(
    file: &Path,
    opts: &UploadOptions,
    progress: Option<Progress>,
) -> Result<Uploaded, ClientError> {
    if opts.servers.is_empty() || opts.recipients == 0 {
        return Err(ClientError::Invalid(
            "need at least one relay and one recipient".into(),
        ));
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| ClientError::Invalid("not a file name".into()))?;
    std::fs::create_dir_all(&opts.work_dir)?;
    let (enc_path, state_path) = work_paths(file, &opts.work_dir);
    let meta = std::fs::metadata(file)?;
    let (file_size, mtime) = (meta.len(), modified(&meta));
    if file_size > xftp_proto::chunks::MAX_FILE_SIZE {
        return Err(ClientError::Invalid(format!(
            "Files bigger than {} are not supported",
            xftp_proto::file_size_str(xftp_proto::chunks::MAX_FILE_SIZE)
        )));
    }
    let servers: Vec<String> = opts.servers.iter().map(|s| s.to_string()).collect();
    // A saved state is used only for the same file, recipients and relays.
    let resumed = load_json::<UploadState>(&state_path).filter(|s| {
        s.file_name == name
            && s.file_size == file_size
            && s.modified == mtime
            && s.recipients == opts.recipients
            && s.chunks.iter().all(|c| servers.contains(&c.server))
            && std::fs::metadata(&enc_path).is_ok_and(|m| m.len() == s.enc_size)
    });
    let state = match resumed {
        Some(s) => s,
        None => {
            let mut s = encrypt(file, &enc_path, &name, opts).await?;
            s.modified = mtime;
            save_json(&state_path, &s)?;
            s
        }
    };
    let total = state.enc_size;
    let done: u64 = state
        .chunks
        .iter()
        .filter(|c| c.uploaded)
        .map(|c| u64::from(c.size))
        .sum();
    if let Some(p) = &progress {
        p(done, total);
    }
    let state = Arc::new(Mutex::new(state));
    let pool = Arc::new(Pool::new(opts.config.clone()));
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.parallel.max(1)));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(done));
    let pending: Vec<ChunkState> = lock(&state)
        .chunks
        .iter()
        .filter(|c| !c.uploaded)
        .cloned()
        .collect();
    let mut tasks = JoinSet::new();
    for chunk in pending {
        let ctx = ChunkTask {
            pool: pool.clone(),
            state: state.clone(),
            state_path: state_path.clone(),
            enc_path: enc_path.clone(),
            auth: opts.auth.get(&chunk.server).cloned(),
            retries: opts.retries,
        };
        let sem = sem.clone();
        let done = done.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let size = u64::from(chunk.size);
            ctx.run(chunk).await?;
            let now = done.fetch_add(size, std::sync::atomic::Ordering::Relaxed) + size;
            if let Some(p) = &progress {
                p(now, total);
            }
            Ok::<(), ClientError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(ClientError::Invalid(format!("upload task failed: {e}"))),
        }
    }
    let state = lock(&state).clone();
    let result = descriptions(&state)?;
    let _ = std::fs::remove_file(&enc_path);
    let _ = std::fs::remove_file(&state_path);
    Ok(result)
}

fn lock(state: &Mutex<UploadState>) -> std::sync::MutexGuard<'_, UploadState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

struct ChunkTask {
    pool: Arc<Pool>,
    state: Arc<Mutex<UploadState>>,
    state_path: PathBuf,
    enc_path: PathBuf,
    auth: Option<BasicAuth>,
    retries: usize,
}

impl ChunkTask {
    fn update(&self, no: u32, f: impl FnOnce(&mut ChunkState)) -> Result<(), ClientError> {
        let mut st = lock(&self.state);
        if let Some(c) = st.chunks.iter_mut().find(|c| c.no == no) {
            f(c);
        }
        save_json(&self.state_path, &*st)
    }

    async fn run(&self, chunk: ChunkState) -> Result<(), ClientError> {
        let server = server_of(&chunk.server)?;
        let sender_key = auth_key(&chunk.sender_key)?;
        let mut sender_id = chunk.sender_id.clone();
        if sender_id.is_empty() {
            let rcv_keys = chunk
                .rcv_keys
                .iter()
                .map(|k| auth_key(k).map(|k| k.public_key()))
                .collect::<Result<Vec<_>, _>>()?;
            let info = FileInfo {
                snd_key: sender_key.public_key(),
                size: chunk.size,
                digest: ShortBytes::from_slice(&chunk.digest)
                    .map_err(|_| ClientError::Invalid("digest".into()))?,
            };
            let (sid, rids) = self
                .pool
                .with_retries(&server, self.retries, |c| {
                    let (k, i, r, a) = (
                        sender_key.clone(),
                        info.clone(),
                        rcv_keys.clone(),
                        self.auth.clone(),
                    );
                    async move { c.create_chunk(&k, i, r, a).await }
                })
                .await?;
            if rids.len() != chunk.rcv_keys.len() {
                return Err(ClientError::Response(
                    "wrong number of recipient IDs".into(),
                ));
            }
            self.update(chunk.no, |c| {
                c.sender_id = sid.clone();
                c.recipient_ids = rids;
            })?;
            sender_id = sid;
        }
        let body = ChunkBody::File {
            path: self.enc_path.clone(),
            offset: chunk.offset,
            size: chunk.size,
        };
        self.pool
            .with_retries(&server, self.retries, |c| {
                let (k, id, b) = (sender_key.clone(), sender_id.clone(), body.clone());
                async move { c.upload_chunk(&k, &id, b).await }
            })
            .await?;
        self.update(chunk.no, |c| c.uploaded = true)
    }
}

/// Picks a chunk's replica ID and key (DER) for one party.
type Pick<'a> = &'a dyn Fn(&ChunkState) -> Result<(Vec<u8>, Vec<u8>), ClientError>;

fn descriptions(state: &UploadState) -> Result<Uploaded, ClientError> {
    let key_bytes: [u8; 32] = state
        .key
        .as_slice()
        .try_into()
        .map_err(|_| ClientError::Invalid("state: key".into()))?;
    let nonce = CbNonce::from_slice(&state.nonce)
        .map_err(|_| ClientError::Invalid("state: nonce".into()))?;
    let chunk_size = state.chunks.first().map_or(0, |c| c.size);
    let describe = |party: FileParty, pick: Pick<'_>| {
        let chunks = state
            .chunks
            .iter()
            .map(|c| {
                let (id, key) = pick(c)?;
                Ok(FileChunk {
                    chunk_no: c.no,
                    chunk_size: c.size,
                    digest: c.digest.clone(),
                    replicas: vec![FileChunkReplica {
                        server: server_of(&c.server)?,
                        replica_id: id,
                        replica_key: auth_key(&key)?,
                    }],
                })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok::<FileDescription, ClientError>(FileDescription {
            party,
            size: state.enc_size,
            digest: state.digest.clone(),
            key: SbKey(key_bytes),
            nonce,
            chunk_size,
            chunks,
            redirect: None,
        })
    };
    let sender = describe(FileParty::Sender, &|c| {
        Ok((c.sender_id.clone(), c.sender_key.clone()))
    })?;
    let recipients = (0..state.recipients)
        .map(|i| {
            describe(
                FileParty::Recipient,
                &|c| match (c.recipient_ids.get(i), c.rcv_keys.get(i)) {
                    (Some(id), Some(k)) => Ok((id.clone(), k.clone())),
                    _ => Err(ClientError::Invalid("state: recipient missing".into())),
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Uploaded { sender, recipients })
}

/// Sends a description as a file of its own (`xftpSendDescription`), for descriptions too
/// long to pass on: the results describe `direct.yaml` and carry `redirect` with the size and
/// digest of the file `desc` describes, which [`crate::download`] follows.
pub async fn upload_redirect(
    desc: &FileDescription,
    opts: &UploadOptions,
    progress: Option<Progress>,
) -> Result<Uploaded, ClientError> {
    let dir = opts.work_dir.join(format!(
        "redirect-{}",
        desc.digest
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    std::fs::create_dir_all(&dir)?;
    let direct = dir.join("direct.yaml");
    std::fs::write(&direct, desc.to_yaml())?;
    let mut sent = upload(&direct, opts, progress).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(sent) = &mut sent {
        let info = xftp_proto::RedirectFileInfo {
            size: desc.size,
            digest: desc.digest.clone(),
        };
        for d in sent.recipients.iter_mut() {
            d.redirect = Some(info.clone());
        }
        sent.sender.redirect = Some(info);
    }
    sent
}
