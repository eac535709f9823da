//! The exported OPA ABI functions (contract §13.4–§13.6).
//!
//! Value addresses point at leaked [`Document`]s. A document parsed by `opa_json_parse` is
//! also compiled as policy data right away: the parser cannot tell data from input, and
//! compiling at parse time is what makes an invalid regex or CIDR abort the *data load*, where
//! MAS reports it (D5). Inputs never hold the keys that compilation reads, so for them it is a
//! handful of failed lookups.
//!
//! Parsing goes through [`policy_rules::json_parse`]: ban lists stay as text and top-level keys
//! no rule reads are only validated, so the compiled data does not hold the whole value. The
//! host's JSON text does: it stays where the host wrote it, since `opa_free` frees nothing and
//! the host never rewinds the heap below data it loaded. The whole value is parsed again from
//! that text on the rare paths that need it (`opa_json_dump`, edits, the context path's input),
//! and never cached, since such a parse allocates above the heap pointer the host rewinds to.
//!
//! `opa_eval` knows its entrypoint before it reads the input, so it builds only the members
//! that entrypoint's rules read ([`policy_rules::input_shape`]) and validates the rest. The
//! context path cannot: its input is parsed by `opa_json_parse` before any entrypoint is set.
#![expect(
    unsafe_code,
    reason = "the ABI passes raw addresses into linear memory"
)]

use std::{
    borrow::Cow,
    sync::atomic::{AtomicBool, Ordering},
};

use policy_rules::{Entrypoint, PolicyData, json_parse, result_document, value::JsonError};
use serde_json::{Map, Value};

use policy_opa_heap::{self as heap, address, to_i32};

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    /// Fails the host call with a NUL-terminated message.
    fn opa_abort(message: i32);
}

/// A JSON value in linear memory.
enum Document {
    /// Parsed by `opa_json_parse` (or edited), and compiled as policy data.
    Parsed {
        policy: Box<PolicyData>,
        /// The JSON text, when the compiled data does not hold the whole value.
        text: Option<&'static [u8]>,
    },
    /// Made here (results): never compiled.
    Made(Value),
    /// A fixed JSON text with a trailing NUL (`builtins()`, `entrypoints()`): dumped as it
    /// is, with nothing to build or print on the instantiation every MAS request pays.
    Fixed(&'static str),
}

impl Document {
    /// The whole value: parsed again from the text when the compiled data holds only part.
    fn value(&self) -> Cow<'_, Value> {
        match self {
            Document::Parsed {
                text: Some(text), ..
            } => Cow::Owned(parse_json(text, "document").unwrap_or(Value::Null)),
            Document::Parsed { policy, text: None } => Cow::Borrowed(policy.document()),
            Document::Made(value) => Cow::Borrowed(value),
            Document::Fixed(text) => Cow::Owned(
                parse_json(text.trim_end_matches('\0').as_bytes(), "document")
                    .unwrap_or(Value::Null),
            ),
        }
    }
}

/// The state of the context evaluation path (ABI minor < 2, and the JS SDK without the minor).
#[derive(Default)]
struct EvalContext {
    data: i32,
    input: i32,
    entrypoint: i32,
    result: i32,
}

fn leak<T>(value: T) -> i32 {
    to_i32(Box::into_raw(Box::new(value)) as usize)
}

/// Reports `message` through `opa_abort` and stops. Hosts decode it as Latin-1, so anything
/// outside printable ASCII is escaped ([`policy_rules::data::printable_ascii`]).
fn abort(message: &str) -> ! {
    let mut text = policy_rules::data::printable_ascii(message).into_owned();
    text.push('\0');
    // SAFETY: the host reads a NUL-terminated string at this address, which stays allocated.
    unsafe { opa_abort(to_i32(text.as_ptr() as usize)) };
    core::arch::wasm32::unreachable()
}

/// Panics (which abort in this build) reach the host as `opa_abort` messages.
fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if !INSTALLED.swap(true, Ordering::Relaxed) {
        // A zero-sized closure: boxing it allocates nothing on the rewindable heap.
        std::panic::set_hook(Box::new(|info| abort(&format!("internal: {info}"))));
    }
}

