//! The claims mapper as a component of the `claims-mapper` world (`wit/claims.wit`).
//!
//! Only an adapter: JSON in, `claims-mapper` maps, a typed mapping out. Like the policy
//! component it is built for `wasm32-unknown-unknown` and encoded by `policy-artifacts`, so it
//! imports nothing. On other targets it compiles to nothing, so the workspace builds and lints
//! on the host.

#[cfg(target_arch = "wasm32")]
mod guest;
