//! One client connection: the receive, process and send tasks joined by channels, and the
//! idle check.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use simplex_crypto::{dh_x25519, DhSecretX25519};
use simplex_transport::error::TransportError;
use simplex_transport::handshake::{ServerConnection, SmpReader, SmpWriter};
use smp_proto::block::{decode_block, plan_batches, BatchItem};
use smp_proto::command::Command;
use smp_proto::error::ErrorType;
use smp_proto::response::Response;
use smp_proto::transmission::{decode_server_transmission, encode_transmission_into};
use smp_proto::version::Version;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::core::{AuthCheck, AuthKeyCache, ClientId, Request, Session, SessionService};
use crate::stats::inc;
use crate::wire;

use super::forwarded::{open_forwarded, proxy_command, seal_forwarded, Prepared};
use super::*;

enum Incoming {
    Requests(Vec<Item>),
}

/// One received transmission on its way to the process task.
// Requests are by far the most common item; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Item {
    /// A command for the core.
    Req(Request),
    /// `RFWD`: its correlation ID and encrypted body.
    Fwd { corr_id: Vec<u8>, enc: Vec<u8> },
    /// Answered already (refused).
    Done(Box<Wire>),
}

pub(super) async fn serve_client(
    conn: ServerConnection,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    inactive: Option<InactiveClients>,
) {
    let ServerConnection {
        reader,
        writer,
        session,
    } = conn;
    let client = shared.next_client.fetch_add(1, Ordering::Relaxed);
    let version = session.params.version;
    let session_id = session.params.session_id.clone();
    let fwd_secret = session
        .client_dh_key
        .as_ref()
        .map(|k| dh_x25519(k, &session.dh_private));
    let core_session = Session {
        client,
        version: version.0,
        server_dh_key: Some(session.dh_private),
        service: session.service.map(|s| SessionService {
            id: s.service_id,
            role: s.role,
            cert_hash: s.cert_hash,
            key: s.key,
        }),
    };
    let (cmd_tx, cmd_rx) = mpsc::channel::<Incoming>(64);
    let (reply_tx, reply_rx) = mpsc::channel::<Vec<Wire>>(64);
    // Channels allocate slots in blocks of 32 up front: boxed, an idle client's two push
    // channels hold 2 × 32 pointers rather than 2 × 32 transmissions (~8 KB each).
    let (push_tx, push_rx) = mpsc::unbounded_channel::<Box<Wire>>();
    let (ntf_tx, ntf_rx) = mpsc::channel::<Box<Wire>>(MAX_PENDING_NTFS);
    lock(&shared.pushes).insert(
        client,
        PushTx {
            any: push_tx.clone(),
            ntf: ntf_tx,
        },
    );
    let active = Arc::new(AtomicI64::new(now()));
    shared
        .registry
        .client_connected(client, &session_id, active.clone());
    tracing::debug!("client connected");
    tokio::select! {
        () = receive(reader, version, session_id.clone(), cmd_tx, active.clone(), shared.clone(), push_tx) => {}
        () = process(cmd_rx, reply_tx, shared.clone(), core_session, session_id.clone(), fwd_secret) => {}
        () = send(writer, version, session_id, reply_rx, push_rx, ntf_rx, active.clone()) => {}
        () = idle(inactive, active, shared.clone(), client) => {}
        _ = stop.changed() => {}
    }
    // The one clean-up step.
    lock(&shared.pushes).remove(&client);
    lock(&shared.core).client_gone(client);
    shared.registry.client_gone(client);
    tracing::debug!("client disconnected");
}

