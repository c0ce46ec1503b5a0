//! File descriptions (round trips of single, separated and redirect descriptions, the
//! reference's quoting, other YAML layouts, links), the streaming file and chunk encryption
//! (odd boundaries equal one shot, any flipped byte fails) and chunk sizing.

use rand::{Rng, RngCore, SeedableRng};
use simplex_crypto::{CbKey, CbNonce, PrivateAuthKey, PrivateKeyEd25519, SbKey};
use xftp_proto::chunks::{
    encrypted_file_sizes, CHUNK_SIZE_0, CHUNK_SIZE_1, CHUNK_SIZE_2, CHUNK_SIZE_3,
};
use xftp_proto::description::{join_descriptions, split_descriptions};
use xftp_proto::file_crypto::{decrypt_file, encrypt_file};
use xftp_proto::uri::{decode_web_uri, encode_web_uri, LinkScheme};
use xftp_proto::*;

fn server(s: &str) -> XftpServer {
    XftpServer::parse_str(s.as_bytes()).expect("server")
}

fn replica(srv: &str, n: u8) -> FileChunkReplica {
    FileChunkReplica {
        server: server(srv),
        replica_id: vec![n; 24],
        replica_key: PrivateAuthKey::Ed25519(PrivateKeyEd25519::from_raw(&[n; 32]).expect("key")),
    }
}

fn description(party: FileParty, redirect: bool) -> FileDescription {
    let a = "xftp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@a.example.com,b.onion:8443";
    let b = "xftp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@192.168.1.2";
    let chunk = |no: u32, size: u32, reps: Vec<FileChunkReplica>| FileChunk {
        chunk_no: no,
        chunk_size: size,
        digest: vec![u8::try_from(no).expect("small"); 32],
        replicas: reps,
    };
    FileDescription {
        party,
        size: 2 * 4_194_304 + 1_048_576,
        digest: vec![0xab; 64],
        key: SbKey([1; 32]),
        nonce: CbNonce([2; 24]),
        chunk_size: 4_194_304,
        chunks: vec![
            chunk(1, 4_194_304, vec![replica(b, 2), replica(a, 1)]),
            chunk(2, 4_194_304, vec![replica(b, 3)]),
            chunk(3, 1_048_576, vec![replica(b, 5), replica(a, 4)]),
        ],
        redirect: redirect.then(|| RedirectFileInfo {
            size: 123_456,
            digest: vec![0xcd; 64],
        }),
    }
}

#[test]
fn descriptions_print_as_the_reference_and_round_trip() {
    let fd = description(FileParty::Recipient, false);
    fd.validate().expect("valid");
    let yaml = fd.to_yaml();
    // Keys sorted, sequences at their key's indentation, replicas grouped by server in the
    // reference's order (IPv4 hosts before domains), digest and size on first replicas only.
    let expected_start = "chunkSize: 4mb\ndigest: q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urqw==\nkey: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nnonce: AgICAgICAgICAgICAgICAgICAgICAgIC\nparty: recipient\nreplicas:\n- chunks:\n  - 1:AgICAgICAgICAgICAgICAgICAgICAgIC:";
    // Replicas are listed in the reference's server order (IPv4 before domains), so printing
    // and parsing keep them; see `replica_order_follows_the_server_groups`.
    assert!(yaml.starts_with(expected_start), "{yaml}");
    assert!(yaml.contains(
        "  server: xftp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@192.168.1.2\n- chunks:\n  - 1:AQEB"
    ));
    assert!(yaml.contains(":1mb\n"));
    assert!(yaml.ends_with("  server: xftp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@a.example.com,b.onion:8443\nsize: 9mb\n"));
    let back = FileDescription::from_yaml(&yaml).expect("parses");
    assert_eq!(back, fd);
    assert_eq!(back.to_yaml(), yaml);
}

#[test]
fn replica_order_follows_the_server_groups() {
    // As in the reference, a chunk's replicas come back in the order the server groups are
    // printed, and the digest then sits on the new first replica.
    let mut fd = description(FileParty::Recipient, false);
    fd.chunks[0].replicas.reverse();
    let back = FileDescription::from_yaml(&fd.to_yaml()).expect("parses");
    assert_eq!(back, description(FileParty::Recipient, false));
}

#[test]
fn redirect_and_sender_descriptions_round_trip() {
    let fd = description(FileParty::Sender, true);
    let yaml = fd.to_yaml();
    assert!(yaml.contains("party: sender\nredirect:\n  digest: zc3N"));
    assert!(yaml.contains("\n  size: 123456\nreplicas:\n"));
    assert_eq!(FileDescription::from_yaml(&yaml).expect("parses"), fd);
}

