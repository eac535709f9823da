//! The wasm artifacts built from the rules, located for tests, engines and the bundle.
//!
//! `cargo build` of this crate compiles them (see `build.rs`); nothing has to be run by hand
//! first. `policy.wasm` lands at `target/wasm/policy.wasm`, the path operators copy into MAS's
//! `policy.wasm_module`; the component at `target/wasm/policy.component.wasm`.

/// Where the build left `policy.wasm`: `<target dir>/wasm/policy.wasm`.
pub const POLICY_WASM_PATH: &str = env!("POLICY_WASM_PATH");

/// The bytes of `policy.wasm` as built with this crate.
pub fn policy_wasm() -> &'static [u8] {
    include_bytes!(env!("POLICY_WASM_PATH"))
}

/// The stack floor (`benches/stack-floor`): an OPA-ABI module with no rules that parses every
/// document with the rules' crates, laid out and post-linked as `policy.wasm`. For benchmarks:
/// what a request costs any module built on those crates.
pub fn stack_floor_wasm() -> &'static [u8] {
    include_bytes!(env!("STACK_FLOOR_WASM_PATH"))
}

/// Where the build left the policy component: `<target dir>/wasm/policy.component.wasm`.
pub const POLICY_COMPONENT_PATH: &str = env!("POLICY_COMPONENT_PATH");

/// The bytes of the policy component (world `policy` of `wit/policy.wit`).
pub fn policy_component() -> &'static [u8] {
    include_bytes!(env!("POLICY_COMPONENT_PATH"))
}

/// A misbehaving component of the same world (`tests/hostile`), for the host's limit tests.
pub fn hostile_component() -> &'static [u8] {
    include_bytes!(env!("HOSTILE_COMPONENT_PATH"))
}

/// Where the build left the claims-mapper component: `<target dir>/wasm/claims.component.wasm`.
pub const CLAIMS_COMPONENT_PATH: &str = env!("CLAIMS_COMPONENT_PATH");

/// The bytes of the claims-mapper component (world `claims-mapper` of `wit/claims.wit`).
pub fn claims_component() -> &'static [u8] {
    include_bytes!(env!("CLAIMS_COMPONENT_PATH"))
}
