//! The store log's record format: one text line per queue change, printed and parsed as
//! the reference's `StoreLog.hs` does.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use simplex_encoding::string::{base64url_decode, base64url_encode};

use crate::store::{EntityId, NtfCreds, QueueLink, QueueMode, QueueRecord, QueueStatus};
use simplex_crypto::{DhSecretX25519, PublicAuthKey};
use smp_proto::ServiceRole;

/// One line of the store log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLogRecord {
    /// `CREATE rid=… rk=… rdh=… sid=… sk=…[ queue_mode=…]…`
    CreateQueue(Box<QueueRecord>),
    /// `LINK <rid> <link ID> <fixed data> <user data>`
    CreateLink(EntityId, QueueLink),
    /// `LDELETE <rid>`
    DeleteLink(EntityId),
    /// `SECURE <rid> <sender key>`
    SecureQueue(EntityId, PublicAuthKey),
    /// `KEYS <rid> <keys>`
    UpdateKeys(EntityId, Vec<PublicAuthKey>),
    /// `NOTIFIER <rid> <nid> <nkey> <dh secret>[ nsrv=…]`
    AddNotifier(EntityId, NtfCreds),
    /// `SUSPEND <rid>`
    SuspendQueue(EntityId),
    /// `BLOCK <rid> <info>`
    BlockQueue(EntityId, String),
    /// `UNBLOCK <rid>`
    UnblockQueue(EntityId),
    /// `DELETE <rid>`
    DeleteQueue(EntityId),
    /// `NDELETE <rid>`
    DeleteNotifier(EntityId),
    /// `TIME <rid> <day as Unix seconds>`
    UpdateTime(EntityId, i64),
    /// `NEW_SERVICE service_id=… role=… cert=… cert_hash=… created_at=…` (v16): a service
    /// client's record, made at its first handshake.
    NewService(ServiceRecord),
    /// `QUEUE_SERVICE <rid> <R|N> [<service ID>]`: the queue's recipient (`R`) or notifier
    /// (`N`) service association, or none.
    QueueService(EntityId, ServiceParty, Option<EntityId>),
}

/// A service's record (`ServiceRec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// The service ID.
    pub service_id: EntityId,
    /// The role: `M` messaging, `N` notifier, `P` proxy.
    pub role: ServiceRole,
    /// The service's TLS chain (DER, leaf first).
    pub cert: Vec<Vec<u8>>,
    /// SHA-256 of its identity certificate: one service per certificate.
    pub cert_hash: Vec<u8>,
    /// The day it was made (Unix seconds, a multiple of 86,400).
    pub created_at: i64,
}

impl ServiceRecord {
    /// The text after `NEW_SERVICE ` (the reference's `strEncode ServiceRec`).
    pub fn to_text(&self) -> String {
        let role = match self.role {
            ServiceRole::Messaging => 'M',
            ServiceRole::Notifier => 'N',
            ServiceRole::Proxy => 'P',
        };
        let cert: Vec<String> = self.cert.iter().map(|c| b64(c)).collect();
        format!(
            "service_id={} role={role} cert={} cert_hash={} created_at={}",
            b64(&self.service_id),
            cert.join(","),
            b64(&self.cert_hash),
            self.created_at
        )
    }

    fn parse(rest: &str) -> Result<ServiceRecord, ParseError> {
        let mut c = Cursor(rest);
        let service_id = id(c.field("service_id=")?)?;
        let role = match c.field("role=")? {
            "M" => ServiceRole::Messaging,
            "N" => ServiceRole::Notifier,
            "P" => ServiceRole::Proxy,
            _ => return Err(ParseError("service role")),
        };
        let cert = c
            .field("cert=")?
            .split(',')
            .map(|s| base64url_decode(s.as_bytes()).map_err(|_| ParseError("service cert")))
            .collect::<Result<Vec<_>, _>>()?;
        let cert_hash = id(c.field("cert_hash=")?)?;
        let created_at = c
            .field("created_at=")?
            .parse()
            .map_err(|_| ParseError("created_at"))?;
        Ok(ServiceRecord {
            service_id,
            role,
            cert,
            cert_hash,
            created_at,
        })
    }
}

/// Whose service a `QUEUE_SERVICE` record sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceParty {
    /// `R`: the recipient's (`rsrv=`).
    Recipient,
    /// `N`: the notifier's (`nsrv=`).
    Notifier,
}

