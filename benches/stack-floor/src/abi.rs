//! The OPA ABI surface of `benches/null_policy.wat`, with [`crate::load`] behind
//! `opa_json_parse` and the input parsed in `opa_eval`. The ABI version globals are added after
//! linking, as for `policy.wasm` (`policies/artifacts/build/postlink.rs`).
//!
//! Memory is `policy.wasm`'s own bump heap (`policy-opa-heap`), with the pointer that OPA hosts
//! save after the data load and rewind to before each evaluation (contract §13.5). A refused
//! document reaches the host through `opa_abort`, as `policy.wasm` reports invalid data.

use core::arch::wasm32;

use policy_opa_heap::{address, to_i32};

unsafe extern "C" {
    fn opa_abort(message: i32);
}

/// The bump heap of `policy.wasm` (`policy-opa-heap`), so that both modules allocate alike.
#[global_allocator]
static ALLOCATOR: policy_opa_heap::Bump = policy_opa_heap::Bump;

/// The text the host wrote, without the NUL that opa-wasm appends.
fn bytes(ptr: i32, len: i32) -> &'static [u8] {
    // SAFETY: the host wrote `len` bytes at `ptr` in this instance's memory.
    let raw = unsafe { core::slice::from_raw_parts(address(ptr) as *const u8, address(len)) };
    raw.strip_suffix(b"\0").unwrap_or(raw)
}

fn abort(message: &str) -> ! {
    let text = format!("{message}\0");
    // SAFETY: the host reads a NUL-terminated string at this address, which stays allocated.
    unsafe { opa_abort(to_i32(text.as_ptr() as usize)) };
    wasm32::unreachable()
}

/// What `opa_json_parse` returns for every document: a fixed `{}`, as the null policy does.
const EMPTY: &str = "{}\0";
const ENTRYPOINTS: &str = "{\"register/violation\":0,\"email/violation\":1,\"client_registration/violation\":2,\"authorization_grant/violation\":3,\"compat_login/violation\":4}\0";
const RESULT: &str = "[{\"result\":[]}]\0";

/// `builtins() -> addr`: no host builtins.
#[unsafe(no_mangle)]
pub extern "C" fn builtins() -> i32 {
    to_i32(EMPTY.as_ptr() as usize)
}

/// `entrypoints() -> addr`: the five MAS entrypoints.
#[unsafe(no_mangle)]
pub extern "C" fn entrypoints() -> i32 {
    to_i32(ENTRYPOINTS.as_ptr() as usize)
}

/// `opa_malloc(size) -> addr`
#[unsafe(no_mangle)]
pub extern "C" fn opa_malloc(size: i32) -> i32 {
    policy_opa_heap::allocate(address(size))
}

/// Parses and keeps the document: a real module keeps the data for its evaluations.
#[unsafe(no_mangle)]
pub extern "C" fn opa_json_parse(ptr: i32, len: i32) -> i32 {
    let value = crate::load(bytes(ptr, len)).unwrap_or_else(|e| abort(&e));
    core::mem::forget(value);
    to_i32(EMPTY.as_ptr() as usize)
}

/// `opa_value_parse`: as `opa_json_parse`.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_parse(ptr: i32, len: i32) -> i32 {
    opa_json_parse(ptr, len)
}

/// `opa_json_dump(addr) -> str`: every value is a fixed string already.
#[unsafe(no_mangle)]
pub extern "C" fn opa_json_dump(addr: i32) -> i32 {
    addr
}

/// `opa_value_dump`: as `opa_json_dump`.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_dump(addr: i32) -> i32 {
    addr
}

/// `opa_value_add_path`: data edits change nothing here.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_add_path(_base: i32, _path: i32, _value: i32) -> i32 {
    0
}

/// `opa_value_remove_path`: as `opa_value_add_path`.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_remove_path(_base: i32, _path: i32) -> i32 {
    0
}

/// `opa_eval_ctx_new() -> ctx`: one context for all.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_new() -> i32 {
    0
}

/// `opa_eval_ctx_set_input`: the input was parsed when the host passed it.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_input(_ctx: i32, _input: i32) {}

/// `opa_eval_ctx_set_data`: nothing to keep.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_data(_ctx: i32, _data: i32) {}

/// `opa_eval_ctx_set_entrypoint`: every entrypoint answers alike.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_entrypoint(_ctx: i32, _entrypoint: i32) {}

/// `opa_eval_ctx_get_result(ctx) -> addr`: the null policy's empty result.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_get_result(_ctx: i32) -> i32 {
    to_i32(RESULT.as_ptr() as usize)
}

/// `eval(ctx) -> 0`
#[unsafe(no_mangle)]
pub extern "C" fn eval(_ctx: i32) -> i32 {
    0
}

/// The fast path: the input is parsed like any document, and the answer is the null policy's.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval(
    _reserved: i32,
    _entrypoint: i32,
    _data: i32,
    input: i32,
    input_len: i32,
    heap_ptr: i32,
    _format: i32,
) -> i32 {
    policy_opa_heap::set_pointer(address(heap_ptr));
    if input_len > 0 {
        let value = crate::load(bytes(input, input_len)).unwrap_or_else(|e| abort(&e));
        core::mem::forget(value);
    }
    to_i32(RESULT.as_ptr() as usize)
}
