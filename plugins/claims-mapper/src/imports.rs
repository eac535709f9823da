//! A provider's `claims_imports` block, read the way MAS reads it (contract §15.3).
//!
//! MAS deserialises the block with serde and **silently ignores unknown keys**, so a typo such
//! as `localpart: {actoin: force}` or `OpenMeet`'s draft `tenant_id:` entry does nothing at all.
//! This reader accepts the same documents and refuses the same ones (an unknown `action`
//! value, a wrong type, the two cross-field checks MAS runs at start-up), and additionally
//! lists every unknown key by its path so that `policy-test` can report it.

use std::fmt;

use serde_json::{Map, Value};

/// When an attribute is imported (`action`, lowercase in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Never imported. MAS's default, although its docs' example shows `force`.
    #[default]
    Ignore,
    /// Offered on the link page; dropped when it is empty, fails or violates the policy.
    Suggest,
    /// Always imported; a policy violation is an error page.
    Force,
    /// Always imported and required: an empty or failed render is an error as well.
    Require,
}

impl Action {
    const NAMES: [(&'static str, Action); 4] = [
        ("ignore", Action::Ignore),
        ("suggest", Action::Suggest),
        ("force", Action::Force),
        ("require", Action::Require),
    ];

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Action::Ignore => "ignore",
            Action::Suggest => "suggest",
            Action::Force => "force",
            Action::Require => "require",
        }
    }

    /// `force` and `require`: the value is imposed, so a violation cannot just be dropped.
    pub fn imposes(self) -> bool {
        matches!(self, Action::Force | Action::Require)
    }
}

/// What MAS does when the localpart already exists (`on_conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// The login fails with `User exists` (the default).
    #[default]
    Fail,
    /// The upstream account is linked to the existing user.
    Add,
    /// The existing user's links for this provider are replaced.
    Replace,
    /// Linked only when the existing user has no link for this provider.
    Set,
}

impl OnConflict {
    const NAMES: [(&'static str, OnConflict); 4] = [
        ("fail", OnConflict::Fail),
        ("add", OnConflict::Add),
        ("replace", OnConflict::Replace),
        ("set", OnConflict::Set),
    ];
}

/// One imported attribute: its action and template (`None`: MAS's default template).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Import {
    /// When the attribute is imported.
    pub action: Action,
    /// The minijinja template, when the config sets one.
    pub template: Option<String>,
}

/// The `claims_imports` block of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimsImports {
    /// `subject.template`; default `{{ user.sub }}`.
    pub subject: Option<String>,
    /// `skip_confirmation`.
    pub skip_confirmation: bool,
    /// `localpart`.
    pub localpart: Import,
    /// `localpart.on_conflict`.
    pub on_conflict: OnConflict,
    /// `displayname`.
    pub displayname: Import,
    /// `email`.
    pub email: Import,
    /// `account_name.template`; no default (display only, failures only logged).
    pub account_name: Option<String>,
}

/// Why a `claims_imports` block was refused, with the path of the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportsError {
    path: String,
    message: String,
}

impl fmt::Display for ImportsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ImportsError {}

fn error(path: &str, message: impl Into<String>) -> ImportsError {
    ImportsError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a map",
    }
}

/// Reads one map of the block, collecting keys outside `known` into `unknown`.
fn map<'v>(
    v: &'v Value,
    path: &str,
    known: &[&str],
    unknown: &mut Vec<String>,
) -> Result<&'v Map<String, Value>, ImportsError> {
    let Value::Object(map) = v else {
        return Err(error(
            path,
            format!("invalid type: {}, expected a map", kind(v)),
        ));
    };
    unknown.extend(
        map.keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| format!("{path}.{k}")),
    );
    Ok(map)
}

fn variant<T: Copy>(
    v: Option<&Value>,
    path: &str,
    names: &[(&str, T)],
) -> Result<Option<T>, ImportsError> {
    let Some(v) = v else { return Ok(None) };
    let expected = names
        .iter()
        .map(|(n, _)| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let Value::String(s) = v else {
        return Err(error(
            path,
            format!("invalid type: {}, expected one of {expected}", kind(v)),
        ));
    };
    names
        .iter()
        .find(|(n, _)| n == s)
        .map(|&(_, t)| Some(t))
        .ok_or_else(|| {
            error(
                path,
                format!("unknown variant `{s}`, expected one of {expected}"),
            )
        })
}

fn template(v: Option<&Value>, path: &str) -> Result<Option<String>, ImportsError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(error(
            path,
            format!("invalid type: {}, expected a string", kind(other)),
        )),
    }
}

fn import(
    block: Option<&Value>,
    path: &str,
    extra: &[&str],
    unknown: &mut Vec<String>,
) -> Result<Import, ImportsError> {
    let Some(block) = block else {
        return Ok(Import::default());
    };
    let mut known = vec!["action", "template"];
    known.extend_from_slice(extra);
    let m = map(block, path, &known, unknown)?;
    let action = variant(m.get("action"), &format!("{path}.action"), &Action::NAMES)?;
    Ok(Import {
        action: action.unwrap_or_default(),
        template: template(m.get("template"), &format!("{path}.template"))?,
    })
}

