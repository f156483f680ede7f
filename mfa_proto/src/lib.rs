//! The wire protocol shared by the PAM module, the `mfa` CLI and `mfad`.
//!
//! Every message is one frame: a 4-byte big-endian length followed by that
//! many bytes of JSON. The first request on a connection is `hello`, which
//! carries the protocol version. The blocking codec (feature `blocking`) is
//! what the PAM module uses, because it must never pull tokio into sshd; the
//! async codec (feature `tokio`) is what the daemon uses.

mod error;
mod frame;
mod messages;
mod paths;

#[cfg(feature = "tokio")]
pub mod async_codec;
#[cfg(feature = "blocking")]
pub mod blocking;

pub use error::{ErrorCode, FrameError};
pub use frame::{decode_body, encode, MAX_FRAME};
pub use messages::{
    Algorithm, Challenge, EnrollParams, LoginContext, Method, Request, Response, Sensitive,
    StatusInfo, PROTOCOL_VERSION,
};
pub use paths::root_socket_for;
