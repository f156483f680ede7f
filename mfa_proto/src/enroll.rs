//! What an enrollment is made of on the wire: the HMAC algorithm and the
//! choices a client may make for a new one (root may import a secret).

use crate::Sensitive;
use serde::{Deserialize, Serialize};

/// HMAC algorithm of a TOTP enrollment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    #[default]
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// Optional choices for a new enrollment; the daemon fills in its defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollParams {
    /// Import an existing base32 secret (root only) instead of generating one.
    #[serde(default)]
    pub secret: Option<Sensitive>,
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    #[serde(default)]
    pub digits: Option<u8>,
    /// Seconds per time step (an imported secret may use another period
    /// than the site's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
}
