//! Ratchet keys made ahead of time, off the message path.
//!
//! Every ratchet step makes a new X448 key pair (~0.12-0.36 ms of CPU here, a third of the
//! step's X448 work), and a post-quantum one a new sntrup761 key pair as well (~0.7 ms), on
//! the path of the message that turns the conversation's direction; X3DH makes two X448
//! keys. The agent keeps a few of each ready: a step takes them ([`RatchetKeySource`]) and a
//! thread per kind makes the next while the agent waits on the network. Each key leaves its
//! supply once (it is moved out), and when none is ready the step generates its own, as
//! before. A supply's thread starts with the first key taken, so an agent that never takes
//! a PQ ratchet step never runs the KEM thread, and it ends when the agent's state is
//! dropped; unused keys are dropped with the supply (their secrets zeroized, as every
//! private key of ours is).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rand::rngs::OsRng;
use simplex_crypto::PrivateKeyX448;
use simplex_ratchet::{KemKeyPair, RatchetKeySource};

/// sntrup761 key pairs kept ready: one per PQ ratchet step of a conversation's turn, with
/// room for a few connections turning at once.
const KEM_SUPPLY_SIZE: usize = 3;

/// X448 keys kept ready: every ratchet step takes one and a new connection two per side;
/// at ~0.1-0.4 ms each the thread refills this many between two turns of a busy agent.
const X448_SUPPLY_SIZE: usize = 8;

/// The agent's ready keys of both kinds.
pub(crate) struct RatchetKeys {
    kem: Supply<KemKeyPair>,
    x448: Supply<PrivateKeyX448>,
}

impl RatchetKeys {
    pub(crate) fn new() -> Self {
        RatchetKeys {
            kem: Supply::new("kem-keys", KEM_SUPPLY_SIZE, KemKeyPair::generate),
            x448: Supply::new("x448-keys", X448_SUPPLY_SIZE, PrivateKeyX448::generate),
        }
    }
}

impl RatchetKeySource for RatchetKeys {
    fn take_kem_key_pair(&self) -> Option<KemKeyPair> {
        self.kem.take()
    }

    fn take_x448_key(&self) -> Option<PrivateKeyX448> {
        self.x448.take()
    }
}

/// Keys of one kind, made by a thread of their own.
struct Supply<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    name: &'static str,
}

struct Shared<T> {
    state: Mutex<SupplyState<T>>,
    /// Wakes the thread when a key was taken or the supply is dropped.
    wake: Condvar,
    size: usize,
    make: fn(&mut OsRng) -> T,
}

struct SupplyState<T> {
    ready: Vec<T>,
    thread_started: bool,
    stopped: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, SupplyState<T>> {
        // A panic while holding the lock leaves the list of ready keys consistent (every
        // change is a single push or pop), so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Send + 'static> Supply<T> {
    fn new(name: &'static str, size: usize, make: fn(&mut OsRng) -> T) -> Self {
        Supply {
            shared: Arc::new(Shared {
                state: Mutex::new(SupplyState {
                    ready: Vec::with_capacity(size),
                    thread_started: false,
                    stopped: false,
                }),
                wake: Condvar::new(),
                size,
                make,
            }),
            name,
        }
    }

    /// A ready key, or `None` (the caller makes its own); starts the thread on first use.
    fn take(&self) -> Option<T> {
        let mut st = self.shared.lock();
        let key = st.ready.pop();
        if !st.thread_started {
            st.thread_started = true;
            let shared = Arc::clone(&self.shared);
            // If the thread cannot be made, every step keeps generating its own keys.
            let _ = std::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || refill(&shared));
        } else {
            self.shared.wake.notify_one();
        }
        key
    }

    /// How many keys are ready now.
    #[cfg(test)]
    fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }
}

impl<T: Send + 'static> Drop for Supply<T> {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.wake.notify_one();
    }
}

/// A supply's thread: keeps its size of keys ready until the supply is dropped.
fn refill<T>(shared: &Shared<T>) {
    lowest_priority();
    loop {
        {
            let mut st = shared.lock();
            while !st.stopped && st.ready.len() >= shared.size {
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.stopped {
                return;
            }
        }
        // Outside the lock: taking a ready key never waits for a new one.
        let key = (shared.make)(&mut OsRng);
        let mut st = shared.lock();
        if st.stopped {
            return;
        }
        st.ready.push(key);
    }
}

/// Lowers the calling thread to the lowest scheduling priority (nice 19), so that making
/// keys ahead takes only a core that is otherwise idle: on a machine with few cores a key
/// made at normal priority competes with the message that used the last one (its
/// decryption, the relay, the reply) and delays it. A key still comes when nothing else
/// runs, which is most of the time between messages; when none is ready, a step generates
/// its own. Where the priority cannot be lowered the thread runs as any other.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux a thread ID names just that thread here.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_ratchet::X448;

    /// Takes keys until `n` came from the supply (not generated inline), waiting for its
    /// thread between attempts.
    fn take_supplied<T: Send + 'static>(supply: &Supply<T>, n: usize) -> Vec<T> {
        let mut out = Vec::new();
        while out.len() < n {
            match supply.take() {
                Some(k) => out.push(k),
                None => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        out
    }

    #[test]
    fn each_key_is_handed_out_once() {
        let keys = RatchetKeys::new();
        // Nothing is made before the first request, which starts the thread.
        assert_eq!(keys.kem.ready(), 0);
        assert_eq!(keys.x448.ready(), 0);
        let kems = take_supplied(&keys.kem, 2 * KEM_SUPPLY_SIZE + 1);
        for (i, a) in kems.iter().enumerate() {
            for b in &kems[i + 1..] {
                assert_ne!(a.public, b.public);
                assert_ne!(a.secret, b.secret);
            }
        }
        let dhs = take_supplied(&keys.x448, 2 * X448_SUPPLY_SIZE + 1);
        for (i, a) in dhs.iter().enumerate() {
            for b in &dhs[i + 1..] {
                assert_ne!(a.public_key(), b.public_key());
            }
        }
    }

    #[test]
    fn refills_to_its_size_and_no_further() {
        let keys = RatchetKeys::new();
        let _ = take_supplied(&keys.x448, 1);
        while keys.x448.ready() < X448_SUPPLY_SIZE {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The thread is now waiting for a key to be taken: the supply stays at its size,
        // and the other kind's thread was never started.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(keys.x448.ready(), X448_SUPPLY_SIZE);
        assert_eq!(keys.kem.ready(), 0);
    }

    #[test]
    fn supplied_keys_work() {
        let keys = RatchetKeys::new();
        let kp = take_supplied(&keys.kem, 1).remove(0);
        let (ct, k) = kp.public.encapsulate(&mut OsRng);
        assert_eq!(kp.secret.decapsulate(&ct), k);
        // A supplied X448 key agrees with a fresh one both ways.
        let a = take_supplied(&keys.x448, 1).remove(0);
        let b = PrivateKeyX448::generate(&mut OsRng);
        let ab = <X448 as simplex_ratchet::DhAlgorithm>::dh(&b.public_key(), &a).expect("dh");
        let ba = <X448 as simplex_ratchet::DhAlgorithm>::dh(&a.public_key(), &b).expect("dh");
        assert_eq!(*ab, *ba);
    }
}
