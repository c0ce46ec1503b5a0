//! What a running relay is configured with (the reference's `XFTPServerConfig`), filled from
//! `file-server.ini` by the command line or directly by tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use smp_proto::BasicAuth;
use xftp_proto::{VersionRange, SERVER_CHUNK_SIZES, XFTP_SERVER_VERSIONS};

/// The default expiry of chunks, hours (`defFileExpirationHours`).
pub const DEFAULT_EXPIRE_HOURS: u64 = 48;
/// How often expired chunks are looked for (`defaultFileExpiration`'s check interval).
pub const DEFAULT_EXPIRE_CHECK: Duration = Duration::from_secs(2 * 3600);
/// Chunk creation times are rounded down to the hour (`RoundedFileTime`).
pub const FILE_TIME_PRECISION: i64 = 3600;
/// The time allowed to receive one chunk body (`fileTimeout`, 5 minutes).
pub const FILE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The length of chunk and recipient IDs (`fileIdSize`).
pub const FILE_ID_SIZE: usize = 16;

/// Chunk expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiration {
    /// Chunks older than this are deleted, seconds.
    pub ttl_secs: i64,
    /// How often to look for them.
    pub check_interval: Duration,
}

/// Disconnecting idle clients (`[INACTIVE_CLIENTS]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InactiveClients {
    /// A connection with no request for this long is closed.
    pub ttl: Duration,
    /// How often connections are checked.
    pub check_interval: Duration,
}

/// The relay's configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// The directory of chunk bodies (`[FILES] path`).
    pub files_path: PathBuf,
    /// The storage quota in bytes (`[FILES] storage_quota`), `None` for none.
    pub quota: Option<u64>,
    /// The store log, when enabled.
    pub store_log: Option<PathBuf>,
    /// `[AUTH] new_files`.
    pub allow_new_files: bool,
    /// `[AUTH] create_password`.
    pub create_password: Option<BasicAuth>,
    /// Chunk expiry (`[STORE_LOG] expire_files_hours`).
    pub expiration: Option<Expiration>,
    /// The rounding of creation times, seconds (3600; tests use 1).
    pub time_precision: i64,
    /// The time allowed to receive one chunk body.
    pub file_timeout: Duration,
    /// Idle client disconnection.
    pub inactive_clients: Option<InactiveClients>,
    /// Chunk sizes accepted by `FNEW`.
    pub chunk_sizes: Vec<u32>,
    /// Offered XFTP versions.
    pub versions: VersionRange,
    /// `log_stats = on`: the daily statistics line and the counters' backup.
    pub stats: Option<crate::stats::StatsLogConfig>,
    /// `[TRANSPORT] control_port` (on 127.0.0.1; 0: any free port) and the `[AUTH]`
    /// control-port passwords.
    pub control: Option<(u16, smp_server::control::ControlConfig)>,
    /// `prometheus_interval`: the metrics file and how often it is rewritten.
    pub prometheus: Option<(PathBuf, Duration)>,
    /// `[WEB] cert` and `key`: the certificate (a browser accepts) served to clients that
    /// name a host (SNI), as web clients do; with it, their answers carry CORS headers.
    pub web_tls: Option<(PathBuf, PathBuf)>,
}

impl ServerConfig {
    /// A relay on `listen` storing chunks in `files_path`, with the reference's defaults and
    /// no store log.
    pub fn new(listen: SocketAddr, files_path: PathBuf) -> Self {
        ServerConfig {
            listen,
            files_path,
            quota: None,
            store_log: None,
            allow_new_files: true,
            create_password: None,
            expiration: Some(Expiration {
                ttl_secs: i64::try_from(DEFAULT_EXPIRE_HOURS * 3600).unwrap_or(i64::MAX),
                check_interval: DEFAULT_EXPIRE_CHECK,
            }),
            time_precision: FILE_TIME_PRECISION,
            file_timeout: FILE_TIMEOUT,
            inactive_clients: None,
            chunk_sizes: SERVER_CHUNK_SIZES.to_vec(),
            versions: XFTP_SERVER_VERSIONS,
            stats: None,
            prometheus: None,
            control: None,
            web_tls: None,
        }
    }
}