/// # Safety
/// `addr` must come from [`leak`] of a `Document` in this instance.
unsafe fn document<'a>(addr: i32) -> Option<&'a mut Document> {
    if addr == 0 {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    Some(unsafe { &mut *(address(addr) as *mut Document) })
}

/// The JSON text `[ptr, ptr + len)` of linear memory, without the trailing NUL (opa-wasm) and
/// whitespace hosts may append.
fn json_bytes(ptr: i32, len: i32) -> &'static [u8] {
    // SAFETY: the host wrote `len` bytes at `ptr`; linear memory is always readable, and lives
    // as long as the instance.
    let raw = unsafe { core::slice::from_raw_parts(address(ptr) as *const u8, address(len)) };
    let end = raw
        .iter()
        .rposition(|b| !matches!(b, 0 | b' ' | b'\t' | b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    &raw[..end]
}

/// Parses a whole JSON value. `None` for malformed JSON; a document nested too deeply for the
/// small stack aborts with the message every engine gives (`what` names it).
fn parse_json(text: &[u8], what: &str) -> Option<Value> {
    parsed(json_parse::parse_document(text, what))
}

/// A parse's value; `None` for malformed JSON, and an abort for a document nested too deeply.
fn parsed(result: Result<Value, JsonError>) -> Option<Value> {
    match result {
        Ok(value) => Some(value),
        Err(JsonError::TooDeep(msg)) => abort(&msg),
        Err(JsonError::Malformed(_)) => None,
    }
}

/// Parses a document and compiles it as policy data; `None` for malformed JSON.
fn load(text: &'static [u8]) -> Option<Document> {
    if let Some((value, lists)) = json_parse::load_data(text) {
        let policy =
            PolicyData::compile_parts(value, lists).unwrap_or_else(|err| abort(&err.to_string()));
        return Some(Document::Parsed {
            policy: Box::new(policy),
            text: Some(text),
        });
    }
    let value = parse_json(text, "document")?;
    Some(Document::Parsed {
        policy: Box::new(compile(value)),
        text: None,
    })
}

fn compile(value: Value) -> PolicyData {
    PolicyData::compile_owned(value).unwrap_or_else(|err| abort(&err.to_string()))
}

fn new_document(value: Value) -> i32 {
    leak(Document::Made(value))
}

/// Copies `text` plus a NUL onto the heap and returns its address.
fn c_string(text: &str) -> i32 {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(0);
    let ptr = buf.as_ptr() as usize;
    core::mem::forget(buf);
    to_i32(ptr)
}

/// The entrypoint numbered `id`; an abort for any other number.
fn entrypoint_of(id: i32) -> Entrypoint {
    usize::try_from(id)
        .ok()
        .and_then(Entrypoint::from_id)
        .unwrap_or_else(|| abort("internal: illegal entrypoint id"))
}

fn evaluate(entrypoint: Entrypoint, data: i32, input: Option<&Value>) -> String {
    // SAFETY: `data` is a value address the host got from this module.
    // A document that was not parsed (say, the `entrypoints()` map passed as data) has no
    // compiled form; it is compiled for this evaluation only and never cached, because this
    // allocation sits above the heap pointer the host will rewind to.
    let violations = match unsafe { document(data) } {
        Some(Document::Parsed { policy, .. }) => policy.evaluate(entrypoint, input),
        Some(Document::Made(value)) => compile(value.clone()).evaluate(entrypoint, input),
        Some(fixed @ Document::Fixed(_)) => {
            compile(fixed.value().into_owned()).evaluate(entrypoint, input)
        }
        None => PolicyData::compile(None)
            .unwrap_or_else(|err| abort(&err.to_string()))
            .evaluate(entrypoint, input),
    };
    let result = result_document(&violations);
    // The host rewinds the heap after every evaluation: dropping would only walk the values.
    core::mem::forget(violations);
    result
}

/// `opa_malloc(size) -> addr`
#[unsafe(no_mangle)]
pub extern "C" fn opa_malloc(size: i32) -> i32 {
    install_panic_hook();
    // A negative size would be read as more than 2 GiB, which no allocation can have: say so
    // instead of panicking ("capacity overflow").
    if size < 0 {
        abort(&format!("opa_malloc: invalid size {size}"));
    }
    policy_opa_heap::allocate(address(size))
}

/// `opa_json_parse(str, len) -> addr`, 0 on malformed JSON; aborts on invalid policy data.
#[unsafe(no_mangle)]
pub extern "C" fn opa_json_parse(ptr: i32, len: i32) -> i32 {
    install_panic_hook();
    load(json_bytes(ptr, len)).map_or(0, leak)
}

/// `opa_value_parse`: the same as `opa_json_parse`; values and JSON are one form here.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_parse(ptr: i32, len: i32) -> i32 {
    opa_json_parse(ptr, len)
}

/// `opa_json_dump(addr) -> str`
#[unsafe(no_mangle)]
pub extern "C" fn opa_json_dump(addr: i32) -> i32 {
    install_panic_hook();
    // SAFETY: `addr` is a value address the host got from this module.
    let text = match unsafe { document(addr) } {
        None => "null".to_owned(),
        Some(Document::Fixed(text)) => return to_i32(text.as_ptr() as usize),
        Some(d) => policy_rules::json_text::to_string(&d.value()),
    };
    c_string(&text)
}

/// `opa_value_dump`: the same as `opa_json_dump`.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_dump(addr: i32) -> i32 {
    opa_json_dump(addr)
}

