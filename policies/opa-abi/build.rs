//! Linker flags for `policy.wasm`, applied to this crate only (not to other wasm artifacts).
//!
//! - `--import-memory`: OPA hosts supply `env.memory`; a module with its own memory is refused.
//! - `--export-memory`: re-export it as `memory`, as OPA-built modules do.
//! - a 32 KiB stack: the import's minimum must stay within the two pages that opa-wasm 0.2.0
//!   provides, and the default 1 MiB stack alone would need 17.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        for arg in ["--import-memory", "--export-memory", "-zstack-size=32768"] {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
