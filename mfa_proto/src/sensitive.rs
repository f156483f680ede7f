//! The two values every request carries: `Sensitive`, a code or secret
//! that never reaches a log and is wiped from memory on drop, and
//! `LoginContext`, where a login comes from as PAM reports it.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// A string that must never be logged: a code, a TOTP secret, a recovery code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(s: impl Into<String>) -> Self {
        Sensitive(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Sensitive {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Where a login comes from, as PAM reports it. Used for rate limiting per
/// remote host and for the audit log; never for authorization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginContext {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub rhost: Option<String>,
    #[serde(default)]
    pub tty: Option<String>,
    /// The module lets an unenrolled user through (`nullok`, answering
    /// PAM_IGNORE): mfad writes that exemption to its audit log.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nullok: bool,
}
