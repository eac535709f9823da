//! The bump heap that OPA hosts require (contract §13.5), and the ABI's address conversions.
//!
//! Hosts save the heap pointer after loading data, write the next input at that address behind
//! the allocator's back, and later rewind to it. A general-purpose allocator would hand out
//! memory the host is about to overwrite, so the only allocator state is the next free address:
//! `opa_heap_ptr_set` rewinds it and everything above is discarded. Freeing the most recent
//! block gives it back, which keeps parse buffers from piling up; any other free is a no-op.
//!
//! A crate of its own so that `policy.wasm` and the stack floor (`benches/stack-floor`, which
//! measures what the rules' crates cost) run the same allocator; each registers [`Bump`] as its
//! `#[global_allocator]`, and both export the heap functions of the ABI (`opa_free`,
//! `opa_heap_ptr_get`, `opa_heap_ptr_set` and the ABI 1.3 stash calls) from here. The heap
//! exists on wasm32 only; the conversions build everywhere.
#![no_std]
#![cfg_attr(
    target_arch = "wasm32",
    expect(
        unsafe_code,
        reason = "a global allocator and raw linear memory are unsafe by nature"
    )
)]

#[cfg(target_arch = "wasm32")]
extern crate alloc;

#[cfg(target_arch = "wasm32")]
mod bump;
#[cfg(target_arch = "wasm32")]
pub use bump::{Bump, abort_static, allocate, pointer, set_pointer};

/// An i32 of the ABI as a wasm32 address.
#[expect(
    clippy::cast_sign_loss,
    reason = "wasm32 addresses are u32 passed as i32"
)]
pub fn address(value: i32) -> usize {
    value as u32 as usize
}

/// A wasm32 address as the ABI's i32.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "wasm32 addresses are u32 passed as i32"
)]
pub fn to_i32(addr: usize) -> i32 {
    addr as u32 as i32
}
