//! The project's integration tests, in one binary.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions; a panic is the failure report"
)]

mod abi;
mod bundle;
mod claims;
mod component;
mod differential;
mod fixtures;
mod huge;
mod load;
mod migrate;
