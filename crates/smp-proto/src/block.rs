//! Transport blocks and batches (`protocol/simplex-messaging.md` § SMP Transmission and
//! transport block structure; `batchTransmissions_`, `tEncodeBatch1` and `tParse` in the
//! reference's `Protocol.hs`).
//!
//! Every block is 16,384 bytes: a two-byte length, the batch, then `#` padding. A batch is a
//! count byte (1–255) followed by each transmission with a two-byte length. From v4 every
//! block is a batch, so for v6–v9 there is no other framing.
//!
//! Packing follows the reference exactly: 19 bytes are kept free (2 for the padding length,
//! 1 for the count and 16 for a block-encryption tag of later versions), so the batch body
//! holds at most 16,365 bytes of length-prefixed transmissions, and blocks are filled from
//! the *end* of the list (the reference folds from the right), so the first block is the one
//! left partly empty.

use simplex_encoding::{pad_into, unpad, DecodeError, Large, Reader};

use crate::error::ProtoError;
use crate::transmission::RawTransmission;
use crate::version::Version;

/// The size of every transport block (`smpBlockSize`).
pub const BLOCK_SIZE: usize = 16_384;
/// Bytes kept free in a block: padding length, count, and a 16-byte tag.
const RESERVED: usize = 19;
/// Room for length-prefixed transmissions in one batch.
pub const BATCH_BODY_SIZE: usize = BLOCK_SIZE - RESERVED;
/// The longest single transmission that fits in a block.
pub const MAX_TRANSMISSION_SIZE: usize = BATCH_BODY_SIZE - 2;
/// The most transmissions one batch holds.
pub const MAX_BATCH_COUNT: usize = 255;

/// One step of a batching plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchItem {
    /// A block carrying the transmissions with these indices (consecutive, in order).
    Block(std::ops::Range<usize>),
    /// The transmission at this index is too large for any block.
    TooLarge(usize),
}

/// Plans how to send `lens` transmissions (their encoded lengths, without the two-byte
/// prefix) in as few blocks as the reference would, keeping their order.
pub fn plan_batches(lens: &[usize]) -> Vec<BatchItem> {
    // Built from the end, then reversed.
    let mut plan = Vec::new();
    let mut end = lens.len(); // current batch is (start..end)
    let mut start = end;
    let mut used = 0usize;
    for (i, &len) in lens.iter().enumerate().rev() {
        let s_len = len + 2;
        let count = end - start;
        if used + s_len <= BATCH_BODY_SIZE && count < MAX_BATCH_COUNT {
            start = i;
            used += s_len;
        } else {
            if count > 0 {
                plan.push(BatchItem::Block(start..end));
            }
            if s_len <= BATCH_BODY_SIZE {
                end = i + 1;
                start = i;
                used = s_len;
            } else {
                plan.push(BatchItem::TooLarge(i));
                end = i;
                start = i;
                used = 0;
            }
        }
    }
    if end > start {
        plan.push(BatchItem::Block(start..end));
    }
    plan.reverse();
    plan
}

/// A padded block holding `transmissions` as one batch. Fails when they do not fit or there
/// are none or more than 255.
pub fn encode_block<T: AsRef<[u8]>>(transmissions: &[T]) -> Result<Vec<u8>, ProtoError> {
    let count = u8::try_from(transmissions.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or(ProtoError::Decode(DecodeError::Invalid("batch count")))?;
    let mut batch = Vec::with_capacity(BLOCK_SIZE);
    batch.push(count);
    for t in transmissions {
        Large::encode_slice(t.as_ref(), &mut batch)?;
    }
    let mut block = Vec::with_capacity(BLOCK_SIZE);
    pad_into(&batch, BLOCK_SIZE, &mut block).map_err(|_| ProtoError::TooLarge {
        len: batch.len(),
        max: BLOCK_SIZE - 2,
    })?;
    Ok(block)
}

/// A padded block and the indices of the transmissions it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The padded 16,384-byte block.
    pub block: Vec<u8>,
    /// The indices of its transmissions.
    pub range: std::ops::Range<usize>,
}

/// A transmission that could not be sent, by index.
pub type BatchError = (usize, ProtoError);

/// Packs transmissions into blocks as the reference does ([`plan_batches`]); each result is
/// either a padded block with the range of transmissions it carries, or the index of one that
/// is too large (`TELargeMsg`).
pub fn batch_transmissions<T: AsRef<[u8]>>(transmissions: &[T]) -> Vec<Result<Batch, BatchError>> {
    let lens: Vec<usize> = transmissions.iter().map(|t| t.as_ref().len()).collect();
    plan_batches(&lens)
        .into_iter()
        .map(|item| match item {
            BatchItem::Block(range) => transmissions
                .get(range.clone())
                .ok_or((
                    range.start,
                    ProtoError::Decode(DecodeError::Invalid("batch range")),
                ))
                .and_then(|ts| encode_block(ts).map_err(|e| (range.start, e)))
                .map(|block| Batch { block, range }),
            BatchItem::TooLarge(i) => Err((
                i,
                ProtoError::TooLarge {
                    len: lens.get(i).copied().unwrap_or(0),
                    max: MAX_TRANSMISSION_SIZE,
                },
            )),
        })
        .collect()
}

/// Unpads a block and splits its batch into transmissions. A block that does not unpad, has
/// a zero count or does not split exactly is one error for the whole block (`ERR BLOCK`
/// with an empty correlation ID).
pub fn decode_block(block: &[u8]) -> Result<Vec<&[u8]>, ProtoError> {
    let batch = unpad(block)?;
    let mut r = Reader::new(batch);
    let count = r.u8()?;
    if count == 0 {
        return Err(ProtoError::Decode(DecodeError::EmptyList));
    }
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(r.large_bytes()?);
    }
    r.finish()?;
    Ok(out)
}

/// Splits a block and each of its transmissions at version `v`; one malformed transmission
/// is an error for it alone.
pub fn decode_block_transmissions(
    v: Version,
    block: &[u8],
) -> Result<Vec<Result<RawTransmission<'_>, DecodeError>>, ProtoError> {
    Ok(decode_block(block)?
        .into_iter()
        .map(|t| RawTransmission::decode(v, t))
        .collect())
}
