//! One throwaway PostgreSQL cluster shared by every test of a test binary
//! (the conformance suite runs dozens of cases, each on a fresh database
//! of its own; a cluster each would take minutes). A static is never
//! dropped, so the cluster is stopped and its folder removed by an
//! `atexit` handler, which also runs when a test failed.

use crate::postgres::TempCluster;
use anyhow::{anyhow, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

static SHARED: Mutex<Option<TempCluster>> = Mutex::new(None);
static NEXT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn stop_shared() {
    // Dropping the cluster stops it and removes its folder.
    let cluster = match SHARED.lock() {
        Ok(mut g) => g.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    drop(cluster);
}

/// The connection string of a new, empty database on the shared cluster,
/// started on first use.
pub fn fresh_database() -> Result<String> {
    let mut guard = SHARED
        .lock()
        .map_err(|_| anyhow!("the shared cluster's lock is poisoned"))?;
    if guard.is_none() {
        *guard = Some(TempCluster::start_new()?);
        // SAFETY: registers a plain function without arguments.
        if unsafe { libc::atexit(stop_shared) } != 0 {
            return Err(anyhow!("cannot register the cluster's cleanup"));
        }
    }
    let cluster = guard.as_ref().ok_or_else(|| anyhow!("no cluster"))?;
    let name = format!("case_{}", NEXT.fetch_add(1, Ordering::SeqCst));
    cluster.create_database(&name)
}
