//! What the store keeps for push approval: saved push targets, pushes
//! (pending and recent), and blocks after a denial. Pushes live in the
//! store rather than in mfad's memory so that a shared backend can carry
//! one from the host where the login waits to the one the gateway talks
//! to. The link token is kept as its hash (to find the push) and sealed
//! (to hand to the gateway once); the number is compared by the service.

use mfa_proto::push::{Provider, PushKind};

/// Where a push goes: an ntfy topic (sealed: whoever knows it can
/// subscribe) or the site's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub label: String,
    pub provider: Provider,
    pub sealed_topic: Option<Vec<u8>>,
    pub created_at: i64,
}

/// The life of a push. Queued, Sending and Sent are pending (a decision
/// may still arrive); every other state is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    Queued,
    Sending,
    Sent,
    Failed,
    Approved,
    Denied,
    WrongNumber,
    Reported,
    Expired,
    Cancelled,
}

impl PushState {
    pub const PENDING: [PushState; 3] = [PushState::Queued, PushState::Sending, PushState::Sent];

    pub fn is_pending(self) -> bool {
        Self::PENDING.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Queued => "queued",
            PushState::Sending => "sending",
            PushState::Sent => "sent",
            PushState::Failed => "failed",
            PushState::Approved => "approved",
            PushState::Denied => "denied",
            PushState::WrongNumber => "wrong_number",
            PushState::Reported => "reported",
            PushState::Expired => "expired",
            PushState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<PushState> {
        [
            PushState::Queued,
            PushState::Sending,
            PushState::Sent,
            PushState::Failed,
            PushState::Approved,
            PushState::Denied,
            PushState::WrongNumber,
            PushState::Reported,
            PushState::Expired,
            PushState::Cancelled,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// One push, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    pub id: String,
    pub token_hash: [u8; 32],
    pub sealed_token: Vec<u8>,
    pub user: String,
    pub kind: PushKind,
    /// For a test push, the target that is saved once it is approved.
    pub target: PushTarget,
    pub number: String,
    pub host: String,
    pub service: String,
    pub rhost: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: PushState,
}

/// The fatigue limits a new push is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fatigue {
    pub now: i64,
    /// Pushes created since this time count against `max`.
    pub since: i64,
    pub max: u32,
}

/// Whether a push was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Opened,
    /// Pushes to the account are blocked until then (after a denial).
    Blocked {
        until: i64,
        reason: String,
    },
    /// `max` pushes were sent in the window; the oldest of them was
    /// created at `oldest`.
    TooMany {
        oldest: i64,
    },
}

/// How a decision names its push: the gateway by the hash of the link's
/// token (it never learns the id's owner), the account's own session by
/// the id (its caller is checked before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushKey {
    Token([u8; 32]),
    Id(String),
}

/// What a decision does to a pending push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushVerdict {
    pub state: PushState,
    /// Block further pushes to the account until then, for this reason.
    pub block: Option<(i64, String)>,
}

/// A hint from a shared store that a push may have changed elsewhere
/// (another mfad decided or ended it). Only a hint: whoever waits re-reads
/// the push from the store, which stays the truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// Push `id` may have changed.
    Push(String),
    /// Any push may have changed: hints were lost (the store reconnected,
    /// or the receiver fell behind), so every waiter must re-read.
    All,
}
