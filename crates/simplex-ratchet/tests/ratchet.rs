//! Two-party simulations mirroring the reference's `DoubleRatchetTests.hs`, plus tampering,
//! duplicates, skip bounds, sizes and reloads.

mod common;

use common::*;
use simplex_crypto::PrivateKeyX448;
use simplex_encoding::Encode;
use simplex_ratchet::*;

const ON: Option<PqEncryption> = Some(PqEncryption::ON);
const OFF: Option<PqEncryption> = Some(PqEncryption::OFF);

/// Whether the KEM modes expect KEM in both chains after each message (the `hasSndKEM` /
/// `noSndKEM` checks of the reference's helpers).
fn kem_expected(mode: Mode) -> bool {
    mode != Mode::NoKem
}

/// `encryptDecrypt`: sends, checks the sender's sending-KEM flag and the receiver's flag.
fn ed<A: DhAlgorithm>(
    s: &mut Party<A>,
    r: &mut Party<A>,
    pq: Option<PqEncryption>,
    snd_kem: Option<bool>,
    rcv_kem: Option<bool>,
    msg: &str,
) {
    let enc = s.send(pq, msg.as_bytes());
    if let Some(k) = snd_kem {
        assert_eq!(s.rc.snd_pq().0, k, "sender's KEM flag after {msg:?}");
    }
    assert_eq!(r.recv(&enc).expect("decrypts"), msg.as_bytes());
    if let Some(k) = rcv_kem {
        assert_eq!(r.rc.rcv_pq().0, k, "receiver's KEM flag after {msg:?}");
    }
}

/// `initRatchetKEM` both ways when the KEM was only proposed.
fn agree_kems<A: DhAlgorithm>(mode: Mode, alice: &mut Party<A>, bob: &mut Party<A>) {
    if matches!(mode, Mode::Proposed | Mode::ProposedAgain) {
        ed(bob, alice, ON, None, None, "initialising ratchet");
        ed(alice, bob, ON, None, None, "initialising ratchet");
    }
}

/// The `#>` of each mode: no preference, flags as the mode implies.
fn send<A: DhAlgorithm>(mode: Mode, s: &mut Party<A>, r: &mut Party<A>, msg: &str) {
    let k = kem_expected(mode);
    ed(s, r, None, Some(k), Some(k), msg);
}

fn test_encrypt_decrypt<A: DhAlgorithm>(mode: Mode) {
    let (mut alice, mut bob) = init_pair::<A>(mode, 1);
    agree_kems(mode, &mut alice, &mut bob);
    send(mode, &mut bob, &mut alice, "hello alice");
    send(mode, &mut alice, &mut bob, "hello bob");
    let b1 = bob.send(None, b"how are you, alice?");
    let b2 = bob.send(None, b"are you there?");
    let b3 = bob.send(None, b"hey?");
    let a1 = alice.send(None, b"how are you, bob?");
    let a2 = alice.send(None, b"are you there?");
    let a3 = alice.send(None, b"hey?");
    assert_eq!(alice.recv(&b1).expect("b1"), b"how are you, alice?");
    assert_eq!(alice.recv(&b2).expect("b2"), b"are you there?");
    assert_eq!(alice.recv(&b3).expect("b3"), b"hey?");
    assert_eq!(bob.recv(&a1).expect("a1"), b"how are you, bob?");
    assert_eq!(bob.recv(&a2).expect("a2"), b"are you there?");
    assert_eq!(bob.recv(&a3).expect("a3"), b"hey?");
    send(mode, &mut bob, &mut alice, "I'm here, all good");
    send(mode, &mut alice, &mut bob, "I'm here too, same");
}

