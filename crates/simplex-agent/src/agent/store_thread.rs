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
//!
//! A short call on the path where every hop counts (a received message alone, a lazy mark)
//! runs in its caller's thread when the store's thread is idle, the store being behind one
//! lock that the thread holds while it runs a batch: the same order (a call runs there only
//! when no call sent before it is waiting or running), the same commits, two wake-ups
//! fewer ([`StoreThread::call_then_here`]). The thread still commits lazy writes left open
//! by such a call within `LINGER`: it is woken for it when it waits without a deadline.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
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

/// The store and what its thread keeps about it, behind one lock: held by the thread while
/// it runs a batch, or by a caller running its call in its own thread
/// ([`StoreThread::call_then_here`]).
struct Core {
    /// `None` once closed ([`StoreThread::close`]): calls then fail (`StoreError::Task`).
    store: Option<Box<dyn Store>>,
    /// Since when lazy calls' writes wait in an open transaction: committed at most
    /// `LINGER` later, even while lazy calls keep coming (a sender's marks in a burst).
    open_since: Option<Instant>,
    /// The thread waits with a deadline (it commits open lazy writes in time by itself);
    /// otherwise a lazy call run elsewhere that opens a transaction wakes it.
    timed: bool,
}

/// What the thread and the callers share.
struct Shared {
    core: Mutex<Core>,
    /// Calls sent to the thread and not yet run: a call runs in its caller's thread only
    /// when there are none, so that calls run in the order they were made.
    queued: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while the lock was held was in a reply (the calls run under
        // `catch_unwind`): the store is as the last commit or rollback left it.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle of the store's thread. Dropping it waits for the calls already sent and for
/// the store to close, as dropping the store itself would: a database file may be replaced
/// (restored from a backup) or opened again right after the agent is dropped.
pub(super) struct StoreThread {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
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
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                store: Some(store),
                open_since: None,
                timed: false,
            }),
            queued: AtomicUsize::new(0),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("agent-store".into())
            .spawn(move || run(&theirs, rx))
            .map_err(|_| StoreError::Task)?;
        Ok(StoreThread {
            jobs: Some(jobs),
            thread: Some(thread),
            shared,
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

    /// As [`StoreThread::call_then`], run in the caller's thread when the store's thread
    /// is idle (no call waiting, nor running), saving the two wake-ups of a hop there and
    /// back; sent to the thread otherwise. For a short call on the path where every hop
    /// counts (a received message, whose `ACK` waits for it): the caller's thread is
    /// blocked while it runs, as the thread would be. Writes that lazy calls left open
    /// commit with it, as they would in the thread.
    pub(super) async fn call_then_here<T, E>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
        then: impl FnOnce(&mut T) + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.here_or_there(make_job(f, Commit::Alone, Some(Box::new(then))))
            .await
    }

    /// Runs a job here when it may ([`StoreThread::run_here`]), else in the thread; its
    /// result.
    async fn here_or_there<T, E>(
        &self,
        (job, rx): (Job, oneshot::Receiver<Result<T, E>>),
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if let Err(job) = self.run_here(job) {
            self.enqueue(job).map_err(|_| E::from(StoreError::Task))?;
        }
        rx.await.map_err(|_| E::from(StoreError::Task))?
    }

    /// Runs `job` here when nothing is queued for the thread and the store is free; hands
    /// it back otherwise.
    fn run_here(&self, job: Job) -> Result<(), Job> {
        if self.shared.queued.load(Ordering::SeqCst) != 0 {
            return Err(job);
        }
        let mut core = match self.shared.core.try_lock() {
            Ok(core) => core,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(job),
        };
        // Counted before being sent: none sent since the first look, none running (the
        // thread holds the lock while it runs calls).
        if self.shared.queued.load(Ordering::SeqCst) != 0 {
            return Err(job);
        }
        let done = run_calls(&mut core, vec![job]);
        commit_if_lingered(&mut core);
        // Lazy writes left open while the thread waits without a deadline: it is woken
        // to keep them at most `LINGER` (a no-op call; it then waits with one).
        let wake = core.open_since.is_some() && !core.timed;
        drop(core);
        if wake {
            let nothing: Work = Box::new(|_: &mut dyn Store| Box::new(|_| {}) as Reply);
            let _ = self.enqueue(Job {
                work: nothing,
                commit: Commit::Background,
            });
        }
        done.tell();
        Ok(())
    }

    /// Closes the store once the calls sent before ran, with lazy writes left open
    /// committed: the database file is free for another process (or a new agent) at once,
    /// though tasks of the stopped agent may still hold this handle. Calls made after fail.
    pub(super) async fn close(&self) {
        // The thread commits what lazy calls left open before it runs this call, alone.
        let _ = self.call(|_| Ok::<(), StoreError>(())).await;
        let mut core = self.shared.lock();
        if let Some(mut store) = core.store.take() {
            // A lazy call may have run since.
            if core.open_since.take().is_some() {
                let _ = store.end_batch();
            }
        }
    }

    /// Sends a job to the thread, counted as queued until it ran.
    fn enqueue(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Task)?;
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        jobs.send(job).map_err(|_| {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            StoreError::Task
        })
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
    /// [`LINGER`] after the first lazy writes still open (see the module's documentation).
    /// `f`'s writes are all or nothing still; a result that is an error was not committed
    /// either way. Run in the caller's thread when the store's thread is idle, as
    /// [`StoreThread::call_then_here`]: a lazy call is a short one (a mark), and the
    /// thread wakes for it only to keep the `LINGER` promise (see [`Core::timed`]).
    pub(super) async fn call_lazy<T, E>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.here_or_there(make_job(f, Commit::Lazy, None)).await
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
        let _ = self.enqueue(Job {
            work,
            commit: Commit::Background,
        });
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
        let (job, rx) = make_job(f, commit, then);
        self.enqueue(job).map_err(|_| E::from(StoreError::Task))?;
        rx.await.map_err(|_| E::from(StoreError::Task))?
    }
}

