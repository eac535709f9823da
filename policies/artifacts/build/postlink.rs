//! The post-link step for `policy.wasm` (contract §13.3).
//!
//! OPA hosts read the ABI version from two exported immutable `i32` globals. Rust cannot emit
//! them (an exported `static` becomes a global holding its *address*, and `rust-lld` has no
//! `--defsym`), so they are appended to the linked module here: the global and export
//! sections get two more entries, every other section is copied byte for byte, and the result
//! is validated.

use wasm_encoder::{ConstExpr, Encode, GlobalType, Module, RawSection, ValType};
use wasmparser::{Parser, Payload, TypeRef, Validator};

/// Appends the exported globals `name = value` to a core module.
///
/// # Errors
///
/// Fails when the input or the output does not validate, when the module has no global or
/// export section, or when one of the names is already exported.
pub fn add_exported_globals(wasm: &[u8], globals: &[(&str, i32)]) -> Result<Vec<u8>, String> {
    Validator::new()
        .validate_all(wasm)
        .map_err(|e| format!("linked module does not validate: {e}"))?;

    let mut global_count = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import.map_err(|e| e.to_string())?.ty, TypeRef::Global(_)) {
                        global_count += 1;
                    }
                }
            }
            Payload::GlobalSection(section) => global_count += section.count(),
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export.map_err(|e| e.to_string())?;
                    if globals.iter().any(|(name, _)| *name == export.name) {
                        return Err(format!("`{}` is already exported", export.name));
                    }
                }
            }
            _ => {}
        }
    }

    let mut module = Module::new();
    let (mut saw_globals, mut saw_exports) = (false, false);
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| e.to_string())?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let body = &wasm[range];
        match payload {
            Payload::GlobalSection(section) => {
                saw_globals = true;
                let mut data = Vec::new();
                (section.count() + len_u32(globals)).encode(&mut data);
                data.extend_from_slice(&body[leb_len(section.count())..]);
                for (_, value) in globals {
                    GlobalType {
                        val_type: ValType::I32,
                        mutable: false,
                        shared: false,
                    }
                    .encode(&mut data);
                    ConstExpr::i32_const(*value).encode(&mut data);
                }
                module.section(&RawSection { id, data: &data });
            }
            Payload::ExportSection(section) => {
                saw_exports = true;
                let mut data = Vec::new();
                (section.count() + len_u32(globals)).encode(&mut data);
                data.extend_from_slice(&body[leb_len(section.count())..]);
                for (i, (name, _)) in (0u32..).zip(globals) {
                    name.encode(&mut data);
                    data.push(0x03); // global
                    (global_count + i).encode(&mut data);
                }
                module.section(&RawSection { id, data: &data });
            }
            _ => {
                module.section(&RawSection { id, data: body });
            }
        }
    }
    if !saw_globals || !saw_exports {
        return Err("linked module has no global or export section".to_owned());
    }
    let out = module.finish();
    Validator::new()
        .validate_all(&out)
        .map_err(|e| format!("post-linked module does not validate: {e}"))?;
    Ok(out)
}

fn len_u32<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap_or(u32::MAX)
}

/// The number of bytes of a LEB128-encoded `u32`.
fn leb_len(value: u32) -> usize {
    let mut buf = Vec::new();
    value.encode(&mut buf);
    buf.len()
}
