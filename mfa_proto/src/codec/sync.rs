//! Frames over std's blocking `Read` and `Write`: what the PAM module and
//! the CLI use (through `crate::client`), and what the fuzzer and the tests
//! drive with byte slices. No deadlines here; the stream carries them.

use super::{body_buf, body_len};
use crate::{decode_body, encode, FrameError};
use serde::{de::DeserializeOwned, Serialize};
use std::io::{Read, Write};

/// Write one frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Read one frame. A clean end of stream before the first byte is `Closed`;
/// an end inside the frame is `Truncated`.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut body = body_buf(body_len(prefix)?);
    r.read_exact(&mut body)?;
    decode_body(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Sensitive};

    #[test]
    fn roundtrip_through_a_buffer() -> Result<(), FrameError> {
        let mut buf = Vec::new();
        let req = Request::Verify {
            user: "ann".into(),
            code: Sensitive::new("123456"),
            context: Default::default(),
        };
        write_frame(&mut buf, &req)?;
        let back: Request = read_frame(&mut buf.as_slice())?;
        assert_eq!(back, req);
        Ok(())
    }

    #[test]
    fn truncated_and_closed_are_told_apart() {
        let empty: &[u8] = &[];
        assert!(matches!(
            read_frame::<_, Request>(&mut &*empty),
            Err(FrameError::Closed)
        ));
        let half: &[u8] = &[0, 0];
        assert!(matches!(
            read_frame::<_, Request>(&mut &*half),
            Err(FrameError::Truncated)
        ));
        let short_body: &[u8] = &[0, 0, 0, 10, b'{'];
        assert!(matches!(
            read_frame::<_, Request>(&mut &*short_body),
            Err(FrameError::Truncated)
        ));
    }
}