/// A call as a job, and where its result arrives.
fn make_job<T, E>(
    f: impl FnOnce(&mut dyn Store) -> Result<T, E> + Send + 'static,
    commit: Commit,
    then: Option<Then<T>>,
) -> (Job, oneshot::Receiver<Result<T, E>>)
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
    (Job { work, commit }, rx)
}

fn run(shared: &Shared, rx: mpsc::Receiver<Job>) {
    loop {
        // A call run in its caller's thread may commit lazy writes meanwhile (then there is
        // nothing to do when the wait ends), or open some (then it wakes the thread when
        // it waits without a deadline).
        let open_since = {
            let mut core = shared.lock();
            core.timed = core.open_since.is_some();
            core.open_since
        };
        let first = match open_since {
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
            Some(t) => match rx.recv_timeout(LINGER.saturating_sub(t.elapsed())) {
                Ok(j) => j,
                Err(e) => {
                    let mut core = shared.lock();
                    if core.open_since.is_some() {
                        // A failed commit loses only lazy writes (their callers were told).
                        if let Some(store) = core.store.as_mut() {
                            let _ = store.end_batch();
                        }
                        core.open_since = None;
                    }
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
        let n = jobs.len();
        let (background, calls): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j| j.commit == Commit::Background);
        let mut core = shared.lock();
        let done = run_calls(&mut core, calls);
        if background.is_empty() {
            // Before the results: a caller told may run its next call in its own thread.
            commit_if_lingered(&mut core);
            shared.queued.fetch_sub(n, Ordering::SeqCst);
            drop(core);
            done.tell();
            continue;
        }
        drop(core);
        done.tell();
        // Work done ahead comes after the calls that came with it have their results, and
        // its writes wait as lazy ones do.
        let mut guard = shared.lock();
        let core = &mut *guard;
        for job in background {
            let Some(store) = core.store.as_mut() else {
                break;
            };
            let begun = core.open_since.is_none() && store.begin_batch().is_ok();
            let work = job.work;
            let _ = std::panic::catch_unwind(AssertUnwindSafe(move || work(&mut **store)));
            if begun {
                core.open_since = Some(Instant::now());
            }
        }
        commit_if_lingered(core);
        shared.queued.fetch_sub(n, Ordering::SeqCst);
    }
}

/// Commits lazy writes open for `LINGER` already (a stream of lazy calls closer together
/// than that does not hold the first ones back).
fn commit_if_lingered(core: &mut Core) {
    if core.open_since.is_some_and(|t| t.elapsed() >= LINGER) {
        if let Some(store) = core.store.as_mut() {
            let _ = store.end_batch();
        }
        core.open_since = None;
    }
}

/// Calls that ran, to be told their results (after the store's lock is released: a reply
/// may drop the last handle of the agent, whose drop waits for the thread).
struct Done {
    replies: Vec<Reply>,
    outcome: Result<(), String>,
}

impl Done {
    fn tell(self) {
        for reply in self.replies {
            reply(self.outcome.clone());
        }
    }
}

/// Runs a batch of calls: their results are final once it returns (committed, or all lazy
/// and left in the open transaction, which `core.open_since` then says).
fn run_calls(core: &mut Core, calls: Vec<Job>) -> Done {
    // Closed: the calls are dropped, and their callers told `StoreError::Task`.
    let Some(store) = core.store.as_mut().filter(|_| !calls.is_empty()) else {
        return Done {
            replies: Vec::new(),
            outcome: Ok(()),
        };
    };
    let store = &mut **store;
    let open = core.open_since.is_some();
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
        core.open_since = core.open_since.or_else(|| Some(Instant::now()));
        return Done {
            replies,
            outcome: Ok(()),
        };
    }
    let outcome = match batch {
        true => store.end_batch().map_err(|e| e.to_string()),
        false => Ok(()),
    };
    core.open_since = None;
    Done { replies, outcome }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::Locking;
    use crate::store::{ConnKind, ConnRecord, RcvMsgKind, RcvMsgRecord, Write};
    use crate::SqliteStore;

    fn put(id: u8) -> Write {
        Write::PutConn(ConnRecord::new(vec![id], ConnKind::Duplex, true, 7))
    }

    /// A call that holds the thread until told to go on, then writes connection `id`.
    fn holding_call(
        thread: &std::sync::Arc<StoreThread>,
        id: u8,
    ) -> (
        tokio::task::JoinHandle<Result<(), StoreError>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = thread.clone();
        let call = tokio::spawn(async move {
            t.call(move |s| {
                let _ = wait.recv();
                s.apply(vec![put(id)])
            })
            .await
        });
        (call, go)
    }

    /// Calls sent together: each one's writes all or nothing, the others' committed, and
    /// every result reported only once committed (read back from a second connection to
    /// the file, which sees only what is committed).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_calls_commit_alone_or_together() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        // A plain file (no passphrase): the same SQLite, without the key derivation.
        let store = SqliteStore::open_with(&path, "", Locking::Shared).expect("store");
        let thread = std::sync::Arc::new(StoreThread::start(Box::new(store)).expect("thread"));
        // The first call holds the thread while the others queue up behind it.
        let (first, go) = holding_call(&thread, 0);
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
        let other = SqliteStore::open_with(&path, "", Locking::Shared).expect("second connection");
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

    /// Closing commits what lazy calls left open and frees the file of a store opened for
    /// its connection alone, while the handle lives on; calls after fail.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_store_frees_its_file_and_refuses_calls() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        let store = SqliteStore::open(&path, "").expect("store");
        let thread = StoreThread::start(Box::new(store)).expect("thread");
        thread
            .call_lazy(|s| s.apply(vec![put(1)]))
            .await
            .expect("lazy call");
        thread.close().await;
        let other = SqliteStore::open(&path, "").expect("free once closed");
        assert!(
            other.conn(&[1]).expect("read").is_some(),
            "lazy write committed"
        );
        let after = thread.call(|s| s.apply(vec![put(2)])).await;
        assert!(matches!(after, Err(StoreError::Task)), "{after:?}");
        drop(thread);
        assert!(other.conn(&[2]).expect("read").is_none());
    }

    /// A lazy call's writes are committed with the next call that is not lazy, by
    /// themselves when none follows, and when the thread ends; a lazy call that fails
    /// leaves nothing (read from a second connection, which sees only what is committed).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lazy_calls_commit_with_a_later_call_or_alone() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        let store = SqliteStore::open_with(&path, "", Locking::Shared).expect("store");
        let thread = StoreThread::start(Box::new(store)).expect("thread");
        let other = SqliteStore::open_with(&path, "", Locking::Shared).expect("second connection");
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

    /// A call run in the caller's thread comes after the calls sent before it (here one the
    /// thread is still running: it reads what that one wrote), and commits the writes lazy
    /// calls left open, as the thread would.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_run_here_keeps_the_order_and_commits_lazy_writes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        let store = SqliteStore::open_with(&path, "", Locking::Shared).expect("store");
        let thread = std::sync::Arc::new(StoreThread::start(Box::new(store)).expect("thread"));
        let other = SqliteStore::open_with(&path, "", Locking::Shared).expect("second connection");
        let (first, go) = holding_call(&thread, 1);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let seen = {
            let t = thread.clone();
            tokio::spawn(async move { t.call_then_here(|s| s.conn(&[1]), |_| {}).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        go.send(()).expect("first call waiting");
        first.await.expect("task").expect("first call");
        let seen = seen.await.expect("task").expect("read");
        assert!(seen.is_some(), "ran after the call sent before it");
        // Lazy writes left open by the thread, then a call run here: both committed.
        thread
            .call_lazy(|s| s.apply(vec![put(2)]))
            .await
            .expect("lazy call");
        let told = std::sync::Arc::new(AtomicUsize::new(0));
        let t = told.clone();
        thread
            .call_then_here(
                |s| s.apply(vec![put(3)]),
                move |_| {
                    t.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await
            .expect("call here");
        assert_eq!(told.load(Ordering::SeqCst), 1, "then ran on the result");
        assert!(
            other.conn(&[2]).expect("read").is_some(),
            "lazy write committed"
        );
        assert!(other.conn(&[3]).expect("read").is_some());
    }

    /// Lazy calls that keep coming, closer together than `LINGER`, do not hold the first
    /// one's writes back: they are committed while the stream goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_of_lazy_calls_commits_as_it_goes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("agent.db");
        let store = SqliteStore::open_with(&path, "", Locking::Shared).expect("store");
        let thread = StoreThread::start(Box::new(store)).expect("thread");
        let other = SqliteStore::open_with(&path, "", Locking::Shared).expect("second connection");
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