/// A store log or messages file line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad log line: {0}")]
pub struct ParseError(pub(super) &'static str);

pub(super) fn b64(bytes: &[u8]) -> String {
    base64url_encode(bytes)
}

fn keys_str(keys: &[PublicAuthKey]) -> String {
    keys.iter()
        .map(|k| b64(&k.to_der()))
        .collect::<Vec<_>>()
        .join(",")
}

fn ntf_str(n: &NtfCreds) -> String {
    let mut s = format!(
        "{} {} {}",
        b64(&n.notifier_id),
        b64(&n.notifier_key.to_der()),
        b64(n.rcv_ntf_dh_secret.as_bytes())
    );
    if let Some(srv) = &n.ntf_service {
        s.push_str(" nsrv=");
        s.push_str(&b64(srv));
    }
    s
}

fn status_str(s: &QueueStatus) -> Option<String> {
    match s {
        QueueStatus::Active => None,
        QueueStatus::Off => Some("off".into()),
        QueueStatus::Blocked(info) => Some(format!("blocked,{info}")),
    }
}

/// The link data as the reference's pair `(fixed, user)`: two base64url strings.
fn link_data_str(l: &QueueLink) -> String {
    format!("{} {}", b64(&l.fixed), b64(&l.user))
}

/// The `QueueRec` text of the reference (everything after `rid=…`).
fn queue_str(q: &QueueRecord) -> String {
    let mut s = format!(
        "rk={} rdh={} sid={} sk={}",
        keys_str(&q.recipient_keys),
        b64(q.rcv_dh_secret.as_bytes()),
        b64(&q.sender_id),
        q.sender_key
            .as_ref()
            .map(|k| b64(&k.to_der()))
            .unwrap_or_default()
    );
    if let Some(m) = q.queue_mode {
        s.push_str(match m {
            QueueMode::Messaging => " queue_mode=M",
            QueueMode::Contact => " queue_mode=C",
        });
    }
    if let Some(l) = &q.link {
        s.push_str(" link_id=");
        s.push_str(&b64(&l.link_id));
        s.push_str(" queue_data=");
        s.push_str(&link_data_str(l));
    }
    if let Some(n) = &q.notifier {
        s.push_str(" notifier=");
        s.push_str(&ntf_str(n));
    }
    if let Some(t) = q.updated_at {
        s.push_str(&format!(" updated_at={t}"));
    }
    if let Some(st) = status_str(&q.status) {
        s.push_str(" status=");
        s.push_str(&st);
    }
    if let Some(srv) = &q.rcv_service {
        s.push_str(" rsrv=");
        s.push_str(&b64(srv));
    }
    s
}

impl StoreLogRecord {
    /// The line, without the newline.
    pub fn to_line(&self) -> String {
        match self {
            StoreLogRecord::CreateQueue(q) => {
                format!("CREATE rid={} {}", b64(&q.recipient_id), queue_str(q))
            }
            StoreLogRecord::CreateLink(rid, l) => {
                format!("LINK {} {} {}", b64(rid), b64(&l.link_id), link_data_str(l))
            }
            StoreLogRecord::DeleteLink(rid) => format!("LDELETE {}", b64(rid)),
            StoreLogRecord::SecureQueue(rid, k) => {
                format!("SECURE {} {}", b64(rid), b64(&k.to_der()))
            }
            StoreLogRecord::UpdateKeys(rid, ks) => format!("KEYS {} {}", b64(rid), keys_str(ks)),
            StoreLogRecord::AddNotifier(rid, n) => format!("NOTIFIER {} {}", b64(rid), ntf_str(n)),
            StoreLogRecord::SuspendQueue(rid) => format!("SUSPEND {}", b64(rid)),
            StoreLogRecord::BlockQueue(rid, info) => format!("BLOCK {} {info}", b64(rid)),
            StoreLogRecord::UnblockQueue(rid) => format!("UNBLOCK {}", b64(rid)),
            StoreLogRecord::DeleteQueue(rid) => format!("DELETE {}", b64(rid)),
            StoreLogRecord::DeleteNotifier(rid) => format!("NDELETE {}", b64(rid)),
            StoreLogRecord::UpdateTime(rid, t) => format!("TIME {} {t}", b64(rid)),
            StoreLogRecord::NewService(sr) => format!("NEW_SERVICE {}", sr.to_text()),
            StoreLogRecord::QueueService(rid, party, sid) => format!(
                "QUEUE_SERVICE {} {} {}",
                b64(rid),
                match party {
                    ServiceParty::Recipient => "R",
                    ServiceParty::Notifier => "N",
                },
                sid.as_deref().map(b64).unwrap_or_default()
            ),
        }
    }

    /// Parses a line (without the newline).
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        let (tag, rest) = line.split_once(' ').ok_or(ParseError("no record tag"))?;
        if tag == "CREATE" {
            return parse_create(rest).map(|q| StoreLogRecord::CreateQueue(Box::new(q)));
        }
        if tag == "NEW_SERVICE" {
            return ServiceRecord::parse(rest).map(StoreLogRecord::NewService);
        }
        let (rid, arg) = match rest.split_once(' ') {
            Some((rid, arg)) => (rid, Some(arg)),
            None => (rest, None),
        };
        let rid = id(rid)?;
        let arg = || arg.ok_or(ParseError("missing argument"));
        Ok(match tag {
            "LINK" => {
                let mut c = Cursor(arg()?);
                let link_id = id(c.token())?;
                StoreLogRecord::CreateLink(rid, parse_link_data(&mut c, link_id)?)
            }
            "LDELETE" => StoreLogRecord::DeleteLink(rid),
            "SECURE" => StoreLogRecord::SecureQueue(rid, key(arg()?)?),
            "KEYS" => StoreLogRecord::UpdateKeys(rid, key_list(arg()?)?),
            "NOTIFIER" => StoreLogRecord::AddNotifier(rid, parse_ntf(&mut Cursor(arg()?))?),
            "SUSPEND" => StoreLogRecord::SuspendQueue(rid),
            "BLOCK" => StoreLogRecord::BlockQueue(rid, arg()?.to_owned()),
            "UNBLOCK" => StoreLogRecord::UnblockQueue(rid),
            "DELETE" => StoreLogRecord::DeleteQueue(rid),
            "NDELETE" => StoreLogRecord::DeleteNotifier(rid),
            "QUEUE_SERVICE" => {
                let mut c = Cursor(arg()?);
                let party = match c.token() {
                    "R" => ServiceParty::Recipient,
                    "N" => ServiceParty::Notifier,
                    _ => return Err(ParseError("service party")),
                };
                let sid = match c.token() {
                    "" => None,
                    s => Some(id(s)?),
                };
                StoreLogRecord::QueueService(rid, party, sid)
            }
            "TIME" => {
                StoreLogRecord::UpdateTime(rid, arg()?.parse().map_err(|_| ParseError("time"))?)
            }
            _ => return Err(ParseError("unknown record")),
        })
    }
}