#[test]
fn separated_descriptions_round_trip() {
    let fds = vec![
        description(FileParty::Recipient, false),
        description(FileParty::Recipient, true),
        description(FileParty::Sender, false),
    ];
    let text = join_descriptions(&fds);
    assert_eq!(text.matches(FD_SEPARATOR).count(), 2);
    assert_eq!(split_descriptions(&text).expect("splits"), fds);
}

#[test]
fn numeric_sizes_are_quoted_and_empty_replicas_are_a_flow_list() {
    let fd = FileDescription {
        party: FileParty::Recipient,
        size: 500,
        digest: vec![1; 64],
        key: SbKey([1; 32]),
        nonce: CbNonce([2; 24]),
        chunk_size: 1000,
        chunks: vec![],
        redirect: None,
    };
    let yaml = fd.to_yaml();
    assert!(yaml.starts_with("chunkSize: '1000'\n"));
    assert!(yaml.ends_with("replicas: []\nsize: '500'\n"));
    assert_eq!(FileDescription::from_yaml(&yaml).expect("parses"), fd);
    assert!(fd.validate().is_err());
}

#[test]
fn other_yaml_layouts_parse_to_the_same_description() {
    let fd = description(FileParty::Recipient, true);
    let yaml = fd.to_yaml();
    // Deeper-indented sequences, reordered keys, quotes, a comment and a document marker.
    let mut other = String::from("---\n# a comment\n");
    for line in yaml.lines() {
        if let Some(rest) = line.strip_prefix("- ") {
            other.push_str("  - ");
            other.push_str(rest);
        } else if let Some(rest) = line.strip_prefix("  - ") {
            other.push_str("      - ");
            other.push_str(rest);
        } else if let Some(rest) = line.strip_prefix("  ") {
            other.push_str("    ");
            other.push_str(rest);
        } else if let Some(v) = line.strip_prefix("party: ") {
            other.push_str(&format!("party: \"{v}\""));
        } else {
            other.push_str(line);
        }
        other.push('\n');
    }
    assert_eq!(
        FileDescription::from_yaml(&other).expect("parses"),
        fd,
        "{other}"
    );
}

#[test]
fn malformed_descriptions_are_errors() {
    let yaml = description(FileParty::Recipient, false).to_yaml();
    for bad in [
        yaml.replace("party: recipient", "party: nobody"),
        yaml.replace("chunkSize: 4mb", "chunkSize: 4tb"),
        yaml.replace(":1mb", ":2mb"),
        yaml.replacen(
            "1:AgICAgICAgICAgICAgICAgICAgICAgIC:",
            "1:AgICAgICAgICAgICAgICAgICAgICAgIC",
            1,
        ),
        yaml.replace("replicas:", "replicas: {"),
        String::new(),
        "key: [1, 2]\n".into(),
    ] {
        let parsed = FileDescription::from_yaml(&bad).and_then(|fd| fd.validate().map(|_| fd));
        assert!(parsed.is_err(), "{bad}");
    }
    // A chunk whose replicas carry no digest.
    let no_digest = yaml.replace(":AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n", "\n");
    assert!(FileDescription::from_yaml(&no_digest).is_err());
}

#[test]
fn links_round_trip() {
    let fd = description(FileParty::Recipient, false);
    let uri = FileDescriptionUri::new(fd.clone());
    let text = uri.to_uri();
    assert!(text.starts_with("simplex:/file#/?desc=chunkSize%3A%204mb%0Adigest%3A%20"));
    assert_eq!(FileDescriptionUri::parse(&text).expect("parses"), uri);
    let web = FileDescriptionUri {
        scheme: LinkScheme::Https("files.example.com:8443".into()),
        description: fd.clone(),
        client_data: Some("{\"x\":1}".into()),
    };
    assert_eq!(
        FileDescriptionUri::parse(&web.to_uri()).expect("parses"),
        web
    );
    // Only valid recipient descriptions make links.
    let sender = FileDescriptionUri::new(description(FileParty::Sender, false)).to_uri();
    assert!(FileDescriptionUri::parse(&sender).is_err());
    assert_eq!(decode_web_uri(&encode_web_uri(&fd)).expect("web link"), fd);
    assert!(decode_web_uri("AAAA").is_err());
}

fn random_bytes(rng: &mut impl RngCore, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// Splits `data` at random points (1 to `max` bytes each).
fn pieces<'a>(rng: &mut impl Rng, data: &'a [u8], max: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.gen_range(1..=max.min(rest.len()));
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}

