//! `policy-test`'s library: the fixture runner and its reports, lint, the claims-mapping and
//! migration commands, the deployable bundle, and the in-process benchmark, on the engines of
//! the embeddable runner (`policy-host`, re-exported here as [`engine`], [`limits`] and
//! [`merge`]).

pub mod bench;
pub mod bundle;
pub mod claims;
pub mod coverage;
pub mod fixtures;
pub mod fuzz;
pub mod lint;
pub mod rego_tests;
pub mod report;
pub mod runner;

pub use policy_host::{engine, limits, merge};
