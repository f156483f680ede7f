//! What the store keeps for phone codes: the account's saved numbers and
//! the one-time codes sent to them. A code is kept as a keyed hash (to
//! check it) and, until the gateway has it, sealed (to hand over once).
//! Sends are counted per account and per number in the same transaction
//! that queues one, so racing requests cannot slip past the limits.

use mfa_proto::phone::{Channel, PhonePurpose};

/// A saved number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub label: String,
    /// E.164.
    pub number: String,
    pub channel: Channel,
    pub created_at: i64,
}

/// Where a code stands. Queued, Sending and Sent may still be typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    Queued,
    Sending,
    Sent,
    Failed,
    Used,
    /// Too many wrong tries: no longer accepted.
    Burned,
}

impl CodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeState::Queued => "queued",
            CodeState::Sending => "sending",
            CodeState::Sent => "sent",
            CodeState::Failed => "failed",
            CodeState::Used => "used",
            CodeState::Burned => "burned",
        }
    }
}

/// One code sent (or to be sent) to a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneCode {
    pub id: String,
    pub user: String,
    pub number: String,
    pub channel: Channel,
    pub purpose: PhonePurpose,
    /// The name the number gets when an `AddNumber` code is confirmed.
    pub label: String,
    pub code_hash: [u8; 32],
    /// Dropped once the gateway has had it.
    pub sealed_code: Option<Vec<u8>>,
    pub host: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: CodeState,
    pub tries: u32,
}

/// How many codes may be sent since `since`: to one account, and to one
/// number whoever asks (so nobody can make mfad text a stranger in a loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    pub per_user: u32,
    pub per_number: u32,
    pub since: i64,
}

/// What `open_phone_code` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOpened {
    Queued,
    /// Over a limit; the oldest counted send, from which the wait follows.
    UserLimit {
        oldest: i64,
    },
    NumberLimit {
        oldest: i64,
    },
}

/// What a confirmation of an `AddNumber` code decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// Right: the number is saved as this; `created` when the account
    /// was made for it (and given the recovery codes passed in).
    Added {
        phone: Phone,
        created: bool,
    },
    Wrong,
    /// No live code to confirm (none, expired, used, burned).
    NoCode,
}

/// Wrong tries after which a code is burned.
pub const MAX_TRIES: u32 = 3;