fn test_skipped_messages<A: DhAlgorithm>(mode: Mode) {
    let (mut alice, mut bob) = init_pair::<A>(mode, 2);
    agree_kems(mode, &mut alice, &mut bob);
    let m1 = bob.send(None, b"hello alice");
    let m2 = bob.send(None, b"hello there again");
    let m3 = bob.send(None, b"are you there?");
    assert_eq!(alice.recv(&m3).expect("m3"), b"are you there?");
    assert_eq!(alice.recv(&m3), Err(RatchetError::DuplicateMessage));
    assert_eq!(alice.recv(&m2).expect("m2"), b"hello there again");
    assert_eq!(alice.recv(&m1).expect("m1"), b"hello alice");
    assert!(alice.skipped.is_empty(), "all skipped keys used");
}

fn test_many_messages<A: DhAlgorithm>(mode: Mode) {
    let (mut a, mut b) = init_pair::<A>(mode, 3);
    agree_kems(mode, &mut a, &mut b);
    for m in ["b1", "b2", "b3", "b4"] {
        send(mode, &mut b, &mut a, m);
    }
    for m in ["a5", "a6", "a7"] {
        send(mode, &mut a, &mut b, m);
    }
    send(mode, &mut b, &mut a, "b8");
    send(mode, &mut a, &mut b, "a9");
    send(mode, &mut a, &mut b, "a10");
    send(mode, &mut b, &mut a, "b11");
    send(mode, &mut b, &mut a, "b12");
    send(mode, &mut a, &mut b, "a14");
    send(mode, &mut b, &mut a, "b15");
    send(mode, &mut b, &mut a, "b16");
}

fn test_skipped_after_ratchet_advance<A: DhAlgorithm>(mode: Mode) {
    let (mut alice, mut bob) = init_pair::<A>(mode, 4);
    agree_kems(mode, &mut alice, &mut bob);
    send(mode, &mut bob, &mut alice, "b1");
    let b2 = bob.send(None, b"b2");
    let b3 = bob.send(None, b"b3");
    let b4 = bob.send(None, b"b4");
    send(mode, &mut alice, &mut bob, "a5");
    let b5 = bob.send(None, b"b5");
    let b6 = bob.send(None, b"b6");
    send(mode, &mut bob, &mut alice, "b7");
    let b8 = bob.send(None, b"b8");
    let b9 = bob.send(None, b"b9");
    send(mode, &mut alice, &mut bob, "a10");
    let b11 = bob.send(None, b"b11");
    let b12 = bob.send(None, b"b12");
    send(mode, &mut alice, &mut bob, "a14");
    assert_eq!(alice.recv(&b12).expect("b12"), b"b12");
    assert_eq!(alice.recv(&b2).expect("b2"), b"b2");
    // The skipped key of b2 is gone, and b2's chain is no longer current.
    assert_eq!(alice.recv(&b2), Err(RatchetError::Header));
    send(mode, &mut alice, &mut bob, "a15");
    let a16 = bob.send(None, b"a16");
    let a17 = bob.send(None, b"a17");
    for (m, t) in [
        (&b8, "b8"),
        (&b3, "b3"),
        (&b4, "b4"),
        (&b5, "b5"),
        (&b6, "b6"),
    ] {
        assert_eq!(alice.recv(m).expect(t), t.as_bytes());
    }
    send(mode, &mut alice, &mut bob, "a18");
    for (m, t) in [(&a16, "a16"), (&a17, "a17"), (&b9, "b9"), (&b11, "b11")] {
        assert_eq!(alice.recv(m).expect(t), t.as_bytes());
    }
    assert!(alice.skipped.is_empty());
}

fn run_message_tests<A: DhAlgorithm>(mode: Mode) {
    test_encrypt_decrypt::<A>(mode);
    test_skipped_messages::<A>(mode);
    test_many_messages::<A>(mode);
    test_skipped_after_ratchet_advance::<A>(mode);
}

#[test]
fn message_tests_no_kem() {
    run_message_tests::<X25519>(Mode::NoKem);
    run_message_tests::<X448>(Mode::NoKem);
}

#[test]
fn message_tests_kem_proposed() {
    run_message_tests::<X25519>(Mode::Proposed);
    run_message_tests::<X448>(Mode::Proposed);
}

