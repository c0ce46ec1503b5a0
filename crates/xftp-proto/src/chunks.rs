//! Chunk sizes (`Simplex/FileTransfer/Chunks.hs`, `prepareChunkSizes`, `singleChunkSize` and
//! `prepareChunkSpecs` in `Client.hs`) and the size notation of descriptions (`FileSize`'s
//! string form in `Description.hs`).

use crate::error::XftpError;

/// 64 KiB.
pub const CHUNK_SIZE_0: u32 = 64 * 1024;
/// 256 KiB.
pub const CHUNK_SIZE_1: u32 = 256 * 1024;
/// 1 MiB.
pub const CHUNK_SIZE_2: u32 = 1024 * 1024;
/// 4 MiB.
pub const CHUNK_SIZE_3: u32 = 4 * 1024 * 1024;
/// The chunk sizes a server accepts, smallest first (`serverChunkSizes`).
pub const SERVER_CHUNK_SIZES: [u32; 4] = [CHUNK_SIZE_0, CHUNK_SIZE_1, CHUNK_SIZE_2, CHUNK_SIZE_3];

/// The length of the size prefix of an encrypted file (`fileSizeLen`).
pub const FILE_SIZE_LEN: u64 = 8;
/// The length of the tag at the end of an encrypted file.
pub const AUTH_TAG_SIZE: u64 = 16;
/// The soft limit on a file's size that clients report (`maxFileSize`, 1 GiB).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024 * 1024;
/// The hard limit after which the reference agent refuses to prepare chunks (5 GiB).
pub const MAX_FILE_SIZE_HARD: u64 = 5 * 1024 * 1024 * 1024;

fn size34(size: u32) -> u64 {
    u64::from(size) * 3 / 4
}

/// The chunk sizes for `payload` bytes (the encrypted size before padding: header, content,
/// the 8-byte length and the 16-byte tag), as the reference's `prepareChunkSizes` chooses
/// them: a (small, big) pair by total size, whole big chunks, then either one more big chunk
/// (when the rest exceeds ¾ of it) or enough small ones.
pub fn prepare_chunk_sizes(payload: u64) -> Vec<u32> {
    let (small, big) = if payload > size34(CHUNK_SIZE_3) {
        (CHUNK_SIZE_2, CHUNK_SIZE_3)
    } else if payload > size34(CHUNK_SIZE_2) {
        (CHUNK_SIZE_1, CHUNK_SIZE_2)
    } else {
        (CHUNK_SIZE_0, CHUNK_SIZE_1)
    };
    let mut sizes = Vec::new();
    let big64 = u64::from(big);
    let mut rest = payload;
    if rest >= big64 {
        for _ in 0..rest / big64 {
            sizes.push(big);
        }
        rest %= big64;
    }
    if rest == 0 {
        return sizes;
    }
    if rest > size34(big) {
        sizes.push(big);
    } else {
        let small64 = u64::from(small);
        let n = rest.div_ceil(small64);
        for _ in 0..n {
            sizes.push(small);
        }
    }
    sizes
}

/// The smallest server chunk size that holds `size` bytes, if any (`singleChunkSize`).
pub fn single_chunk_size(size: u64) -> Option<u32> {
    SERVER_CHUNK_SIZES
        .iter()
        .copied()
        .find(|&s| u64::from(s) >= size)
}

/// The chunk sizes and the total encrypted size for a file whose header and content take
/// `file_size` bytes (the `xftp` client's `encryptFileForUpload`).
pub fn encrypted_file_sizes(file_size: u64) -> (Vec<u32>, u64) {
    let sizes = prepare_chunk_sizes(file_size + FILE_SIZE_LEN + AUTH_TAG_SIZE);
    let total = sizes.iter().map(|&s| u64::from(s)).sum();
    (sizes, total)
}

/// Where one chunk lies in the encrypted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpec {
    /// Its offset.
    pub offset: u64,
    /// Its size.
    pub size: u32,
}

/// Offsets for consecutive chunks of these sizes (`prepareChunkSpecs`).
pub fn prepare_chunk_specs(sizes: &[u32]) -> Vec<ChunkSpec> {
    let mut offset = 0u64;
    sizes
        .iter()
        .map(|&size| {
            let spec = ChunkSpec { offset, size };
            offset += u64::from(size);
            spec
        })
        .collect()
}

/// A size as descriptions print it: bytes, or whole `kb`, `mb` or `gb` (the largest unit
/// that divides it).
pub fn file_size_str(size: u64) -> String {
    if size % 1024 != 0 {
        return size.to_string();
    }
    let k = size / 1024;
    if k % 1024 != 0 {
        return format!("{k}kb");
    }
    let m = k / 1024;
    if m % 1024 != 0 {
        return format!("{m}mb");
    }
    format!("{}gb", m / 1024)
}

/// Parses a size in the notation of [`file_size_str`] (`26mb`, `1kb`, `500`; any multiple is
/// accepted, e.g. `2048kb`). Overflow is an error.
pub fn parse_file_size(s: &str) -> Result<u64, XftpError> {
    let bad = XftpError::Description("size");
    let (digits, mult) = if let Some(d) = s.strip_suffix("gb") {
        (d, 1u64 << 30)
    } else if let Some(d) = s.strip_suffix("mb") {
        (d, 1 << 20)
    } else if let Some(d) = s.strip_suffix("kb") {
        (d, 1 << 10)
    } else {
        (s, 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or(bad)
}