#[allow(clippy::too_many_arguments)]
async fn receive(
    mut reader: SmpReader,
    version: Version,
    session_id: Vec<u8>,
    cmd_tx: mpsc::Sender<Incoming>,
    active: Arc<AtomicI64>,
    shared: Arc<Shared>,
    push_tx: mpsc::UnboundedSender<Box<Wire>>,
) {
    // Proxy commands in progress; they end with this task (when the client goes).
    let mut proxied = JoinSet::new();
    let limit = Arc::new(Semaphore::new(
        shared.proxy.config().client_concurrency.max(1),
    ));
    let err = |corr_id: Vec<u8>, entity_id: Vec<u8>, e: ErrorType| {
        Box::new(Wire {
            corr_id,
            entity_id,
            resp: Response::Err(e),
        })
    };
    loop {
        let Ok(block) = reader.read_raw().await else {
            return;
        };
        active.store(now(), Ordering::Relaxed);
        while proxied.try_join_next().is_some() {}
        let mut batch = Vec::new();
        match decode_block(block) {
            Ok(ts) => {
                for t in ts {
                    let st = match decode_server_transmission(version, &session_id, t) {
                        Ok(st) => st,
                        Err(te) => {
                            batch.push(Item::Done(err(te.corr_id, te.entity_id, te.error)));
                            continue;
                        }
                    };
                    match st.command {
                        Command::Rfwd(enc) => {
                            inc(&shared.stats.p_msg_fwds_recv);
                            batch.push(Item::Fwd {
                                corr_id: st.raw.corr_id.to_vec(),
                                enc,
                            })
                        }
                        cmd @ (Command::Prxy { .. } | Command::Pfwd { .. }) => {
                            let Ok(permit) = limit.clone().acquire_owned().await else {
                                return;
                            };
                            let corr_id = st.raw.corr_id.to_vec();
                            let entity_id = st.raw.entity_id.to_vec();
                            let shared = shared.clone();
                            let push_tx = push_tx.clone();
                            proxied.spawn(async move {
                                let _permit = permit;
                                let resp = proxy_command(
                                    &shared.proxy,
                                    &shared.stats,
                                    &corr_id,
                                    &entity_id,
                                    cmd,
                                )
                                .await;
                                let _ = push_tx.send(Box::new(Wire {
                                    corr_id,
                                    entity_id,
                                    resp,
                                }));
                            });
                        }
                        _ => batch.push(match wire::request(st, &session_id) {
                            Ok(req) => Item::Req(req),
                            Err((c, e, t)) => Item::Done(err(c, e, t)),
                        }),
                    }
                }
            }
            Err(_) => batch.push(Item::Done(err(Vec::new(), Vec::new(), ErrorType::Block))),
        }
        if batch.is_empty() {
            continue;
        }
        if cmd_tx.send(Incoming::Requests(batch)).await.is_err() {
            return;
        }
    }
}

async fn process(
    mut cmd_rx: mpsc::Receiver<Incoming>,
    reply_tx: mpsc::Sender<Vec<Wire>>,
    shared: Arc<Shared>,
    session: Session,
    session_id: Vec<u8>,
    fwd_secret: Option<DhSecretX25519>,
) {
    let mut key_cache = AuthKeyCache::new();
    while let Some(Incoming::Requests(items)) = cmd_rx.recv().await {
        let mut mine = Vec::with_capacity(items.len());
        let mut others = Vec::new();
        // `RFWD` is opened first (outside the lock); its command then goes the same way.
        let batch: Vec<Prepared> = items
            .into_iter()
            .map(|item| match item {
                Item::Req(req) => Ok((req, None)),
                Item::Done(w) => Err(w),
                Item::Fwd { corr_id, enc } => {
                    open_forwarded(&session, &session_id, fwd_secret.as_ref(), corr_id, &enc)
                        .map(|(req, f)| (req, Some(f)))
                }
            })
            .collect();
        let mut sealing = Vec::new();
        // Look up the keys under the lock, verify the whole batch outside it, then execute
        // under the lock again (the reference also verifies a batch before processing it).
        let checks: Vec<Option<AuthCheck>> = {
            let core = lock(&shared.core);
            batch
                .iter()
                .map(|item| item.as_ref().ok().map(|(req, _)| core.auth_check(req)))
                .collect()
        };
        let verified: Vec<bool> = batch
            .iter()
            .zip(&checks)
            .map(|(item, check)| match (item, check) {
                (Ok((req, _)), Some(check)) => check.verify_cached(&session, req, &mut key_cache),
                _ => false,
            })
            .collect();
        drop(checks);
        {
            let mut core = lock(&shared.core);
            let t = now();
            // IDs, nonces and queue keys come from the thread's ChaCha CSPRNG (seeded and
            // reseeded from the OS), as the reference's ChaChaDRG: no system call per message.
            let mut rng = rand::thread_rng();
            for (item, ok) in batch.into_iter().zip(verified) {
                match item {
                    Ok((req, Some(f))) => {
                        // The forwarded command runs at the client's version.
                        let fwd_session = Session {
                            client: session.client,
                            version: f.opened.version.0,
                            server_dh_key: session.server_dh_key.clone(),
                            service: None,
                        };
                        let mut outs = core
                            .handle_verified(&mut rng, t, &fwd_session, req, ok)
                            .into_iter();
                        if let Some(reply) = outs.next() {
                            sealing.push((f, reply));
                        }
                        for o in outs {
                            if o.client == session.client {
                                mine.push(Wire::from(o));
                            } else {
                                others.push(o);
                            }
                        }
                    }
                    Ok((req, None)) => {
                        for o in core.handle_verified(&mut rng, t, &session, req, ok) {
                            if o.client == session.client {
                                mine.push(Wire::from(o));
                            } else {
                                others.push(o);
                            }
                        }
                    }
                    Err(o) => mine.push(*o),
                }
            }
            if !others.is_empty() {
                let pushes = lock(&shared.pushes);
                for o in others.drain(..) {
                    route_push(&pushes, &mut core, o);
                }
            }
        }
        if let Some(secret) = fwd_secret.as_ref() {
            for (f, o) in sealing {
                let resp = wire::response(o.reply);
                mine.push(seal_forwarded(
                    &session_id,
                    secret,
                    f,
                    &o.corr_id,
                    &o.entity_id,
                    &resp,
                ));
            }
        }
        if reply_tx.send(mine).await.is_err() {
            return;
        }
    }
}

