//! The allocator and the heap pointer (see the crate documentation).

use core::{
    alloc::{GlobalAlloc, Layout},
    arch::wasm32,
    sync::atomic::{AtomicUsize, Ordering},
};

const PAGE: usize = 65_536;

unsafe extern "C" {
    /// The end of static data and stack, placed by the linker.
    static __heap_base: u8;
    /// The host's `env.opa_abort(message)`.
    fn opa_abort(message: i32);
}

/// The next free address; 0 until first use, then never below `__heap_base`.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Reports a fixed NUL-terminated message through `opa_abort` without allocating: for the
/// allocator, when memory is exhausted.
pub fn abort_static(message: &'static [u8]) -> ! {
    debug_assert!(message.ends_with(b"\0"));
    // SAFETY: the message is NUL-terminated static data, readable for the instance's life.
    unsafe { opa_abort(crate::to_i32(message.as_ptr() as usize)) };
    wasm32::unreachable()
}

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

/// A block of `size` bytes (at least one) for the host to write into: what `opa_malloc` returns.
pub fn allocate(size: usize) -> i32 {
    let mut buf = alloc::vec::Vec::<u8>::with_capacity(size.max(1));
    let ptr = buf.as_mut_ptr() as usize;
    core::mem::forget(buf);
    crate::to_i32(ptr)
}

/// `opa_free(addr)`: a no-op for the bump heap (the last block is reclaimed on rewind).
#[unsafe(no_mangle)]
pub extern "C" fn opa_free(_addr: i32) {}

/// `opa_value_free(addr)`: a no-op, as `opa_free`.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_free(_addr: i32) {}

/// `opa_heap_ptr_get() -> addr`
#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_ptr_get() -> i32 {
    crate::to_i32(pointer())
}

/// `opa_heap_ptr_set(addr)`: everything above `addr` is discarded.
#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_ptr_set(addr: i32) {
    set_pointer(crate::address(addr));
}

/// ABI 1.3 heap stashing: nothing to stash in a bump heap.
#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_blocks_stash() {}

/// ABI 1.3 heap stashing: nothing to restore in a bump heap.
#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_blocks_restore() {}

/// ABI 1.3 heap stashing: nothing to clear in a bump heap.
#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_stash_clear() {}

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

/// The allocator: each module registers it as its `#[global_allocator]`.
pub struct Bump;

/// Memory is exhausted. The standard library's answer to a failed allocation is a trap,
/// which a host reports as a crash; an `opa_abort` tells it what happened. The message is
/// static, since nothing more can be allocated.
fn out_of_memory() -> ! {
    abort_static(b"out of memory: the instance cannot grow its linear memory\0")
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
