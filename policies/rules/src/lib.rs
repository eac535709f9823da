//! MAS's default policy as pure Rust rules.
//!
//! Every shape of the policy — the native library, the WIT component and the OPA-ABI
//! `policy.wasm` — is a thin adapter over this crate, so each rule exists exactly once. The
//! crate is pure: no I/O, no global state. Data is compiled once into [`PolicyData`]
//! (patterns, globs and CIDRs included); each evaluation then parses only its input.
//!
//! The behaviour is specified by the project's MAS contract (`mas-contract.md`): the five
//! entrypoints of MAS 1.22, Rego's value semantics, and the project's decisions D1–D7.

pub mod cidr;
pub mod constraint;
pub mod data;
pub mod entrypoints;
pub mod glob;
pub mod input_shape;
pub mod json_parse;
pub mod json_text;
pub mod mxid;
pub mod raw_list;
pub mod re2;
pub mod requester;
pub mod sessions;
pub mod simple_regex;
pub mod tenant_rules;
pub mod tenants;
pub mod url;
pub mod value;
pub mod violation;

use serde_json::Value;

use crate::violation::Violations;
pub use crate::{
    data::{DataError, PolicyData},
    violation::result_document,
};

/// `policy.wasm`'s `entrypoints()` document, as `opa_json_dump` prints it (keys sorted), with
/// a trailing NUL: every name of [`Entrypoint::ALL`] and its id.
pub const ENTRYPOINTS_JSON: &str = "{\"authorization_grant/violation\":3,\"client_registration/violation\":2,\"compat_login/violation\":4,\"email/violation\":1,\"register/violation\":0}\0";

/// The five entrypoints MAS evaluates, in the order `policy.wasm` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entrypoint {
    /// `register/violation`
    Register,
    /// `email/violation`
    Email,
    /// `client_registration/violation`
    ClientRegistration,
    /// `authorization_grant/violation`
    AuthorizationGrant,
    /// `compat_login/violation`
    CompatLogin,
}

impl Entrypoint {
    /// Every entrypoint; the index in this array is its OPA entrypoint id.
    pub const ALL: [Entrypoint; 5] = [
        Entrypoint::Register,
        Entrypoint::Email,
        Entrypoint::ClientRegistration,
        Entrypoint::AuthorizationGrant,
        Entrypoint::CompatLogin,
    ];

    /// The name MAS configures, e.g. `register/violation`.
    pub fn name(self) -> &'static str {
        match self {
            Entrypoint::Register => "register/violation",
            Entrypoint::Email => "email/violation",
            Entrypoint::ClientRegistration => "client_registration/violation",
            Entrypoint::AuthorizationGrant => "authorization_grant/violation",
            Entrypoint::CompatLogin => "compat_login/violation",
        }
    }

    /// Looks an entrypoint up by its MAS name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The OPA entrypoint id.
    pub fn id(self) -> usize {
        self as usize
    }

    /// Looks an entrypoint up by its OPA id.
    pub fn from_id(id: usize) -> Option<Self> {
        Self::ALL.get(id).copied()
    }
}

impl std::fmt::Display for Entrypoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PolicyData {
    /// Evaluates one entrypoint. `None` input behaves as no input document at all.
    ///
    /// The result is the violation set in OPA's canonical order without duplicates (D4).
    pub fn evaluate(&self, entrypoint: Entrypoint, input: Option<&Value>) -> Vec<Value> {
        let mut out = Violations::default();
        match entrypoint {
            Entrypoint::Register => entrypoints::register::evaluate(self, input, &mut out),
            Entrypoint::Email => entrypoints::email::evaluate(self, input, &mut out),
            Entrypoint::ClientRegistration => {
                entrypoints::client_registration::evaluate(self, input, &mut out);
            }
            Entrypoint::AuthorizationGrant => {
                entrypoints::authorization_grant::evaluate(self, input, &mut out);
            }
            Entrypoint::CompatLogin => entrypoints::compat_login::evaluate(self, input, &mut out),
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entrypoints_document_names_every_entrypoint_with_its_id() {
        let map: serde_json::Map<String, Value> = Entrypoint::ALL
            .iter()
            .map(|e| (e.name().to_owned(), Value::from(e.id())))
            .collect();
        let printed = json_text::to_string(&Value::Object(map)) + "\0";
        assert_eq!(ENTRYPOINTS_JSON, printed);
    }
}
