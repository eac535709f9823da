//! The wasm artifacts built from the rules, located for tests, engines and the bundle.
//!
//! `cargo build` of this crate compiles `policy.wasm` (see `build.rs`); nothing has to be run
//! by hand first. The module lands at `target/wasm/policy.wasm`, the path operators copy into
//! MAS's `policy.wasm_module`.

/// Where the build left `policy.wasm`: `<target dir>/wasm/policy.wasm`.
pub const POLICY_WASM_PATH: &str = env!("POLICY_WASM_PATH");

/// The bytes of `policy.wasm` as built with this crate.
pub fn policy_wasm() -> &'static [u8] {
    include_bytes!(env!("POLICY_WASM_PATH"))
}
