//! Policy data, validated and compiled once per load (contract §5).
//!
//! MAS instantiates `policy.wasm` and loads the data on every request, so evaluation must never
//! re-read or re-parse data: regexes, globs and CIDRs are compiled here, and every value a rule
//! reads is pulled out into a typed field. Invalid regexes and CIDRs are load errors that name
//! their data path (decision D5), which in `policy.wasm` reaches MAS through `opa_abort`.

use std::fmt;

use serde_json::Value;

use crate::{
    cidr::Cidr,
    constraint::{
        ALLOWED_ADDRESSES, ALLOWED_USERNAMES, BANNED_ADDRESSES, BANNED_USER_AGENTS,
        BANNED_USERNAMES, CONSTRAINTS, Constraint, Gate,
    },
    glob::Glob,
    json_text::Json,
    mxid::AdminUser,
    raw_list::{List, ListSlot, RawArray, RawLists},
    tenants::Tenants,
    value::{get, iter, path, truthy},
};

/// A path into the data document, rendered `data.a.b[2]` for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath(String);

impl DataPath {
    /// The root, `data`.
    pub fn root() -> Self {
        DataPath("data".to_owned())
    }

    /// The path of an object member.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        // Built on every load for the tenant table, so without the formatting machinery.
        let mut path = String::with_capacity(self.0.len() + 1 + key.len());
        path.push_str(&self.0);
        path.push('.');
        path.push_str(key);
        DataPath(path)
    }

    /// The path of an array element.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut path = String::with_capacity(self.0.len() + 8);
        path.push_str(&self.0);
        path.push('[');
        push_decimal(&mut path, index);
        path.push(']');
        DataPath(path)
    }

    /// Follows several object members.
    #[must_use]
    pub fn keys(&self, keys: &[&str]) -> Self {
        keys.iter().fold(self.clone(), |p, k| p.key(k))
    }
}

/// Appends `n` in decimal, as `{n}` would.
fn push_decimal(out: &mut String, n: usize) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b"0123456789"[n % 10]));
}

impl fmt::Display for DataPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why policy data was refused at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    message: String,
}

impl DataError {
    /// An error whose message already names its data path.
    pub(crate) fn new(message: String) -> Self {
        DataError { message }
    }

    pub(crate) fn regex(path: &DataPath, reason: &str) -> Self {
        DataError {
            message: format!("invalid regex at {path}: {reason}"),
        }
    }

    pub(crate) fn cidr(path: &DataPath, item: &Value) -> Self {
        DataError {
            message: format!("invalid CIDR at {path}: {}", Json(item)),
        }
    }

    pub(crate) fn wrong_type(path: &DataPath, expected: &str, found: &Value) -> Self {
        DataError {
            message: format!(
                "invalid value at {path}: expected {expected}, found {}",
                kind(found)
            ),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl fmt::Display for DataError {
    /// The message in printable ASCII ([`printable_ascii`]): `policy.wasm` can only report it
    /// that way, so every engine shows it that way.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable_ascii(&self.message))
    }
}

/// `text` with every character other than a space or printable ASCII written as Rust's
/// `\u{…}` escape (`é` → `\u{e9}`, a newline → `\u{a}`).
///
/// `policy.wasm` reports a refusal through `opa_abort`, and hosts decode that message as
/// Latin-1, so the module escapes it rather than let a host print UTF-8 as mojibake. The
/// other engines print [`DataError`]s the same way, so that a message a tool predicts is the
/// message MAS logs (the engines fuzz target found the two apart on a non-ASCII key). Escaped
/// text is unchanged by a second pass.
pub fn printable_ascii(text: &str) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| c == ' ' || c.is_ascii_graphic();
    if text.chars().all(keep) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep(c) {
            escaped.push(c);
        } else {
            escaped.extend(c.escape_unicode());
        }
    }
    std::borrow::Cow::Owned(escaped)
}

impl std::error::Error for DataError {}

