//! Receiving a file (`xftp recv`, `Client/Main.hs` `cliReceiveFile`): every chunk is
//! downloaded from its first working replica, several at a time, decrypted from the
//! transfer encryption and checked against its digest; then the chunks together are checked
//! against the file's digest and decrypted to the file named in their header.
//!
//! Resumable: chunks are kept in a work directory inside the destination until the file is
//! whole, with a state file listing the finished ones; a run that was killed continues with
//! the chunks still missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use simplex_crypto::Sha512Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use xftp_proto::{FileChunk, FileDecryptor, FileDescription, FileParty};

use crate::client::ClientConfig;
use crate::error::ClientError;
use crate::pool::{load_json, save_json, Pool};
use crate::upload::Progress;

/// How to receive.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Chunks in flight at once.
    pub parallel: usize,
    /// Retries of a chunk after network errors.
    pub retries: usize,
    /// Connection settings.
    pub config: ClientConfig,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            parallel: 4,
            retries: 3,
            config: ClientConfig::default(),
        }
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct DownloadState {
    done: BTreeSet<u32>,
}

/// The work directory of receiving `desc` into `dir`.
pub fn work_dir(desc: &FileDescription, dir: &Path) -> PathBuf {
    let tag: String = desc
        .digest
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!(".xftp-recv-{tag}"))
}

/// Receives the file `desc` describes into `dir`; returns its path. `progress` is told the
/// encrypted bytes received.
pub async fn download(
    desc: &FileDescription,
    dir: &Path,
    opts: &DownloadOptions,
    progress: Option<Progress>,
) -> Result<PathBuf, ClientError> {
    check(desc)?;
    let Some(redirect) = &desc.redirect else {
        return download_to(desc, dir, dir, opts, progress).await;
    };
    // A redirect: the described file is the real file's description (`direct.yaml`), which
    // must match the size and digest the redirect announced, and may not redirect again.
    let holder = work_dir(desc, dir).with_extension("redirect");
    std::fs::create_dir_all(&holder)?;
    let yaml_path = download_to(desc, dir, &holder, opts, progress.clone()).await?;
    let yaml = std::fs::read_to_string(&yaml_path);
    let _ = std::fs::remove_dir_all(&holder);
    let inner = FileDescription::from_yaml(&yaml?)
        .map_err(|e| ClientError::Invalid(format!("redirect: invalid file description: {e}")))?;
    check(&inner)?;
    if inner.redirect.is_some() {
        return Err(ClientError::Invalid("redirect chain too long".into()));
    }
    if inner.size != redirect.size || inner.digest != redirect.digest {
        return Err(ClientError::Integrity(
            "the redirected description does not match the redirect",
        ));
    }
    download_to(&inner, dir, dir, opts, progress).await
}

fn check(desc: &FileDescription) -> Result<(), ClientError> {
    if desc.party != FileParty::Recipient {
        return Err(ClientError::Invalid(
            "this is the sender's description, not a recipient's".into(),
        ));
    }
    desc.validate()
        .map_err(|e| ClientError::Invalid(e.to_string()))
}

/// Downloads `desc`'s chunks into its work directory in `dir` and decrypts the file into
/// `out`.
async fn download_to(
    desc: &FileDescription,
    dir: &Path,
    out: &Path,
    opts: &DownloadOptions,
    progress: Option<Progress>,
) -> Result<PathBuf, ClientError> {
    let work = work_dir(desc, dir);
    std::fs::create_dir_all(&work)?;
    let state_path = work.join("state.json");
    let mut state: DownloadState = load_json(&state_path).unwrap_or_default();
    // A chunk counts as done only if its file is there, whole.
    state.done.retain(|no| {
        desc.chunks.iter().any(|c| {
            c.chunk_no == *no
                && std::fs::metadata(work.join(no.to_string()))
                    .is_ok_and(|m| m.len() == u64::from(c.chunk_size))
        })
    });
    let total = desc.size;
    let done: u64 = desc
        .chunks
        .iter()
        .filter(|c| state.done.contains(&c.chunk_no))
        .map(|c| u64::from(c.chunk_size))
        .sum();
    if let Some(p) = &progress {
        p(done, total);
    }
    let pending: Vec<FileChunk> = desc
        .chunks
        .iter()
        .filter(|c| !state.done.contains(&c.chunk_no))
        .cloned()
        .collect();
    let state = Arc::new(Mutex::new(state));
    let pool = Arc::new(Pool::new(opts.config.clone()));
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.parallel.max(1)));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(done));
    let mut tasks = JoinSet::new();
    for chunk in pending {
        let (pool, state, sem, done, progress) = (
            pool.clone(),
            state.clone(),
            sem.clone(),
            done.clone(),
            progress.clone(),
        );
        let (work, state_path, retries) = (work.clone(), state_path.clone(), opts.retries);
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            download_chunk(&pool, &chunk, &work, retries).await?;
            {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.done.insert(chunk.chunk_no);
                save_json(&state_path, &*st)?;
            }
            let size = u64::from(chunk.chunk_size);
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
            Err(e) => return Err(ClientError::Invalid(format!("download task failed: {e}"))),
        }
    }
    let decrypted = decrypt_chunks(desc, &work, out).await;
    if matches!(decrypted, Ok(_) | Err(ClientError::Integrity(_))) {
        // Done, or chunks that do not make the file: either way a next run starts afresh.
        let _ = std::fs::remove_dir_all(&work);
    }
    decrypted
}

