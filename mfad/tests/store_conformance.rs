//! The store conformance suite (issue #11): one suite, written against the
//! public [`Store`] trait only, run against every backend.
//!
//! Each backend is one line below: `store_suite::conformance!(name, make)`,
//! where `make` is an `async fn() -> Result<Fresh<YourStore>, Box<dyn
//! Error>>` that returns a fresh, empty store (and whatever must stay alive
//! while it is used, such as its temporary directory, as the guard). Every
//! case then shows up once per backend, as `name::theme::case`:
//!
//! ```text
//! cargo test -p mfad --test store_conformance -- sqlite::
//! ```
//!
//! To add PostgreSQL: write `async fn postgres()` that connects to a
//! fresh database or schema (dropped by its guard), and add
//! `store_suite::conformance!(postgres, postgres);`.

mod store_suite;

use mfad::store::SqliteStore;
use store_suite::Fresh;

/// A SQLite store in its own temporary directory.
async fn sqlite() -> Result<Fresh<SqliteStore>, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path())?;
    Ok(Fresh::new(store, dir))
}

store_suite::conformance!(sqlite, sqlite);
