//! OpenMeet's tenants (`data.tenants`, extensions §1): which tenant owns a username, and the
//! tenant rules every entrypoint adds to MAS's.
//!
//! A deployment without a `tenants` key gets an empty [`Tenants`]: no username belongs to a
//! tenant and no rule here fires, so the policy decides exactly as MAS does.
//!
//! Resolution is implemented once, here, and shared by the entrypoints and the claims mapper.
//! The data is checked at load so that resolution can never be ambiguous: two tenants whose
//! prefix+suffix have the same length and could both match one username are refused, as is a
//! second default tenant. Load errors name the tenant and the key.
//!
//! Decisions where the spec is silent (the Rego twin makes the same ones):
//! - a username that is not a string belongs to no tenant;
//! - `tenants: null` is the same as no `tenants` key, because a YAML `tenants:` with nothing
//!   under it reads as null;
//! - unknown keys, and `status`/`registration` values other than the documented ones, are load
//!   errors: a typo such as `status: suspend` must not leave a tenant active;
//! - an empty `email_domains` or `allowed_clients` list is set: it admits nothing.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::{
    data::{DataError, DataPath},
    glob::Glob,
    json_text::{Json, quoted},
};

/// The default claim that names a user's tenant upstream.
pub const DEFAULT_CLAIM: &str = "tenant_id";

/// One tenant, validated.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The key under `tenants.by_id`, quoted verbatim in violation messages.
    pub id: String,
    /// `localpart_prefix`, only localpart characters.
    pub prefix: String,
    /// `localpart_suffix`, only localpart characters.
    pub suffix: String,
    /// `status: suspended`.
    pub suspended: bool,
    /// `registration: closed`.
    pub registration_closed: bool,
    /// `email_domains`, when set: the globs an email domain must match.
    pub email_domains: Option<Vec<Glob>>,
    /// `allowed_clients`, when set: client ULIDs or `client_id`s.
    pub allowed_clients: Option<Vec<String>>,
}

impl Tenant {
    /// True when `username` starts with the prefix, ends with the suffix, and something is
    /// left between them.
    pub fn matches(&self, username: &str) -> bool {
        username.len() > self.prefix.len() + self.suffix.len()
            && username.starts_with(&self.prefix)
            && username.ends_with(&self.suffix)
    }

    /// The length resolution ranks matches by.
    fn rank(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    /// True when an email domain is acceptable: `email_domains` is unset, or `domain` is
    /// present and matches one of its globs.
    pub fn admits_domain(&self, domain: Option<&str>) -> bool {
        self.email_domains
            .as_ref()
            .is_none_or(|globs| domain.is_some_and(|d| globs.iter().any(|g| g.is_match(d))))
    }

    /// True when `allowed_clients` is unset or lists one of the client's identifiers.
    pub fn admits_client(&self, ids: &[Option<&Value>]) -> bool {
        self.allowed_clients.as_ref().is_none_or(|allowed| {
            ids.iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .any(|id| allowed.iter().any(|a| a == id))
        })
    }
}

/// `data.tenants`, validated; empty when the key is absent.
#[derive(Debug, Clone)]
pub struct Tenants {
    require_tenant: bool,
    claim: String,
    /// Every tenant, longest prefix+suffix first, so the first match is the winner.
    ranked: Vec<Tenant>,
    /// Index into `ranked` by tenant id.
    by_id: BTreeMap<String, usize>,
}

impl Default for Tenants {
    fn default() -> Self {
        Tenants {
            require_tenant: false,
            claim: DEFAULT_CLAIM.to_owned(),
            ranked: Vec::new(),
            by_id: BTreeMap::new(),
        }
    }
}

impl Tenants {
    /// `require_tenant`: a username that matches no tenant is refused.
    pub fn require_tenant(&self) -> bool {
        self.require_tenant
    }

    /// The upstream claim that names the tenant (claims mapping only).
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// True when no tenant is configured.
    pub fn is_empty(&self) -> bool {
        self.ranked.is_empty()
    }