async fn send(
    mut writer: SmpWriter,
    version: Version,
    session_id: Vec<u8>,
    mut reply_rx: mpsc::Receiver<Vec<Wire>>,
    mut push_rx: mpsc::UnboundedReceiver<Box<Wire>>,
    mut ntf_rx: mpsc::Receiver<Box<Wire>>,
    active: Arc<AtomicI64>,
) {
    loop {
        let mut out: Vec<Wire> = tokio::select! {
            r = reply_rx.recv() => match r { Some(r) => r, None => return },
            p = push_rx.recv() => match p { Some(p) => vec![*p], None => return },
            n = ntf_rx.recv() => match n { Some(n) => vec![*n], None => return },
        };
        while let Ok(more) = reply_rx.try_recv() {
            out.extend(more);
        }
        while let Ok(p) = push_rx.try_recv() {
            out.push(*p);
        }
        while let Ok(n) = ntf_rx.try_recv() {
            out.push(*n);
        }
        // Boxed: its state (the round's buffers and the block write) lives on the heap only
        // while a round is written, not in every idle connection's task.
        if Box::pin(write_batched(&mut writer, version, &session_id, out))
            .await
            .is_err()
        {
            return;
        }
        // Sending counts as activity too (the reference takes the later of the last
        // receive and the last send).
        active.store(now(), Ordering::Relaxed);
    }
}

/// Writes `out` in as few blocks as the reference would ([`plan_batches`]). Every
/// transmission is encoded once, straight into one buffer for the round, and copied once
/// from there into the writer's block; a `MSG`'s encrypted body (its tail) is copied
/// straight from the response. Before, each transmission went through four intermediate
/// buffers (the response, the transmission, the batch and the padded block).
async fn write_batched(
    writer: &mut SmpWriter,
    version: Version,
    session_id: &[u8],
    out: Vec<Wire>,
) -> Result<(), TransportError> {
    let mut buf = Vec::with_capacity(out.len() * 128);
    // Per transmission: where its head ends in `buf`, and its tail.
    let mut parts: Vec<(usize, Vec<u8>)> = Vec::with_capacity(out.len());
    for o in out {
        let mut resp = o.resp;
        let tail = match &mut resp {
            Response::Msg(m) => std::mem::take(&mut m.enc_body),
            _ => Vec::new(),
        };
        let r = encode_transmission_into(
            version,
            session_id,
            &o.corr_id,
            &o.entity_id,
            &mut buf,
            |b| resp.encode(version, b),
        );
        // An ID too long for the wire (never made by this relay) is not sent.
        if r.is_ok() {
            parts.push((buf.len(), tail));
        }
    }
    let piece = |i: usize| {
        let start = match i.checked_sub(1) {
            Some(p) => parts.get(p).map_or(0, |(end, _)| *end),
            None => 0,
        };
        let (end, tail) = parts
            .get(i)
            .map_or((start, &[][..]), |(e, t)| (*e, t.as_slice()));
        (buf.get(start..end).unwrap_or_default(), tail)
    };
    let lens: Vec<usize> = (0..parts.len())
        .map(|i| {
            let (head, tail) = piece(i);
            head.len() + tail.len()
        })
        .collect();
    for item in plan_batches(&lens) {
        // A transmission too large for any block is dropped, as before.
        let BatchItem::Block(range) = item else {
            continue;
        };
        // The plan puts 1 to 255 transmissions in a block.
        let count = u8::try_from(range.len()).unwrap_or(u8::MAX);
        writer
            .write_with(|b| {
                b.push(count);
                for i in range {
                    let (head, tail) = piece(i);
                    // The plan keeps every transmission within a block: its length fits
                    // the two-byte prefix.
                    let len = u16::try_from(head.len() + tail.len()).unwrap_or(u16::MAX);
                    b.extend_from_slice(&len.to_be_bytes());
                    b.extend_from_slice(head);
                    b.extend_from_slice(tail);
                }
            })
            .await?;
    }
    Ok(())
}

async fn idle(
    inactive: Option<InactiveClients>,
    active: Arc<AtomicI64>,
    shared: Arc<Shared>,
    client: ClientId,
) {
    let Some(cfg) = inactive else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_secs(cfg.check_interval.max(1))).await;
        let idle_for = now() - active.load(Ordering::Relaxed);
        if idle_for > cfg.ttl && !lock(&shared.core).has_subscriptions(client) {
            tracing::debug!("disconnecting inactive client");
            return;
        }
    }
}