#[test]
fn streaming_file_encryption_equals_one_shot_at_odd_boundaries() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let key = SbKey([9; 32]);
    let nonce = CbNonce([8; 24]);
    let header = FileHeader {
        file_name: "report ü.pdf".into(),
        file_extra: Some("{\"x\":1}".into()),
    };
    for size in [0usize, 1, 15, 16, 17, 1000, 65_000, 300_001] {
        let content = random_bytes(&mut rng, size);
        let header_len = header.encode().expect("header").len() as u64;
        let (_, enc_size) = encrypted_file_sizes(header_len + size as u64);
        let one_shot = encrypt_file(&key, &nonce, &header, &content, enc_size).expect("one shot");
        assert_eq!(one_shot.len() as u64, enc_size);
        let mut streamed = Vec::new();
        let mut e = FileEncryptor::new(&key, &nonce, &header, size as u64, enc_size, &mut streamed)
            .expect("starts");
        for p in pieces(&mut rng, &content, 7919) {
            e.push(p, &mut streamed).expect("push");
        }
        e.finish(&mut streamed).expect("finish");
        assert_eq!(streamed, one_shot, "size {size}");

        let mut d = FileDecryptor::new(&key, &nonce, enc_size).expect("starts");
        let mut plain = Vec::new();
        for p in pieces(&mut rng, &one_shot, 5003) {
            d.push(p, &mut plain).expect("push");
        }
        assert_eq!(d.header(), Some(&header));
        assert_eq!(d.finish().expect("tag"), header);
        assert_eq!(plain, content);
    }
}

fn decrypts(key: &SbKey, nonce: &CbNonce, enc: &[u8]) -> bool {
    decrypt_file(key, nonce, enc).is_ok()
}

#[test]
fn a_flipped_byte_anywhere_fails_and_sizes_are_checked() {
    let key = SbKey([3; 32]);
    let nonce = CbNonce([4; 24]);
    let header = FileHeader {
        file_name: "a.txt".into(),
        file_extra: None,
    };
    let enc = encrypt_file(&key, &nonce, &header, b"hello file", 256).expect("encrypts");
    assert!(decrypts(&key, &nonce, &enc));
    for i in 0..enc.len() {
        let mut bad = enc.clone();
        bad[i] ^= 0x20;
        assert!(!decrypts(&key, &nonce, &bad), "flip at {i}");
    }
    // Short, long, or for another key.
    for n in 0..enc.len() {
        let mut d = FileDecryptor::new(&key, &nonce, 256).expect("starts");
        let mut out = Vec::new();
        let ok = d.push(&enc[..n], &mut out).is_ok() && d.finish().is_ok();
        assert!(!ok, "cut at {n}");
    }
    let mut longer = enc.clone();
    longer.push(0);
    let mut d = FileDecryptor::new(&key, &nonce, 256).expect("starts");
    assert!(d.push(&longer, &mut Vec::new()).is_err());
    assert!(!decrypts(&SbKey([5; 32]), &nonce, &enc));
    // The encryptor refuses content beyond or short of what it declared, and a size too small.
    let mut out = Vec::new();
    let mut e = FileEncryptor::new(&key, &nonce, &header, 3, 256, &mut out).expect("starts");
    assert!(e.push(b"abcd", &mut out).is_err());
    e.push(b"ab", &mut out).expect("push");
    assert!(e.finish(&mut out).is_err());
    assert!(FileEncryptor::new(&key, &nonce, &header, 300, 256, &mut out).is_err());
    assert!(FileDecryptor::new(&key, &nonce, 23).is_err());
}

#[test]
fn a_flipped_byte_in_a_large_file_fails() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let key = SbKey([6; 32]);
    let nonce = CbNonce([7; 24]);
    let header = FileHeader {
        file_name: "big.bin".into(),
        file_extra: None,
    };
    let content = random_bytes(&mut rng, 200_000);
    let (_, enc_size) = encrypted_file_sizes(200_000 + 9);
    let enc = encrypt_file(&key, &nonce, &header, &content, enc_size).expect("encrypts");
    for _ in 0..64 {
        let i = rng.gen_range(0..enc.len());
        let mut bad = enc.clone();
        bad[i] ^= 1 << rng.gen_range(0..8);
        assert!(!decrypts(&key, &nonce, &bad), "flip at {i}");
    }
}

