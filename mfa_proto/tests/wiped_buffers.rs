//! Frame buffers that held a code or a secret are wiped before their memory
//! goes back to the allocator, including the allocations a buffer leaves
//! behind when it grows while a message is serialized. An allocator that
//! looks at every freed block for a marker code proves it (this test
//! binary has that allocator to itself).

use mfa_proto::codec::sync::{read_frame, write_frame};
use mfa_proto::{encode, Request, Response, Sensitive};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const MARKER: &[u8] = b"Q7X9-MARKER-CODE-4821";

/// Counts freed blocks that still hold [`MARKER`], while `WATCH` is set.
struct Inspecting;

static WATCH: AtomicBool = AtomicBool::new(false);
static LEFT_BEHIND: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCH.load(Ordering::Relaxed) && layout.size() >= MARKER.len() {
            // SAFETY: the block is live until System.dealloc below and
            // `layout.size()` bytes long.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(MARKER.len()).any(|w| w == MARKER) {
                LEFT_BEHIND.fetch_add(1, Ordering::Relaxed);
            }
        }
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Inspecting = Inspecting;

fn marker() -> String {
    String::from_utf8_lossy(MARKER).into_owned()
}

#[test]
fn no_frame_buffer_is_freed_with_a_code_or_secret_in_it() -> Result<(), Box<dyn std::error::Error>>
{
    let verify = Request::Verify {
        user: "ann".into(),
        code: Sensitive::new(marker()),
        // The buffer grows several times after the code is in it.
        context: mfa_proto::LoginContext {
            service: "s".repeat(3000),
            ..Default::default()
        },
    };
    let enrollment = Response::Enrollment {
        secret: Sensitive::new(marker()),
        uri: Sensitive::new(format!("otpauth://totp/x?secret={}", marker())),
        algorithm: Default::default(),
        digits: 6,
        period: 30,
        expires_in_secs: 600,
        qr: Some(Sensitive::new(marker())),
    };
    let mut wire = Vec::new();
    write_frame(&mut wire, &verify)?;
    write_frame(&mut wire, &enrollment)?;
    WATCH.store(true, Ordering::Relaxed);
    {
        let frame = encode(&verify)?;
        assert!(frame.windows(MARKER.len()).any(|w| w == MARKER));
        drop(frame);
        let mut r = wire.as_slice();
        let back: Request = read_frame(&mut r)?;
        let resp: Response = read_frame(&mut r)?;
        drop((back, resp));
    }
    WATCH.store(false, Ordering::Relaxed);
    assert_eq!(
        LEFT_BEHIND.load(Ordering::Relaxed),
        0,
        "freed with the marker in it"
    );
    // The check can see a block that is not wiped.
    WATCH.store(true, Ordering::Relaxed);
    drop(marker().into_bytes());
    WATCH.store(false, Ordering::Relaxed);
    assert_eq!(LEFT_BEHIND.load(Ordering::Relaxed), 1);
    Ok(())
}