/// Decodes base64url into `buf` (no allocation), with the rules of `base64url_decode`:
/// not empty, at most two `=`, padding only on a length that is a multiple of 4.
pub(super) fn b64_into<'b>(s: &str, buf: &'b mut [u8]) -> Result<&'b [u8], ParseError> {
    let bytes = s.as_bytes();
    let body = bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(&[][..], |end| bytes.get(..=end).unwrap_or_default());
    let pad = bytes.len() - body.len();
    if body.is_empty() || pad > 2 || (pad > 0 && bytes.len() % 4 != 0) {
        return Err(ParseError("base64url"));
    }
    let n = URL_SAFE_NO_PAD
        .decode_slice(body, &mut *buf)
        .map_err(|_| ParseError("base64url"))?;
    buf.get(..n).ok_or(ParseError("base64url"))
}

pub(super) fn id(s: &str) -> Result<EntityId, ParseError> {
    if s.len() <= 128 {
        let mut buf = [0u8; 96];
        return b64_into(s, &mut buf).map(<[u8]>::to_vec);
    }
    base64url_decode(s.as_bytes()).map_err(|_| ParseError("base64url"))
}

fn key(s: &str) -> Result<PublicAuthKey, ParseError> {
    // The longest key, Ed448 in its SPKI form, is 69 bytes.
    let mut buf = [0u8; 96];
    PublicAuthKey::from_der(b64_into(s, &mut buf)?).map_err(|_| ParseError("key"))
}

fn dh_secret(s: &str) -> Result<DhSecretX25519, ParseError> {
    let mut buf = [0u8; 48];
    let raw: [u8; 32] = b64_into(s, &mut buf)?
        .try_into()
        .map_err(|_| ParseError("dh secret"))?;
    Ok(DhSecretX25519::from_bytes(raw))
}

