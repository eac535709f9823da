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
    constraint::{Constraint, Gate},
    glob::Glob,
    json_text::Json,
    mxid::AdminUser,
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
        DataPath(format!("{}.{key}", self.0))
    }

    /// The path of an array element.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        DataPath(format!("{}[{index}]", self.0))
    }

    /// Follows several object members.
    #[must_use]
    pub fn keys(&self, keys: &[&str]) -> Self {
        keys.iter().fold(self.clone(), |p, k| p.key(k))
    }
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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DataError {}

/// The compiled, ready-to-evaluate form of the data document.
#[derive(Debug, Clone)]
pub struct PolicyData {
    pub(crate) server_name: Option<String>,
    pub(crate) session_limit: Option<Value>,
    pub(crate) admin_users: Vec<AdminUser>,
    pub(crate) admin_clients: Vec<Value>,
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

fn cidrs(v: Option<&Value>, at: &DataPath) -> Result<Vec<Cidr>, DataError> {
    let parse = |item: &Value, path: DataPath| {
        item.as_str()
            .and_then(Cidr::parse_entry)
            .ok_or_else(|| DataError::cidr(&path, item))
    };
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse(item, at.index(i)))
            .collect(),
        Some(Value::Object(map)) => map.iter().map(|(k, item)| parse(item, at.key(k))).collect(),
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

    /// Validates and compiles a data document. `None` (no data) compiles like `{}`.
    ///
    /// # Errors
    ///
    /// Returns the first invalid regex, CIDR or `server_name`, named by its data path.
    pub fn compile(data: Option<&Value>) -> Result<Self, DataError> {
        let root = DataPath::root();
        let server_name: Option<String> = match get(data, "server_name") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(DataError::wrong_type(
                    &root.key("server_name"),
                    "a string",
                    other,
                ));
            }
        };
        let constraint = |keys: &[&str]| Constraint::compile(path(data, keys), &root.keys(keys));
        let cfg = get(data, "client_registration");
        let admin_users = iter(get(data, "admin_users"))
            .map(|entry| AdminUser::new(entry, server_name.as_deref()))
            .collect();
        Ok(PolicyData {
            server_name,
            session_limit: get(data, "session_limit").cloned(),
            admin_users,
            admin_clients: iter(get(data, "admin_clients")).cloned().collect(),
            banned_ips: cidrs(
                path(data, &["requester", "banned_ips"]),
                &root.keys(&["requester", "banned_ips"]),
            )?,
            banned_user_agents: constraint(&["requester", "banned_user_agents"])?,
            allowed_usernames: Gate::compile(
                path(data, &["registration", "allowed_usernames"]),
                |_| constraint(&["registration", "allowed_usernames"]),
            )?,
            banned_usernames: constraint(&["registration", "banned_usernames"])?,
            allowed_addresses: Gate::compile(path(data, &["emails", "allowed_addresses"]), |_| {
                constraint(&["emails", "allowed_addresses"])
            })?,
            banned_addresses: constraint(&["emails", "banned_addresses"])?,
            allowed_domains: Gate::compile(get(data, "allowed_domains"), |v| Ok(globs(Some(v))))?,
            banned_domains: globs(get(data, "banned_domains")),
            allow_insecure_uris: truthy(get(cfg, "allow_insecure_uris")),
            allow_host_mismatch: truthy(get(cfg, "allow_host_mismatch")),
            allow_missing_client_uri: truthy(get(cfg, "allow_missing_client_uri")),
            tenants: Tenants::compile(get(data, "tenants"), &root.key("tenants"))?,
        })
    }
}
