//! The bump allocator that OPA hosts require (contract §13.5).
//!
//! Hosts save the heap pointer after loading data, write the next input at that address behind
//! the allocator's back, and later rewind to it. A general-purpose allocator would hand out
//! memory the host is about to overwrite, so the only allocator state is the next free address:
//! `opa_heap_ptr_set` rewinds it and everything above is discarded. Freeing the most recent
//! block gives it back, which keeps parse buffers from piling up; any other free is a no-op.

#![expect(
    unsafe_code,
    reason = "a global allocator and raw linear memory are unsafe by nature"
)]

use core::{
    alloc::{GlobalAlloc, Layout},
    arch::wasm32,
    sync::atomic::{AtomicUsize, Ordering},
};

const PAGE: usize = 65_536;

unsafe extern "C" {
    /// The end of static data and stack, placed by the linker.
    static __heap_base: u8;
}

/// The next free address; 0 until first use, then never below `__heap_base`.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The current heap pointer.
pub fn pointer() -> usize {
    match NEXT.load(Ordering::Relaxed) {
        0 => core::ptr::addr_of!(__heap_base) as usize,
        next => next,
    }
}

/// Rewinds (or advances) the heap pointer; everything above it is discarded.
pub fn set_pointer(ptr: usize) {
    NEXT.store(ptr, Ordering::Relaxed);
}

/// Grows linear memory so that `end` is addressable. Hosts grow memory too, so the size is
/// read again on every call.
fn ensure(end: usize) -> bool {
    let have = wasm32::memory_size(0) * PAGE;
    if end <= have {
        return true;
    }
    let pages = (end - have).div_ceil(PAGE);
    wasm32::memory_grow(0, pages) != usize::MAX
}

struct Bump;

/// Memory is exhausted. The standard library's answer to a failed allocation is a trap,
/// which a host reports as a crash; an `opa_abort` tells it what happened. The message is
/// static, since nothing more can be allocated.
fn out_of_memory() -> ! {
    crate::abi::abort_static(b"out of memory: the instance cannot grow its linear memory\0")
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let start = pointer().next_multiple_of(layout.align());
        let Some(end) = start.checked_add(layout.size()) else {
            out_of_memory();
        };
        if !ensure(end) {
            out_of_memory();
        }
        set_pointer(end);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == pointer() {
            set_pointer(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start + layout.size() == pointer() {
            // The last block grows or shrinks in place.
            let Some(end) = start.checked_add(new_size) else {
                out_of_memory();
            };
            if !ensure(end) {
                out_of_memory();
            }
            set_pointer(end);
            return ptr;
        }
        // SAFETY: `Layout::from_size_align_unchecked` gets the caller's valid alignment, and the
        // new block (never null: `alloc` aborts instead) cannot overlap the old one, which lies
        // below the heap pointer.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            new
        }
    }
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;
