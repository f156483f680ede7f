//! Is the store alive? Every few seconds a job that does nothing goes
//! through the store's writer. While it comes back in time, systemd's
//! watchdog is fed (WATCHDOG=1); a writer that hangs is not vouched for,
//! so systemd kills and restarts mfad; a writer that has died ends
//! [`watch`], and mfad exits non-zero instead of answering "not run" to
//! every login forever. A shared database that is down is not mfad's
//! fault and a restart would not help: mfad is vouched for while it
//! answers promptly (logins fail closed) and resumes by itself when the
//! database is back.

use crate::store::{Store, StoreError};
use std::time::Duration;

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Answering,
    /// mfad answers promptly, but its database is down.
    DatabaseDown,
    /// No answer in time, or a passing fault: not vouched for this round.
    NotAnswering,
    /// The writer is gone for good.
    Dead,
}

/// Ping the store once, waiting at most `within`.
pub async fn check<S: Store>(store: &S, within: Duration) -> Health {
    match tokio::time::timeout(within, store.ping()).await {
        Ok(Ok(())) => Health::Answering,
        Ok(Err(StoreError::WriterGone)) => Health::Dead,
        Ok(Err(e)) if e.is_database_down() => Health::DatabaseDown,
        _ => Health::NotAnswering,
    }
}

/// Check the store every `every`, calling `alive` after each check it
/// passed; returns once the store is dead.
pub async fn watch<S: Store>(store: &S, every: Duration, mut alive: impl FnMut()) {
    let mut tick = tokio::time::interval(every);
    let mut down = false;
    loop {
        tick.tick().await;
        let health = check(store, every).await;
        if (health == Health::DatabaseDown) != down {
            down = !down;
            eprintln!(
                "mfad: {}",
                match down {
                    true =>
                        "the database cannot be reached: every login is refused until it is back",
                    false => "the database answers again",
                }
            );
        }
        match health {
            Health::Answering | Health::DatabaseDown => alive(),
            Health::NotAnswering => {
                eprintln!("mfad: the store did not answer a health check in time")
            }
            Health::Dead => return,
        }
    }
}