#[test]
fn message_tests_kem_accepted() {
    run_message_tests::<X25519>(Mode::Accepted);
    run_message_tests::<X448>(Mode::Accepted);
}

#[test]
fn message_tests_kem_proposed_again() {
    run_message_tests::<X25519>(Mode::ProposedAgain);
    run_message_tests::<X448>(Mode::ProposedAgain);
}

// The PQ on/off table, in the reference's notation: `\` KEM off, `!` KEM on; left of `#>`
// the sender's sending chain, right the preference passed (none, `!` enable, `\` disable).

/// `(s, m) X#>Y r`: `pq`, expected sender flag, expected receiver flag.
fn op<A: DhAlgorithm>(
    s: &mut Party<A>,
    r: &mut Party<A>,
    pq: Option<PqEncryption>,
    kem_on: bool,
    msg: &str,
) {
    // As the reference's operators: with KEM on the receiver's receiving chain has KEM;
    // with KEM off, `\#>!` checks the receiving chain and the others the sending chain.
    ed(s, r, pq, Some(kem_on), None, msg);
    if kem_on {
        assert!(r.rc.rcv_pq().0, "receiver has KEM after {msg:?}");
    } else if pq == ON {
        assert!(
            !r.rc.rcv_pq().0,
            "receiver has no receiving KEM after {msg:?}"
        );
    } else {
        assert!(
            !r.rc.snd_pq().0,
            "receiver has no sending KEM after {msg:?}"
        );
    }
}

#[test]
fn disable_and_re_enable_kem() {
    for strict in [false, true] {
        let (mut a, mut b) = init_pair::<X25519>(Mode::Accepted, 5);
        let (keep_on, keep_off) = if strict { (ON, OFF) } else { (None, None) };
        op(&mut b, &mut a, keep_on, true, "hello alice");
        op(&mut a, &mut b, keep_on, true, "hello bob");
        op(&mut b, &mut a, OFF, true, "disabling KEM");
        op(&mut a, &mut b, keep_on, true, "still disabling KEM");
        op(&mut b, &mut a, keep_off, false, "now KEM is disabled");
        op(
            &mut a,
            &mut b,
            keep_off,
            false,
            "KEM is disabled for both sides",
        );
        op(&mut b, &mut a, ON, false, "trying to enable KEM");
        op(
            &mut a,
            &mut b,
            keep_off,
            false,
            "but unless alice enables it too it won't",
        );
        let b_pref = if strict { ON } else { None };
        op(&mut b, &mut a, b_pref, false, "KEM is disabled");
        op(
            &mut a,
            &mut b,
            keep_off,
            false,
            "KEM is disabled for both sides",
        );
        op(&mut b, &mut a, ON, false, "enabling KEM again");
        op(&mut a, &mut b, ON, false, "and alice accepts it this time");
        op(&mut b, &mut a, ON, false, "still enabling KEM");
        op(&mut a, &mut b, keep_on, true, "now KEM is enabled");
        op(
            &mut b,
            &mut a,
            keep_on,
            true,
            "KEM is enabled for both sides",
        );
    }
}

