//! JSON body parsing on arbitrary bytes, without the length prefix, so the
//! fuzzer spends its time in the message grammar rather than on keeping a
//! prefix consistent. Both directions, with the round-trip property.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mfa_proto::{decode_body, Request, Response};

fuzz_target!(|data: &[u8]| {
    match decode_body::<Request>(data) {
        Ok(req) => {
            let _ = format!("{req:?}");
            common::roundtrip(&req);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match decode_body::<Response>(data) {
        Ok(resp) => {
            let _ = format!("{resp:?}");
            common::roundtrip(&resp);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
