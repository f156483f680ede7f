//! pam_mfa: a thin, blocking PAM module that asks for a second factor and
//! lets mfad decide. All logic lives in [`flow`], generic over a
//! [`Conversation`] so tests script the prompts; [`ffi`] is the only file
//! that touches PAM or C, and [`outcome`] is the one table from results to
//! PAM return codes. No runtime, no threads, no global logger: it runs
//! inside sshd, login and sudo.

pub mod args;
pub mod conversation;
pub mod enroll_flow;
pub mod ffi;
mod finish;
pub mod flow;
pub mod outcome;

pub use args::Options;
pub use conversation::{ConvError, Conversation};
pub use flow::{authenticate, Login};
pub use outcome::Outcome;
