//! Length-prefixed JSON framing, independent of any I/O runtime.

use crate::FrameError;
use serde::{de::DeserializeOwned, Serialize};

/// The largest frame body either side accepts (64 KiB). The length prefix is
/// checked against it before anything is allocated.
pub const MAX_FRAME: usize = 64 * 1024;

/// Serialize `msg` into a complete frame (length prefix included).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut buf = vec![0u8; 4];
    serde_json::to_writer(&mut buf, msg)?;
    let len = buf.len() - 4;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(buf)
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
