//! The post-link steps for `policy.wasm` (contract §13.3).
//!
//! **Stack reset on entry.** A D5 data error or a panic leaves the module through
//! `opa_abort`, which the host turns into an exception: the wasm stack unwinds without the
//! epilogues that restore the shadow-stack pointer (`__stack_pointer`, the module's first
//! global). MAS makes a fresh instance per request, but hosts that keep one instance (the OPA
//! JS SDK) would lose a few KiB of the 32 KiB stack on every abort and end in "memory access
//! out of bounds". So every exported function is reached through a small wrapper that first
//! resets the stack pointer to its initial value, then calls the original. The host never
//! calls into the module while another export is running (no import calls back), so the reset
//! can never clobber a live frame; internal calls still go straight to the originals.
//!
//! **ABI globals.**
//! OPA hosts read the ABI version from two exported immutable `i32` globals. Rust cannot emit
//! them (an exported `static` becomes a global holding its *address*, and `rust-lld` has no
//! `--defsym`), so they are appended to the linked module here: the global and export
//! sections get two more entries, every other section is copied byte for byte, and the result
//! is validated.

use wasm_encoder::{
    ConstExpr, Encode, ExportKind, ExportSection, Function, GlobalType, Instruction, Module,
    RawSection, ValType,
};
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef, Validator};

/// Wraps every exported function so that it resets the shadow-stack pointer (global 0) to its
/// initial value before running.
///
/// # Errors
///
/// Fails when the module does not validate, imports globals, or its first global is not the
/// mutable `i32` stack pointer with a constant initial value.
pub fn reset_stack_on_entry(wasm: &[u8]) -> Result<Vec<u8>, String> {
    Validator::new()
        .validate_all(wasm)
        .map_err(|e| format!("linked module does not validate: {e}"))?;
    let err = |e: wasmparser::BinaryReaderError| e.to_string();

    // Pass 1: the pieces the wrappers need.
    let mut params_of_type: Vec<u32> = Vec::new();
    let mut imported_funcs: Vec<u32> = Vec::new();
    let mut defined_funcs: Vec<u32> = Vec::new();
    let mut stack_top: Option<i32> = None;
    let mut func_exports: Vec<(String, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(err)? {
            Payload::TypeSection(types) => {
                for ty in types.into_iter_err_on_gc_types() {
                    params_of_type.push(len_u32(ty.map_err(err)?.params()));
                }
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    match import.map_err(err)?.ty {
                        TypeRef::Func(t) => imported_funcs.push(t),
                        TypeRef::Global(_) => return Err("the module imports a global".into()),
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(funcs) => {
                for f in funcs {
                    defined_funcs.push(f.map_err(err)?);
                }
            }
            Payload::GlobalSection(globals) => {
                let first = globals
                    .into_iter()
                    .next()
                    .ok_or("the module has no globals")?
                    .map_err(err)?;
                let mut ops = first.init_expr.get_operators_reader();
                match (
                    first.ty.content_type,
                    first.ty.mutable,
                    ops.read().map_err(err)?,
                ) {
                    (wasmparser::ValType::I32, true, Operator::I32Const { value }) => {
                        stack_top = Some(value);
                    }
                    _ => return Err("global 0 is not the i32 stack pointer".into()),
                }
            }
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export.map_err(err)?;
                    if export.kind == ExternalKind::Func {
                        func_exports.push((export.name.to_owned(), export.index));
                    }
                }
            }
            _ => {}
        }
    }
    let stack_top = stack_top.ok_or("the module has no stack pointer")?;
    let type_of = |func: u32| -> Result<u32, String> {
        let i = usize::try_from(func).map_err(|e| e.to_string())?;
        imported_funcs
            .get(i)
            .or_else(|| defined_funcs.get(i - imported_funcs.len()))
            .copied()
            .ok_or_else(|| format!("exported function {func} does not exist"))
    };
    let first_wrapper = len_u32(&imported_funcs) + len_u32(&defined_funcs);

    // Pass 2: copy every section, extending the function, code and export sections.
    let mut module = Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(err)?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let body = &wasm[range];
        match payload {
            Payload::FunctionSection(section) => {
                let mut data = Vec::new();
                (section.count() + len_u32(&func_exports)).encode(&mut data);
                data.extend_from_slice(&body[leb_len(section.count())..]);
                for (_, func) in &func_exports {
                    type_of(*func)?.encode(&mut data);
                }
                module.section(&RawSection { id, data: &data });
            }
            Payload::CodeSectionStart { count, .. } => {
                let mut data = Vec::new();
                (count + len_u32(&func_exports)).encode(&mut data);
                data.extend_from_slice(&body[leb_len(count)..]);
                for (_, func) in &func_exports {
                    let ty = usize::try_from(type_of(*func)?).map_err(|e| e.to_string())?;
                    let mut wrapper = Function::new([]);
                    wrapper.instruction(&Instruction::I32Const(stack_top));
                    wrapper.instruction(&Instruction::GlobalSet(0));
                    for param in 0..params_of_type[ty] {
                        wrapper.instruction(&Instruction::LocalGet(param));
                    }
                    wrapper.instruction(&Instruction::Call(*func));
                    wrapper.instruction(&Instruction::End);
                    wrapper.encode(&mut data);
                }
                module.section(&RawSection { id, data: &data });
            }
            Payload::ExportSection(section) => {
                let mut exports = ExportSection::new();
                let mut next_wrapper = first_wrapper;
                for export in section {
                    let export = export.map_err(err)?;
                    let (kind, index) = match export.kind {
                        ExternalKind::Func => {
                            next_wrapper += 1;
                            (ExportKind::Func, next_wrapper - 1)
                        }
                        ExternalKind::Table => (ExportKind::Table, export.index),
                        ExternalKind::Memory => (ExportKind::Memory, export.index),
                        ExternalKind::Global => (ExportKind::Global, export.index),
                        ExternalKind::Tag => (ExportKind::Tag, export.index),
                        other => return Err(format!("unexpected export kind {other:?}")),
                    };
                    exports.export(export.name, kind, index);
                }
                module.section(&exports);
            }
            _ => {
                module.section(&RawSection { id, data: body });
            }
        }
    }
    let out = module.finish();
    Validator::new()
        .validate_all(&out)
        .map_err(|e| format!("stack-reset module does not validate: {e}"))?;
    Ok(out)
}

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