/// The top-level keys of the data document that compilation or a rule reads. The OPA loader
/// ([`crate::json_parse::load_data`]) only validates the others.
pub(crate) const READ_KEYS: [&str; 11] = [
    "admin_clients",
    "admin_users",
    "allowed_domains",
    "banned_domains",
    "client_registration",
    "emails",
    "registration",
    "requester",
    "server_name",
    "session_limit",
    "tenants",
];

/// The compiled, ready-to-evaluate form of the data document.
///
/// It owns the document itself: what needs compiling (regexes, globs, CIDRs, tenants, admin
/// users) is compiled, and everything else, ban lists above all, is read in place when a rule
/// needs it. Nothing large is copied at load.
#[derive(Debug, Clone)]
pub struct PolicyData {
    pub(crate) document: Value,
    /// `admin_clients`, when the OPA loader kept it as text.
    raw_admin_clients: Option<RawArray>,
    pub(crate) server_name: Option<String>,
    pub(crate) admin_users: Vec<AdminUser>,
    pub(crate) banned_ips: Vec<Cidr>,
    pub(crate) banned_user_agents: Constraint,
    pub(crate) allowed_usernames: Gate<Constraint>,
    pub(crate) banned_usernames: Constraint,
    pub(crate) allowed_addresses: Gate<Constraint>,
    pub(crate) banned_addresses: Constraint,
    pub(crate) allowed_domains: Gate<Vec<Glob>>,
    pub(crate) banned_domains: Vec<Glob>,
    pub(crate) allow_insecure_uris: bool,
    pub(crate) allow_host_mismatch: bool,
    pub(crate) allow_missing_client_uri: bool,
    pub(crate) tenants: Tenants,
}

fn globs(v: Option<&Value>) -> Vec<Glob> {
    iter(v)
        .map(|p| p.as_str().map_or_else(Glob::never, Glob::new))
        .collect()
}

fn cidrs(data: &Value, at: &[&str]) -> Result<Vec<Cidr>, DataError> {
    let parse = |item: &Value, path: &dyn Fn() -> DataPath| {
        item.as_str()
            .and_then(Cidr::parse_entry)
            .ok_or_else(|| DataError::cidr(&path(), item))
    };
    let root = || DataPath::root().keys(at);
    match path(Some(data), at) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse(item, &|| root().index(i)))
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, item)| parse(item, &|| root().key(k)))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

impl PolicyData {
    /// `data.server_name`, when set.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// `data.tenants`; empty when the key is absent.
    pub fn tenants(&self) -> &Tenants {
        &self.tenants
    }

    /// `data.session_limit`, when set.
    pub(crate) fn session_limit(&self) -> Option<&Value> {
        get(Some(&self.document), "session_limit")
    }