impl ClaimsImports {
    /// Reads a `claims_imports` block (JSON, or YAML read into JSON). `null` is the default
    /// block, as for a provider without the key.
    ///
    /// Returns the block and the paths of the keys MAS would ignore, such as
    /// `claims_imports.tenant_id`.
    ///
    /// # Errors
    ///
    /// What MAS refuses at start-up: a wrong type, an unknown `action` or `on_conflict`
    /// value, and the `skip_confirmation` and `on_conflict` cross-checks, with MAS's texts.
    pub fn parse(v: &Value) -> Result<(Self, Vec<String>), ImportsError> {
        const ROOT: &str = "claims_imports";
        let mut unknown = Vec::new();
        if v.is_null() {
            return Ok((Self::default(), unknown));
        }
        let m = map(
            v,
            ROOT,
            &[
                "subject",
                "skip_confirmation",
                "localpart",
                "displayname",
                "email",
                "account_name",
            ],
            &mut unknown,
        )?;
        let template_only = |key: &str, unknown: &mut Vec<String>| match m.get(key) {
            None => Ok(None),
            Some(block) => {
                let path = format!("{ROOT}.{key}");
                let inner = map(block, &path, &["template"], unknown)?;
                template(inner.get("template"), &format!("{path}.template"))
            }
        };
        let subject = template_only("subject", &mut unknown)?;
        let skip_confirmation = match m.get("skip_confirmation") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(error(
                    &format!("{ROOT}.skip_confirmation"),
                    format!("invalid type: {}, expected a boolean", kind(other)),
                ));
            }
        };
        let localpart = import(
            m.get("localpart"),
            &format!("{ROOT}.localpart"),
            &["on_conflict"],
            &mut unknown,
        )?;
        let on_conflict = variant(
            m.get("localpart").and_then(|l| l.get("on_conflict")),
            &format!("{ROOT}.localpart.on_conflict"),
            &OnConflict::NAMES,
        )?
        .unwrap_or_default();
        let displayname = import(
            m.get("displayname"),
            &format!("{ROOT}.displayname"),
            &[],
            &mut unknown,
        )?;
        let email = import(m.get("email"), &format!("{ROOT}.email"), &[], &mut unknown)?;
        let account_name = template_only("account_name", &mut unknown)?;
        let imports = ClaimsImports {
            subject,
            skip_confirmation,
            localpart,
            on_conflict,
            displayname,
            email,
            account_name,
        };
        imports.check()?;
        Ok((imports, unknown))
    }

    /// MAS's start-up checks, in MAS's order and with its texts.
    fn check(&self) -> Result<(), ImportsError> {
        if self.skip_confirmation {
            if self.localpart.action != Action::Require {
                return Err(error(
                    "claims_imports.localpart",
                    "The field `action` must be `require` when `skip_confirmation` is set to `true`",
                ));
            }
            for (key, import) in [("email", &self.email), ("displayname", &self.displayname)] {
                if import.action == Action::Suggest {
                    return Err(error(
                        &format!("claims_imports.{key}"),
                        "The field `action` must not be `suggest` when `skip_confirmation` is set to `true`",
                    ));
                }
            }
        }
        if self.on_conflict != OnConflict::Fail && !self.localpart.action.imposes() {
            return Err(error(
                "claims_imports.localpart",
                "The field `action` must be either `force` or `require` when `on_conflict` is set to `add`, `replace` or `set`",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_keys_are_listed_by_path_and_otherwise_ignored() {
        let (imports, unknown) = ClaimsImports::parse(&json!({
            "tenant_id": {"action": "force", "template": "{{ user.tenant_id }}"},
            "localpart": {"action": "force", "actoin": "require"},
        }))
        .unwrap();
        assert_eq!(imports.localpart.action, Action::Force);
        assert_eq!(
            unknown,
            [
                "claims_imports.tenant_id",
                "claims_imports.localpart.actoin"
            ]
        );
    }

    #[test]
    fn mas_start_up_checks_keep_their_texts() {
        let err = ClaimsImports::parse(&json!({"localpart": {"on_conflict": "add"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claims_imports.localpart: The field `action` must be either `force` or `require` when `on_conflict` is set to `add`, `replace` or `set`"
        );
        let err = ClaimsImports::parse(&json!({
            "skip_confirmation": true,
            "localpart": {"action": "require"},
            "displayname": {"action": "suggest"},
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "claims_imports.displayname: The field `action` must not be `suggest` when `skip_confirmation` is set to `true`"
        );
        let err = ClaimsImports::parse(&json!({"localpart": {"action": "Force"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claims_imports.localpart.action: unknown variant `Force`, expected one of `ignore`, `suggest`, `force`, `require`"
        );
    }
}
