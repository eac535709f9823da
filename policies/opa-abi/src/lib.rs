//! The rules as an OPA Wasm ABI 1.3 module: the drop-in `policy.wasm` for MAS.
//!
//! This crate is only an adapter: it moves JSON across the ABI and calls `policy-rules`. It
//! compiles to nothing on other targets, so the workspace builds and lints on the host.
//!
//! The ABI and what hosts expect of it (opa-wasm 0.1–0.3, the OPA JS SDK) are specified in the
//! project's MAS contract, §13. The two ABI version globals are added after linking by
//! `policy-artifacts`, because Rust cannot emit a constant exported global.

#[cfg(target_arch = "wasm32")]
mod abi;

/// The bump heap that OPA hosts require (`policy-opa-heap`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: policy_opa_heap::Bump = policy_opa_heap::Bump;
