//! Every field of the reference's XFTP vectors (`xftp_transmission`, `xftp_commands`,
//! `xftp_responses`, `xftp_handshake`, `xftp_description`, `xftp_address`, `xftp_chunks`,
//! `xftp_file_crypto`), read in place; skipped with a notice when the vectors are absent.

use base64::Engine;
use serde_json::Value;
use simplex_crypto::{
    sha256, sign, verify, CbNonce, KeyHash, PrivateKeyEd25519, PrivateKeyX25519, PrivateSignKey,
    PublicSignKey, SbKey,
};
use simplex_encoding::string::base64url_encode;
use simplex_encoding::{decode_all, Encode, ShortBytes};
use smp_proto::handshake::{SignatureAlgorithm, SignedKey};
use smp_proto::CertChainPubKey;
use test_support::{hex_field, reference_vectors, str_field};
use xftp_proto::chunks::prepare_chunk_sizes;
use xftp_proto::description::FileDescription;
use xftp_proto::file_crypto::{decrypt_file, encrypt_file};
use xftp_proto::handshake::identity_proof_bytes;
use xftp_proto::transmission::{decode_server_block, encode_signed_command_block};
use xftp_proto::uri::{decode_web_uri, encode_web_uri};
use xftp_proto::*;

fn section(name: &str) -> Option<Value> {
    reference_vectors(name).map(|v| v[name].clone())
}

/// Checks a padded block against `len`, `head_hex`, `pad_byte` and `sha256`.
fn check_block(block: &[u8], v: &Value) {
    assert_eq!(block.len() as u64, v["len"].as_u64().expect("len"));
    let head = hex_field(v, "head_hex");
    assert_eq!(hex::encode(&block[..head.len()]), hex::encode(&head));
    let pad = hex_field(v, "pad_byte");
    let msg_len = usize::from(u16::from_be_bytes([block[0], block[1]]));
    assert!(block[2 + msg_len..].iter().all(|&b| b == pad[0]));
    assert_eq!(hex::encode(sha256(block)), str_field(v, "sha256"));
}

#[test]
fn xftp_transmission() {
    let Some(t) = section("xftp_transmission") else {
        return;
    };
    // The layout the vectors describe: a padded batch of one transmission.
    assert!(str_field(&t, "layout").starts_with("block = pad16384( 0x01 || Large("));
    let p = &t["ping_unsigned"];
    let sess = hex_field(p, "sessionId_hex");
    let corr = str_field(p, "corrId_utf8").as_bytes();
    let block = encode_signed_command_block(
        CURRENT_XFTP_VERSION,
        &sess,
        corr,
        &hex_field(p, "entityId_hex"),
        &FileCommand::Ping,
        None,
    )
    .expect("ping");
    check_block(&block, p);
    let d = &t["decode_roundtrip"];
    let st = decode_server_block(CURRENT_XFTP_VERSION, &sess, &block).expect("decodes");
    assert_eq!(st.raw.corr_id, str_field(d, "corrId_utf8").as_bytes());
    assert_eq!(
        FileCommand::Ping
            .encode(CURRENT_XFTP_VERSION)
            .expect("ping"),
        str_field(d, "command_utf8").as_bytes()
    );
    assert_eq!(st.command, FileCommand::Ping);

    let f = &t["fput_signed"];
    let sess = hex_field(f, "sessionId_hex");
    let key = PrivateKeyEd25519::from_raw(&hex_field(f, "signer_seed_hex")).expect("seed");
    let key = PrivateSignKey::Ed25519(key);
    let entity = hex_field(f, "entityId_hex");
    let block = encode_signed_command_block(
        CURRENT_XFTP_VERSION,
        &sess,
        str_field(f, "corrId_utf8").as_bytes(),
        &entity,
        &FileCommand::Put,
        Some(&key),
    )
    .expect("fput");
    check_block(&block, f);
    let st = decode_server_block(CURRENT_XFTP_VERSION, &sess, &block).expect("decodes");
    assert_eq!(st.command, FileCommand::Put);
    assert_eq!(st.raw.entity_id, entity.as_slice());
    assert!(st.authorization.is_some());
}

