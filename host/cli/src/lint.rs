//! `policy-test lint`: problems in policy data that MAS would load without a word.
//!
//! The loader ([`compile_data`], as every in-process engine loads) already refuses what can never work: bad regexes,
//! CIDRs, tenants. Lint adds warnings for data that loads but almost surely does not do what
//! its author meant:
//! - a gate key (`registration.allowed_usernames`, `emails.allowed_addresses`,
//!   `allowed_domains`) whose value denies everyone, such as the `null` a bare YAML key gives;
//! - a malformed domain glob, which upstream accepts and never matches;
//! - an `admin_users` MXID on another server, which never matches (extensions §2);
//! - keys MAS never reads, such as `emails.allowed_domains` (the real key is top-level).
//!
//! With a MAS config, [`tenant_safety`] checks that the providers' templates produce the
//! tenant markers and that nobody can pick another tenant's marker.

pub mod tenant_safety;

use std::fmt;

use policy_rules::{glob::Glob, mxid::AdminUser};
use serde_json::Value;

use crate::engine::{EvalError, compile_data};

/// How bad a finding is. Only errors make the data unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The data loads and works, probably not as meant.
    Warning,
    /// The data is refused at load; MAS would not start (or the admin API answers 400).
    Error,
}

/// One problem, named by its data path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and where, one lowercase line.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{label}: {}", self.message)
    }
}

fn warn(message: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        message,
    }
}

/// The keys MAS's policy (and this project's extensions) read, by parent object.
const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "server_name",
            "session_limit",
            "admin_users",
            "admin_clients",
            "requester",
            "registration",
            "emails",
            "allowed_domains",
            "banned_domains",
            "client_registration",
            "tenants",
        ],
    ),
    ("requester", &["banned_ips", "banned_user_agents"]),
    ("registration", &["allowed_usernames", "banned_usernames"]),
    ("emails", &["allowed_addresses", "banned_addresses"]),
    (
        "client_registration",
        &[
            "allow_insecure_uris",
            "allow_host_mismatch",
            "allow_missing_client_uri",
        ],
    ),
];

const CONSTRAINT_KEYS: [&str; 5] = ["literals", "substrings", "regexes", "prefixes", "suffixes"];

/// Lints every upstream provider's `claims_imports` block: keys MAS silently ignores (such as
/// a `tenant_id` entry) are warnings, blocks MAS refuses at start-up are errors.
pub fn lint_claims_imports(providers: &[(String, Value)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, imports) in providers {
        match claims_mapper::ClaimsImports::parse(imports) {
            Ok((_, unknown)) => out.extend(unknown.iter().map(|key| {
                warn(format!(
                    "provider {id}: {key} is not a MAS claims_imports key; MAS ignores it"
                ))
            })),
            Err(e) => out.push(Finding {
                severity: Severity::Error,
                message: format!("provider {id}: {e}"),
            }),
        }
    }
    out
}

/// Lints a merged data document (as MAS assembles it). Findings come in a stable order:
/// the load error first, if any, then warnings by data path.
pub fn lint(data: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Err(EvalError::Data(message) | EvalError::Engine(message)) = compile_data(data) {
        out.push(Finding {
            severity: Severity::Error,
            message,
        });
    }
    unknown_keys(data, &mut out);
    for (parent, key) in [
        ("registration", "allowed_usernames"),
        ("emails", "allowed_addresses"),
    ] {
        let value = data.get(parent).and_then(|p| p.get(key));
        if let Some(v) = value.filter(|v| constraint_denies_all(v)) {
            out.push(denies_everyone(&format!("data.{parent}.{key}"), v));
        }
    }
    if let Some(v) = data.get("allowed_domains").filter(|v| list_denies_all(v)) {
        out.push(denies_everyone("data.allowed_domains", v));
    }
    for key in ["allowed_domains", "banned_domains"] {
        bad_globs(data.get(key), &format!("data.{key}"), &mut out);
    }
    foreign_admins(data, &mut out);
    out
}

fn denies_everyone(path: &str, v: &Value) -> Finding {
    warn(format!(
        "{path} is {v}, which restricts and matches nothing, so it denies everyone; remove the \
         key (or set it to false) to leave it unrestricted"
    ))
}

/// A gate constraint denies everyone unless it is `false` or an object with some member list
/// that can match (§5.3).
fn constraint_denies_all(v: &Value) -> bool {
    match v {
        Value::Bool(false) => false,
        Value::Object(map) => !CONSTRAINT_KEYS
            .iter()
            .any(|k| map.get(*k).is_some_and(non_empty_collection)),
        _ => true,
    }
}