#[test]
fn enable_kem_after_handshake_without_it() {
    for strict in [false, true] {
        let (mut a, mut b) = init_pair::<X25519>(Mode::NoKem, 6);
        let (keep_on, keep_off) = if strict { (ON, OFF) } else { (None, None) };
        assert_eq!(a.rc.pq_support(), PqSupport::OFF);
        op(&mut b, &mut a, keep_off, false, "hello alice");
        op(&mut a, &mut b, keep_off, false, "hello bob");
        // Small headers until PQ is enabled.
        assert_eq!(
            b.rc.next_message_len(None, PADDED_MSG_LEN),
            full_message_len(3, PqSupport::OFF, PADDED_MSG_LEN)
        );
        op(&mut b, &mut a, ON, false, "enabling KEM");
        assert_eq!(b.rc.pq_support(), PqSupport::ON, "support only grows");
        op(&mut b, &mut a, ON, false, "KEM not enabled yet");
        op(&mut a, &mut b, ON, false, "accepting KEM");
        op(&mut a, &mut b, ON, false, "KEM not enabled yet here too");
        op(&mut b, &mut a, ON, false, "KEM is still not enabled");
        op(&mut a, &mut b, ON, true, "now KEM is enabled");
        op(
            &mut b,
            &mut a,
            keep_on,
            true,
            "now KEM is enabled for both sides",
        );
        op(
            &mut a,
            &mut b,
            keep_on,
            true,
            "still enabled for both sides",
        );
        op(
            &mut b,
            &mut a,
            keep_on,
            true,
            "still enabled for both sides 2",
        );
        op(&mut a, &mut b, OFF, true, "disabling KEM");
        op(&mut b, &mut a, keep_on, true, "KEM not disabled yet");
        op(&mut a, &mut b, keep_off, false, "KEM disabled");
        op(
            &mut b,
            &mut a,
            if strict { ON } else { None },
            false,
            "disabled on both",
        );
        if strict {
            for i in 1..=3 {
                op(
                    &mut a,
                    &mut b,
                    OFF,
                    false,
                    &format!("KEM still disabled {}", 2 * i - 1),
                );
                op(
                    &mut b,
                    &mut a,
                    ON,
                    false,
                    &format!("KEM still disabled {}", 2 * i),
                );
            }
        }
        // PQ support, once on, stays on: headers stay large.
        assert_eq!(a.rc.pq_support(), PqSupport::ON);
        assert_eq!(b.rc.pq_support(), PqSupport::ON);
    }
}

#[test]
fn tampered_header_or_body_is_rejected_and_state_kept() {
    for mode in [Mode::NoKem, Mode::Accepted] {
        let (mut alice, mut bob) = init_pair::<X448>(mode, 7);
        send(mode, &mut bob, &mut alice, "first");
        let good = bob.send(None, b"second");
        // Flip a byte of the encrypted header body, of the header tag, of the body and of the
        // body tag; truncate; and flip the version.
        let header_len = full_header_len(3, alice.rc.pq_support());
        for (i, want) in [
            (60, RatchetError::Header),
            (25, RatchetError::Header),
            (header_len + AUTH_TAG + 10, RatchetError::Decrypt),
            (header_len + 3, RatchetError::Decrypt),
        ] {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert_eq!(alice.recv(&bad), Err(want), "byte {i} flipped");
        }
        assert!(matches!(
            alice.recv(&good[..good.len() - 1]),
            Err(RatchetError::Decrypt)
        ));
        assert!(matches!(
            alice.recv(&good[..40]),
            Err(RatchetError::HeaderParse(_))
        ));
        assert!(matches!(alice.recv(b""), Err(RatchetError::HeaderParse(_))));
        // The genuine message still decrypts, once.
        assert_eq!(alice.recv(&good).expect("genuine"), b"second");
        assert_eq!(alice.recv(&good), Err(RatchetError::DuplicateMessage));
        // A tampered message from a new chain (next header key) leaves the state alone too.
        let reply = alice.send(None, b"reply");
        let mut bad = reply.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(bob.recv(&bad), Err(RatchetError::Decrypt));
        assert_eq!(bob.recv(&reply).expect("reply"), b"reply");
    }
}

const AUTH_TAG: usize = 16;

