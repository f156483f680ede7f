//! Whole accounts moved between stores, for `mfad migrate`: what one
//! account is made of (read from a single host's SQLite database) and
//! what importing it into another store did. Only what lasts moves:
//! pending enrollments, counters per remote host, pushes and phone codes
//! are minutes old at most and are left behind (see `crate::migrate`).

pub use super::sqlite_transfer::export_sqlite;
use super::{Authenticator, Counters, Enrollment, Phone, PushTarget};

/// One account as exported. Secrets are sealed: under the source's key
/// when read, under the destination's once `mfad migrate` re-sealed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountExport {
    pub user: String,
    pub created_at: i64,
    pub last_login: Option<i64>,
    /// Kept as they were: a lock (after failures, or by the help desk)
    /// must not be lifted by a move.
    pub counters: Counters,
    pub authenticators: Vec<ExportedAuthenticator>,
    /// Used ones too (so a code spent on the host stays spent), and an
    /// unexpired temporary code; an expired one is left out.
    pub recovery: Vec<ExportedCode>,
    /// With their order (`preferred`, the highest is the default).
    pub phones: Vec<(Phone, i64)>,
    pub push_targets: Vec<(PushTarget, i64)>,
    /// The recovery subkey the codes were hashed with, sealed under the
    /// destination's key; None when the destination's key hashes them.
    pub recovery_key: Option<Vec<u8>>,
}

/// One TOTP authenticator with its id and order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedAuthenticator {
    pub id: i64,
    pub label: String,
    /// Its `last_step` keeps spent steps spent.
    pub totp: Enrollment,
    pub preferred: i64,
}

/// One recovery code's keyed hash and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedCode {
    pub id: i64,
    pub hash: [u8; 32],
    pub used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// What the destination already holds for an account of that name, for
/// the caller to judge whether it is the same enrollment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    pub authenticators: Vec<Authenticator>,
    pub phones: Vec<Phone>,
    pub push_targets: Vec<PushTarget>,
}

/// What [`super::Store::import_account`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// The account was not there; it is now, whole.
    Copied,
    /// The same enrollment was there (an earlier run). Steps and codes
    /// the export had spent and the destination had not were marked
    /// spent: `caught_up` of them.
    AlreadyThere { caught_up: usize },
    /// A different enrollment of that name is there; nothing changed.
    Conflict(String),
}