    /// `data.admin_clients`.
    pub(crate) fn admin_clients(&self) -> List<'_> {
        List::new(
            self.raw_admin_clients.as_ref(),
            get(Some(&self.document), "admin_clients"),
        )
    }

    /// Whether `s` matches `constraint`, one of this data's constraints.
    pub(crate) fn matches(&self, constraint: &Constraint, s: Option<&Value>) -> bool {
        constraint.matches(&self.document, s)
    }

    /// The data document this was compiled from; from [`PolicyData::compile_parts`], without
    /// the lists kept as text and the keys it skipped.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Gives the data document back (as [`PolicyData::document`]).
    pub fn into_document(self) -> Value {
        self.document
    }

    /// Validates and compiles a data document. `None` (no data) compiles like `{}`.
    ///
    /// # Errors
    ///
    /// Returns the first invalid regex, CIDR or `server_name`, named by its data path.
    pub fn compile(data: Option<&Value>) -> Result<Self, DataError> {
        Self::compile_owned(data.cloned().unwrap_or(Value::Null))
    }

    /// [`PolicyData::compile`] of a document this takes over, without copying it.
    ///
    /// # Errors
    ///
    /// As [`PolicyData::compile`].
    pub fn compile_owned(data: Value) -> Result<Self, DataError> {
        Self::compile_parts(data, RawLists::default())
    }

    /// Compiles what [`crate::json_parse::load_data`] made of a data document: the value, and
    /// the lists it kept as text. Errors are those of [`PolicyData::compile`] on the whole
    /// document: no list kept as text is ever compiled.
    ///
    /// # Errors
    ///
    /// As [`PolicyData::compile`].
    pub fn compile_parts(data: Value, mut raw: RawLists) -> Result<Self, DataError> {
        let doc = &data;
        let server_name: Option<String> = match get(Some(doc), "server_name") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(DataError::wrong_type(
                    &DataPath::root().key("server_name"),
                    "a string",
                    other,
                ));
            }
        };
        let at = |keys: &[&str]| path(Some(doc), keys);
        let cfg = get(Some(doc), "client_registration");
        let admin_users = iter(get(Some(doc), "admin_users"))
            .map(|entry| AdminUser::new(entry, server_name.as_deref()))
            .collect();
        let compiled = PolicyData {
            server_name,
            admin_users,
            banned_ips: cidrs(doc, &["requester", "banned_ips"])?,
            banned_user_agents: Constraint::compile(doc, &mut raw, BANNED_USER_AGENTS)?,
            allowed_usernames: Gate::compile(at(CONSTRAINTS[ALLOWED_USERNAMES]), |_| {
                Constraint::compile(doc, &mut raw, ALLOWED_USERNAMES)
            })?,
            banned_usernames: Constraint::compile(doc, &mut raw, BANNED_USERNAMES)?,
            allowed_addresses: Gate::compile(at(CONSTRAINTS[ALLOWED_ADDRESSES]), |_| {
                Constraint::compile(doc, &mut raw, ALLOWED_ADDRESSES)
            })?,
            banned_addresses: Constraint::compile(doc, &mut raw, BANNED_ADDRESSES)?,
            allowed_domains: Gate::compile(get(Some(doc), "allowed_domains"), |v| {
                Ok(globs(Some(v)))
            })?,
            banned_domains: globs(get(Some(doc), "banned_domains")),
            allow_insecure_uris: truthy(get(cfg, "allow_insecure_uris")),
            allow_host_mismatch: truthy(get(cfg, "allow_host_mismatch")),
            allow_missing_client_uri: truthy(get(cfg, "allow_missing_client_uri")),
            // The path is only built when there are tenants: formatting it costs more than
            // the rest of compiling an empty document.
            tenants: match get(Some(doc), "tenants") {
                None => Tenants::default(),
                tenants => Tenants::compile(tenants, &DataPath::root().key("tenants"))?,
            },
            document: Value::Null,
            raw_admin_clients: raw.take(ListSlot::ADMIN_CLIENTS),
        };
        Ok(PolicyData {
            document: data,
            ..compiled
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_printable_ascii_and_escaping_twice_changes_nothing() {
        let text = "key \"réseau\"\tnew\nline ✓";
        let once = printable_ascii(text);
        assert_eq!(once, "key \"r\\u{e9}seau\"\\u{9}new\\u{a}line \\u{2713}");
        assert_eq!(printable_ascii(&once), once);
        assert!(matches!(
            printable_ascii("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
        let err = DataError::new(text.to_owned());
        assert_eq!(err.to_string(), once);
    }

    #[test]
    fn paths_render_as_formatting_would() {
        let root = DataPath::root();
        assert_eq!(root.to_string(), "data");
        for index in [0, 7, 9, 10, 99, 100, 4096, usize::MAX] {
            let path = root
                .keys(&["tenants", "by_id", "lisbon-tech"])
                .key("email_domains")
                .index(index);
            assert_eq!(
                path.to_string(),
                format!("data.tenants.by_id.lisbon-tech.email_domains[{index}]")
            );
        }
        assert_eq!(root.key("").index(1).key("a.b").to_string(), "data.[1].a.b");
    }
}
