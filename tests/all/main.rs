//! The project's integration tests, in one binary.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions; a panic is the failure report"
)]

mod abi;
mod abi_fuzz;
mod bundle;
mod claims;
mod component;
mod differential;
mod fixtures;
mod fuzz_regressions;
mod huge;
mod load;
mod migrate;

/// The number of generated cases a property test runs: `PROPTEST_CASES` when set (for a longer
/// hunt), else `default`.
fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
