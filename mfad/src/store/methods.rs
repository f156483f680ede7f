//! The store's view of what an account logs in with: its named TOTP
//! authenticators, and the operations on any method by kind and name
//! (remove, rename, make the default), each decided in one transaction
//! so two removals racing cannot both pass the "not the last one" check.

use super::Enrollment;

/// One named TOTP authenticator of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticator {
    /// Stable within the account; the login names it to spend a step.
    pub id: i64,
    pub label: String,
    pub totp: Enrollment,
}

/// A kind of method the store keeps by name. Phone numbers share one
/// namespace whatever their channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodRef {
    Totp,
    Push,
    Phone,
}

/// How a confirmation changes the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// The first enrollment, or a new one: every authenticator and the
    /// recovery codes are replaced (by these hashes) and the counters
    /// reset, but only if the account's authenticators still are
    /// `replaces` (their sealed secrets, in id order; None: no account).
    Replace {
        replaces: Option<Vec<Vec<u8>>>,
        recovery: Vec<[u8; 32]>,
    },
    /// One more authenticator beside the others: the account must exist
    /// and the name be free.
    Add,
}

/// What a removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NotFound,
    /// Refused: it is the account's last way to log in besides the
    /// recovery codes.
    Last,
}

/// What a rename did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renamed {
    Done,
    NotFound,
    /// Another method of that kind already has the new name.
    Taken,
}

impl super::AccountSummary {
    /// The sealed secrets of the authenticators in id order: what a
    /// confirmation or a new set of recovery codes expects to still be
    /// there.
    pub fn shape(&self) -> Vec<Vec<u8>> {
        let mut by_id: Vec<_> = self.authenticators.iter().collect();
        by_id.sort_by_key(|a| a.id);
        by_id
            .into_iter()
            .map(|a| a.totp.sealed_secret.clone())
            .collect()
    }

    /// The default authenticator, if any.
    pub fn first(&self) -> Option<&Authenticator> {
        self.authenticators.first()
    }
}
