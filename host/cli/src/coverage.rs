//! Coverage of the contract's violation catalogue by the fixtures.
//!
//! `tests/violations.yaml` lists every violation object the contract defines. A fixture run
//! records what passing cases produced, and the report names each catalogue entry that no case
//! produced. "Every violation has a fixture" is thus measured, not assumed.

use std::path::Path;

use regex_lite::Regex;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrySpec {
    id: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    msg_pattern: Option<String>,
    #[serde(default)]
    redirect_uri: bool,
    #[serde(default)]
    need_to_remove: bool,
}

enum MsgMatcher {
    Exact(String),
    Pattern(Regex),
}

struct Entry {
    id: String,
    code: Option<String>,
    field: Option<String>,
    msg: MsgMatcher,
    redirect_uri: bool,
    need_to_remove: bool,
}

impl Entry {
    fn matches(&self, v: &Value) -> bool {
        let text = |key: &str| v.get(key).and_then(Value::as_str);
        let msg_ok = text("msg").is_some_and(|m| match &self.msg {
            MsgMatcher::Exact(want) => m == want,
            MsgMatcher::Pattern(re) => re.is_match(m),
        });
        msg_ok
            && text("code") == self.code.as_deref()
            && text("field") == self.field.as_deref()
            && v.get("redirect_uri").is_some() == self.redirect_uri
            && v.get("need_to_remove").is_some_and(Value::is_u64) == self.need_to_remove
    }
}

/// The contract's catalogue as this crate was built.
const BUILTIN: &str = include_str!("../../../tests/violations.yaml");

/// The catalogue, with what has been seen of it.
pub struct Coverage {
    entries: Vec<(Entry, bool)>,
}

impl Coverage {
    /// Reads a catalogue file.
    ///
    /// # Errors
    ///
    /// A one-line error naming the file and the entry when it cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// The contract's catalogue built into the binary (`tests/violations.yaml`), so a run
    /// needs no checkout.
    ///
    /// # Errors
    ///
    /// Never for the catalogue this crate was built with (a test parses it).
    pub fn builtin() -> Result<Self, String> {
        Self::parse(BUILTIN, Path::new("tests/violations.yaml"))
    }

    /// Parses catalogue text; `path` names it in errors.
    fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let specs: Vec<EntrySpec> = serde_norway::from_str(text).map_err(|e| {
            format!(
                "{}: {}",
                path.display(),
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })?;
        let entries = specs
            .into_iter()
            .map(|spec| {
                let msg = match (spec.msg, spec.msg_pattern) {
                    (Some(msg), None) => MsgMatcher::Exact(msg),
                    (None, Some(p)) => MsgMatcher::Pattern(Regex::new(&p).map_err(|e| {
                        format!(
                            "{}: entry `{}`: invalid msg_pattern: {e}",
                            path.display(),
                            spec.id
                        )
                    })?),
                    _ => {
                        return Err(format!(
                            "{}: entry `{}`: needs exactly one of `msg`, `msg_pattern`",
                            path.display(),
                            spec.id
                        ));
                    }
                };
                Ok((
                    Entry {
                        id: spec.id,
                        code: spec.code,
                        field: spec.field,
                        msg,
                        redirect_uri: spec.redirect_uri,
                        need_to_remove: spec.need_to_remove,
                    },
                    false,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Coverage { entries })
    }

    /// Records the violations a passing case produced.
    pub fn observe(&mut self, violations: &[Value]) {
        for (entry, seen) in &mut self.entries {
            if !*seen && violations.iter().any(|v| entry.matches(v)) {
                *seen = true;
            }
        }
    }

    /// `(covered, total)`.
    pub fn counts(&self) -> (usize, usize) {
        let covered = self.entries.iter().filter(|(_, seen)| *seen).count();
        (covered, self.entries.len())
    }

    /// The ids of entries no passing case produced.
    pub fn uncovered(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(_, seen)| !seen)
            .map(|(e, _)| e.id.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalogue_is_the_checkouts() {
        let builtin = Coverage::builtin().unwrap();
        let file = Coverage::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/violations.yaml"),
        )
        .unwrap();
        assert_eq!(builtin.counts(), file.counts());
        assert!(builtin.counts().1 > 40);
    }
}
