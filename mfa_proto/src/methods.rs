//! What an account can log in with, as `mfa methods` and the help desk's
//! `mfa list --json` show it: kinds and names, never a secret, a topic or
//! a whole phone number.

use crate::Algorithm;
use serde::{Deserialize, Serialize};

/// The kind of a method, stable in JSON (`mfa methods --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Totp,
    Push,
    Sms,
    Voice,
    Recovery,
}

/// One method of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodInfo {
    pub kind: MethodKind,
    pub label: String,
    /// Unix time it was added, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// For recovery codes: how many are left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<u32>,
    /// The first of its kind (a push or a text goes to the default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// What `method_change` does to the method it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum MethodChange {
    /// Not the account's last way to log in (`mfa remove` removes all).
    Remove,
    Rename {
        new_label: String,
    },
    /// Make it the first of its kind.
    Default,
}

impl MethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Totp => "totp",
            MethodKind::Push => "push",
            MethodKind::Sms => "sms",
            MethodKind::Voice => "voice",
            MethodKind::Recovery => "recovery",
        }
    }
}

/// One account as the help desk sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub user: String,
    pub methods: Vec<MethodInfo>,
    /// Unix time of the last successful login with a code, if any.
    pub last_login: Option<i64>,
    pub locked: bool,
}

/// What `status` reports about one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    pub user: String,
    pub enrolled: bool,
    pub algorithm: Option<Algorithm>,
    pub digits: Option<u8>,
    /// Seconds per code (absent from daemons that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    pub recovery_codes_left: u32,
    pub consecutive_failures: u32,
    pub locked: bool,
    /// Seconds until the next attempt is allowed, when delayed.
    pub retry_after_secs: Option<u64>,
    /// Unix time of the enrollment.
    pub enrolled_at: Option<i64>,
    /// Unix time of the last successful login with a code.
    #[serde(default)]
    pub last_login: Option<i64>,
}
