//! The rules as a component of the `policy` world (`wit/policy.wit`).
//!
//! Only an adapter: JSON in, `policy-rules` evaluates, typed violations out. It is built for
//! `wasm32-unknown-unknown` and encoded as a component by `policy-artifacts`, so it imports
//! nothing (the `wasm32-wasip2` target would import WASI even for pure code). On other targets
//! it compiles to nothing, so the workspace builds and lints on the host.

#[cfg(target_arch = "wasm32")]
mod guest;
