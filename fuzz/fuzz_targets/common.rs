// Shared by the protocol targets (included with `mod common`).

use mfa_proto::{codec::sync::read_frame, encode, FrameError};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

/// Whatever decodes must re-encode into a frame that decodes to an equal
/// value: nothing the daemon accepts is lost or changed by a re-send.
pub fn roundtrip<T>(msg: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let frame = match encode(msg) {
        Ok(frame) => frame,
        // Re-encoding can be longer than the input (defaults written out,
        // `null` for absent options), so a body near MAX_FRAME may not fit.
        Err(FrameError::TooLarge(_)) => return,
        Err(e) => panic!("decoded message does not re-encode: {e}"),
    };
    let back: T = match read_frame(&mut frame.as_slice()) {
        Ok(back) => back,
        Err(e) => panic!("re-encoded frame does not decode: {e}"),
    };
    assert_eq!(&back, msg, "round trip changed the message");
}
