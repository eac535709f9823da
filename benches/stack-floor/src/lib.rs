//! The floor of a `policy.wasm` built from the rules' stack, apart from any rule.
//!
//! `benches/null_policy.wat` is the floor of the budgets: a module that does nothing, so that
//! what opa-wasm spends on it is the host's own cost. This module answers every evaluation
//! the same way, but does the work that any module made from the shared rules crate must do
//! on MAS's per-request path, with the crates that crate is built on:
//! - every document the host passes (the data, then each input) is parsed with `serde_json`
//!   into a `serde_json::Value`, with the workspace's features, and a malformed one is
//!   refused with `serde_json`'s message, which the contract's error texts need;
//! - every string of every `regexes` list in a document is compiled with regex-lite, as D5's
//!   load-time check does, and an invalid one is refused with regex-lite's reason;
//! - messages are formatted with the standard library, as every error path of the rules is.
//!
//! It has no rules and no data model of its own, and allocates with `policy.wasm`'s own heap
//! (`policy-opa-heap`). So its static data, which an imported memory writes into fresh pages
//! on every instantiation, and its load are what the stack costs before a single rule runs.
//! `policy-artifacts` builds it with `policy.wasm`'s profile, linker flags and post-link steps;
//! the benches time it per request as `opa-stack` (`per_request/opa-stack`, and the phase table
//! of `policy-test bench`; README, "The stack floor"). It is a measuring instrument and never
//! shipped.
#![cfg_attr(
    target_arch = "wasm32",
    expect(
        unsafe_code,
        reason = "the OPA ABI passes raw addresses into linear memory"
    )
)]

#[cfg(target_arch = "wasm32")]
mod abi;

use serde_json::Value;

/// Parses one document as the rules' loader would, and compiles its data regexes.
///
/// # Errors
///
/// `serde_json`'s message for malformed JSON, or the path and regex-lite's reason for a
/// pattern that does not compile.
pub fn load(text: &[u8]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| format!("invalid JSON: {e}"))?;
    check_regexes(&value, &mut String::from("data"))?;
    Ok(value)
}

/// Compiles every string of every `regexes` array under `value`; `path` names `value`.
fn check_regexes(value: &Value, path: &mut String) -> Result<(), String> {
    let Some(object) = value.as_object() else {
        return Ok(());
    };
    for (key, member) in object {
        let len = path.len();
        path.push('.');
        path.push_str(key);
        if key == "regexes"
            && let Some(items) = member.as_array()
        {
            for (i, item) in items.iter().enumerate() {
                let pattern = item
                    .as_str()
                    .ok_or_else(|| format!("invalid regex at {path}[{i}]: not a string"))?;
                regex_lite::Regex::new(pattern)
                    .map_err(|e| format!("invalid regex at {path}[{i}]: {e}"))?;
            }
        } else {
            check_regexes(member, path)?;
        }
        path.truncate(len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_parsed_and_their_regexes_compiled() {
        let data = br#"{"registration": {"banned_usernames": {"regexes": ["^mod[0-9]+$"]}}}"#;
        assert!(load(data).is_ok());
        let bad = br#"{"registration": {"banned_usernames": {"regexes": ["^(mod"]}}}"#;
        let err = load(bad).unwrap_err();
        assert!(
            err.starts_with("invalid regex at data.registration.banned_usernames.regexes[0]: "),
            "{err}"
        );
        assert!(
            load(b"{\"a\": 1,}")
                .unwrap_err()
                .starts_with("invalid JSON: ")
        );
        let not_a_string = br#"{"requester": {"banned_user_agents": {"regexes": [1]}}}"#;
        assert_eq!(
            load(not_a_string).unwrap_err(),
            "invalid regex at data.requester.banned_user_agents.regexes[0]: not a string"
        );
    }
}
