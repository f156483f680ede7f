//! Frames over tokio's I/O, for the daemon. Deadlines are the caller's business (the
//! daemon wraps these in `tokio::time::timeout`), because it has two kinds:
//! idle time before a frame and the time a started frame may take.

use super::{body_buf, body_len};
use crate::{decode_body, encode, FrameError};
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

/// Wait for the first byte of the next frame's length prefix. Returns
/// `Closed` on a clean end of stream. Split from [`read_rest`] so the
/// daemon can apply a long idle deadline here and a short one after.
pub async fn read_first_byte<R: AsyncRead + Unpin>(r: &mut R) -> Result<u8, FrameError> {
    let mut b = [0u8; 1];
    match r.read(&mut b).await? {
        0 => Err(FrameError::Closed),
        _ => Ok(b[0]),
    }
}

/// Read the rest of a frame whose first byte is `first`, and parse it.
/// The length is checked against the limit before the body is allocated.
/// The body is wiped when dropped: it may hold a code or a secret.
pub async fn read_rest<R: AsyncRead + Unpin>(
    r: &mut R,
    first: u8,
) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let mut prefix = [first, 0, 0, 0];
    r.read_exact(&mut prefix[1..]).await?;
    let mut body = body_buf(body_len(prefix)?);
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// Read and parse one whole frame.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> Result<T, FrameError> {
    let first = read_first_byte(r).await?;
    decode_body(&read_rest(r, first).await?)
}

/// Write one frame.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?).await?;
    w.flush().await?;
    Ok(())
}
