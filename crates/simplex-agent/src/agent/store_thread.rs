//! The store's own thread: one long-lived thread owns the store and runs the agent's store
//! calls in the order they come, instead of a hop to tokio's blocking pool per call.
//!
//! Calls that queued up while the thread was busy run as one batch: one transaction
//! (`Store::begin_batch`), each call's writes still all or nothing (a savepoint), one commit
//! for all of them, so what several calls change on the same pages is written (and, with
//! SQLCipher, encrypted and authenticated) once. No call hears its result before the batch
//! has committed: what a caller is told is stored, is stored. A call that applies many
//! writes of its own (a batch send) asks for the batch's transaction even when it runs
//! alone ([`StoreThread::call_grouped`]), so its writes commit once.
//!
//! A mark whose loss a restart tolerates (a message marked sent, which is then sent again
//! and recognised by its hash; a message marked acknowledged by the application after the
//! relay's `ACK`) need not cost a commit of its own: a lazy call
//! ([`StoreThread::call_lazy`]) hears its result as soon as its work ran, and its writes
//! stay in the open transaction until the next call that is not lazy commits them with its
//! own, or at most [`LINGER`] after the first of them ran, or the thread ends. In a conversation that is one commit per
//! message on each side instead of two. What the others read meanwhile includes those
//! writes (the same connection); a crash or a failed commit may lose them, and only them.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::store::Store;

/// What a call does once its batch committed (or failed to): sends its result.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A call: runs on the store, returns its reply.
type Work = Box<dyn FnOnce(&mut dyn Store) -> Reply + Send>;
/// What runs on a call's result in the store's thread once it committed.
type Then<T> = Box<dyn FnOnce(&mut T) + Send>;
/// A call and how it commits.
struct Job {
    work: Work,
    commit: Commit,
}

/// How a call's writes are committed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// By itself when it runs alone, else with its batch; the result after the commit.
    Alone,
    /// In the batch's transaction even alone; the result after the commit.
    Grouped,
    /// With a later call (see the module's documentation); the result at once.
    Lazy,
    /// As `Lazy`, for work done ahead that nobody waits for: run after the calls that
    /// came with it have their results ([`StoreThread::submit_lazy`]).
    Background,
}

/// How long lazy writes wait at most for a call to commit with. Longer than the gap between
/// a conversation's messages on this machine (a few milliseconds), short enough that a
/// stopped agent's file is complete at once and what a crash can lose is small.
const LINGER: Duration = Duration::from_millis(10);

/// Calls grouped in one transaction at most.
const MAX_BATCH: usize = 64;

/// The handle of the store's thread. Dropping it waits for the calls already sent and for
/// the store to close, as dropping the store itself would: a database file may be replaced
/// (restored from a backup) or opened again right after the agent is dropped.
pub(super) struct StoreThread {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StoreThread {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            // Never from the store's own thread (it would wait for itself).
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl StoreThread {
    /// Starts the thread with the store.
    pub(super) fn start(store: Box<dyn Store>) -> Result<Self, StoreError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("agent-store".into())
            .spawn(move || run(store, rx))
            .map_err(|_| StoreError::Task)?;
        Ok(StoreThread {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `f` on the store; its result once it is committed.
    pub(super) async fn call<T, E>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.send(f, Commit::Alone, None).await
    }

    /// As [`StoreThread::call`], and `then` runs on the result in the store's thread once
    /// the call committed, before the caller is woken: what it hands on from there (an
    /// event to the application) saves the hop to the caller's thread and back out.
    pub(super) async fn call_then<T, E>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
        then: impl FnOnce(&mut T) + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.send(f, Commit::Alone, Some(Box::new(then))).await
    }

    /// As [`StoreThread::call`], inside a batch's transaction even when no other call
    /// comes with it: every `apply` of `f` is all or nothing by itself (a savepoint), and
    /// all of them commit together, once, before the result is returned. When that commit
    /// fails, the result is that error and none of `f`'s writes stay.
    pub(super) async fn call_grouped<T, E>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.send(f, Commit::Grouped, None).await
    }

    /// As [`StoreThread::call`] for writes whose loss a restart tolerates: the result as
    /// soon as `f` ran, its writes committed with the next call that is not lazy, or at most
    /// [`LINGER`] after the first lazy writes still open (see the module's documentation). `f`'s writes are all or nothing still;
    /// a result that is an error was not committed either way.
    pub(super) async fn call_lazy<T, E>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.send(f, Commit::Lazy, None).await
    }

    /// Runs `f` on the store without waiting for it: work that may be done ahead, whose
    /// result nobody waits for (an error or panic in it is dropped with its writes). It runs
    /// after the calls that reach the thread with it have their results, and its writes
    /// commit as a lazy call's do ([`StoreThread::call_lazy`]).
    pub(super) fn submit_lazy(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<(), StoreError> + Send + 'static,
    ) {
        let work: Work = Box::new(move |s: &mut dyn Store| {
            let _ = f(s);
            Box::new(|_: Result<(), String>| {}) as Reply
        });
        if let Some(jobs) = self.jobs.as_ref() {
            let _ = jobs.send(Job {
                work,
                commit: Commit::Background,
            });
        }
    }