/// `builtins() -> addr`: this policy calls no host builtins.
#[unsafe(no_mangle)]
pub extern "C" fn builtins() -> i32 {
    install_panic_hook();
    leak(Document::Fixed("{}\0"))
}

/// `entrypoints() -> addr`: the five MAS entrypoint names and their ids.
#[unsafe(no_mangle)]
pub extern "C" fn entrypoints() -> i32 {
    install_panic_hook();
    leak(Document::Fixed(policy_rules::ENTRYPOINTS_JSON))
}

/// `opa_eval_ctx_new() -> ctx`
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_new() -> i32 {
    install_panic_hook();
    leak(EvalContext::default())
}

/// # Safety
/// `ctx` must come from `opa_eval_ctx_new` in this instance.
unsafe fn context<'a>(ctx: i32) -> &'a mut EvalContext {
    if ctx == 0 {
        abort("internal: null evaluation context");
    }
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *(address(ctx) as *mut EvalContext) }
}

/// `opa_eval_ctx_set_input(ctx, addr)`; 0 means no input.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_input(ctx: i32, input: i32) {
    // SAFETY: `ctx` comes from `opa_eval_ctx_new`.
    unsafe { context(ctx) }.input = input;
}

/// `opa_eval_ctx_set_data(ctx, addr)`
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_data(ctx: i32, data: i32) {
    // SAFETY: `ctx` comes from `opa_eval_ctx_new`.
    unsafe { context(ctx) }.data = data;
}

/// `opa_eval_ctx_set_entrypoint(ctx, id)`
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_entrypoint(ctx: i32, entrypoint: i32) {
    // SAFETY: `ctx` comes from `opa_eval_ctx_new`.
    unsafe { context(ctx) }.entrypoint = entrypoint;
}

/// `opa_eval_ctx_get_result(ctx) -> addr`
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_get_result(ctx: i32) -> i32 {
    // SAFETY: `ctx` comes from `opa_eval_ctx_new`.
    unsafe { context(ctx) }.result
}

