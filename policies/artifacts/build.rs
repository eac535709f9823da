//! Builds the wasm artifacts from the rules, so that a fresh clone needs no manual step.
//!
//! A nested `cargo build --target wasm32-unknown-unknown` compiles `policy-opa-abi` and
//! `policy-component` with the `wasm` profile into their own target directory (`target/wasm`):
//! the outer cargo holds the lock on the main one, so sharing it would deadlock. Then:
//! - the OPA-ABI module gets its ABI version globals (`build/postlink.rs`) and lands at
//!   `target/wasm/policy.wasm`; the stack floor (`benches/stack-floor`, a measuring module
//!   with the same layout and post-link steps) lands at `target/wasm/stack-floor.wasm`;
//! - the component's core module is encoded as a component with `wit-component` (it imports
//!   nothing, unlike a `wasm32-wasip2` build) and lands at `target/wasm/policy.component.wasm`;
//! - the claims mapper (`plugins/claims-component`) is encoded the same way and lands at
//!   `target/wasm/claims.component.wasm`.

#[path = "build/postlink.rs"]
mod postlink;

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, exit},
};

/// OPA Wasm ABI version this module implements.
const ABI: [(&str, i32); 2] = [
    ("opa_wasm_abi_version", 1),
    ("opa_wasm_abi_minor_version", 3),
];

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or_else(|| fail("cannot find the workspace root"))
        .to_path_buf();
    for watched in [
        "policies/rules/src",
        "policies/rules/Cargo.toml",
        "policies/rules/build.rs",
        "policies/opa-abi/src",
        "policies/opa-abi/Cargo.toml",
        "policies/opa-abi/build.rs",
        "policies/opa-heap/src",
        "policies/opa-heap/Cargo.toml",
        "policies/component/src",
        "policies/component/Cargo.toml",
        "wit",
        "plugins/claims-mapper/src",
        "plugins/claims-mapper/Cargo.toml",
        "plugins/claims-component/src",
        "plugins/claims-component/Cargo.toml",
        "tests/hostile/src",
        "tests/hostile/Cargo.toml",
        "benches/stack-floor/src",
        "benches/stack-floor/Cargo.toml",
        "benches/stack-floor/build.rs",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build/postlink.rs");

    check_wasm_target();

    let target_root =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let target_root = if target_root.is_absolute() {
        target_root
    } else {
        root.join(target_root)
    };
    let wasm_target_dir = target_root.join("wasm");
    build_module(&root, &wasm_target_dir);

    for (crate_name, file, env_var) in [
        ("policy_opa_abi", "policy.wasm", "POLICY_WASM_PATH"),
        (
            "policy_stack_floor",
            "stack-floor.wasm",
            "STACK_FLOOR_WASM_PATH",
        ),
    ] {
        let linked = wasm_target_dir.join(format!("wasm32-unknown-unknown/wasm/{crate_name}.wasm"));
        let wasm = std::fs::read(&linked)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", linked.display())));
        let wasm = postlink::reset_stack_on_entry(&wasm)
            .and_then(|wasm| postlink::add_exported_globals(&wasm, &ABI))
            .unwrap_or_else(|e| fail(&format!("post-link step failed: {e}")));
        let out = wasm_target_dir.join(file);
        std::fs::write(&out, &wasm)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", out.display())));
        println!("cargo:rustc-env={env_var}={}", out.display());
    }

    for (crate_name, file, env_var) in [
        (
            "policy_component",
            "policy.component.wasm",
            "POLICY_COMPONENT_PATH",
        ),
        (
            "policy_hostile_guest",
            "hostile.component.wasm",
            "HOSTILE_COMPONENT_PATH",
        ),
        (
            "claims_component",
            "claims.component.wasm",
            "CLAIMS_COMPONENT_PATH",
        ),
    ] {
        let out = wasm_target_dir.join(file);
        encode_component(
            &wasm_target_dir.join(format!("wasm32-unknown-unknown/wasm/{crate_name}.wasm")),
            &out,
        );
        println!("cargo:rustc-env={env_var}={}", out.display());
    }
}

/// Wraps a core module built with wit-bindgen into a component.
fn encode_component(core: &Path, out: &Path) {
    let bytes = std::fs::read(core)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", core.display())));
    let component = wit_component::ComponentEncoder::default()
        .module(&bytes)
        .and_then(|encoder| encoder.validate(true).encode())
        .unwrap_or_else(|e| fail(&format!("cannot encode {}: {e:#}", core.display())));
    std::fs::write(out, &component)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", out.display())));
}

/// Makes sure the wasm target is installed: when it is missing, adds it with `rustup` for
/// the toolchain this build runs on (with a `cargo:warning`), and fails with one line naming
/// the command when that is not possible. This runs before the nested build, within the first
/// minute of a fresh build.
fn check_wasm_target() {
    let installed = || {
        let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        Command::new(rustc)
            .args(["--print", "sysroot"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| PathBuf::from(s.trim()))
            .is_some_and(|root| root.join("lib/rustlib/wasm32-unknown-unknown/lib").is_dir())
    };
    if installed() {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", "wasm32-unknown-unknown"]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    let added = rustup.output().is_ok_and(|o| o.status.success()) && installed();
    if added {
        println!(
            "cargo:warning=added the wasm32-unknown-unknown target (`rustup target add wasm32-unknown-unknown`): the wasm artifacts need it"
        );
    } else {
        fail(
            "the wasm32-unknown-unknown target is not installed; run `rustup target add wasm32-unknown-unknown`",
        );
    }
}

fn build_module(root: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--package",
            "policy-opa-abi",
            "--package",
            "policy-component",
            "--package",
            "policy-hostile-guest",
            "--package",
            "claims-component",
            "--package",
            "policy-stack-floor",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's flags, wrappers and target settings are not meant for this build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", remapped_paths(root).join("\x1f"));
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo for the wasm artifacts: {e}")));
    if !status.success() {
        fail("building the wasm artifacts failed (see the cargo output above)");
    }
}

/// `--remap-path-prefix` flags that cut the build machine's folders out of the source paths the
/// modules keep (panic locations). The paths are static data, which every instantiation of
/// `policy.wasm` copies into fresh memory, so each byte costs every request; and without them
/// the artifacts no longer depend on where the workspace or the crate cache sits. Given as
/// `CARGO_ENCODED_RUSTFLAGS`, they also take the place of any `build.rustflags` from a cargo
/// config for this nested build: its flags are the project's, like its profile.
fn remapped_paths(root: &Path) -> Vec<String> {
    let mut prefixes = vec![root.to_path_buf()];
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(sources) = cargo_home.map(|home| home.join("registry").join("src"))
        && let Ok(registries) = std::fs::read_dir(&sources)
    {
        // rustc applies the last matching prefix, so each registry's own folder comes after
        // their common parent. Sorted, because the flags are part of cargo's fingerprint: an
        // order that changed between runs would rebuild the artifacts.
        let mut folders: Vec<PathBuf> = registries.flatten().map(|r| r.path()).collect();
        folders.sort();
        prefixes.push(sources);
        prefixes.extend(folders);
    }
    prefixes
        .iter()
        .map(|from| format!("--remap-path-prefix={}/=", from.display()))
        .collect()
}
