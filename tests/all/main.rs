//! The project's integration tests, in one binary.

mod abi;
mod fixtures;