#[test]
fn chunk_bodies_round_trip_and_fail_on_a_flipped_byte() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let key = CbKey::from_secret(&[5; 32]);
    let nonce = CbNonce([1; 24]);
    let chunk = random_bytes(&mut rng, 70_001);
    let mut body = Vec::new();
    let mut e = ChunkEncryptor::new(&key, &nonce, chunk.len() as u64);
    for p in pieces(&mut rng, &chunk, 4099) {
        e.push(p, &mut body).expect("push");
    }
    e.finish(&mut body).expect("finish");
    assert_eq!(body.len(), chunk.len() + 16);
    let run = |body: &[u8], rng: &mut rand::rngs::StdRng| {
        let mut d = ChunkDecryptor::new(&key, &nonce, chunk.len() as u64);
        let mut out = Vec::new();
        for p in pieces(rng, body, 3001) {
            d.push(p, &mut out)?;
        }
        d.finish().map(|_| out)
    };
    assert_eq!(run(&body, &mut rng).expect("decrypts"), chunk);
    for i in [0, 1, 16, 70_000, 70_001, 70_016] {
        let mut bad = body.clone();
        bad[i] ^= 4;
        assert!(run(&bad, &mut rng).is_err(), "flip at {i}");
    }
    assert_eq!(
        run(&body[..70_000], &mut rng),
        Err(XftpError::Size("chunk ended early"))
    );
    assert_eq!(run(&body[..70_010], &mut rng), Err(XftpError::BadTag));
    let mut longer = body.clone();
    longer.push(1);
    assert!(run(&longer, &mut rng).is_err());
}

#[test]
fn chunk_sizing() {
    let (k64, k256, m1, m4) = (
        u64::from(CHUNK_SIZE_0),
        u64::from(CHUNK_SIZE_1),
        u64::from(CHUNK_SIZE_2),
        u64::from(CHUNK_SIZE_3),
    );
    // At and around each ¾ threshold.
    assert_eq!(prepare_chunk_sizes(m1 * 3 / 4), vec![CHUNK_SIZE_1; 3]);
    assert_eq!(prepare_chunk_sizes(m1 * 3 / 4 + 1), vec![CHUNK_SIZE_2]);
    assert_eq!(prepare_chunk_sizes(k256 * 3 / 4 + 1), vec![CHUNK_SIZE_1]);
    assert_eq!(prepare_chunk_sizes(k256 * 3 / 4), vec![CHUNK_SIZE_0; 3]);
    assert_eq!(prepare_chunk_sizes(m4 * 3 / 4), vec![CHUNK_SIZE_2; 3]);
    assert_eq!(prepare_chunk_sizes(m4 * 3 / 4 + 1), vec![CHUNK_SIZE_3]);
    assert_eq!(
        prepare_chunk_sizes(2 * m4 + 1),
        vec![CHUNK_SIZE_3, CHUNK_SIZE_3, CHUNK_SIZE_2]
    );
    assert_eq!(
        prepare_chunk_sizes(k64 + 1),
        vec![CHUNK_SIZE_0, CHUNK_SIZE_0]
    );
    assert_eq!(single_chunk_size(0), Some(CHUNK_SIZE_0));
    assert_eq!(single_chunk_size(k64 + 1), Some(CHUNK_SIZE_1));
    assert_eq!(single_chunk_size(m4), Some(CHUNK_SIZE_3));
    assert_eq!(single_chunk_size(m4 + 1), None);
    let (sizes, total) = encrypted_file_sizes(10);
    assert_eq!((sizes, total), (vec![CHUNK_SIZE_0], k64));
    let specs = prepare_chunk_specs(&[CHUNK_SIZE_3, CHUNK_SIZE_2]);
    assert_eq!(
        specs[1],
        ChunkSpec {
            offset: m4,
            size: CHUNK_SIZE_2
        }
    );
    for (n, s) in [
        // Zero prints as `0gb`: the reference divides down to the largest unit.
        (0, "0gb"),
        (1536, "1536"),
        (3 << 30, "3gb"),
        (1025 << 20, "1025mb"),
    ] {
        assert_eq!(file_size_str(n), s);
        assert_eq!(parse_file_size(s).expect("parses"), n);
    }
    assert_eq!(parse_file_size("2048kb").expect("parses"), 2 << 20);
    for bad in ["", "kb", "1.5mb", "-1", "99999999999999999999gb"] {
        assert!(parse_file_size(bad).is_err(), "{bad}");
    }
}

#[test]
fn deeply_nested_yaml_is_refused_without_recursing() {
    let deep: String = (0..2_000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    assert!(FileDescription::from_yaml(&deep).is_err());
    let dashes = "- ".repeat(200_000) + "x\n";
    assert!(FileDescription::from_yaml(&dashes).is_err());
}