fn list_denies_all(v: &Value) -> bool {
    !matches!(v, Value::Bool(false)) && !non_empty_collection(v)
}

fn non_empty_collection(v: &Value) -> bool {
    match v {
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        _ => false,
    }
}

fn unknown_keys(data: &Value, out: &mut Vec<Finding>) {
    for (parent, known) in KNOWN_KEYS {
        let (object, at) = if parent.is_empty() {
            (Some(data), "data".to_owned())
        } else {
            (data.get(*parent), format!("data.{parent}"))
        };
        let Some(Value::Object(map)) = object else {
            continue;
        };
        for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
            let hint = if *parent == "emails" && key.ends_with("_domains") {
                format!("; MAS reads data.{key} at the top level")
            } else {
                String::new()
            };
            out.push(warn(format!(
                "unknown key at {at}: \"{key}\" is never read by the policy{hint}"
            )));
        }
    }
}

fn bad_globs(list: Option<&Value>, at: &str, out: &mut Vec<Finding>) {
    let Some(Value::Array(items)) = list else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let bad = item.as_str().is_none_or(|p| Glob::parse(p).is_none());
        if bad {
            out.push(warn(format!(
                "invalid glob at {at}[{i}]: {item} never matches (upstream accepts it silently)"
            )));
        }
    }
}

fn foreign_admins(data: &Value, out: &mut Vec<Finding>) {
    let Some(Value::Array(items)) = data.get("admin_users") else {
        return;
    };
    let server_name = data.get("server_name").and_then(Value::as_str);
    for (i, item) in items.iter().enumerate() {
        if let Some(server) = AdminUser::foreign_server(item, server_name) {
            out.push(warn(format!(
                "admin MXID at data.admin_users[{i}]: {item} is on {server}, not on this \
                 server ({}), so it never matches",
                server_name.unwrap_or("no server_name set")
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(data: &Value) -> Vec<String> {
        lint(data).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn clean_data_has_no_findings() {
        let data = json!({
            "server_name": "example.com",
            "admin_users": ["alice", "@bob:example.com"],
            "registration": {"allowed_usernames": {"prefixes": ["a"]}},
            "allowed_domains": ["*.example.com"],
            "emails": {"banned_addresses": {"literals": ["x@y.z"]}}
        });
        assert_eq!(messages(&data), Vec::<String>::new());
    }

    #[test]
    fn every_pitfall_is_reported() {
        let data = json!({
            "server_name": "example.com",
            "admin_users": ["@root:other.org"],
            "registration": {"allowed_usernames": null},
            "emails": {"allowed_addresses": {"literals": []}, "allowed_domains": ["x.com"]},
            "allowed_domains": [],
            "banned_domains": ["[bad"],
            "requester": {"banned_ips": ["1.2.3.4/33"]}
        });
        assert_eq!(
            messages(&data),
            [
                r#"error: invalid CIDR at data.requester.banned_ips[0]: "1.2.3.4/33""#,
                r#"warning: unknown key at data.emails: "allowed_domains" is never read by the policy; MAS reads data.allowed_domains at the top level"#,
                "warning: data.registration.allowed_usernames is null, which restricts and matches nothing, so it denies everyone; remove the key (or set it to false) to leave it unrestricted",
                r#"warning: data.emails.allowed_addresses is {"literals":[]}, which restricts and matches nothing, so it denies everyone; remove the key (or set it to false) to leave it unrestricted"#,
                "warning: data.allowed_domains is [], which restricts and matches nothing, so it denies everyone; remove the key (or set it to false) to leave it unrestricted",
                r#"warning: invalid glob at data.banned_domains[0]: "[bad" never matches (upstream accepts it silently)"#,
                r#"warning: admin MXID at data.admin_users[0]: "@root:other.org" is on other.org, not on this server (example.com), so it never matches"#,
            ]
        );
    }

    #[test]
    fn claims_imports_unknown_keys_and_refusals() {
        let providers = [
            (
                "p1".to_owned(),
                json!({"localpart": {"action": "force"}, "tenant_id": {}}),
            ),
            (
                "p2".to_owned(),
                json!({"localpart": {"action": "sometimes"}}),
            ),
            ("p3".to_owned(), Value::Null),
        ];
        let found: Vec<String> = lint_claims_imports(&providers)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0],
            "warning: provider p1: claims_imports.tenant_id is not a MAS claims_imports key; MAS ignores it"
        );
        assert!(found[1].starts_with("error: provider p2: "), "{found:?}");
    }

    #[test]
    fn false_gates_are_unrestricted() {
        let data = json!({"registration": {"allowed_usernames": false}, "allowed_domains": false});
        assert_eq!(messages(&data), Vec::<String>::new());
    }
}
