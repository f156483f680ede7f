//! Typed errors of the framing layer and the stable error codes that travel
//! on the wire.

use serde::{Deserialize, Serialize};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the {max} byte limit", max = crate::MAX_FRAME)]
    TooLarge(usize),
    #[error("connection closed")]
    Closed,
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("timed out")]
    TimedOut,
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => FrameError::TimedOut,
            _ => FrameError::Io(e),
        }
    }
}

/// Stable machine-readable error codes. Their spelling is part of the
/// protocol: add new ones, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON or not a known request.
    BadRequest,
    /// The frame was larger than [`crate::MAX_FRAME`].
    FrameTooLarge,
    /// The first request was not `hello`, or named an unsupported version.
    VersionMismatch,
    /// The caller's uid may not act on that account.
    PermissionDenied,
    /// The user name is empty, too long, or contains control characters.
    InvalidUser,
    /// A parameter (secret, digits, code format) was rejected.
    InvalidArgument,
    /// The account has no confirmed enrollment.
    NotEnrolled,
    /// `enroll_confirm` without a pending `enroll_begin`, or it expired.
    NoPendingEnrollment,
    /// The account is enrolled already; replacing it needs proof or an admin.
    AlreadyEnrolled,
    /// Something went wrong inside the daemon; details are in its log.
    Internal,
    /// The account changed (another enrollment, a removal, expiry) while
    /// the request was being decided; nothing was applied. Start again.
    Conflict,
    /// The thing named (a push link, a push target) does not exist, or
    /// no longer: used, expired or removed.
    NotFound,
    /// The request needs a part of the system that is not running now
    /// (the push gateway).
    Unavailable,
    /// Too many of these requests lately (pushes to one account).
    RateLimited,
    /// A code this version does not know (sent by a newer mfad); the
    /// message still says what happened.
    #[serde(other)]
    Unknown,
}
