//! The host side of the policy bundle: engines behind one trait, MAS's data merge, the
//! differential fixture runner, and the `policy-test` CLI built on them.

pub mod bench;
pub mod bundle;
pub mod claims;
pub mod coverage;
pub mod engine;
pub mod fixtures;
pub mod limits;
pub mod lint;
pub mod merge;
pub mod rego_tests;
pub mod report;
pub mod runner;