#[test]
fn skipping_more_than_max_skip_fails() {
    let (mut alice, mut bob) = init_pair::<X25519>(Mode::NoKem, 8);
    send(Mode::NoKem, &mut bob, &mut alice, "start");
    for _ in 0..MAX_SKIP + 1 {
        bob.send(None, b"lost");
    }
    let far = bob.send(None, b"too far");
    assert_eq!(
        alice.recv(&far),
        Err(RatchetError::TooManySkipped(MAX_SKIP + 2))
    );
    // Exactly MAX_SKIP skipped is still fine.
    let (mut alice, mut bob) = init_pair::<X25519>(Mode::NoKem, 9);
    send(Mode::NoKem, &mut bob, &mut alice, "start");
    let mut lost = Vec::new();
    for _ in 0..MAX_SKIP {
        lost.push(bob.send(None, b"lost"));
    }
    assert_eq!(alice.recv(&bob.send(None, b"ok")).expect("ok"), b"ok");
    let stored: usize = alice.skipped.values().map(|m| m.len()).sum();
    assert_eq!(stored, MAX_SKIP as usize);
    assert_eq!(alice.recv(&lost[300]).expect("late"), b"lost");
    // Earlier than the chain position, with no skipped key left: error.
    alice.skipped.clear();
    assert_eq!(
        alice.recv(&lost[5]),
        Err(RatchetError::EarlierMessage(MAX_SKIP - 5))
    );
}

#[test]
fn skipped_previous_chain_keys_across_dh_steps() {
    let (mut alice, mut bob) = init_pair::<X448>(Mode::Accepted, 10);
    send(Mode::Accepted, &mut bob, &mut alice, "b0");
    let b1 = bob.send(None, b"b1");
    let b2 = bob.send(None, b"b2");
    // Alice replies without having seen b1, b2; bob steps, then alice sees b3 of the new
    // chain, which skips b1 and b2 (pn = 3) in the old one.
    send(Mode::Accepted, &mut alice, &mut bob, "a0");
    let b3 = bob.send(None, b"b3");
    assert_eq!(alice.recv(&b3).expect("b3"), b"b3");
    assert_eq!(alice.recv(&b2).expect("b2"), b"b2");
    alice.reload();
    assert_eq!(alice.recv(&b1).expect("b1"), b"b1");
    assert!(alice.skipped.is_empty());
}

#[test]
fn message_sizes_match_the_reference() {
    // fullHeaderLen + lengths: 54 + paddedHeaderLen + padded body at v3, 52 + ... at v2.
    assert_eq!(full_message_len(3, PqSupport::OFF, 100), 54 + 88 + 100);
    assert_eq!(full_message_len(3, PqSupport::ON, 100), 54 + 2310 + 100);
    assert_eq!(full_message_len(2, PqSupport::ON, 100), 52 + 88 + 100);
    assert_eq!(padded_header_len(2, PqSupport::ON), 88);
    for mode in [Mode::NoKem, Mode::Proposed, Mode::Accepted] {
        let (mut alice, mut bob) = init_pair::<X448>(mode, 11);
        let m = bob.send(None, b"x");
        let expected = if mode == Mode::NoKem { 242 } else { 2464 };
        assert_eq!(m.len(), expected, "{mode:?}");
        alice.recv(&m).expect("decrypts");
    }
}

#[test]
fn version_2_ratchets_use_short_lengths_and_upgrade() {
    let v2 = RatchetVersions {
        current: 2,
        max_supported: 2,
    };
    let (mut alice, mut bob) = init_pair_at::<X448>(Mode::NoKem, 12, v2, v2);
    let m = bob.send(None, b"old");
    assert_eq!(m.len(), 52 + 88 + PADDED_MSG_LEN);
    assert!(m[0] >= 32, "one-byte header length");
    assert_eq!(alice.recv(&m).expect("v2"), b"old");
    // A v2 ratchet that supports v3 upgrades when the peer announces v3.
    let v2_3 = RatchetVersions {
        current: 2,
        max_supported: 3,
    };
    let (mut alice, mut bob) = init_pair_at::<X448>(Mode::NoKem, 13, v2_3, v2_3);
    send(Mode::NoKem, &mut bob, &mut alice, "hi");
    assert_eq!(
        alice.rc.versions().current,
        3,
        "alice upgraded from bob's header"
    );
    let m = alice.send(None, b"upgraded");
    assert_eq!(m.len(), 54 + 88 + PADDED_MSG_LEN);
    assert_eq!(bob.recv(&m).expect("v3"), b"upgraded");
    assert_eq!(bob.rc.versions().current, 3);
}

