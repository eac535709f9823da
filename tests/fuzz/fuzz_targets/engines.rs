//! Native rules, `policy.wasm` and the policy component on the same data and input (see
//! `policy_test::fuzz::EngineCheck`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy_test::fuzz::EngineCheck;

thread_local! {
    /// The engines are compiled once, on the fuzzing thread.
    static ENGINES: EngineCheck =
        EngineCheck::new().unwrap_or_else(|e| panic!("cannot create the engines: {e}"));
}

// Compiled before fuzzing starts, so that the compilation is not timed as the first input.
fuzz_target!(
    init: ENGINES.with(|_| ()),
    |bytes: &[u8]| {
        if let Err(report) = ENGINES.with(|check| check.check(bytes)) {
            panic!("{report}");
        }
    }
);
