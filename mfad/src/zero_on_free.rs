//! An allocator that wipes every block before handing it back. mfad's
//! buffers pass codes, secrets and otpauth URIs through code it does not
//! own (TLS record buffers, JSON parsing, tokio's copy buffers), which
//! frees them without zeroizing; wiping on free keeps them out of freed
//! memory, so a relay's memory holds no secret once a request is done.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct ZeroOnFree;

/// Zero `size` bytes at `ptr`, a word at a time where it is aligned.
///
/// # Safety
/// `ptr` must be valid for writes of `size` bytes.
unsafe fn wipe(ptr: *mut u8, size: usize) {
    const W: usize = std::mem::size_of::<usize>();
    let mut i = 0;
    while i < size && !(ptr as usize + i).is_multiple_of(W) {
        unsafe { ptr.add(i).write_volatile(0) };
        i += 1;
    }
    while i + W <= size {
        unsafe { ptr.add(i).cast::<usize>().write_volatile(0) };
        i += W;
    }
    while i < size {
        unsafe { ptr.add(i).write_volatile(0) };
        i += 1;
    }
}

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
        // Volatile, so the writes are kept although the block is freed
        // right after; through the raw pointer, since the block may never
        // have been written (no slice over it).
        unsafe {
            wipe(ptr, layout.size());
            System.dealloc(ptr, layout)
        }
    }
}
