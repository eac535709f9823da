//! The parts of a MAS `config.yaml` the claims commands need: a provider's `claims_imports`,
//! `policy.data`, and `matrix.homeserver` (the `server_name` of the policy data).
//!
//! Only these keys are read, so a real deployment's config (secrets, database, listeners) can
//! be passed as it is. The data is assembled as MAS assembles it ([`crate::merge`]).

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
}

impl MasConfig {
    /// Reads a MAS `config.yaml`.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or is not YAML.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let doc: Value = serde_norway::from_str(&text)
            .with_context(|| format!("{}: invalid YAML", path.display()))?;
        Ok(MasConfig {
            path: path.display().to_string(),
            doc,
        })
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

/// The policy data as MAS assembles it: the base data for `server_name`, then `policy.data`,
/// then `extra` (like MAS's dynamic data).
///
/// # Errors
///
/// MAS's merge error.
pub fn assemble(
    server_name: &str,
    policy_data: Value,
    extra: Option<Value>,
) -> anyhow::Result<Value> {
    let data = merge::merge(merge::base(server_name), policy_data)
        .map_err(|e| anyhow::anyhow!("invalid policy data: {e}"))?;
    match extra {
        None => Ok(data),
        Some(extra) => {
            merge::merge(data, extra).map_err(|e| anyhow::anyhow!("invalid policy data: {e}"))
        }
    }
}
