//! The misbehaviours, behind the `evaluator` interface.

#![expect(
    unsafe_code,
    reason = "wit-bindgen's generated canonical-ABI glue and export macro"
)]

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
    type Policy = Hostile;

    fn entrypoints() -> Vec<String> {
        vec!["register/violation".to_owned()]
    }
}

struct Hostile;

fn violation(msg: &str, object_json: &str) -> Violation {
    Violation {
        msg: msg.to_owned(),
        code: None,
        field: None,
        redirect_uri: None,
        need_to_remove: None,
        object_json: object_json.to_owned(),
    }
}

/// Runs the misbehaviour named in `json`, if any; returns the violations to answer with.
fn misbehave(json: &str) -> Vec<Violation> {
    if json.contains(r#""hostile":"loop""#) {
        let mut n: u64 = 0;
        loop {
            n = core::hint::black_box(n.wrapping_add(1));
        }
    }
    if json.contains(r#""hostile":"grow""#) {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1; 1 << 20]);
            core::hint::black_box(&hoard);
        }
    }
    if json.contains(r#""hostile":"garbage""#) {
        return vec![violation("x", "{not json")];
    }
    if json.contains(r#""hostile":"mismatch""#) {
        return vec![violation("allowed", r#"{"msg":"denied"}"#)];
    }
    if json.contains(r#""hostile":"unsorted""#) {
        return vec![
            violation("b", r#"{"msg":"b"}"#),
            violation("a", r#"{"msg":"a"}"#),
        ];
    }
    Vec::new()
}

impl GuestPolicy for Hostile {
    fn load(data_json: String) -> Result<PolicyHandle, Error> {
        misbehave(&data_json);
        Ok(PolicyHandle::new(Hostile))
    }

    fn evaluate(&self, _entrypoint: String, input_json: String) -> Result<Vec<Violation>, Error> {
        Ok(misbehave(&input_json))
    }
}

bindings::export!(Component with_types_in bindings);