#[test]
fn state_round_trips_and_conversation_continues_after_reload() {
    for mode in [
        Mode::NoKem,
        Mode::Proposed,
        Mode::Accepted,
        Mode::ProposedAgain,
    ] {
        let (mut alice, mut bob) = init_pair::<X448>(mode, 14);
        alice.reload();
        bob.reload();
        agree_kems(mode, &mut alice, &mut bob);
        send(mode, &mut bob, &mut alice, "1");
        let lost = bob.send(None, b"lost for now");
        send(mode, &mut bob, &mut alice, "2");
        alice.reload();
        bob.reload();
        send(mode, &mut alice, &mut bob, "3");
        alice.reload();
        assert_eq!(alice.recv(&lost).expect("late"), b"lost for now");
        bob.reload();
        send(mode, &mut bob, &mut alice, "4");
        // Every truncation of the stored state fails to decode.
        let bytes = alice.rc.to_bytes();
        for n in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(simplex_encoding::decode_all::<Ratchet<X448>>(&bytes[..n]).is_err());
        }
        let mut other = bytes.clone();
        other[0] = 3;
        assert!(simplex_encoding::decode_all::<Ratchet<X448>>(&other).is_err());
    }
}

/// A ratchet step's sending half waits until it is needed: after receiving on a new step
/// the state says so; taking it ahead (`complete_step`), taking it in the next encryption,
/// and doing either after a reload give the same message bytes (the encryption is
/// deterministic for a given state). A state in the first stored format (no pending step)
/// still reads.
#[test]
fn pending_step_completes_the_same_ahead_inline_or_after_reload() {
    for mode in [Mode::NoKem, Mode::Accepted] {
        let (mut alice, mut bob) = init_pair::<X448>(mode, 17);
        agree_kems(mode, &mut alice, &mut bob);
        send(mode, &mut bob, &mut alice, "a step for alice");
        assert!(alice.rc.step_pending(), "{mode:?}");
        let completed = alice
            .rc
            .complete_step()
            .expect("completes")
            .expect("was pending");
        assert!(!completed.step_pending());
        assert!(completed.complete_step().expect("no-op").is_none());
        let reloaded: Ratchet<X448> =
            simplex_encoding::decode_all(&alice.rc.to_bytes()).expect("decodes");
        assert_eq!(reloaded, alice.rc);
        let enc = |rc: &Ratchet<X448>| {
            let (m, next) = rc
                .encrypt(None, CURRENT_E2E_VERSION, PADDED_MSG_LEN, b"reply")
                .expect("encrypts");
            assert!(!next.step_pending());
            (m, next)
        };
        let (inline, next_inline) = enc(&alice.rc);
        let (ahead, next_ahead) = enc(&completed);
        let (after_reload, _) = enc(&reloaded);
        assert_eq!(inline, ahead);
        assert_eq!(inline, after_reload);
        assert_eq!(next_inline, next_ahead);
        alice.rc = next_ahead;
        assert_eq!(bob.recv(&inline).expect("bob reads it"), b"reply");
        send(mode, &mut bob, &mut alice, "and on");
        // The first format: no pending byte at the end.
        let complete = alice
            .rc
            .complete_step()
            .expect("completes")
            .expect("pending");
        let mut v1 = complete.to_bytes();
        assert_eq!(v1.pop(), Some(b'0'));
        v1[0] = 1;
        let old: Ratchet<X448> = simplex_encoding::decode_all(&v1).expect("format 1 reads");
        assert_eq!(old, complete);
    }
}

