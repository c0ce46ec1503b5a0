//! XFTP commands, responses, handshake records and command/response blocks. The first byte
//! picks the XFTP version (1–3, `byte % 3`) and what the rest is (`byte / 3 % 4`): a command
//! or response body, a handshake record, or a transmission padded into a block. Decoding
//! never panics; whatever decodes encodes to bytes that decode to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xftp_proto::transmission::{decode_client_block, decode_server_block};
use xftp_proto::{
    FileCommand, FileResponse, Version, XftpClientHandshake, XftpClientHello, XftpServerHandshake,
    XFTP_BLOCK_SIZE,
};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let v = Version(1 + u16::from(first % 3));
    match first / 3 % 4 {
        0 => {
            if let Ok(cmd) = FileCommand::decode(v, body) {
                let out = cmd.encode(v).expect("a decoded command encodes");
                assert_eq!(FileCommand::decode(v, &out).expect("re-decodes"), cmd);
            }
            if let Ok(resp) = FileResponse::decode(v, body) {
                let out = resp.encode(v).expect("a decoded response encodes");
                // BLOCKED is sent as AUTH before v3, so compare with what v3 reads back.
                if v >= Version(3) {
                    assert_eq!(FileResponse::decode(v, &out).expect("re-decodes"), resp);
                } else {
                    FileResponse::decode(v, &out).expect("re-decodes");
                }
            }
        }
        1 => {
            if let Ok(h) = XftpServerHandshake::decode(body) {
                let block = h.encode_block().expect("a decoded record fits a block");
                assert_eq!(XftpServerHandshake::decode_block(&block).expect("re-decodes"), h);
            }
            if let Ok(h) = XftpClientHandshake::decode(body) {
                let block = h.encode_block().expect("fits");
                assert_eq!(XftpClientHandshake::decode_block(&block).expect("re-decodes"), h);
            }
            if let Ok(h) = XftpClientHello::decode(body) {
                let block = h.encode_block().expect("fits");
                assert_eq!(XftpClientHello::decode_block(&block).expect("re-decodes"), h);
            }
        }
        2 => {
            // The body is the unpadded batch; pad it as a peer would.
            if let Ok(block) = simplex_encoding::pad(body, XFTP_BLOCK_SIZE) {
                let _ = decode_server_block(v, &[7; 32], &block);
                let _ = decode_client_block(v, &[7; 32], &block);
            }
        }
        _ => {
            let _ = decode_server_block(v, &[7; 32], body);
            let _ = decode_client_block(v, &[7; 32], body);
            let _ = XftpServerHandshake::decode_block(body);
            let _ = XftpClientHandshake::decode_block(body);
        }
    }
});
