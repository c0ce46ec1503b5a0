//! A few reusable 16 KiB block buffers per thread.
//!
//! Every block read or written needs one or two 16,384-byte buffers (the bytes on the wire
//! and, in an encrypted session, the plaintext). Allocating them per block showed as the
//! `malloc`/`free` share of the relay's profile; keeping them per connection would make every
//! idle connection hold them. A connection takes buffers here while it reads or writes a block
//! and gives them back when done (a reader when it starts waiting for the next block), so idle
//! connections hold none and a thread keeps at most [`KEEP`] spare ones.
//!
//! A buffer's old bytes are never read: readers fill the whole block before looking at it,
//! and writers clear it or overwrite it whole.

use std::cell::RefCell;

use crate::block::BLOCK_SIZE;

/// Spare buffers kept per thread (at most 8 × 16 KiB).
const KEEP: usize = 8;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of exactly [`BLOCK_SIZE`] bytes (their values unspecified).
pub(crate) fn take() -> Vec<u8> {
    let spare = POOL.with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()));
    match spare {
        Some(mut v) => {
            v.resize(BLOCK_SIZE, 0);
            v
        }
        None => vec![0u8; BLOCK_SIZE],
    }
}

/// Gives a buffer back for reuse (dropped when the thread keeps enough, or when it grew well
/// past a block).
pub(crate) fn give(v: Vec<u8>) {
    if v.capacity() < BLOCK_SIZE || v.capacity() > 2 * BLOCK_SIZE {
        return;
    }
    POOL.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < KEEP {
                p.push(v);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_block_sized_and_reused_up_to_the_limit() {
        let mut bufs: Vec<Vec<u8>> = (0..KEEP + 3).map(|_| take()).collect();
        assert!(bufs.iter().all(|b| b.len() == BLOCK_SIZE));
        let last_kept = bufs[KEEP - 1].as_ptr();
        // A cleared buffer comes back at full length.
        bufs[KEEP - 1].clear();
        for b in bufs.drain(..) {
            give(b);
        }
        assert_eq!(POOL.with(|p| p.borrow().len()), KEEP);
        let again = take();
        assert_eq!(again.len(), BLOCK_SIZE);
        assert_eq!(
            again.as_ptr(),
            last_kept,
            "the last buffer given back is reused first"
        );
        // Small or huge vectors are not kept.
        give(Vec::with_capacity(10));
        give(Vec::with_capacity(3 * BLOCK_SIZE));
        assert_eq!(POOL.with(|p| p.borrow().len()), KEEP - 1);
    }
}