#[test]
fn receiving_side_cannot_send_first() {
    let (alice, _bob) = init_pair::<X25519>(Mode::NoKem, 15);
    assert!(!alice.rc.can_send());
    assert_eq!(
        alice.rc.encrypt(None, 3, 100, b"x").map(|_| ()),
        Err(RatchetError::State)
    );
    let (_a, bob) = init_pair::<X25519>(Mode::NoKem, 16);
    assert_eq!(
        bob.rc.encrypt(None, 3, 100, &[0; 99]).map(|_| ()),
        Err(RatchetError::MessageTooLarge)
    );
}

#[test]
fn debug_prints_no_secrets() {
    let (alice, _) = init_pair::<X25519>(Mode::Accepted, 17);
    let s = format!("{:?}", alice.rc);
    assert!(s.contains("Key32(..)"));
    assert!(s.contains("KemSecretKey(..)"));
    let rk = alice.rc.to_bytes();
    // No 8-byte window of the stored secrets shows up in hex in the Debug output.
    let hexed = hex::encode(&rk[rk.len() - 16..]);
    assert!(!s.contains(&hexed));
}

/// A reference behaviour worth knowing: turning PQ off clears the KEM agreement after the
/// header of that message is made, so later messages of the same chain carry no KEM
/// ciphertext. A receiver that has not yet seen an earlier message of the chain cannot
/// derive it (the reference relies on in-order delivery).
#[test]
fn pq_off_later_messages_of_a_new_chain_need_an_earlier_one() {
    let (mut alice, mut bob) = init_pair::<X25519>(Mode::Accepted, 18);
    send(Mode::Accepted, &mut bob, &mut alice, "b0");
    // Alice's new chain mixes in a KEM secret; her first message turns PQ off.
    let first = alice.send(OFF, b"first, with the ciphertext");
    let second = alice.send(None, b"second, without");
    assert_eq!(bob.recv(&second), Err(RatchetError::Decrypt));
    assert_eq!(
        bob.recv(&first).expect("first"),
        b"first, with the ciphertext"
    );
    assert_eq!(bob.recv(&second).expect("second"), b"second, without");
}

/// Hands out the KEM key pairs and X448 keys it holds, last first, each once (moved out).
#[derive(Default)]
struct GivenKeys {
    kem: std::cell::RefCell<Vec<KemKeyPair>>,
    x448: std::cell::RefCell<Vec<PrivateKeyX448>>,
}

