//! The claims mapper, native and as its component, on the same `claims_imports`, data and
//! claims (see `policy_test::fuzz::ClaimsCheck`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_test::fuzz::ClaimsCheck;

thread_local! {
    /// The component is compiled once, on the fuzzing thread.
    static MAPPERS: ClaimsCheck =
        ClaimsCheck::new().unwrap_or_else(|e| panic!("cannot create the claims mappers: {e}"));
}

fuzz_target!(|bytes: &[u8]| {
    if let Err(report) = MAPPERS.with(|mappers| mappers.check(bytes)) {
        panic!("{report}");
    }
});
