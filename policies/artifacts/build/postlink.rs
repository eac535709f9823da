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

/// What the stack-reset step needs to know about a linked module.
struct Layout {
    /// The parameter count of each type, by type index.
    params_of_type: Vec<u32>,
    /// The type index of each function, imported ones first.
    func_types: Vec<u32>,
    /// The initial value of global 0, the shadow-stack pointer.
    stack_top: i32,
    /// Exported functions, in export order.
    func_exports: Vec<u32>,
}

impl Layout {
    fn read(wasm: &[u8]) -> Result<Layout, String> {
        let err = |e: wasmparser::BinaryReaderError| e.to_string();
        let mut layout = Layout {
            params_of_type: Vec::new(),
            func_types: Vec::new(),
            stack_top: 0,
            func_exports: Vec::new(),
        };
        let mut saw_stack = false;
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(err)? {
                Payload::TypeSection(types) => {
                    for ty in types.into_iter_err_on_gc_types() {
                        layout
                            .params_of_type
                            .push(len_u32(ty.map_err(err)?.params()));
                    }
                }
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        match import.map_err(err)?.ty {
                            TypeRef::Func(t) => layout.func_types.push(t),
                            TypeRef::Global(_) => return Err("the module imports a global".into()),
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(funcs) => {
                    for f in funcs {
                        layout.func_types.push(f.map_err(err)?);
                    }
                }
                Payload::GlobalSection(globals) => {
                    let first = globals
                        .into_iter()
                        .next()
                        .ok_or("the module has no globals")?
                        .map_err(err)?;
                    let mut ops = first.init_expr.get_operators_reader();
                    let op = ops.read().map_err(err)?;
                    match (first.ty.content_type, first.ty.mutable, op) {
                        (wasmparser::ValType::I32, true, Operator::I32Const { value }) => {
                            layout.stack_top = value;
                            saw_stack = true;
                        }
                        _ => return Err("global 0 is not the i32 stack pointer".into()),
                    }
                }
                Payload::ExportSection(exports) => {
                    for export in exports {
                        let export = export.map_err(err)?;
                        if export.kind == ExternalKind::Func {
                            layout.func_exports.push(export.index);
                        }
                    }
                }
                _ => {}
            }
        }
        if !saw_stack {
            return Err("the module has no stack pointer".into());
        }
        Ok(layout)
    }

    fn type_of(&self, func: u32) -> Result<u32, String> {
        usize::try_from(func)
            .ok()
            .and_then(|i| self.func_types.get(i))
            .copied()
            .ok_or_else(|| format!("exported function {func} does not exist"))
    }

    /// `global.set 0 (i32.const top); call func(params…)`.
    fn wrapper(&self, func: u32) -> Result<Function, String> {
        let ty = usize::try_from(self.type_of(func)?).map_err(|e| e.to_string())?;
        let params = *self
            .params_of_type
            .get(ty)
            .ok_or_else(|| format!("type {ty} does not exist"))?;
        let mut wrapper = Function::new([]);
        wrapper.instruction(&Instruction::I32Const(self.stack_top));
        wrapper.instruction(&Instruction::GlobalSet(0));
        for param in 0..params {
            wrapper.instruction(&Instruction::LocalGet(param));
        }
        wrapper.instruction(&Instruction::Call(func));
        wrapper.instruction(&Instruction::End);
        Ok(wrapper)
    }
}

fn export_kind(kind: ExternalKind) -> Result<ExportKind, String> {
    match kind {
        ExternalKind::Func => Ok(ExportKind::Func),
        ExternalKind::Table => Ok(ExportKind::Table),
        ExternalKind::Memory => Ok(ExportKind::Memory),
        ExternalKind::Global => Ok(ExportKind::Global),
        ExternalKind::Tag => Ok(ExportKind::Tag),
        ExternalKind::FuncExact => Err("unexpected exact-function export".to_owned()),
    }
}

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
    let layout = Layout::read(wasm)?;
    let added = len_u32(&layout.func_exports);
    let first_wrapper = len_u32(&layout.func_types);

    let mut module = Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| e.to_string())?;
        let Some((id, range)) = payload.as_section() else {
            continue;
        };
        let body = &wasm[range];
        match payload {
            Payload::FunctionSection(section) => {
                let mut data = extended(body, section.count(), added);
                for func in &layout.func_exports {
                    layout.type_of(*func)?.encode(&mut data);
                }
                module.section(&RawSection { id, data: &data });
            }
            Payload::CodeSectionStart { count, .. } => {
                let mut data = extended(body, count, added);
                for func in &layout.func_exports {
                    layout.wrapper(*func)?.encode(&mut data);
                }
                module.section(&RawSection { id, data: &data });
            }
            Payload::ExportSection(section) => {
                let mut exports = ExportSection::new();
                let mut next_wrapper = first_wrapper;
                for export in section {
                    let export = export.map_err(|e| e.to_string())?;
                    let index = if export.kind == ExternalKind::Func {
                        next_wrapper += 1;
                        next_wrapper - 1
                    } else {
                        export.index
                    };
                    exports.export(export.name, export_kind(export.kind)?, index);
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
                let mut data = extended(body, section.count(), len_u32(globals));
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
                let mut data = extended(body, section.count(), len_u32(globals));
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

/// A vector section's contents with room for `added` more entries: the new count, then the
/// `count` entries already in `body`. The caller encodes the new entries after them.
fn extended(body: &[u8], count: u32, added: u32) -> Vec<u8> {
    let mut data = Vec::new();
    (count + added).encode(&mut data);
    data.extend_from_slice(&body[leb_len(count)..]);
    data
}

/// The number of bytes of a LEB128-encoded `u32`.
fn leb_len(value: u32) -> usize {
    let mut buf = Vec::new();
    value.encode(&mut buf);
    buf.len()
}
