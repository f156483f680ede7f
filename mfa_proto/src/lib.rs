//! The wire protocol shared by the PAM module, the `mfa` CLI and `mfad`.
//!
//! Every message is one frame: a 4-byte big-endian length followed by that
//! many bytes of JSON. The first request on a connection is `hello`, which
//! carries the protocol version. [`codec`] is the pure framing, over std's
//! blocking I/O and (feature `tokio`) tokio's; [`client`] (feature
//! `blocking`) is what the PAM module and the CLI connect with, because
//! the module must never pull tokio into sshd.

pub mod at_login;
pub mod codec;
mod enroll;
mod error;
pub mod import;
mod messages;
pub mod methods;
mod paths;
pub mod phone;
pub mod push;
pub mod relay;
mod sensitive;

#[cfg(feature = "blocking")]
pub mod client;
#[cfg(feature = "blocking")]
pub mod session;

pub use codec::{decode_body, encode, MAX_FRAME};
pub use error::{ErrorCode, FrameError};
pub use messages::{
    Algorithm, Challenge, EnrollParams, LoginContext, Method, Request, Response, Sensitive,
    StatusInfo, PROTOCOL_VERSION,
};
pub use paths::root_socket_for;