/// `eval(ctx) -> 0`: the context path.
#[unsafe(no_mangle)]
pub extern "C" fn eval(ctx: i32) -> i32 {
    install_panic_hook();
    // SAFETY: `ctx` comes from `opa_eval_ctx_new`.
    let ctx = unsafe { context(ctx) };
    // SAFETY: the input is a value address the host got from this module.
    let input = unsafe { document(ctx.input) }.map(|d| d.value());
    let result = evaluate(entrypoint_of(ctx.entrypoint), ctx.data, input.as_deref());
    let value = serde_json::from_str(&result)
        .unwrap_or_else(|_| abort("internal: result is not valid JSON"));
    ctx.result = new_document(value);
    0
}

/// `opa_eval(0, entrypoint, data, input, input_len, heap_ptr, format) -> str`: the fast path.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval(
    reserved: i32,
    entrypoint: i32,
    data: i32,
    input: i32,
    input_len: i32,
    heap_ptr: i32,
    _format: i32,
) -> i32 {
    install_panic_hook();
    if reserved != 0 {
        abort("internal: reserved argument of opa_eval must be 0");
    }
    heap::set_pointer(address(heap_ptr));
    let id = entrypoint_of(entrypoint);
    // Only what the entrypoint's rules read is built (`policy_rules::input_shape`).
    let input = if input_len == 0 {
        None
    } else {
        let text = json_bytes(input, input_len);
        Some(
            parsed(json_parse::parse_input(text, id.input_shape()))
                .unwrap_or_else(|| abort("internal: input is not valid JSON")),
        )
    };
    let mut result = evaluate(id, data, input.as_ref());
    // The host rewinds the heap after every evaluation: dropping would only walk the values.
    core::mem::forget(input);
    result.push('\0');
    let addr = to_i32(result.as_ptr() as usize);
    core::mem::forget(result);
    addr
}

/// Resolves a path value (an array of strings) to its keys.
fn path_keys(path: i32) -> Option<Vec<String>> {
    // SAFETY: `path` is a value address the host got from this module.
    let doc = unsafe { document(path) }?;
    doc.value()
        .as_array()?
        .iter()
        .map(|k| k.as_str().map(str::to_owned))
        .collect()
}

/// Edits a copy of a document's value and, when `edit` succeeds (returns the ABI code 0),
/// compiles it and puts it in place, so edited data is never used uncompiled. On a failed edit,
/// or an abort for invalid data, the document stays as it was.
fn edit(doc: &mut Document, edit: impl FnOnce(&mut Value) -> i32) -> i32 {
    let mut value = doc.value().into_owned();
    let code = edit(&mut value);
    if code == 0 {
        *doc = Document::Parsed {
            policy: Box::new(compile(value)),
            text: None,
        };
    }
    code
}

/// `opa_value_add_path(base, path, value) -> error code`
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_add_path(base: i32, path: i32, value: i32) -> i32 {
    install_panic_hook();
    // SAFETY: value addresses the host got from this module.
    let (Some(doc), Some(keys), Some(new)) = (unsafe { document(base) }, path_keys(path), unsafe {
        document(value)
    }) else {
        return 2;
    };
    let new = new.value().into_owned();
    edit(doc, |root| {
        let Some((last, parents)) = keys.split_last() else {
            *root = new;
            return 0;
        };
        let mut cur = root;
        for key in parents {
            let Value::Object(map) = cur else { return 3 };
            cur = map
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        let Value::Object(map) = cur else { return 3 };
        map.insert(last.clone(), new);
        0
    })
}

/// `opa_value_remove_path(base, path) -> error code`
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_remove_path(base: i32, path: i32) -> i32 {
    install_panic_hook();
    // SAFETY: value addresses the host got from this module.
    let (Some(doc), Some(keys)) = (unsafe { document(base) }, path_keys(path)) else {
        return 2;
    };
    let Some((last, parents)) = keys.split_last() else {
        return 3;
    };
    edit(doc, |root| {
        let mut cur = root;
        for key in parents {
            match cur {
                Value::Object(map) => match map.get_mut(key) {
                    Some(next) => cur = next,
                    None => return 3,
                },
                _ => return 3,
            }
        }
        let Value::Object(map) = cur else { return 3 };
        if map.remove(last).is_none() {
            return 3;
        }
        0
    })
}