#[test]
fn xftp_commands() {
    let Some(c) = section("xftp_commands") else {
        return;
    };
    let info: FileInfo = decode_all(&hex_field(&c["FileInfo"], "hex")).expect("FileInfo");
    assert_eq!(info.to_bytes(), hex_field(&c["FileInfo"], "hex"));
    for v in [Version(1), Version(2), Version(3)] {
        for name in [
            "FNEW_no_basic_auth",
            "FNEW_with_basic_auth",
            "FADD",
            "FPUT",
            "FDEL",
            "FGET",
            "FACK",
            "PING",
        ] {
            let bytes = hex_field(&c[name], "hex");
            let cmd = FileCommand::decode(v, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cmd.encode(v).expect("encodes"), bytes, "{name}");
            match (name, &cmd) {
                ("FNEW_no_basic_auth", FileCommand::New { file, auth, .. }) => {
                    assert_eq!(*file, info);
                    assert!(auth.is_none());
                }
                ("FNEW_with_basic_auth", FileCommand::New { file, auth, .. }) => {
                    assert_eq!(*file, info);
                    let a = auth.as_ref().expect("auth");
                    assert_eq!(a.as_bytes(), str_field(&c[name], "auth_utf8").as_bytes());
                }
                ("FGET", FileCommand::Get { rcv_dh_key }) => {
                    assert_eq!(rcv_dh_key.as_raw(), hex_field(&c[name], "rcvDhKey_raw_hex"));
                }
                ("FADD", FileCommand::Add { rcv_keys }) => assert_eq!(rcv_keys.len(), 1),
                ("FPUT", FileCommand::Put)
                | ("FDEL", FileCommand::Del)
                | ("PING", FileCommand::Ping) => {}
                ("FACK", FileCommand::Ack) => {
                    assert!(str_field(&c[name], "note").contains("no params"));
                }
                _ => panic!("{name} decoded as {cmd:?}"),
            }
        }
    }
}

