//! The PostgreSQL schema and its migrations, applied in order and
//! recorded in `schema_version`. Several mfads may start at once on one
//! database, so the whole migration runs in one transaction under an
//! advisory lock: the second waits, then finds nothing left to do.
//!
//! The layout is SQLite's current one (its version 8) with PostgreSQL's
//! types: BYTEA for blobs, BIGINT for times and ids, BOOLEAN for flags,
//! and `"user"` quoted (a reserved word here). Names compare bytewise
//! (`COLLATE "C"`), as in SQLite, so `list` pages the same way whatever
//! the database's locale.

use super::StoreError;
use deadpool_postgres::Client;

/// Key of the migration lock (a single-key lock: its own key space).
const MIGRATION_LOCK: i64 = 0x6d66_6164_0000_0001;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the schema of SQLite's version 7.
    r#"CREATE TABLE accounts (
        "user"       TEXT COLLATE "C" PRIMARY KEY,
        created_at   BIGINT NOT NULL,
        failures     BIGINT NOT NULL DEFAULT 0,
        last_failure BIGINT NOT NULL DEFAULT 0,
        locked       BOOLEAN NOT NULL DEFAULT FALSE,
        last_login   BIGINT
     );
     CREATE TABLE authenticators (
        "user"     TEXT COLLATE "C" NOT NULL REFERENCES accounts ("user") ON DELETE CASCADE,
        id         BIGINT NOT NULL,
        label      TEXT COLLATE "C" NOT NULL,
        secret     BYTEA NOT NULL,
        algorithm  TEXT NOT NULL,
        digits     INTEGER NOT NULL,
        period     BIGINT NOT NULL,
        last_step  BIGINT,
        created_at BIGINT NOT NULL,
        preferred  BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY ("user", id),
        UNIQUE ("user", label)
     );
     CREATE TABLE recovery_codes (
        "user"     TEXT COLLATE "C" NOT NULL REFERENCES accounts ("user") ON DELETE CASCADE,
        id         BIGINT NOT NULL,
        hash       BYTEA NOT NULL,
        used_at    BIGINT,
        expires_at BIGINT,
        PRIMARY KEY ("user", id)
     );
     CREATE TABLE host_failures (
        rhost        TEXT COLLATE "C" NOT NULL,
        "user"       TEXT COLLATE "C" NOT NULL,
        last_failure BIGINT NOT NULL,
        PRIMARY KEY (rhost, "user")
     );
     CREATE INDEX host_failures_by_time ON host_failures (last_failure);
     CREATE TABLE pending (
        "user"     TEXT COLLATE "C" PRIMARY KEY,
        secret     BYTEA NOT NULL,
        algorithm  TEXT NOT NULL,
        digits     INTEGER NOT NULL,
        period     BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
     );
     CREATE TABLE meta (
        name  TEXT PRIMARY KEY,
        value BYTEA NOT NULL
     );
     CREATE TABLE push_targets (
        "user"       TEXT COLLATE "C" NOT NULL,
        label        TEXT COLLATE "C" NOT NULL,
        provider     TEXT NOT NULL,
        sealed_topic BYTEA,
        created_at   BIGINT NOT NULL,
        preferred    BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY ("user", label)
     );
     CREATE TABLE pushes (
        id           TEXT PRIMARY KEY,
        token_hash   BYTEA NOT NULL UNIQUE,
        sealed_token BYTEA NOT NULL,
        "user"       TEXT COLLATE "C" NOT NULL,
        kind         TEXT NOT NULL,
        label        TEXT COLLATE "C" NOT NULL,
        provider     TEXT NOT NULL,
        sealed_topic BYTEA,
        number       TEXT NOT NULL,
        host         TEXT NOT NULL,
        service      TEXT NOT NULL,
        rhost        TEXT,
        created_at   BIGINT NOT NULL,
        expires_at   BIGINT NOT NULL,
        state        TEXT NOT NULL
     );
     CREATE INDEX pushes_by_user ON pushes ("user", created_at);
     CREATE INDEX pushes_by_state ON pushes (state, created_at);
     CREATE TABLE push_blocks (
        "user" TEXT COLLATE "C" PRIMARY KEY,
        until  BIGINT NOT NULL,
        reason TEXT NOT NULL
     );
     CREATE TABLE phones (
        "user"     TEXT COLLATE "C" NOT NULL,
        label      TEXT COLLATE "C" NOT NULL,
        number     TEXT NOT NULL,
        channel    TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        preferred  BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY ("user", label)
     );
     CREATE TABLE phone_codes (
        id          TEXT PRIMARY KEY,
        "user"      TEXT COLLATE "C" NOT NULL,
        number      TEXT NOT NULL,
        channel     TEXT NOT NULL,
        purpose     TEXT NOT NULL,
        label       TEXT COLLATE "C" NOT NULL,
        code_hash   BYTEA NOT NULL,
        sealed_code BYTEA,
        host        TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL,
        state       TEXT NOT NULL,
        tries       INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX phone_codes_by_user ON phone_codes ("user", created_at);
     CREATE INDEX phone_codes_by_number ON phone_codes (number, created_at);
     CREATE INDEX phone_codes_by_state ON phone_codes (state, created_at);"#,
    // 2: as SQLite's version 8: the recovery subkey of the mfad an
    // account was copied from by `mfad migrate` (sealed).
    "ALTER TABLE accounts ADD COLUMN recovery_key BYTEA;",
];

/// Bring the schema up to date; the version it is at afterwards.
pub(super) async fn migrate(client: &mut Client) -> Result<i64, StoreError> {
    let tx = client.transaction().await?;
    // Before anything else, even the version table's creation: two
    // `CREATE TABLE IF NOT EXISTS` at once can both try to create it.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version    BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
         )",
    )
    .await?;
    let version: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await?
        .try_get(0)?;
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::FutureSchema(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) \
             VALUES ($1, extract(epoch FROM now())::bigint)",
            &[&(i as i64 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(MIGRATIONS.len() as i64)
}
