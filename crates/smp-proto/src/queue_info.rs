//! The queue state `INFO` carries (`QueueInfo` in the reference's `Protocol.hs`): JSON on the
//! wire, written field by field as the reference's aeson encoding writes it.

use simplex_encoding::DecodeError;

/// The queue state sent in `INFO` (`QueueInfo`, JSON on the wire, field order as the
/// reference writes it, absent optional fields left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// `qiSnd`: the queue has a sender key.
    pub has_sender: bool,
    /// `qiNtf`: notifications are enabled.
    pub has_notifier: bool,
    /// `qiSub`: this connection's subscription, if any.
    pub sub: Option<QueueSub>,
    /// `qiSize`: messages in the queue.
    pub size: i64,
    /// `qiMsg`: the first message, if any.
    pub msg: Option<MsgInfo>,
}

/// `QSub`: a subscription's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSub {
    /// `qSubThread`.
    pub thread: SubThread,
    /// `qDelivered`: the ID (standard base64) of the delivered, unacknowledged message.
    pub delivered: Option<String>,
}

/// `QSubThread`: the state of delivery to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubThread {
    /// `noSub`.
    NoSub,
    /// `subPending`.
    SubPending,
    /// `subThread`.
    SubThread,
    /// `prohibitSub`.
    ProhibitSub,
}

/// `MsgInfo`: a message's ID, time and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgInfo {
    /// `msgId`: the ID in standard base64.
    pub msg_id: String,
    /// `msgTs`: whole seconds since the epoch (printed as ISO 8601 UTC).
    pub ts: i64,
    /// `msgType`: `message` or `quota`.
    pub quota: bool,
}

impl SubThread {
    fn name(self) -> &'static str {
        match self {
            SubThread::NoSub => "noSub",
            SubThread::SubPending => "subPending",
            SubThread::SubThread => "subThread",
            SubThread::ProhibitSub => "prohibitSub",
        }
    }
}

fn json_str(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly what aeson escapes for these ASCII values.
    out.extend_from_slice(serde_json::Value::from(s).to_string().as_bytes());
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whole seconds as aeson prints a `UTCTime` without a fraction: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(ts: i64) -> String {
    let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, dropping the fraction.
pub fn parse_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = s.get(19..)?;
    let frac_ok = match rest.strip_suffix('Z')? {
        "" => true,
        f => f.starts_with('.') && f.len() > 1 && f[1..].bytes().all(|c| c.is_ascii_digit()),
    };
    if !frac_ok
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let days = days_from_civil(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    Some(days * 86_400 + h * 3600 + mi * 60 + sec)
}

impl QueueInfo {
    /// Appends the JSON as the reference's aeson encoding writes it.
    pub fn encode_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"qiSnd\":");
        out.extend_from_slice(if self.has_sender { b"true" } else { b"false" });
        out.extend_from_slice(b",\"qiNtf\":");
        out.extend_from_slice(if self.has_notifier { b"true" } else { b"false" });
        if let Some(sub) = &self.sub {
            out.extend_from_slice(b",\"qiSub\":{\"qSubThread\":");
            json_str(sub.thread.name(), out);
            if let Some(d) = &sub.delivered {
                out.extend_from_slice(b",\"qDelivered\":");
                json_str(d, out);
            }
            out.push(b'}');
        }
        out.extend_from_slice(format!(",\"qiSize\":{}", self.size).as_bytes());
        if let Some(m) = &self.msg {
            out.extend_from_slice(b",\"qiMsg\":{\"msgId\":");
            json_str(&m.msg_id, out);
            out.extend_from_slice(b",\"msgTs\":");
            json_str(&format_utc(m.ts), out);
            out.extend_from_slice(b",\"msgType\":");
            json_str(if m.quota { "quota" } else { "message" }, out);
            out.push(b'}');
        }
        out.push(b'}');
    }

    /// Parses the JSON (any field order; unknown fields ignored).
    pub fn decode_json(json: &[u8]) -> Result<QueueInfo, DecodeError> {
        use serde_json::Value;
        let bad = DecodeError::Invalid("QueueInfo JSON");
        let v: Value = serde_json::from_slice(json).map_err(|_| bad.clone())?;
        let o = v.as_object().ok_or(bad.clone())?;
        let boolean = |k: &str| o.get(k).and_then(Value::as_bool).ok_or(bad.clone());
        let sub = match o.get("qiSub") {
            None | Some(Value::Null) => None,
            Some(s) => {
                let thread = match s.get("qSubThread").and_then(Value::as_str) {
                    Some("noSub") => SubThread::NoSub,
                    Some("subPending") => SubThread::SubPending,
                    Some("subThread") => SubThread::SubThread,
                    Some("prohibitSub") => SubThread::ProhibitSub,
                    _ => return Err(bad),
                };
                let delivered = match s.get("qDelivered") {
                    None | Some(Value::Null) => None,
                    Some(d) => Some(d.as_str().ok_or(bad.clone())?.to_owned()),
                };
                Some(QueueSub { thread, delivered })
            }
        };
        let msg = match o.get("qiMsg") {
            None | Some(Value::Null) => None,
            Some(m) => {
                let msg_id = m.get("msgId").and_then(Value::as_str).ok_or(bad.clone())?;
                let ts = m
                    .get("msgTs")
                    .and_then(Value::as_str)
                    .and_then(parse_utc)
                    .ok_or(bad.clone())?;
                let quota = match m.get("msgType").and_then(Value::as_str) {
                    Some("message") => false,
                    Some("quota") => true,
                    _ => return Err(bad),
                };
                Some(MsgInfo {
                    msg_id: msg_id.to_owned(),
                    ts,
                    quota,
                })
            }
        };
        Ok(QueueInfo {
            has_sender: boolean("qiSnd")?,
            has_notifier: boolean("qiNtf")?,
            sub,
            size: o.get("qiSize").and_then(Value::as_i64).ok_or(bad)?,
            msg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 1, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_utc(&format_utc(t)), Some(t));
        }
        assert_eq!(parse_utc("2023-11-14T22:13:20.123Z"), Some(1_700_000_000));
        assert_eq!(parse_utc("2023-11-14 22:13:20Z"), None);
    }

    #[test]
    fn queue_info_json_known_answer() {
        let info = QueueInfo {
            has_sender: true,
            has_notifier: false,
            sub: Some(QueueSub {
                thread: SubThread::SubThread,
                delivered: Some("AQID".into()),
            }),
            size: 2,
            msg: Some(MsgInfo {
                msg_id: "AAAA".into(),
                ts: 0,
                quota: false,
            }),
        };
        let mut out = Vec::new();
        info.encode_json(&mut out);
        assert_eq!(
            String::from_utf8(out.clone()).expect("utf8"),
            r#"{"qiSnd":true,"qiNtf":false,"qiSub":{"qSubThread":"subThread","qDelivered":"AQID"},"qiSize":2,"qiMsg":{"msgId":"AAAA","msgTs":"1970-01-01T00:00:00Z","msgType":"message"}}"#
        );
        assert_eq!(QueueInfo::decode_json(&out), Ok(info));
        let empty = QueueInfo {
            has_sender: false,
            has_notifier: false,
            sub: None,
            size: 0,
            msg: None,
        };
        let mut out = Vec::new();
        empty.encode_json(&mut out);
        assert_eq!(out, br#"{"qiSnd":false,"qiNtf":false,"qiSize":0}"#);
    }
}
