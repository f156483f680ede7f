//! An allocator that wipes every block before handing it back. mfad's
//! buffers pass codes, secrets and otpauth URIs through code it does not
//! own (TLS record buffers, JSON parsing, tokio's copy buffers), which
//! frees them without zeroizing; wiping on free keeps them out of freed
//! memory, so a relay's memory holds no secret once a request is done.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct ZeroOnFree;

// SAFETY: every call is passed to the system allocator unchanged; dealloc
// first writes zeros over the block it owns, which is still allocated.
// realloc is GlobalAlloc's default (alloc, copy, dealloc), so the old
// block is wiped too.
unsafe impl GlobalAlloc for ZeroOnFree {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // zeroize's writes are volatile, so they are kept although the
        // block is freed right after.
        unsafe {
            zeroize::Zeroize::zeroize(std::slice::from_raw_parts_mut(ptr, layout.size()));
            System.dealloc(ptr, layout)
        }
    }
}
