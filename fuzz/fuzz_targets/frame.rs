//! The blocking frame reader on an arbitrary byte stream, read the way the
//! daemon reads a connection (Request) and the way pam_mfa and the CLI read
//! the answers (Response): frame after frame until the stream fails.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mfa_proto::{codec::sync::read_frame, FrameError, Request, Response, MAX_FRAME};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

fn stream<T>(data: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut rest = data;
    loop {
        let before = rest.len();
        match read_frame::<_, T>(&mut rest) {
            Ok(msg) => common::roundtrip(&msg),
            // A bad body is consumed whole; the next frame starts after it.
            Err(FrameError::Json(e)) => {
                let _ = e.to_string();
            }
            Err(FrameError::TooLarge(len)) => {
                // Refused from the prefix alone: nothing past it was read,
                // so nothing was allocated for the body.
                assert!(len > MAX_FRAME, "TooLarge({len}) is within the limit");
                assert_eq!(before - rest.len(), 4, "read past an oversize prefix");
                break;
            }
            Err(FrameError::Closed) => {
                assert_eq!(before, 0, "Closed with {before} bytes left");
                break;
            }
            Err(FrameError::Truncated) => {
                assert!(before > 0, "Truncated on an empty stream");
                break;
            }
            Err(e) => panic!("unexpected error from an in-memory stream: {e}"),
        }
        // Every successful read consumes at least the prefix: no endless loop.
        assert!(rest.len() + 4 <= before);
    }
}

fuzz_target!(|data: &[u8]| {
    stream::<Request>(data);
    stream::<Response>(data);
});
