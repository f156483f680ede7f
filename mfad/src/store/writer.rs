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
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

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

    /// Run `f` on the writer thread inside the current group transaction
    /// and return its result once that transaction is durably committed.
    pub(super) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply_tx, reply_rx) = mpsc::sync_channel::<Result<R, StoreError>>(1);
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit: Result<(), String>| {
                let _ = reply_tx.send(commit.map_err(StoreError::Commit).and(result));
            })
        });
        let jobs = self.jobs.as_ref().ok_or(StoreError::WriterGone)?;
        jobs.send(job).map_err(|_| StoreError::WriterGone)?;
        reply_rx.recv().map_err(|_| StoreError::WriterGone)?
    }
}

fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.execute_batch("SAVEPOINT job")?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end)?;
    result
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
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Nothing ran; dropping the jobs answers their callers with an error.
            eprintln!("mfad: cannot begin a transaction: {e}");
            drop(batch);
            continue;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut poisoned = false;
        for job in batch {
            match catch_unwind(AssertUnwindSafe(|| job(conn))) {
                Ok(reply) => replies.push(reply),
                // A job that panicked may have left its savepoint half
                // done: undo the whole group rather than commit that.
                Err(_) => poisoned = true,
            }
        }
        let outcome = if poisoned {
            Err("a store operation panicked; its group was rolled back".to_string())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(outcome.clone());
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
