//! sntrup761 key pairs made ahead of time, off the message path.
//!
//! A post-quantum ratchet step needs a new KEM key pair (~1.5 ms of CPU here), on the path of
//! the message that turns the conversation's direction. The agent keeps a few ready: a
//! ratchet step takes one ([`KemKeySource`]) and its own thread makes the next while the
//! agent waits on the network. Each key pair leaves the supply once (it is moved out), and
//! when none is ready the step generates its own, as before. The thread starts with the
//! first key pair taken, so an agent that never takes a PQ ratchet step never runs it, and
//! it ends when the agent's state is dropped; unused key pairs are dropped with the supply
//! (their secret keys zeroized as every KEM secret key is).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rand::rngs::OsRng;
use simplex_ratchet::{KemKeyPair, KemKeySource};

/// How many key pairs the supply keeps ready: one per ratchet step of a conversation's turn,
/// with room for a few connections turning at once.
const SUPPLY_SIZE: usize = 3;

/// The agent's supply of ready KEM key pairs.
pub(crate) struct KemSupply {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<SupplyState>,
    /// Wakes the thread when a key pair was taken or the supply is dropped.
    wake: Condvar,
}

#[derive(Default)]
struct SupplyState {
    ready: Vec<KemKeyPair>,
    thread_started: bool,
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SupplyState> {
        // A panic while holding the lock leaves the list of ready keys consistent (every
        // change is a single push or pop), so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl KemSupply {
    pub(crate) fn new() -> Self {
        KemSupply {
            shared: Arc::new(Shared {
                state: Mutex::new(SupplyState::default()),
                wake: Condvar::new(),
            }),
        }
    }

    /// How many key pairs are ready now.
    #[cfg(test)]
    fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }
}

impl KemKeySource for KemSupply {
    fn take_kem_key_pair(&self) -> Option<KemKeyPair> {
        let mut st = self.shared.lock();
        let key = st.ready.pop();
        if !st.thread_started {
            st.thread_started = true;
            let shared = Arc::clone(&self.shared);
            // If the thread cannot be made, every step keeps generating its own key pair.
            let _ = std::thread::Builder::new()
                .name("kem-keys".into())
                .spawn(move || refill(&shared));
        } else {
            self.shared.wake.notify_one();
        }
        key
    }
}

impl Drop for KemSupply {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_one();
    }
}

/// The supply's thread: keeps [`SUPPLY_SIZE`] key pairs ready until the supply is dropped.
fn refill(shared: &Shared) {
    loop {
        {
            let mut st = shared.lock();
            while !st.stopped && st.ready.len() >= SUPPLY_SIZE {
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.stopped {
                return;
            }
        }
        // Outside the lock: taking a ready key pair never waits for a new one.
        let key = KemKeyPair::generate(&mut OsRng);
        let mut st = shared.lock();
        if st.stopped {
            return;
        }
        st.ready.push(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes key pairs until `n` came from the supply (not generated inline), waiting for
    /// its thread between attempts.
    fn take_supplied(supply: &KemSupply, n: usize) -> Vec<KemKeyPair> {
        let mut out = Vec::new();
        while out.len() < n {
            match supply.take_kem_key_pair() {
                Some(k) => out.push(k),
                None => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        out
    }

    #[test]
    fn each_key_pair_is_handed_out_once() {
        let supply = KemSupply::new();
        // Nothing is made before the first request, which starts the thread.
        assert_eq!(supply.ready(), 0);
        let keys = take_supplied(&supply, 2 * SUPPLY_SIZE + 1);
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a.public, b.public);
                assert_ne!(a.secret, b.secret);
            }
        }
    }

    #[test]
    fn refills_to_its_size_and_no_further() {
        let supply = KemSupply::new();
        let _ = take_supplied(&supply, 1);
        while supply.ready() < SUPPLY_SIZE {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The thread is now waiting for a key to be taken: the supply stays at its size.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(supply.ready(), SUPPLY_SIZE);
    }

    #[test]
    fn supplied_keys_work() {
        let supply = KemSupply::new();
        let kp = take_supplied(&supply, 1).remove(0);
        let (ct, k) = kp.public.encapsulate(&mut OsRng);
        assert_eq!(kp.secret.decapsulate(&ct), k);
    }
}