    /// Every tenant, in tenant id order.
    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.by_id.values().map(|&i| &self.ranked[i])
    }

    /// The tenant with this id.
    pub fn get(&self, id: &str) -> Option<&Tenant> {
        self.by_id.get(id).map(|&i| &self.ranked[i])
    }

    /// The tenant that owns `username`: the matching tenant with the longest prefix+suffix.
    pub fn resolve(&self, username: &str) -> Option<&Tenant> {
        self.ranked.iter().find(|t| t.matches(username))
    }

    /// [`Tenants::resolve`] for a JSON value: a non-string belongs to no tenant.
    pub fn resolve_value(&self, username: Option<&Value>) -> Option<&Tenant> {
        username
            .and_then(Value::as_str)
            .and_then(|u| self.resolve(u))
    }

    /// Validates `data.tenants`.
    ///
    /// # Errors
    ///
    /// The first problem found, named by its data path and, where two tenants clash, by both
    /// tenant ids.
    pub fn compile(v: Option<&Value>, at: &DataPath) -> Result<Self, DataError> {
        let map = match v {
            None | Some(Value::Null) => return Ok(Tenants::default()),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(DataError::wrong_type(at, "an object", other)),
        };
        refuse_unknown_keys(map, &["require_tenant", "claim", "by_id"], at)?;
        let require_tenant = match map.get("require_tenant") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(DataError::wrong_type(
                    &at.key("require_tenant"),
                    "a boolean",
                    other,
                ));
            }
        };
        let claim = match map.get("claim") {
            None => DEFAULT_CLAIM.to_owned(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(DataError::wrong_type(
                    &at.key("claim"),
                    "a non-empty string",
                    other,
                ));
            }
        };
        let by_id_path = at.key("by_id");
        let mut ranked = match map.get("by_id") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(tenants)) => tenants
                .iter()
                .map(|(id, t)| compile_tenant(id, t, &by_id_path.key(id)))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => return Err(DataError::wrong_type(&by_id_path, "an object", other)),
        };
        // Stable: equal ranks keep id order, which keeps error messages deterministic.
        ranked.sort_by_key(|t| std::cmp::Reverse(t.rank()));
        check_unambiguous(&ranked, &by_id_path)?;
        let by_id = ranked
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        Ok(Tenants {
            require_tenant,
            claim,
            ranked,
            by_id,
        })
    }
}

