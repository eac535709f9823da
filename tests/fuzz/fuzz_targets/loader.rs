//! `policy.wasm`'s data loader against compiling the whole document, natively (see
//! `policy_test::fuzz::check_loader`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Err(report) = policy_test::fuzz::check_loader(bytes) {
        panic!("{report}");
    }
});
