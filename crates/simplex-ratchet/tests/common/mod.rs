//! Two-party simulation helpers shared by the integration tests.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_encoding::{decode_all, Encode};
use simplex_ratchet::*;

/// The padded body length the reference's tests use.
pub const PADDED_MSG_LEN: usize = 100;

/// How the X3DH handled the KEM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No KEM at all (`initRatchets`).
    NoKem,
    /// Only the joining side proposed (`initRatchetsKEMProposed`).
    Proposed,
    /// Proposed by the creating side and accepted (`initRatchetsKEMAccepted`).
    Accepted,
    /// Proposed by both sides (`initRatchetsKEMProposedAgain`).
    ProposedAgain,
}

/// One side of a conversation: its ratchet, its skipped keys and its RNG.
pub struct Party<A: DhAlgorithm> {
    /// The ratchet state.
    pub rc: Ratchet<A>,
    /// The skipped message keys.
    pub skipped: SkippedKeys,
    /// This side's RNG.
    pub rng: StdRng,
}

impl<A: DhAlgorithm> Party<A> {
    /// Encrypts `msg`, checking the length against the reference's padded sizes.
    pub fn send(&mut self, pq: Option<PqEncryption>, msg: &[u8]) -> Vec<u8> {
        let expected = self.rc.next_message_len(pq, PADDED_MSG_LEN);
        let (enc, next) = self
            .rc
            .encrypt(pq, CURRENT_E2E_VERSION, PADDED_MSG_LEN, msg)
            .expect("encrypts");
        assert_eq!(enc.len(), expected, "message length");
        assert_eq!(
            enc.len(),
            full_message_len(next.versions().current, next.pq_support(), PADDED_MSG_LEN)
        );
        self.rc = next;
        enc
    }

    /// Decrypts `msg`; on success stores the new state and applies the diff; on error checks
    /// that nothing changed.
    pub fn recv(&mut self, msg: &[u8]) -> Result<Vec<u8>, RatchetError> {
        let before = self.rc.to_bytes();
        match self.rc.decrypt(&self.skipped, msg, &mut self.rng) {
            Ok(d) => {
                d.diff.apply(&mut self.skipped);
                self.rc = d.ratchet;
                Ok(d.plaintext)
            }
            Err(e) => {
                assert_eq!(self.rc.to_bytes(), before, "state unchanged on error");
                Err(e)
            }
        }
    }

    /// Replaces the state by its stored form, decoded again (a reload).
    pub fn reload(&mut self) {
        let bytes = self.rc.to_bytes();
        let rc: Ratchet<A> = decode_all(&bytes).expect("state decodes");
        assert_eq!(rc, self.rc);
        let mut sk = Vec::new();
        encode_skipped_keys(&self.skipped, &mut sk);
        let mut r = simplex_encoding::Reader::new(&sk);
        let skipped = decode_skipped_keys(&mut r).expect("skipped keys decode");
        r.finish().expect("no trailing bytes");
        assert_eq!(skipped, self.skipped);
        self.rc = rc;
        self.skipped = skipped;
    }
}

/// Sends `msg` from `s` to `r` and checks it arrives.
pub fn exchange<A: DhAlgorithm>(
    s: &mut Party<A>,
    r: &mut Party<A>,
    pq: Option<PqEncryption>,
    msg: &str,
) {
    let enc = s.send(pq, msg.as_bytes());
    assert_eq!(r.recv(&enc).expect("decrypts"), msg.as_bytes());
}

/// Versions both sides use in the tests (`testRatchetVersions`).
pub fn test_versions() -> RatchetVersions {
    RatchetVersions {
        current: CURRENT_E2E_VERSION,
        max_supported: CURRENT_E2E_VERSION,
    }
}

/// Runs X3DH in `mode` and returns (alice, bob): alice created the connection (receiving
/// ratchet), bob joined (sending ratchet), as in the reference's tests.
pub fn init_pair<A: DhAlgorithm>(mode: Mode, seed: u64) -> (Party<A>, Party<A>) {
    init_pair_at::<A>(mode, seed, test_versions(), test_versions())
}

/// [`init_pair`] with explicit versions for each side.
pub fn init_pair_at<A: DhAlgorithm>(
    mode: Mode,
    seed: u64,
    alice_v: RatchetVersions,
    bob_v: RatchetVersions,
) -> (Party<A>, Party<A>) {
    let mut g = StdRng::seed_from_u64(seed);
    let v = alice_v.current.min(bob_v.current);
    let alice_support = matches!(mode, Mode::Accepted | Mode::ProposedAgain);
    let (alice_keys, alice_kem, e2e_alice) =
        generate_rcv_e2e_params::<A>(&mut g, v, PqSupport(alice_support));
    let use_kem = match mode {
        Mode::NoKem => None,
        Mode::Proposed | Mode::ProposedAgain => Some(UseKem::Propose),
        Mode::Accepted => match &e2e_alice.kem {
            Some(RKemParams::Proposed(k)) => Some(UseKem::Accept(k.clone())),
            other => panic!("expected a proposal, got {other:?}"),
        },
    };
    let (bob_keys, bob_kem, e2e_bob) = generate_snd_e2e_params::<A>(&mut g, v, use_kem.as_ref());
    // Both records cross the wire.
    let e2e_alice: E2ERatchetParams<A> =
        decode_all(&e2e_alice.to_bytes()).expect("alice's params decode");
    let e2e_bob: E2ERatchetParams<A> =
        decode_all(&e2e_bob.to_bytes()).expect("bob's params decode");
    let (params_bob, bob_kp) =
        pq_x3dh_snd(&bob_keys, bob_kem.as_ref(), &e2e_alice).expect("bob's X3DH");
    let (params_alice, alice_kp) =
        pq_x3dh_rcv(&alice_keys, alice_kem.as_ref(), &e2e_bob).expect("alice's X3DH");
    assert_eq!(params_alice.assoc_data, params_bob.assoc_data);
    assert_eq!(params_alice.ratchet_key, params_bob.ratchet_key);
    let bob_dh = A::generate(&mut g);
    let bob = Ratchet::init_snd(
        bob_v,
        A::public_key(&alice_keys.key2),
        bob_dh,
        params_bob,
        bob_kp,
    )
    .expect("bob's ratchet");
    let alice = Ratchet::init_rcv(
        alice_v,
        alice_keys.key2.clone(),
        params_alice,
        alice_kp,
        PqSupport(mode != Mode::NoKem),
    );
    (
        Party {
            rc: alice,
            skipped: SkippedKeys::new(),
            rng: StdRng::seed_from_u64(seed ^ 0xa11ce),
        },
        Party {
            rc: bob,
            skipped: SkippedKeys::new(),
            rng: StdRng::seed_from_u64(seed ^ 0xb0b),
        },
    )
}