fn key_list(s: &str) -> Result<Vec<PublicAuthKey>, ParseError> {
    s.split(',').map(key).collect()
}

/// A cursor over space-separated text.
pub(super) struct Cursor<'a>(pub(super) &'a str);

impl<'a> Cursor<'a> {
    /// The next token up to a space (consuming the space).
    pub(super) fn token(&mut self) -> &'a str {
        let (t, rest) = self.0.split_once(' ').unwrap_or((self.0, ""));
        self.0 = rest;
        t
    }
    /// Consumes `prefix` when the text starts with it.
    pub(super) fn eat(&mut self, prefix: &str) -> bool {
        match self.0.strip_prefix(prefix) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }
    pub(super) fn field(&mut self, name: &str) -> Result<&'a str, ParseError> {
        if self.eat(name) {
            Ok(self.token())
        } else {
            Err(ParseError("missing field"))
        }
    }
}

fn parse_ntf(c: &mut Cursor<'_>) -> Result<NtfCreds, ParseError> {
    let notifier_id = id(c.token())?;
    let notifier_key = key(c.token())?;
    let secret = dh_secret(c.token())?;
    let ntf_service = if c.eat("nsrv=") {
        Some(id(c.token())?)
    } else {
        None
    };
    Ok(NtfCreds {
        notifier_id,
        notifier_key,
        rcv_ntf_dh_secret: secret,
        ntf_service,
    })
}

/// `<fixed> <user>` (base64url each) after a link ID.
fn parse_link_data(c: &mut Cursor<'_>, link_id: EntityId) -> Result<QueueLink, ParseError> {
    let data = |s: &str| {
        if s.is_empty() {
            return Ok(Vec::new());
        }
        base64url_decode(s.as_bytes())
            .ok()
            .filter(|d| d.len() <= usize::from(u16::MAX))
            .ok_or(ParseError("link data"))
    };
    let fixed = data(c.token())?;
    let user = data(c.token())?;
    Ok(QueueLink {
        link_id,
        fixed,
        user,
    })
}

fn parse_create(s: &str) -> Result<QueueRecord, ParseError> {
    let mut c = Cursor(s);
    let recipient_id = id(c.field("rid=")?)?;
    let recipient_keys = key_list(c.field("rk=")?)?;
    let rcv_dh_secret = dh_secret(c.field("rdh=")?)?;
    let sender_id = id(c.field("sid=")?)?;
    let sk = c.field("sk=")?;
    let sender_key = if sk.is_empty() { None } else { Some(key(sk)?) };
    let queue_mode = if c.eat("sndSecure=") {
        Some(if c.token() == "T" {
            QueueMode::Messaging
        } else {
            QueueMode::Contact
        })
    } else if c.eat("queue_mode=") {
        match c.token() {
            "M" => Some(QueueMode::Messaging),
            "C" => Some(QueueMode::Contact),
            _ => return Err(ParseError("queue mode")),
        }
    } else {
        None
    };
    let link = if c.eat("link_id=") {
        let link_id = id(c.token())?;
        if !c.eat("queue_data=") {
            return Err(ParseError("queue_data"));
        }
        Some(parse_link_data(&mut c, link_id)?)
    } else {
        None
    };
    let notifier = if c.eat("notifier=") {
        Some(parse_ntf(&mut c)?)
    } else {
        None
    };
    let updated_at = if c.eat("updated_at=") {
        Some(c.token().parse().map_err(|_| ParseError("updated_at"))?)
    } else {
        None
    };
    let status = if c.eat("status=") {
        match c.token() {
            "active" => QueueStatus::Active,
            "off" => QueueStatus::Off,
            other => QueueStatus::Blocked(
                other
                    .strip_prefix("blocked,")
                    .ok_or(ParseError("status"))?
                    .to_owned(),
            ),
        }
    } else {
        QueueStatus::Active
    };
    let rcv_service = if c.eat("rsrv=") {
        Some(id(c.token())?)
    } else {
        None
    };
    Ok(QueueRecord {
        recipient_id,
        recipient_keys,
        rcv_dh_secret,
        sender_id,
        sender_key,
        queue_mode,
        link,
        notifier,
        status,
        updated_at,
        rcv_service,
    })
}
