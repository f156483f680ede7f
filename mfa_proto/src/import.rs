//! Importing a second factor another system issued (root only), so that
//! its users keep the phone they have and the codes they printed: the
//! request `import` and its answer. Reading the other system's files
//! (google-authenticator-libpam's `~/.google_authenticator`) is the CLI's
//! business; only what this project supports travels here.

use crate::{Algorithm, Sensitive};
use serde::{Deserialize, Serialize};

/// Make `secret` the account's TOTP enrollment at once, without a
/// confirming code (the user's app already has it), with
/// `recovery_codes` as its recovery codes (replacing any it had).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub user: String,
    /// Base32, as the other system stored it.
    pub secret: Sensitive,
    #[serde(default)]
    pub algorithm: Algorithm,
    pub digits: u8,
    /// Seconds per time step.
    pub period: u64,
    /// Single-use codes, each either this project's 12-letter form or an
    /// 8-digit scratch code of google-authenticator.
    #[serde(default)]
    pub recovery_codes: Vec<Sensitive>,
    /// Replace an existing enrollment. Without it an enrolled account is
    /// left as it is and the answer is an `already_enrolled` error.
    #[serde(default)]
    pub replace: bool,
    /// The highest time step the old system already accepted (its record
    /// of used codes): it stays spent, so a code typed there just before
    /// the switch cannot be replayed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent_step: Option<u64>,
}

/// Answer to `import`: what was stored, for the CLI's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// The account as the name service spells it.
    pub user: String,
    /// An existing enrollment was replaced.
    pub replaced: bool,
    pub recovery_codes: u32,
    pub digits: u8,
    pub period: u64,
    /// Steps either side of now this site accepts (`[totp] skew`), which
    /// replaces the old system's window.
    pub skew: u8,
}
