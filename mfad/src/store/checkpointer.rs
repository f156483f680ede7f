//! Moves committed pages from the WAL into the database file on a thread of
//! its own, so the writer never stops to do it. With SQLite's automatic
//! checkpoint, every thousandth page made one commit (and every login
//! waiting on it) also copy the log back and fsync the database: a few
//! milliseconds that showed in the tail latency of logins under load.
//!
//! A passive checkpoint never blocks the writer. The writer keeps a high
//! automatic threshold as a safety net, for when this thread cannot keep up.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the log is checkpointed.
const EVERY: Duration = Duration::from_millis(250);
/// The writer's own automatic checkpoint, in pages, as a backstop.
pub(super) const BACKSTOP_PAGES: u32 = 4_000;
/// What the log file is cut back to when it starts over, in bytes: under
/// steady load it can grow to about the backstop before it gets a chance.
pub(super) const LOG_LIMIT_BYTES: i64 = 8 << 20;

pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(db: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(db)?;
        conn.execute_batch("PRAGMA busy_timeout = 1000;")?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mfad-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(e) = checkpoint(&conn) {
                        eprintln!("mfad: checkpoint failed: {e}");
                    }
                }
            })
            .map_err(|source| StoreError::StateDir {
                path: db.display().to_string(),
                source,
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// One passive checkpoint; returns (frames in the log, frames copied).
pub(super) fn checkpoint(conn: &Connection) -> Result<(i64, i64), rusqlite::Error> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
