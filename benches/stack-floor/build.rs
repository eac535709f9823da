//! The linker flags of `policy.wasm` (`policies/opa-abi/build.rs`), so that this module's
//! memory layout is the same: an imported memory re-exported as `memory`, and a 32 KiB stack
//! below the static data.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        for arg in ["--import-memory", "--export-memory", "-zstack-size=32768"] {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
