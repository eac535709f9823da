//! The `evaluator` interface, implemented over `policy-rules`.

#![expect(
    unsafe_code,
    reason = "wit-bindgen's generated canonical-ABI glue and export macro"
)]

use policy_rules::{
    Entrypoint, PolicyData,
    json_parse::{parse_document, parse_input},
    value::JsonError,
};
use serde_json::Value;

/// The canonical-ABI glue wit-bindgen generates for `wit/policy.wit`.
#[expect(
    clippy::same_length_and_capacity,
    reason = "wit-bindgen's generated lifting code"
)]
mod bindings {
    wit_bindgen::generate!({
        world: "policy",
        path: "../../wit",
        pub_export_macro: true,
    });
}

use bindings::exports::openmeet::mas_policy::evaluator::{
    Error, Guest, GuestPolicy, Policy as PolicyHandle, Violation,
};

struct Component;

impl Guest for Component {
    type Policy = LoadedPolicy;

    fn entrypoints() -> Vec<String> {
        Entrypoint::ALL
            .iter()
            .map(|e| e.name().to_owned())
            .collect()
    }
}

/// The `policy` resource: data compiled once, evaluated many times.
struct LoadedPolicy(PolicyData);

fn typed(v: &Value) -> Violation {
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    Violation {
        msg: text("msg").unwrap_or_default(),
        code: text("code"),
        field: text("field"),
        redirect_uri: text("redirect_uri"),
        need_to_remove: v.get("need_to_remove").and_then(Value::as_u64),
        object_json: v.to_string(),
    }
}

impl GuestPolicy for LoadedPolicy {
    fn load(data_json: String) -> Result<PolicyHandle, Error> {
        let data = parse_document(data_json.as_bytes(), "document").map_err(|e| match e {
            JsonError::TooDeep(msg) | JsonError::Malformed(msg) => Error::InvalidData(msg),
        })?;
        let policy =
            PolicyData::compile_owned(data).map_err(|e| Error::InvalidData(e.to_string()))?;
        Ok(PolicyHandle::new(LoadedPolicy(policy)))
    }

    fn evaluate(&self, entrypoint: String, input_json: String) -> Result<Vec<Violation>, Error> {
        let entrypoint =
            Entrypoint::from_name(&entrypoint).ok_or(Error::UnknownEntrypoint(entrypoint))?;
        let input = if input_json.is_empty() {
            None
        } else {
            Some(
                parse_input(input_json.as_bytes(), entrypoint.input_shape()).map_err(
                    |e| match e {
                        JsonError::TooDeep(msg) | JsonError::Malformed(msg) => {
                            Error::InvalidInput(msg)
                        }
                    },
                )?,
            )
        };
        Ok(self
            .0
            .evaluate(entrypoint, input.as_ref())
            .iter()
            .map(typed)
            .collect())
    }
}

bindings::export!(Component with_types_in bindings);
