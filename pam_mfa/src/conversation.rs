//! What the module needs from the PAM conversation, as a trait so the
//! whole flow runs in tests with scripted answers.

use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the PAM conversation failed")]
pub struct ConvError;

pub trait Conversation {
    /// Ask with echo off; the answer is wiped from memory when dropped.
    fn prompt_hidden(&mut self, text: &str) -> Result<Zeroizing<String>, ConvError>;
    /// Ask with echo on (used to make a final notice visible over SSH).
    fn prompt_visible(&mut self, text: &str) -> Result<Zeroizing<String>, ConvError>;
    /// Show an error message.
    fn error(&mut self, text: &str) -> Result<(), ConvError>;
    /// Show an informational message.
    fn info(&mut self, text: &str) -> Result<(), ConvError>;
}
