//! What `policy verify` checks of a `policy.wasm` before any engine runs it: the shape MAS's
//! loader (opa-wasm 0.2, MAS 1.22) needs (contract §13).
//!
//! - imports: exactly `env.memory` (a non-shared memory with no maximum and a minimum of at
//!   most two pages, because opa-wasm 0.2 provides exactly two) and `env.opa_abort`;
//! - every export a host calls;
//! - the ABI version globals, constant and equal to 1.3;
//! - it instantiates with a two-page memory and reports MAS's five entrypoints.

use policy_rules::Entrypoint;
use wasmtime::{Engine, ExternType, Linker, Memory, MemoryType, Module, Store};

use crate::engine::opa::{Mode, OpaEngine};

/// Exports every OPA-ABI host needs (contract §13.4).
pub const REQUIRED_EXPORTS: [&str; 18] = [
    "builtins",
    "entrypoints",
    "opa_malloc",
    "opa_free",
    "opa_json_parse",
    "opa_json_dump",
    "opa_heap_ptr_get",
    "opa_heap_ptr_set",
    "opa_eval_ctx_new",
    "opa_eval_ctx_set_input",
    "opa_eval_ctx_set_data",
    "opa_eval_ctx_set_entrypoint",
    "opa_eval_ctx_get_result",
    "eval",
    "opa_eval",
    "opa_value_parse",
    "opa_value_dump",
    "memory",
];

/// The ABI version globals and the values this project's module carries.
pub const ABI_VERSION: [(&str, i32); 2] = [
    ("opa_wasm_abi_version", 1),
    ("opa_wasm_abi_minor_version", 3),
];

/// The pages of memory opa-wasm 0.2 (MAS 1.22) gives a module.
pub const MAS_MEMORY_PAGES: u32 = 2;

/// Checks `wasm` as an OPA-ABI module MAS can load. Returns one line per problem; none means
/// it passed.
pub fn check(wasm: &[u8]) -> Vec<String> {
    let engine = Engine::default();
    let module = match Module::new(&engine, wasm) {
        Ok(m) => m,
        Err(e) => return vec![format!("policy.wasm: not a valid module: {e}")],
    };
    let mut problems = imports(&module);
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    problems.extend(
        REQUIRED_EXPORTS
            .iter()
            .filter(|name| !exports.contains(name))
            .map(|name| format!("policy.wasm: missing export `{name}`")),
    );
    if problems.is_empty() {
        problems.extend(instantiate(&engine, &module));
    }
    if problems.is_empty() {
        problems.extend(entrypoints(wasm));
    }
    problems
}

fn imports(module: &Module) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for import in module.imports() {
        let name = format!("{}.{}", import.module(), import.name());
        match (name.as_str(), import.ty()) {
            ("env.memory", ExternType::Memory(mem)) => {
                if mem.minimum() > u64::from(MAS_MEMORY_PAGES) {
                    problems.push(format!(
                        "policy.wasm: imported memory needs {} pages; MAS provides {MAS_MEMORY_PAGES}",
                        mem.minimum()
                    ));
                }
                if mem.maximum().is_some() || mem.is_shared() || mem.is_64() {
                    problems.push(
                        "policy.wasm: imported memory must be a plain 32-bit memory without a maximum"
                            .to_owned(),
                    );
                }
            }
            ("env.opa_abort", ExternType::Func(_)) => {}
            _ => problems.push(format!("policy.wasm: unexpected import `{name}`")),
        }
        seen.push(name);
    }
    for needed in ["env.memory", "env.opa_abort"] {
        if !seen.iter().any(|s| s == needed) {
            problems.push(format!("policy.wasm: missing import `{needed}`"));
        }
    }
    problems
}

/// Instantiates with exactly two pages, as MAS does, and reads the ABI globals.
fn instantiate(engine: &Engine, module: &Module) -> Vec<String> {
    let mut store = Store::new(engine, ());
    let result = (|| -> wasmtime::Result<Vec<String>> {
        let memory = Memory::new(&mut store, MemoryType::new(MAS_MEMORY_PAGES, None))?;
        let mut linker = Linker::new(engine);
        linker.define(&mut store, "env", "memory", memory)?;
        linker.func_wrap("env", "opa_abort", |_: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::msg("opa_abort"))
        })?;
        let instance = linker.instantiate(&mut store, module)?;
        let mut problems = Vec::new();
        for (name, want) in ABI_VERSION {
            let value = instance
                .get_global(&mut store, name)
                .filter(|g| g.ty(&store).mutability() == wasmtime::Mutability::Const)
                .and_then(|g| g.get(&mut store).i32());
            if value != Some(want) {
                problems.push(format!(
                    "policy.wasm: `{name}` must be a constant {want}, found {value:?}"
                ));
            }
        }
        Ok(problems)
    })();
    result.unwrap_or_else(|e| {
        vec![format!(
            "policy.wasm: cannot instantiate with {MAS_MEMORY_PAGES} pages of memory: {e}"
        )]
    })
}

/// The entrypoints as opa-wasm reads them must be MAS's five.
fn entrypoints(wasm: &[u8]) -> Vec<String> {
    let found = OpaEngine::from_bytes(wasm, Mode::PerRequest).and_then(|e| e.entrypoints());
    match found {
        Ok(mut found) => {
            found.sort();
            let mut want: Vec<String> = Entrypoint::ALL
                .iter()
                .map(|e| e.name().to_owned())
                .collect();
            want.sort();
            if found == want {
                Vec::new()
            } else {
                vec![format!(
                    "policy.wasm: entrypoints are {found:?}, expected {want:?}"
                )]
            }
        }
        Err(e) => vec![format!("policy.wasm: opa-wasm cannot load it: {e}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_module_passes() {
        assert_eq!(check(policy_artifacts::policy_wasm()), Vec::<String>::new());
    }

    #[test]
    fn a_module_without_the_abi_is_named() {
        let wat = r#"(module (import "env" "memory" (memory 3)) (func (export "eval")))"#;
        let problems = check(wat.as_bytes());
        assert!(
            problems
                .contains(&"policy.wasm: imported memory needs 3 pages; MAS provides 2".to_owned()),
            "{problems:?}"
        );
        assert!(problems.contains(&"policy.wasm: missing import `env.opa_abort`".to_owned()));
        assert!(problems.contains(&"policy.wasm: missing export `opa_eval`".to_owned()));
        assert_eq!(check(b"not wasm")[0].split(':').next(), Some("policy.wasm"));
    }
}
