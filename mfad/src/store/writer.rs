//! One thread owns the SQLite connection and runs every store operation.
//! Jobs that arrive while a commit is in flight are run together in the
//! next transaction and committed with a single fsync (group commit); each
//! job runs inside its own savepoint, so one that fails is undone alone.
//! A caller is answered only after the commit that holds its job, so an
//! accepted code is on disk before the login succeeds.

use super::StoreError;
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// How many jobs at most share one commit.
const MAX_BATCH: usize = 512;

/// Called with the outcome of the commit that contained the job.
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs a job; the flag says whether the group transaction is still sound
/// (its savepoint was closed cleanly), so the group may go on.
type Job = Box<dyn FnOnce(&Connection) -> (Reply, bool) + Send>;

pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("mfad-store".into())
            .spawn(move || serve(&conn, &rx))?;
        Ok(Writer {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Whether the writer thread still runs (it ends only when the store is
    /// dropped, or by a fault in the writer itself).
    pub(super) fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Run `f` on the writer thread inside the current group transaction;
    /// the future resolves once that transaction is durably committed.
    /// The job is queued at once, whether or not the future is polled.
    pub(super) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<R, StoreError>> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.run_then(f, move |r| {
            let _ = tx.send(r);
        });
        // A job dropped unrun (writer gone, group poisoned) drops the sender.
        async move { rx.await.map_err(|_| StoreError::NotRun)? }
    }

    /// Queue `f`, and hand its result to `done` on the writer thread once
    /// the commit is durable. If the job is dropped unrun, `done` is
    /// dropped without being called.
    fn run_then<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        done: impl FnOnce(Result<R, StoreError>) + Send + 'static,
    ) {
        let job: Job = Box::new(move |conn| {
            let (result, sound) = in_savepoint(conn, f);
            let reply: Reply = Box::new(move |commit: Result<(), String>| {
                done(commit.map_err(StoreError::Commit).and(result));
            });
            (reply, sound)
        });
        if let Some(jobs) = self.jobs.as_ref() {
            // On a send error the job (and `done` with it) is dropped.
            let _ = jobs.send(job);
        }
    }
}

/// Run `f` inside a savepoint, undoing it alone if it fails. The flag is
/// false when the savepoint could not be closed or SQLite dropped the whole
/// transaction (I/O error, disk full): then nothing of the group may be
/// committed.
fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> (Result<R, StoreError>, bool) {
    if let Err(e) = conn.execute_batch("SAVEPOINT job") {
        return (Err(e.into()), !conn.is_autocommit());
    }
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    match conn.execute_batch(end) {
        Ok(()) => (result, !conn.is_autocommit()),
        Err(e) => (Err(e.into()), false),
    }
}

/// Open the group transaction, clearing one left open by an earlier fault.
fn begin(conn: &Connection) -> rusqlite::Result<()> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    conn.execute_batch("BEGIN IMMEDIATE")
}

fn serve(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = begin(conn) {
            // Nothing ran; dropping the jobs answers their callers with an error.
            eprintln!("mfad: cannot begin a transaction: {e}");
            drop(batch);
            continue;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut poisoned = false;
        for job in batch {
            if poisoned {
                // Not run: dropping it answers its caller with an error.
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| job(conn))) {
                Ok((reply, sound)) => {
                    replies.push(reply);
                    poisoned = !sound;
                }
                // A job that panicked may have left its savepoint half
                // done: undo the whole group rather than commit that.
                Err(_) => poisoned = true,
            }
        }
        let outcome = if poisoned {
            Err("a store operation failed mid-transaction; its group was rolled back".to_string())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        if outcome.is_err() && !conn.is_autocommit() {
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                eprintln!("mfad: rollback failed: {e}");
            }
        }
        for reply in replies {
            // A caller's completion that panics must not stop the store
            // for everyone else.
            if catch_unwind(AssertUnwindSafe(|| reply(outcome.clone()))).is_err() {
                eprintln!("mfad: a store completion panicked");
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the jobs already sent.
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