async fn download_chunk(
    pool: &Pool,
    chunk: &FileChunk,
    work: &Path,
    retries: usize,
) -> Result<(), ClientError> {
    let part = work.join(format!("{}.part", chunk.chunk_no));
    let mut last = ClientError::Invalid("the chunk has no replicas".into());
    for r in &chunk.replicas {
        let got = pool
            .with_retries(&r.server, retries, |c| {
                let part = part.clone();
                async move {
                    c.download_chunk(
                        &r.replica_key,
                        &r.replica_id,
                        &part,
                        chunk.chunk_size,
                        Some(&chunk.digest),
                    )
                    .await
                }
            })
            .await;
        match got {
            Ok(()) => {
                std::fs::rename(&part, work.join(chunk.chunk_no.to_string()))?;
                return Ok(());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A path in `dir` for `name` (without any directory in it), made unique with `_1`, `_2`, …
/// before its extensions when taken (the reference's `uniqueCombine`).
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "file".into());
    let candidate = dir.join(&base);
    if !candidate.exists() {
        return candidate;
    }
    // All extensions, as `splitExtensions`: `a.tar.gz` becomes `a_1.tar.gz`, `.hidden`
    // becomes `_1.hidden`.
    let (stem, ext) = match base.find('.') {
        Some(i) => base.split_at(i),
        None => (base.as_str(), ""),
    };
    (1..)
        .map(|i| dir.join(format!("{stem}_{i}{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(candidate)
}

async fn decrypt_chunks(
    desc: &FileDescription,
    work: &Path,
    dir: &Path,
) -> Result<PathBuf, ClientError> {
    let mut hash = Sha512Stream::new();
    for c in &desc.chunks {
        let mut f = tokio::fs::File::open(work.join(c.chunk_no.to_string())).await?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hash.update(buf.get(..n).unwrap_or_default());
        }
    }
    if hash.finish().as_slice() != desc.digest.as_slice() {
        return Err(ClientError::Integrity("the file does not match its digest"));
    }
    let tmp = work.join("file");
    let out = tokio::fs::File::create(&tmp).await?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 16, out);
    let mut dec = FileDecryptor::new(&desc.key, &desc.nonce, desc.size)
        .map_err(|_| ClientError::Integrity("the file is too small"))?;
    let mut plain = Vec::with_capacity(1 << 16);
    for c in &desc.chunks {
        let mut f = tokio::fs::File::open(work.join(c.chunk_no.to_string())).await?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            plain.clear();
            dec.push(buf.get(..n).unwrap_or_default(), &mut plain)
                .map_err(|_| ClientError::Integrity("the file did not decrypt"))?;
            out.write_all(&plain).await?;
        }
    }
    let header = dec
        .finish()
        .map_err(|_| ClientError::Integrity("the file did not decrypt"))?;
    out.flush().await?;
    out.get_ref().sync_all().await?;
    drop(out);
    let dest = unique_path(dir, &header.file_name);
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}

/// Acknowledges every chunk of a received file (`FACK`; the apps do not send it).
pub async fn ack(desc: &FileDescription, config: &ClientConfig) -> Result<(), ClientError> {
    let pool = Pool::new(config.clone());
    for c in &desc.chunks {
        if let Some(r) = c.replicas.first() {
            pool.get(&r.server)
                .await?
                .ack_chunk(&r.replica_key, &r.replica_id)
                .await?;
        }
    }
    Ok(())
}

/// Deletes a sent file from its relays (`FDEL` with the sender's description).
pub async fn delete(desc: &FileDescription, config: &ClientConfig) -> Result<(), ClientError> {
    if desc.party != FileParty::Sender {
        return Err(ClientError::Invalid(
            "deleting needs the sender's description".into(),
        ));
    }
    let pool = Pool::new(config.clone());
    for c in &desc.chunks {
        for r in &c.replicas {
            pool.get(&r.server)
                .await?
                .delete_chunk(&r.replica_key, &r.replica_id)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_names_stay_in_the_directory_and_do_not_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        assert_eq!(unique_path(d, "../../etc/passwd"), d.join("passwd"));
        assert_eq!(unique_path(d, "/abs/name.txt"), d.join("name.txt"));
        assert_eq!(unique_path(d, ".."), d.join("file"));
        assert_eq!(unique_path(d, ""), d.join("file"));
        std::fs::write(d.join("a.tar.gz"), b"x").expect("write");
        assert_eq!(unique_path(d, "a.tar.gz"), d.join("a_1.tar.gz"));
        std::fs::write(d.join("a_1.tar.gz"), b"x").expect("write");
        assert_eq!(unique_path(d, "a.tar.gz"), d.join("a_2.tar.gz"));
        std::fs::write(d.join(".hidden"), b"x").expect("write");
        assert_eq!(unique_path(d, ".hidden"), d.join("_1.hidden"));
    }
}
