//! The embeddable policy runner: every engine behind one [`engine::Engine`] trait (`native`,
//! `component`, `opa`, `rego`), their execution limits, and MAS's policy-data merge.
//!
//! A Rust host that decides MAS's questions itself links this crate: it loads a data document
//! into an engine once and evaluates entrypoints, failing closed on any error. The testing and
//! deployment tooling (fixtures, reports, lint, claims mapping, the bundle, benchmarks and the
//! `policy-test` CLI) lives in `host/cli` (crate `policy-test`), built on this one.

pub mod engine;
pub mod limits;
pub mod merge;