impl RatchetKeySource for GivenKeys {
    fn take_kem_key_pair(&self) -> Option<KemKeyPair> {
        self.kem.borrow_mut().pop()
    }
    fn take_x448_key(&self) -> Option<PrivateKeyX448> {
        self.x448.borrow_mut().pop()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Receives with key pairs from `keys` for the ratchet step.
fn recv_with(p: &mut Party<X448>, msg: &[u8], keys: &GivenKeys) -> Vec<u8> {
    let d =
        p.rc.decrypt_with_keys(&p.skipped, msg, &mut p.rng, keys)
            .expect("decrypts");
    d.diff.apply(&mut p.skipped);
    p.rc = d.ratchet;
    d.plaintext
}

#[test]
fn ratchet_steps_take_supplied_kem_key_pairs_each_once() {
    use rand::SeedableRng;
    let (mut alice, mut bob) = init_pair::<X448>(Mode::Accepted, 7);
    let mut g = rand::rngs::StdRng::seed_from_u64(99);
    let (k1, k2) = (KemKeyPair::generate(&mut g), KemKeyPair::generate(&mut g));
    let keys = GivenKeys {
        kem: std::cell::RefCell::new(vec![k2.clone(), k1.clone()]),
        ..GivenKeys::default()
    };
    // Alice's first step takes k1: her stored state holds its key pair.
    let m = bob.send(None, b"one");
    assert_eq!(recv_with(&mut alice, &m, &keys), b"one");
    assert!(contains(&alice.rc.to_bytes(), k1.secret.as_bytes()));
    // Bob encapsulates to k1's public key; alice decapsulates with k1's secret key.
    exchange(&mut alice, &mut bob, None, "two");
    let m = bob.send(None, b"three");
    assert_eq!(recv_with(&mut alice, &m, &keys), b"three");
    assert!(alice.rc.rcv_pq().0 && alice.rc.snd_pq().0);
    // The second step took k2, not k1 again.
    let state = alice.rc.to_bytes();
    assert!(contains(&state, k2.public.as_bytes()));
    assert!(!contains(&state, k1.public.as_bytes()));
    assert!(keys.kem.borrow().is_empty());
    // With the supply empty, the step generates its own key pair.
    exchange(&mut alice, &mut bob, None, "four");
    let m = bob.send(None, b"five");
    assert_eq!(recv_with(&mut alice, &m, &keys), b"five");
    let state = alice.rc.to_bytes();
    assert!(!contains(&state, k1.public.as_bytes()) && !contains(&state, k2.public.as_bytes()));
    exchange(&mut alice, &mut bob, None, "six");
    exchange(&mut bob, &mut alice, None, "seven");
}

#[test]
fn ratchet_steps_take_supplied_x448_keys_each_once() {
    use rand::SeedableRng;
    let (mut alice, mut bob) = init_pair::<X448>(Mode::NoKem, 8);
    let mut g = rand::rngs::StdRng::seed_from_u64(98);
    let (k1, k2) = (
        PrivateKeyX448::generate(&mut g),
        PrivateKeyX448::generate(&mut g),
    );
    let (d1, d2) = (X448::private_to_der(&k1), X448::private_to_der(&k2));
    let keys = GivenKeys {
        x448: std::cell::RefCell::new(vec![k2, k1]),
        ..GivenKeys::default()
    };
    // Alice's step takes k1 as her new ratchet key, and Bob's next step agrees with it.
    let m = bob.send(None, b"one");
    assert_eq!(recv_with(&mut alice, &m, &keys), b"one");
    assert!(contains(&alice.rc.to_bytes(), &d1));
    exchange(&mut alice, &mut bob, None, "two");
    let m = bob.send(None, b"three");
    assert_eq!(recv_with(&mut alice, &m, &keys), b"three");
    // The next step took k2, not k1 again; then, with none left, her own.
    let state = alice.rc.to_bytes();
    assert!(contains(&state, &d2) && !contains(&state, &d1));
    assert!(keys.x448.borrow().is_empty());
    exchange(&mut alice, &mut bob, None, "four");
    let m = bob.send(None, b"five");
    assert_eq!(recv_with(&mut alice, &m, &keys), b"five");
    let state = alice.rc.to_bytes();
    assert!(!contains(&state, &d1) && !contains(&state, &d2));
    exchange(&mut alice, &mut bob, None, "six");
}

/// A message's identifying part (`message_id_part`): its start up to the (padded) body,
/// different for each message of a conversation (with and without KEM, across a ratchet
/// step), and the same for the same message; garbage has none.
#[test]
fn each_message_has_its_own_short_id_part() {
    for mode in [Mode::NoKem, Mode::Accepted] {
        let (mut alice, mut bob) = init_pair::<X448>(mode, 1);
        agree_kems(mode, &mut alice, &mut bob);
        let mut msgs = vec![bob.send(None, b"one"), bob.send(None, b"two")];
        send(mode, &mut bob, &mut alice, "three");
        send(
            mode,
            &mut alice,
            &mut bob,
            "a reply: the next is after a step",
        );
        msgs.push(bob.send(None, b"four"));
        let mut parts = std::collections::HashSet::new();
        for m in &msgs {
            let part = message_id_part(m).expect("a ratchet message");
            assert!(m.starts_with(part));
            assert!(part.len() < m.len(), "{} of {} bytes", part.len(), m.len());
            assert_eq!(message_id_part(&m.clone()), Some(part));
            assert!(parts.insert(part.to_vec()), "each message its own");
        }
    }
    assert_eq!(message_id_part(b""), None);
    assert_eq!(message_id_part(&[1]), None);
}
