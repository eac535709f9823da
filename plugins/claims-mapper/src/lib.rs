//! Claims mapping: what MAS makes of an upstream login's claims, and whether the policy lets
//! the result through (extensions §3, on the templating facts of the MAS contract §15).
//!
//! A [`Mapper`] holds one provider's `claims_imports` (templates compiled once, in MAS's
//! minijinja environment) and the policy data. [`Mapper::map`] renders the subject, localpart,
//! display name and email for one login, adds the tenant's localpart prefix and suffix from
//! the tenant claim, validates the final localpart and email with the policy's own
//! `register/violation` rules, and applies MAS's action semantics to say what the user would
//! see: [`Outcome::Accepted`], [`Outcome::SuggestionDropped`] or [`Outcome::Error`] with
//! MAS's error-page description, plus a [`Fix`] when a template change would help.
//!
//! The crate is pure (no I/O) and builds for `wasm32-unknown-unknown`, so the same code runs
//! natively (`policy-test claims`, `policy-test migrate`) and as the `claims-mapper` component
//! (`plugins/claims-component`).

pub mod claims;
pub mod env;
pub mod filters;
mod fix;
pub mod imports;
pub mod mapper;
pub mod mapping;
pub mod tenant_template;

pub use crate::{
    claims::{Claims, ClaimsError},
    imports::{Action, ClaimsImports, ImportsError, OnConflict},
    mapper::{LoadError, Mapper},
    mapping::{Fix, Mapping, Outcome, code_or_msg},
};
