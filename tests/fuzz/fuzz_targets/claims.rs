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

// Compiled before fuzzing starts, so that the compilation is not timed as the first input.
fuzz_target!(
    init: MAPPERS.with(|_| ()),
    |bytes: &[u8]| {
        if let Err(report) = MAPPERS.with(|check| check.check(bytes)) {
            panic!("{report}");
        }
    }
);
