//! The text forms of the store's enums (connection kinds and statuses, queue statuses,
//! message types), as the columns hold them.

use super::corrupt;
use crate::error::StoreError;
use crate::store::*;

pub(super) fn kind_text(k: ConnKind) -> &'static str {
    match k {
        ConnKind::Duplex => "duplex",
        ConnKind::Contact => "contact",
    }
}

pub(super) fn conn_status_text(s: ConnStatus) -> &'static str {
    match s {
        ConnStatus::New => "new",
        ConnStatus::Active => "active",
        ConnStatus::Suspended => "suspended",
    }
}

pub(super) fn queue_status_text(s: QueueStatus) -> &'static str {
    match s {
        QueueStatus::New => "new",
        QueueStatus::Confirmed => "confirmed",
        QueueStatus::Secured => "secured",
        QueueStatus::Active => "active",
        QueueStatus::Disabled => "disabled",
    }
}

pub(super) fn queue_status_parse(s: &str) -> Result<QueueStatus, StoreError> {
    Ok(match s {
        "new" => QueueStatus::New,
        "confirmed" => QueueStatus::Confirmed,
        "secured" => QueueStatus::Secured,
        "active" => QueueStatus::Active,
        "disabled" => QueueStatus::Disabled,
        _ => return Err(corrupt("queue status")),
    })
}

pub(super) fn msg_kind_text(k: SndMsgKind) -> &'static str {
    match k {
        SndMsgKind::Confirmation => "CONF",
        SndMsgKind::Hello => "HELLO",
        SndMsgKind::Message => "A_MSG",
        SndMsgKind::Receipt => "A_RCVD",
        SndMsgKind::QCont => "A_QCONT",
        SndMsgKind::Invitation => "INV",
        SndMsgKind::RatchetKey => "RATCHET_KEY",
        SndMsgKind::EReady => "EREADY",
        SndMsgKind::QAdd => "QADD",
        SndMsgKind::QKey => "QKEY",
        SndMsgKind::QUse => "QUSE",
        SndMsgKind::QTest => "QTEST",
        SndMsgKind::Noise => "NOISE",
    }
}

pub(super) fn rcv_kind_text(k: RcvMsgKind) -> &'static str {
    match k {
        RcvMsgKind::Hello => "HELLO",
        RcvMsgKind::Message => "A_MSG",
        RcvMsgKind::Receipt => "A_RCVD",
        RcvMsgKind::QCont => "A_QCONT",
        RcvMsgKind::Other => "OTHER",
    }
}

pub(super) fn rcv_kind_parse(s: &str) -> Result<RcvMsgKind, StoreError> {
    Ok(match s {
        "HELLO" => RcvMsgKind::Hello,
        "A_MSG" => RcvMsgKind::Message,
        "A_RCVD" => RcvMsgKind::Receipt,
        "A_QCONT" => RcvMsgKind::QCont,
        "OTHER" => RcvMsgKind::Other,
        _ => return Err(corrupt("received message type")),
    })
}

pub(super) fn msg_kind_parse(s: &str) -> Result<SndMsgKind, StoreError> {
    Ok(match s {
        "CONF" => SndMsgKind::Confirmation,
        "HELLO" => SndMsgKind::Hello,
        "A_MSG" => SndMsgKind::Message,
        "A_RCVD" => SndMsgKind::Receipt,
        "A_QCONT" => SndMsgKind::QCont,
        "INV" => SndMsgKind::Invitation,
        "RATCHET_KEY" => SndMsgKind::RatchetKey,
        "EREADY" => SndMsgKind::EReady,
        "QADD" => SndMsgKind::QAdd,
        "QKEY" => SndMsgKind::QKey,
        "QUSE" => SndMsgKind::QUse,
        "QTEST" => SndMsgKind::QTest,
        "NOISE" => SndMsgKind::Noise,
        _ => return Err(corrupt("message type")),
    })
}