    async fn send<T, E>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
        commit: Commit,
        then: Option<Then<T>>,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let work: Work = Box::new(move |s: &mut dyn Store| {
            let r = f(s);
            Box::new(move |committed: Result<(), String>| {
                let mut r = match committed {
                    Ok(()) => r,
                    Err(e) => Err(E::from(StoreError::Batch(e))),
                };
                if let (Ok(t), Some(then)) = (&mut r, then) {
                    then(t);
                }
                let _ = tx.send(r);
            }) as Reply
        });
        let job = Job { work, commit };
        let jobs = self.jobs.as_ref().ok_or(E::from(StoreError::Task))?;
        jobs.send(job).map_err(|_| E::from(StoreError::Task))?;
        rx.await.map_err(|_| E::from(StoreError::Task))?
    }
}

fn run(mut store: Box<dyn Store>, rx: mpsc::Receiver<Job>) {
    // Since when lazy calls' writes wait in an open transaction: committed at most
    // `LINGER` later, even while lazy calls keep coming (a sender's marks in a burst).
    let mut open_since: Option<Instant> = None;
    loop {
        let first = match open_since {
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
            Some(t) => match rx.recv_timeout(LINGER.saturating_sub(t.elapsed())) {
                Ok(j) => j,
                Err(e) => {
                    // A failed commit loses only lazy writes (their callers were told).
                    let _ = store.end_batch();
                    open_since = None;
                    match e {
                        RecvTimeoutError::Timeout => continue,
                        RecvTimeoutError::Disconnected => return,
                    }
                }
            },
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (background, calls): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j| j.commit == Commit::Background);
        if !calls.is_empty() {
            let open = run_calls(&mut *store, calls, open_since.is_some());
            open_since = match open {
                true => open_since.or_else(|| Some(Instant::now())),
                false => None,
            };
        }
        // Work done ahead comes after the calls that came with it have their results, and
        // its writes wait as lazy ones do.
        for job in background {
            if open_since.is_none() && store.begin_batch().is_ok() {
                open_since = Some(Instant::now());
            }
            let work = job.work;
            let store = &mut *store;
            let _ = std::panic::catch_unwind(AssertUnwindSafe(move || work(store)));
        }
        if open_since.is_some_and(|t| t.elapsed() >= LINGER) {
            let _ = store.end_batch();
            open_since = None;
        }
    }
}

