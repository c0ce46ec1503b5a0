//! A relay in process on 127.0.0.1 port 0 over real TLS and HTTP/2, and chunk helpers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use simplex_crypto::{sha256, PrivateAuthKey, PrivateKeyEd25519};
use simplex_encoding::ShortBytes;
use simplex_transport::{GeneratedCredentials, SignAlgorithm};
use xftp_client::{ClientConfig, XftpClient};
use xftp_proto::{FileInfo, XftpServer};
use xftp_server::{RunningServer, ServerConfig};

/// A relay's identity and directories, to start (and restart) it.
pub struct Relay {
    pub creds: GeneratedCredentials,
    pub dir: PathBuf,
}

impl Relay {
    pub fn new(dir: &Path) -> Relay {
        Relay {
            creds: GeneratedCredentials::generate(SignAlgorithm::Ed25519, "127.0.0.1")
                .expect("credentials"),
            dir: dir.to_path_buf(),
        }
    }

    /// The default test configuration: files in `<dir>/files`, any free port.
    pub fn config(&self) -> ServerConfig {
        ServerConfig::new("127.0.0.1:0".parse().expect("addr"), self.dir.join("files"))
    }

    pub async fn start(&self, cfg: ServerConfig) -> RunningServer {
        let creds = self.creds.server_credentials().expect("server credentials");
        xftp_server::start(cfg, &creds).await.expect("relay starts")
    }
}

pub fn address(s: &RunningServer) -> XftpServer {
    XftpServer::parse_str(s.address("127.0.0.1").as_bytes()).expect("address")
}

pub async fn client(s: &RunningServer) -> XftpClient {
    XftpClient::connect(&address(s), &ClientConfig::default())
        .await
        .expect("connects")
}

pub fn key() -> PrivateAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut rand::rngs::OsRng))
}

/// A chunk of `size` random bytes with its FNEW info for `sender`.
pub fn chunk(size: u32, sender: &PrivateAuthKey) -> (Bytes, FileInfo) {
    let mut data = vec![0u8; size as usize];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut data);
    let info = FileInfo {
        snd_key: sender.public_key(),
        size,
        digest: ShortBytes::from_slice(&sha256(&data)).expect("32 bytes"),
    };
    (Bytes::from(data), info)
}
