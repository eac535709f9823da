//! The parts of a MAS `config.yaml` the claims commands need: a provider's `claims_imports`,
//! `policy.data`, and `matrix.homeserver` (the `server_name` of the policy data).
//!
//! Only these keys are read, so a real deployment's config (secrets, database, listeners) can
//! be passed as it is. The data is assembled as MAS assembles it ([`crate::merge`]).
//!
//! **Several files.** MAS reads `MAS_CONFIG` (or repeated `--config`) as a `:`-separated list
//! of files and merges them in order with figment's `admerge`: maps merge key by key, lists
//! are **concatenated**, and any other value is replaced by the later file's. A path given here
//! is read the same way, so `--config config.yaml:dist/mas-config.yaml` is exactly the
//! configuration MAS starts with when the bundle's file is listed after the deployment's own.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::merge;

/// MAS's default `matrix.homeserver`.
pub const DEFAULT_HOMESERVER: &str = "localhost:8008";

/// A MAS config, read for the claims commands.
#[derive(Debug, Clone)]
pub struct MasConfig {
    path: String,
    doc: Value,
    /// The files that set `policy.data`, when several were merged.
    policy_data_files: Vec<String>,
}

impl MasConfig {
    /// Reads a MAS `config.yaml`, or a `:`-separated list of files merged as MAS merges them.
    ///
    /// # Errors
    ///
    /// When a file cannot be read or is not YAML.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let list = path.to_string_lossy();
        let mut doc = Value::Object(serde_json::Map::new());
        let mut policy_data_files = Vec::new();
        for file in list.split(':').filter(|f| !f.is_empty()) {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
            let layer: Value =
                serde_norway::from_str(&text).with_context(|| format!("{file}: invalid YAML"))?;
            if layer.pointer("/policy/data").is_some_and(|d| !d.is_null()) {
                policy_data_files.push(file.to_owned());
            }
            doc = admerge(doc, layer);
        }
        Ok(MasConfig {
            path: list.into_owned(),
            doc,
            policy_data_files,
        })
    }

    /// A config from a document already read.
    pub fn from_value(path: &str, doc: Value) -> Self {
        MasConfig {
            path: path.to_owned(),
            doc,
            policy_data_files: Vec::new(),
        }
    }

    /// What merging several config files did that MAS would not warn about: a provider `id`
    /// listed twice (the providers lists were concatenated), and `policy.data` set in more
    /// than one file (its lists are concatenated too). One line each.
    pub fn merge_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for entry in self.provider_entries() {
            let Some(id) = entry.get("id").and_then(Value::as_str) else {
                continue;
            };
            if seen.contains(&id) {
                problems.push(format!(
                    "provider {id} is listed twice in {}: MAS concatenates upstream_oauth2.providers \
                     across config files; keep the providers in one file",
                    self.path
                ));
            } else {
                seen.push(id);
            }
        }
        if self.policy_data_files.len() > 1 {
            problems.push(format!(
                "policy.data is set in {}: MAS merges them and concatenates their lists; keep it \
                 in one file",
                self.policy_data_files.join(" and ")
            ));
        }
        problems
    }

    /// The whole merged document.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// The path (or `:`-separated paths) it was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `policy.wasm_module`, when set.
    pub fn wasm_module(&self) -> Option<&str> {
        self.doc
            .pointer("/policy/wasm_module")
            .and_then(Value::as_str)
    }

    /// The `session_limit` of MAS's base data: `experimental.session_limit` as MAS passes it
    /// to the policy (every field present, `max_session_threshold` `null` and
    /// `dangerous_hard_limit_eviction` `false` when unset), or `null`.
    pub fn session_limit(&self) -> Value {
        match self.doc.pointer("/experimental/session_limit") {
            Some(Value::Object(limit)) => {
                let field = |key: &str, default: Value| limit.get(key).cloned().unwrap_or(default);
                serde_json::json!({
                    "soft_limit": field("soft_limit", Value::Null),
                    "hard_limit": field("hard_limit", Value::Null),
                    "max_session_threshold": field("max_session_threshold", Value::Null),
                    "dangerous_hard_limit_eviction":
                        field("dangerous_hard_limit_eviction", Value::Bool(false)),
                })
            }
            _ => Value::Null,
        }
    }

    /// Every upstream provider entry, whole, in config order.
    pub fn provider_entries(&self) -> &[Value] {
        self.doc
            .pointer("/upstream_oauth2/providers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// `matrix.homeserver`, or MAS's default.
    ///
    /// # Errors
    ///
    /// When it is set but not a string.
    pub fn homeserver(&self) -> anyhow::Result<String> {
        match self.doc.pointer("/matrix/homeserver") {
            None | Some(Value::Null) => Ok(DEFAULT_HOMESERVER.to_owned()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => bail!("{}: matrix.homeserver is not a string", self.path),
        }
    }

    /// MAS's base data for this config: `server_name` from `matrix.homeserver` and
    /// [`MasConfig::session_limit`].
    ///
    /// # Errors
    ///
    /// When `matrix.homeserver` is not a string.
    pub fn base_data(&self) -> anyhow::Result<Value> {
        Ok(serde_json::json!({
            "server_name": self.homeserver()?,
            "session_limit": self.session_limit(),
        }))
    }

    /// `policy.data`, or `{}`.
    pub fn policy_data(&self) -> Value {
        match self.doc.pointer("/policy/data") {
            None | Some(Value::Null) => merge::empty(),
            Some(v) => v.clone(),
        }
    }

    /// `(id, claims_imports)` of every upstream provider, in config order; providers without an
    /// `id` are listed as `?`.
    pub fn providers(&self) -> Vec<(String, Value)> {
        self.doc
            .pointer("/upstream_oauth2/providers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let id = p.get("id").and_then(Value::as_str).unwrap_or("?");
                let imports = p.get("claims_imports").cloned().unwrap_or(Value::Null);
                (id.to_owned(), imports)
            })
            .collect()
    }

    /// The `claims_imports` block of the provider whose `id` is `id` (`null` when the provider
    /// has none).
    ///
    /// # Errors
    ///
    /// When no provider has that id; the message lists the ids there are.
    pub fn claims_imports(&self, id: &str) -> anyhow::Result<Value> {
        let providers = self
            .doc
            .pointer("/upstream_oauth2/providers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let found = providers
            .iter()
            .find(|p| p.get("id").and_then(Value::as_str) == Some(id));
        if let Some(p) = found {
            return Ok(p.get("claims_imports").cloned().unwrap_or(Value::Null));
        }
        let ids: Vec<&str> = providers
            .iter()
            .filter_map(|p| p.get("id").and_then(Value::as_str))
            .collect();
        bail!(
            "{}: no upstream_oauth2 provider with id `{id}`; the providers are: {}",
            self.path,
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        )
    }
}

/// figment's `admerge`, as MAS merges its config files: maps merge recursively, lists are
/// concatenated, anything else takes the later value.
pub fn admerge(earlier: Value, later: Value) -> Value {
    match (earlier, later) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (key, value) in b {
                let merged = match a.remove(&key) {
                    Some(old) => admerge(old, value),
                    None => value,
                };
                a.insert(key, merged);
            }
            Value::Object(a)
        }
        (Value::Array(mut a), Value::Array(b)) => {
            a.extend(b);
            Value::Array(a)
        }
        (_, later) => later,
    }
}

/// The policy data as MAS assembles it: `base` (see [`MasConfig::base_data`] or
/// [`merge::base`]), then `policy.data`, then `extra` (like MAS's dynamic data).
///
/// # Errors
///
/// MAS's merge error.
pub fn assemble(base: Value, policy_data: Value, extra: Option<Value>) -> anyhow::Result<Value> {
    let data =
        merge::merge(base, policy_data).map_err(|e| anyhow::anyhow!("invalid policy data: {e}"))?;
    match extra {
        None => Ok(data),
        Some(extra) => {
            merge::merge(data, extra).map_err(|e| anyhow::anyhow!("invalid policy data: {e}"))
        }
    }
}