/// Runs a batch of calls and tells each its result: after the commit, or at once when all
/// are lazy (then the transaction stays open). `open`: a transaction holding lazy writes is
/// open. Returns whether one is open after the batch.
fn run_calls(store: &mut dyn Store, calls: Vec<Job>, open: bool) -> bool {
    // One call alone runs as before (its `apply` commits itself), unless it asked for the
    // batch's transaction; lazy calls always ask for it.
    let lazy = calls.iter().all(|j| j.commit == Commit::Lazy);
    let group = calls.len() > 1 || calls.iter().any(|j| j.commit != Commit::Alone);
    let batch = open || (group && store.begin_batch().is_ok());
    let mut replies = Vec::with_capacity(calls.len());
    for job in calls {
        // A call that panics fails alone: its reply is dropped (`StoreError::Task`), its
        // savepoint rolled back while unwinding.
        let work = job.work;
        let store = &mut *store;
        if let Ok(reply) = std::panic::catch_unwind(AssertUnwindSafe(move || work(store))) {
            replies.push(reply);
        }
    }
    if batch && lazy {
        // Told now; committed later.
        for reply in replies {
            reply(Ok(()));
        }
        return true;
    }
    let committed = match batch {
        true => store.end_batch().map_err(|e| e.to_string()),
        false => Ok(()),
    };
    for reply in replies {
        reply(committed.clone());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ConnKind, ConnRecord, RcvMsgKind, RcvMsgRecord, Write};
    use crate::SqliteStore;

    fn put(id: u8) -> Write {
        Write::PutConn(ConnRecord::new(vec![id], ConnKind::Duplex, true, 7))
    }

    /// Calls sent together: each one's writes all or nothing, the others' committed, and
    /// every result reported only once committed (read back from a second connection to
    /// the file, which sees only what is committed).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_calls_commit_alone_or_together() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        // A plain file (no passphrase): the same SQLite, without the key derivation.
        let store = SqliteStore::open(&path, "").expect("store");
        let thread = std::sync::Arc::new(StoreThread::start(Box::new(store)).expect("thread"));
        // The first call holds the thread while the others queue up behind it.
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let first = {
            let t = thread.clone();
            tokio::spawn(async move {
                t.call(move |s| {
                    let _ = wait.recv();
                    s.apply(vec![put(0)])
                })
                .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut calls = Vec::new();
        for id in 1..=20u8 {
            let t = thread.clone();
            calls.push(tokio::spawn(async move {
                t.call(move |s: &mut dyn Store| {
                    if id == 7 {
                        // A batch of writes whose second fails (a message of no
                        // connection): its first must not stay either.
                        let orphan = RcvMsgRecord {
                            conn_id: vec![250],
                            internal_id: 1,
                            ext_snd_id: 1,
                            hash: Vec::new(),
                            enc_hash: Vec::new(),
                            srv_msg_id: Vec::new(),
                            rcv_id: None,
                            body: Vec::new(),
                            integrity: "ok".into(),
                            acked: false,
                            kind: RcvMsgKind::Message,
                        };
                        return s.apply(vec![put(100 + id), Write::PutRcvMsg(orphan)]);
                    }
                    s.apply(vec![put(id)])
                })
                .await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        go.send(()).expect("first call waiting");
        first.await.expect("task").expect("first call");
        let other = SqliteStore::open(&path, "").expect("second connection");
        for (i, c) in calls.into_iter().enumerate() {
            let r = c.await.expect("task");
            assert_eq!(r.is_ok(), i + 1 != 7, "call {}", i + 1);
            if r.is_ok() {
                let id = u8::try_from(i + 1).expect("small");
                assert!(
                    other.conn(&[id]).expect("read").is_some(),
                    "call {id} committed"
                );
            }
        }
        assert_eq!(other.conns().expect("read").len(), 20);
        assert!(other.conn(&[107]).expect("read").is_none());
    }

    /// A lazy call's writes are committed with the next call that is not lazy, by
    /// themselves when none follows, and when the thread ends; a lazy call that fails
    /// leaves nothing (read from a second connection, which sees only what is committed).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lazy_calls_commit_with_a_later_call_or_alone() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        let store = SqliteStore::open(&path, "").expect("store");
        let thread = StoreThread::start(Box::new(store)).expect("thread");
        let other = SqliteStore::open(&path, "").expect("second connection");
        let lazy = |id: u8| thread.call_lazy(move |s| s.apply(vec![put(id)]));
        lazy(1).await.expect("lazy call");
        // What the lazy call wrote is what the next call reads.
        let seen = thread.call(|s| s.conn(&[1])).await.expect("read");
        assert!(seen.is_some());
        thread.call(|s| s.apply(vec![put(2)])).await.expect("call");
        assert!(
            other.conn(&[1]).expect("read").is_some(),
            "committed with 2"
        );
        assert!(other.conn(&[2]).expect("read").is_some());
        // A lazy call that fails: none of its writes stay, the next call's do.
        let orphan = RcvMsgRecord {
            conn_id: vec![250],
            internal_id: 1,
            ext_snd_id: 1,
            hash: Vec::new(),
            enc_hash: Vec::new(),
            srv_msg_id: Vec::new(),
            rcv_id: None,
            body: Vec::new(),
            integrity: "ok".into(),
            acked: false,
            kind: RcvMsgKind::Message,
        };
        let failed = thread
            .call_lazy(move |s| s.apply(vec![put(3), Write::PutRcvMsg(orphan)]))
            .await;
        assert!(failed.is_err());
        thread.call(|s| s.apply(vec![put(4)])).await.expect("call");
        assert!(other.conn(&[3]).expect("read").is_none());
        assert!(other.conn(&[4]).expect("read").is_some());
        // Nothing follows: committed by itself (after `LINGER`).
        lazy(5).await.expect("lazy call");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while other.conn(&[5]).expect("read").is_none() {
            assert!(std::time::Instant::now() < deadline, "never committed");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // The thread ends: committed before it does.
        lazy(6).await.expect("lazy call");
        drop(thread);
        assert!(other.conn(&[6]).expect("read").is_some());
        assert_eq!(other.conns().expect("read").len(), 5);
    }

    /// Lazy calls that keep coming, closer together than `LINGER`, do not hold the first
    /// one's writes back: they are committed while the stream goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_of_lazy_calls_commits_as_it_goes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        let store = SqliteStore::open(&path, "").expect("store");
        let thread = StoreThread::start(Box::new(store)).expect("thread");
        let other = SqliteStore::open(&path, "").expect("second connection");
        thread
            .call_lazy(|s| s.apply(vec![put(1)]))
            .await
            .expect("lazy call");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut id = 1u8;
        while other.conn(&[1]).expect("read").is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "held back by the stream"
            );
            // Rows 2 and 3, written over and over: a stream that does not grow the file.
            id = if id == 2 { 3 } else { 2 };
            thread
                .call_lazy(move |s| s.apply(vec![put(id)]))
                .await
                .expect("lazy call");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}
