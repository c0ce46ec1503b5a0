//! One connection per relay, shared by the chunks being moved, reconnected after a network
//! error; and the state files that make transfers resumable.

use std::collections::HashMap;
use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::Mutex;
use xftp_proto::XftpServer;

use crate::client::{ClientConfig, XftpClient};
use crate::error::ClientError;

/// Connections by relay address.
#[derive(Debug)]
pub struct Pool {
    config: ClientConfig,
    clients: Mutex<HashMap<String, XftpClient>>,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: ClientConfig) -> Self {
        Pool {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The connection to `server`, made if missing.
    pub async fn get(&self, server: &XftpServer) -> Result<XftpClient, ClientError> {
        let key = server.to_string();
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let c = XftpClient::connect(server, &self.config).await?;
        clients.insert(key, c.clone());
        Ok(c)
    }

    /// Forgets the connection to `server` (after a network error).
    pub async fn drop_client(&self, server: &XftpServer) {
        self.clients.lock().await.remove(&server.to_string());
    }

    /// Runs `op` on `server`'s connection, reconnecting and retrying up to `retries` times
    /// after temporary errors.
    pub async fn with_retries<T, F, Fut>(
        &self,
        server: &XftpServer,
        retries: usize,
        mut op: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(XftpClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let mut attempt = 0;
        loop {
            let result = match self.get(server).await {
                Ok(c) => op(c).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_temporary() && attempt < retries => {
                    attempt += 1;
                    tracing::debug!("retrying after: {e}");
                    self.drop_client(server).await;
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt as u64))
                        .await;
                }
                r => return r,
            }
        }
    }
}

/// Writes `value` as JSON to `path` atomically (a new file renamed over the old).
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ClientError> {
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| ClientError::Invalid(format!("state: {e}")))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Reads JSON from `path`; `None` when missing or unreadable (a transfer then starts over).
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// base64url strings for bytes in state files.
pub mod b64 {
    use serde::{Deserialize, Deserializer, Serializer};
    use simplex_encoding::string::{base64url_decode, base64url_encode};

    /// Serializes bytes as base64url.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64url_encode(bytes))
    }

    /// Deserializes base64url bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(Vec::new());
        }
        base64url_decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// Lists of base64url strings.
pub mod b64_list {
    use serde::{Deserialize, Deserializer, Serializer};
    use simplex_encoding::string::{base64url_decode, base64url_encode};

    /// Serializes a list of byte strings.
    pub fn serialize<S: Serializer>(items: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(items.iter().map(|b| base64url_encode(b)))
    }

    /// Deserializes a list of byte strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| base64url_decode(s.as_bytes()).map_err(serde::de::Error::custom))
            .collect()
    }
}
