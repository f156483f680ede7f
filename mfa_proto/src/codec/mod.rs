//! Length-prefixed JSON framing, independent of any I/O: the frame layout
//! and its size limit here, and readers and writers over std's blocking
//! I/O ([`sync`]) and tokio's ([`tokio`], feature `tokio`), after
//! greetd_ipc's `codec/{sync,tokio}`. Connecting, deadlines and which
//! socket to use are the client's business (`crate::client`).
//!
//! Frames may carry codes and secrets, so every buffer that holds one is
//! wiped when it is dropped, including the ones left behind when a buffer
//! grows while a message is serialized.

pub mod sync;
#[cfg(feature = "tokio")]
pub mod tokio;

use crate::FrameError;
use serde::{de::DeserializeOwned, Serialize};
use zeroize::Zeroizing;

/// The largest frame body either side accepts (64 KiB). The length prefix is
/// checked against it before anything is allocated.
pub const MAX_FRAME: usize = 64 * 1024;

/// A growing buffer that wipes what it leaves behind: Vec's own growth
/// would free the old allocation with a code or secret still in it.
struct WipingBuf(Zeroizing<Vec<u8>>);

impl std::io::Write for WipingBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let need = self.0.len() + bytes.len();
        if need > self.0.capacity() {
            let mut bigger = Vec::with_capacity(need.max(self.0.capacity() * 2));
            bigger.extend_from_slice(&self.0);
            // The old allocation is wiped as the Zeroizing it was in drops.
            self.0 = Zeroizing::new(bigger);
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Serialize `msg` into a complete frame (length prefix included), in a
/// buffer that is wiped when dropped.
pub fn encode<T: Serialize>(msg: &T) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let mut buf = WipingBuf(Zeroizing::new(Vec::with_capacity(256)));
    buf.0.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut buf, msg)?;
    let mut buf = buf.0;
    let len = buf.len() - 4;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(buf)
}

/// A zeroed buffer for a body of `len` bytes, wiped when dropped.
pub(crate) fn body_buf(len: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(vec![0u8; len])
}

/// Check a length prefix before the body is read.
pub(crate) fn body_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len)
}

/// Parse a frame body.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;

    #[test]
    fn prefix_is_big_endian_length_of_the_json_body() -> Result<(), FrameError> {
        let frame = encode(&Request::Status { user: "ann".into() })?;
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4);
        assert_eq!(&frame[4..], br#"{"type":"status","user":"ann"}"#);
        Ok(())
    }

    #[test]
    fn oversize_prefix_is_rejected_before_reading() {
        assert!(matches!(
            body_len((MAX_FRAME as u32 + 1).to_be_bytes()),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            body_len(u32::MAX.to_be_bytes()),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            body_len((MAX_FRAME as u32).to_be_bytes()),
            Ok(MAX_FRAME)
        ));
    }

    #[test]
    fn oversize_message_is_not_encoded() {
        let user = "x".repeat(MAX_FRAME);
        assert!(matches!(
            encode(&Request::Status { user }),
            Err(FrameError::TooLarge(_))
        ));
    }
}