#[test]
fn xftp_responses() {
    let Some(r) = section("xftp_responses") else {
        return;
    };
    let ids = |v: &Value| -> Vec<Vec<u8>> {
        v.as_array()
            .expect("ids")
            .iter()
            .map(|s| hex::decode(s.as_str().expect("id")).expect("hex"))
            .collect()
    };
    let sb = |v: &[ShortBytes]| v.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
    for (name, v) in r.as_object().expect("object") {
        let bytes = hex_field(v, "hex");
        let resp = FileResponse::decode(CURRENT_XFTP_VERSION, &bytes).expect("decodes");
        assert_eq!(
            resp.encode(CURRENT_XFTP_VERSION).expect("encodes"),
            bytes,
            "{name}"
        );
        let p = &v["parsed"];
        match (str_field(p, "type"), &resp) {
            (
                "FRSndIds",
                FileResponse::SndIds {
                    sender_id,
                    recipient_ids,
                },
            ) => {
                assert_eq!(hex::encode(sender_id.as_slice()), str_field(p, "senderId"));
                assert_eq!(sb(recipient_ids), ids(&p["recipientIds"]));
            }
            ("FRRcvIds", FileResponse::RcvIds(r)) => assert_eq!(sb(r), ids(&p["recipientIds"])),
            ("FRFile", FileResponse::File { srv_dh_key, nonce }) => {
                assert_eq!(hex::encode(srv_dh_key.as_raw()), str_field(p, "rcvDhKey"));
                assert_eq!(hex::encode(nonce.as_bytes()), str_field(p, "nonce"));
            }
            ("FROk", FileResponse::Ok) | ("FRPong", FileResponse::Pong) => {}
            ("FRErr", FileResponse::Err(e)) => {
                let err = &p["err"];
                match (str_field(err, "type"), e) {
                    ("AUTH", XftpErrorType::Auth) => {}
                    ("CMD", XftpErrorType::Cmd(c)) => {
                        assert_eq!(str_field(err, "cmdErr"), "SYNTAX");
                        assert_eq!(*c, smp_proto::CommandError::Syntax);
                    }
                    ("BLOCKED", XftpErrorType::Blocked(info)) => {
                        assert_eq!(info.to_bytes(), str_field(err, "blockInfo").as_bytes());
                        // Sent as AUTH before v3.
                        assert_eq!(resp.encode(Version(2)).expect("v2"), b"ERR AUTH");
                    }
                    other => panic!("{name}: {other:?}"),
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

fn pem_der(name: &str) -> Option<Vec<u8>> {
    let path = test_support::fixture(name, "xftp_handshake")?;
    let text = std::fs::read_to_string(path).expect("fixture");
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("PEM base64"),
    )
}

#[test]
fn xftp_handshake_client_records() {
    let Some(h) = section("xftp_handshake") else {
        return;
    };
    let native = XftpClientHello {
        web_challenge: None,
    };
    assert_eq!(
        native.to_bytes(),
        hex_field(&h["client_hello_native"], "hex")
    );
    assert!(str_field(&h["client_hello_native"], "note").contains("EMPTY body"));
    let web_v = &h["client_hello_web"];
    let challenge: [u8; 32] = hex_field(web_v, "challenge_hex").try_into().expect("32");
    let web = XftpClientHello {
        web_challenge: Some(challenge),
    };
    let block = web.encode_block().expect("block");
    check_block(&block, web_v);
    assert_eq!(XftpClientHello::decode_block(&block).expect("decodes"), web);

    let ch_v = &h["client_handshake"];
    let ch = XftpClientHandshake {
        version: Version(u16::try_from(ch_v["xftpVersion"].as_u64().expect("v")).expect("u16")),
        key_hash: KeyHash::from_slice(&hex_field(ch_v, "keyHash_hex")).expect("hash"),
    };
    let block = ch.encode_block().expect("block");
    check_block(&block, ch_v);
    assert_eq!(
        XftpClientHandshake::decode_block(&block).expect("decodes"),
        ch
    );
    assert_eq!(
        XFTP_SERVER_VERSIONS.to_bytes(),
        hex_field(&h, "version_range_1_3_hex")
    );
}

fn server_handshake_case(v: &Value, dir: &str) {
    let (alg, leaf, ca, key) = match str_field(v, "sig_alg") {
        "ed25519" => (
            SignatureAlgorithm::Ed25519,
            "ed25519/server.crt",
            "ed25519/ca.crt",
            "ed25519/server.key",
        ),
        "ed448" => (
            SignatureAlgorithm::Ed448,
            "server.crt",
            "ca.crt",
            "server.key",
        ),
        other => panic!("algorithm {other}"),
    };
    assert!(str_field(v, "fixtures").starts_with(dir));
    let (Some(leaf), Some(ca), Some(key)) = (pem_der(leaf), pem_der(ca), pem_der(key)) else {
        return;
    };
    let key = PrivateSignKey::from_der(&key).expect("server key");
    let dh = PrivateKeyX25519::from_raw(&hex_field(v, "dh_priv_hex")).expect("dh");
    let dh_pub = dh.public_key();
    assert_eq!(dh_pub.as_raw(), hex_field(v, "dh_pub_hex"));
    let signed = SignedKey::build(&dh_pub, alg, |m| sign(&key, m)).expect("signed key");
    assert_eq!(hex::encode(signed.der()), str_field(v, "signedKey_der_hex"));
    assert_eq!(
        hex::encode(signed.signed_bytes()),
        str_field(v, "signedKey_object_raw_hex")
    );
    let session_id = hex_field(v, "sessionId_hex");
    let challenge = hex_field(v, "web_challenge_hex");
    let proof = sign(&key, &identity_proof_bytes(&challenge, &session_id));
    assert_eq!(
        hex::encode(proof.as_bytes()),
        str_field(v, "webIdentityProof_hex")
    );
    let hs = XftpServerHandshake {
        versions: XFTP_SERVER_VERSIONS,
        session_id: ShortBytes::from_slice(&session_id).expect("short"),
        auth_pub_key: CertChainPubKey {
            cert_chain: vec![leaf, ca.clone()],
            signed_key: signed,
        },
        web_identity_proof: Some(proof),
    };
    let block = hs.encode_block().expect("block");
    check_block(&block, &v["server_handshake_block"]);
    let decoded = XftpServerHandshake::decode_block(&block).expect("decodes");
    assert_eq!(decoded, hs);
    assert!(str_field(v, "body_layout").starts_with("VersionRange(Word16,Word16) || sessionId"));
    assert_eq!(
        hex::encode(
            decoded
                .auth_pub_key
                .signed_key
                .key()
                .expect("an X25519 key")
                .as_raw()
        ),
        str_field(v, "ts_decoded_extracted_dh_pub_hex")
    );
    let public: PublicSignKey = key.public_key();
    let verified = decoded.verify_identity_proof(&challenge, &public);
    assert_eq!(
        verified,
        v["ts_verifyIdentityProof"].as_bool().expect("bool")
    );
    let mut wrong = challenge.clone();
    wrong[0] ^= 1;
    assert_eq!(
        decoded.verify_identity_proof(&wrong, &public),
        v["ts_verifyIdentityProof_wrong_challenge"]
            .as_bool()
            .expect("bool")
    );
    assert!(verify(
        &public,
        &proof,
        &identity_proof_bytes(&challenge, &session_id)
    ));
    let fp = KeyHash::of_certificate_der(&ca);
    assert_eq!(
        base64url_encode(fp.as_bytes()),
        str_field(v, "ca_fingerprint_base64url")
    );
    let addr = XftpServer::parse_str(str_field(v, "xftp_address").as_bytes()).expect("address");
    assert_eq!(addr.key_hash, fp.as_bytes());
    assert_eq!(addr.to_string(), str_field(v, "xftp_address"));
}

#[test]
fn xftp_handshake_server_records() {
    let Some(h) = section("xftp_handshake") else {
        return;
    };
    server_handshake_case(&h["server_handshake_ed25519"], "tests/fixtures/ed25519/");
    server_handshake_case(&h["server_handshake_ed448"], "tests/fixtures/{server.crt");
    // The Ed448 CA's fingerprint is the reference tests' `testKeyHash`, the one in the first
    // address vector.
    let fp = str_field(&h["server_handshake_ed448"], "ca_fingerprint_base64url");
    let same = section("xftp_address").expect("addresses")[0]["in"]
        .as_str()
        .expect("in")
        .contains(fp);
    assert_eq!(
        same,
        h["ed448_fingerprint_matches_haskell_testKeyHash"]
            .as_bool()
            .expect("bool")
    );
}

#[test]
fn xftp_description() {
    let Some(d) = section("xftp_description") else {
        return;
    };
    assert!(str_field(&d, "fixture").ends_with("file_description.yaml"));
    assert!(str_field(&d, "web_uri_note").contains("test decode"));
    // The fixture travels inside the web link: inflate it, parse it and print it again.
    let uri = str_field(&d, "web_uri_deflateRaw_base64url");
    let fd = decode_web_uri(uri).expect("web link");
    let compressed = base64::engine::general_purpose::URL_SAFE
        .decode(uri)
        .expect("base64url");
    let mut yaml = String::new();
    std::io::Read::read_to_string(&mut flate2_reader(&compressed), &mut yaml).expect("inflate");
    assert!(yaml.starts_with("chunkSize: 8mb\n"));
    let reencoded = fd.to_yaml();
    assert_eq!(
        reencoded == yaml,
        d["reencode_identical"].as_bool().expect("bool")
    );
    assert_eq!(FileDescription::from_yaml(&yaml).expect("parses"), fd);
    let p = &d["parsed"];
    assert_eq!(fd.party.as_str(), str_field(p, "party"));
    assert_eq!(fd.size, p["size"].as_u64().expect("size"));
    assert_eq!(
        u64::from(fd.chunk_size),
        p["chunkSize"].as_u64().expect("chunkSize")
    );
    assert_eq!(
        fd.chunks.len() as u64,
        p["chunks"].as_u64().expect("chunks")
    );
    assert_eq!(
        u64::from(fd.chunks[3].chunk_size),
        p["chunk4_size"].as_u64().expect("c4")
    );
    assert_eq!(
        fd.chunks[0].replicas.len() as u64,
        p["chunk1_replicas"].as_u64().expect("replicas")
    );
    // DEFLATE output differs between implementations (the vector's note): ours must read back.
    assert_eq!(decode_web_uri(&encode_web_uri(&fd)).expect("our link"), fd);
    for pair in d["filesize_encode"].as_array().expect("sizes") {
        let n = pair[0].as_u64().expect("n");
        let s = pair[1].as_str().expect("s");
        assert_eq!(file_size_str(n), s);
        assert_eq!(parse_file_size(s).expect("parses"), n);
    }
    let bytes: Vec<u8> = (0..32).collect();
    assert_eq!(base64url_encode(&bytes), str_field(&d, "base64url_0_31"));
}

fn flate2_reader(bytes: &[u8]) -> impl std::io::Read + '_ {
    flate2::read::DeflateDecoder::new(bytes)
}

#[test]
fn xftp_address() {
    let Some(a) = section("xftp_address") else {
        return;
    };
    for v in a.as_array().expect("list") {
        let input = str_field(v, "in");
        let s = XftpServer::parse_web(input).expect("parses");
        assert_eq!(hex::encode(&s.key_hash), str_field(v, "keyHash_hex"));
        assert_eq!(s.hosts[0].to_string(), str_field(v, "host"));
        assert_eq!(s.port_or_default(), str_field(v, "port"));
        assert_eq!(s.to_web_string(), str_field(v, "formatted"));
        // The reference's own parser reads every host; a port between hosts is not its form.
        match XftpServer::parse_str(input.as_bytes()) {
            Ok(full) => {
                assert_eq!(full.to_string(), input);
                assert_eq!(full.to_web_string(), str_field(v, "formatted"));
            }
            Err(_) => assert!(input.contains(":5223,")),
        }
    }
}

#[test]
fn xftp_chunks() {
    let Some(c) = section("xftp_chunks") else {
        return;
    };
    for v in c.as_array().expect("list") {
        let payload = v["payload"].as_u64().expect("payload");
        let sizes: Vec<u32> = v["sizes"]
            .as_array()
            .expect("sizes")
            .iter()
            .map(|s| u32::try_from(s.as_u64().expect("size")).expect("u32"))
            .collect();
        assert_eq!(prepare_chunk_sizes(payload), sizes, "payload {payload}");
    }
}

#[test]
fn xftp_file_crypto() {
    let Some(f) = section("xftp_file_crypto") else {
        return;
    };
    let key = SbKey::from_slice(&hex_field(&f, "key_hex")).expect("key");
    let nonce = CbNonce::from_slice(&hex_field(&f, "nonce_hex")).expect("nonce");
    let header = FileHeader {
        file_name: str_field(&f, "fileName").to_owned(),
        file_extra: None,
    };
    assert_eq!(
        header.encode().expect("header"),
        hex_field(&f, "header_hex")
    );
    let content = str_field(&f, "content_utf8").as_bytes();
    let enc_size = f["encSize"].as_u64().expect("encSize");
    let enc = encrypt_file(&key, &nonce, &header, content, enc_size).expect("encrypts");
    assert_eq!(enc.len() as u64, enc_size);
    assert_eq!(hex::encode(sha256(&enc)), str_field(&f, "enc_sha256"));
    let head = hex_field(&f, "enc_head_hex");
    assert_eq!(enc[..head.len()], head[..]);
    assert_eq!(enc[enc.len() - 16..], hex_field(&f, "enc_tail_tag_hex")[..]);
    let decrypted = decrypt_file(&key, &nonce, &enc);
    assert_eq!(decrypted.is_ok(), f["decrypts"].as_bool().expect("bool"));
    let (h, c) = decrypted.expect("decrypts");
    assert_eq!(h, header);
    assert_eq!(c, content);
}
