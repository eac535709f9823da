//! `policy.wasm`'s fast JSON parser against `serde_json`, on the data and the input text of a
//! case (see `policy_test::fuzz::check_json`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_test::fuzz::{Case, check_json};

fuzz_target!(|bytes: &[u8]| {
    let Some(case) = Case::parse(bytes) else {
        return;
    };
    for text in [Some(case.data), case.input].into_iter().flatten() {
        if let Err(report) = check_json(text) {
            panic!("{report}");
        }
    }
});
