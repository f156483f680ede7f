//! The store conformance suite (mfad/tests/store_suite, the same files
//! the SQLite run uses) against the PostgreSQL store: every case on a
//! fresh database of one throwaway PostgreSQL 15 cluster, removed when
//! the run ends. Needs root (the cluster runs as postgres); CI runs as
//! root.

#[path = "../../mfad/tests/store_suite/mod.rs"]
mod store_suite;

use mfad::store::PostgresStore;
use store_suite::Fresh;

/// A PostgreSQL store on a new database, named as the suite's pushes
/// name their mfad (so that it cancels them at start).
async fn postgres() -> Result<Fresh<PostgresStore>, Box<dyn std::error::Error>> {
    let url = tokio::task::spawn_blocking(mfa_tests::postgres_shared::fresh_database).await??;
    let store = PostgresStore::connect(&url).await?.with_host("lab1");
    Ok(Fresh::new(store, ()))
}

store_suite::conformance!(postgres, postgres);