fn refuse_unknown_keys(
    map: &Map<String, Value>,
    known: &[&str],
    at: &DataPath,
) -> Result<(), DataError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(DataError::new(format!(
            "unknown key at {at}: {}, expected one of {}",
            quoted(key),
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `[a-z0-9.=_/+-]`, the characters of a localpart.
fn is_localpart_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=/+-".contains(&b)
}

fn affix(map: &Map<String, Value>, key: &str, at: &DataPath) -> Result<String, DataError> {
    match map.get(key) {
        None => Ok(String::new()),
        Some(Value::String(s)) if s.bytes().all(is_localpart_byte) => Ok(s.clone()),
        Some(Value::String(s)) => Err(DataError::new(format!(
            "invalid value at {}: {} has characters outside [a-z0-9.=_/+-]",
            at.key(key),
            quoted(s)
        ))),
        Some(other) => Err(DataError::wrong_type(&at.key(key), "a string", other)),
    }
}

/// Reads a two-valued string key; `Ok(true)` means the second (non-default) value.
fn switch(
    map: &Map<String, Value>,
    key: &str,
    [default, other]: [&str; 2],
    at: &DataPath,
) -> Result<bool, DataError> {
    match map.get(key).map(|v| (v, v.as_str())) {
        None => Ok(false),
        Some((_, Some(s))) if s == default => Ok(false),
        Some((_, Some(s))) if s == other => Ok(true),
        Some((v, _)) => Err(DataError::new(format!(
            "invalid value at {}: expected \"{default}\" or \"{other}\", found {}",
            at.key(key),
            Json(v)
        ))),
    }
}

/// Reads an optional array of strings, each checked by `item`.
fn string_list<T>(
    map: &Map<String, Value>,
    key: &str,
    at: &DataPath,
    item: impl Fn(&str, &DataPath) -> Result<T, DataError>,
) -> Result<Option<Vec<T>>, DataError> {
    let at = at.key(key);
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => item(s, &at.index(i)),
                other => Err(DataError::wrong_type(&at.index(i), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(DataError::wrong_type(&at, "an array of strings", other)),
    }
}

fn compile_tenant(id: &str, v: &Value, at: &DataPath) -> Result<Tenant, DataError> {
    let Value::Object(map) = v else {
        return Err(DataError::wrong_type(at, "an object", v));
    };
    refuse_unknown_keys(
        map,
        &[
            "localpart_prefix",
            "localpart_suffix",
            "status",
            "registration",
            "email_domains",
            "allowed_clients",
        ],
        at,
    )?;
    Ok(Tenant {
        id: id.to_owned(),
        prefix: affix(map, "localpart_prefix", at)?,
        suffix: affix(map, "localpart_suffix", at)?,
        suspended: switch(map, "status", ["active", "suspended"], at)?,
        registration_closed: switch(map, "registration", ["open", "closed"], at)?,
        email_domains: string_list(map, "email_domains", at, |s, path| {
            Glob::parse(s)
                .ok_or_else(|| DataError::new(format!("invalid glob at {path}: {}", quoted(s))))
        })?,
        allowed_clients: string_list(map, "allowed_clients", at, |s, _| Ok(s.to_owned()))?,
    })
}

/// True when some username could match both tenants: each prefix is a prefix of the other's
/// (or equal), and each suffix a suffix of the other's. A long enough middle then satisfies both.
fn overlap(a: &Tenant, b: &Tenant) -> bool {
    (a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix))
        && (a.suffix.ends_with(&b.suffix) || b.suffix.ends_with(&a.suffix))
}

/// Refuses a second default tenant and equal-rank tenants that can match the same username.
/// `ranked` is sorted by rank, so only neighbours within a run of equal ranks are compared.
fn check_unambiguous(ranked: &[Tenant], at: &DataPath) -> Result<(), DataError> {
    for (i, a) in ranked.iter().enumerate() {
        for b in ranked[i + 1..].iter().take_while(|b| b.rank() == a.rank()) {
            if a.rank() == 0 {
                return Err(DataError::new(format!(
                    "two default tenants at {at}: {} and {} both have an empty localpart_prefix \
                     and localpart_suffix",
                    quoted(&a.id),
                    quoted(&b.id)
                )));
            }
            if overlap(a, b) {
                return Err(DataError::new(format!(
                    "ambiguous tenants at {at}: {} and {} can match the same username with \
                     prefix+suffix of equal length",
                    quoted(&a.id),
                    quoted(&b.id)
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn load(v: &Value) -> Result<Tenants, String> {
        Tenants::compile(Some(v), &DataPath::root().key("tenants")).map_err(|e| e.to_string())
    }

    fn owner(t: &Tenants, u: &str) -> Option<String> {
        t.resolve(u).map(|t| t.id.clone())
    }

    #[test]
    fn longest_match_wins_and_the_middle_must_not_be_empty() {
        let t = load(&json!({"by_id": {
            "acme": {"localpart_prefix": "acme."},
            "acme-eu": {"localpart_prefix": "acme.eu."},
            "tail": {"localpart_suffix": ".t"},
            "main": {}
        }}))
        .unwrap();
        assert_eq!(owner(&t, "acme.bob").as_deref(), Some("acme"));
        assert_eq!(owner(&t, "acme.eu.bob").as_deref(), Some("acme-eu"));
        assert_eq!(owner(&t, "acme.eu.").as_deref(), Some("acme"));
        assert_eq!(owner(&t, "bob.t").as_deref(), Some("tail"));
        assert_eq!(owner(&t, "acme.").as_deref(), Some("main"));
        assert_eq!(owner(&t, ".t").as_deref(), Some("main"));
        assert_eq!(owner(&t, ""), None);
    }

    #[test]
    fn no_tenants_key_is_empty() {
        let t = Tenants::compile(None, &DataPath::root()).unwrap();
        assert!(t.is_empty() && !t.require_tenant() && t.claim() == "tenant_id");
        assert!(load(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn load_errors_name_the_tenant_and_key() {
        let cases = [
            (
                json!({"by_id": {"a": {"localpart_prefix": "A."}}}),
                r#"invalid value at data.tenants.by_id.a.localpart_prefix: "A." has characters outside [a-z0-9.=_/+-]"#,
            ),
            (
                json!({"by_id": {"a": {"status": "suspend"}}}),
                r#"invalid value at data.tenants.by_id.a.status: expected "active" or "suspended", found "suspend""#,
            ),
            (
                json!({"by_id": {"a": {"email_domains": ["[a"]}}}),
                r#"invalid glob at data.tenants.by_id.a.email_domains[0]: "[a""#,
            ),
            (
                json!({"by_id": {"a": {"prefix": "a."}}}),
                "unknown key at data.tenants.by_id.a: \"prefix\", expected one of localpart_prefix, localpart_suffix, status, registration, email_domains, allowed_clients",
            ),
            (
                json!({"by_id": {"a": {}, "b": {}}}),
                r#"two default tenants at data.tenants.by_id: "a" and "b" both have an empty localpart_prefix and localpart_suffix"#,
            ),
            (
                json!({"by_id": {"a": {"localpart_prefix": "x."}, "b": {"localpart_suffix": ".y"}}}),
                r#"ambiguous tenants at data.tenants.by_id: "a" and "b" can match the same username with prefix+suffix of equal length"#,
            ),
            (
                json!({"require_tenant": "yes"}),
                "invalid value at data.tenants.require_tenant: expected a boolean, found a string",
            ),
            (
                json!({"by_id": {"a": {"allowed_clients": [1]}}}),
                "invalid value at data.tenants.by_id.a.allowed_clients[0]: expected a string, found a number",
            ),
        ];
        for (data, want) in cases {
            assert_eq!(load(&data).unwrap_err(), want, "{data}");
        }
    }

    #[test]
    fn equal_length_tenants_that_cannot_overlap_load() {
        let t = load(&json!({"by_id": {
            "a": {"localpart_prefix": "aa."},
            "b": {"localpart_prefix": "bb."},
            "c": {"localpart_prefix": "c.", "localpart_suffix": "z"}
        }}))
        .unwrap();
        assert_eq!(owner(&t, "c.mz").as_deref(), Some("c"));
        assert_eq!(owner(&t, "bb.x").as_deref(), Some("b"));
    }

    #[test]
    fn domain_and_client_admission() {
        let t = load(&json!({"by_id": {
            "a": {"localpart_prefix": "a.", "email_domains": ["*.acme.com", "acme.com"],
                  "allowed_clients": ["web"]},
            "b": {"localpart_prefix": "b.", "email_domains": [], "allowed_clients": []}
        }}))
        .unwrap();
        let a = t.get("a").unwrap();
        assert!(a.admits_domain(Some("eu.acme.com")) && !a.admits_domain(None));
        assert!(!a.admits_domain(Some("evil.com")));
        assert!(a.admits_client(&[Some(&json!("x")), Some(&json!("web"))]));
        assert!(!a.admits_client(&[None, Some(&json!(1))]));
        let b = t.get("b").unwrap();
        assert!(!b.admits_domain(Some("acme.com")) && !b.admits_client(&[Some(&json!("web"))]));
    }
}
