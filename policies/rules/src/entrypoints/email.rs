//! `email/violation` (contract §8).

use serde_json::Value;

use crate::{
    data::PolicyData,
    input_shape::Shape,
    tenant_rules,
    value::get,
    violation::{Violation, Violations},
};

/// What the rules below (and the tenant rule) read of the input.
pub const INPUT: Shape = Shape::Members(&[("email", Shape::Whole), ("tenant", Shape::Whole)]);

/// The domain of an address with exactly one `@` (possibly empty); `None` otherwise.
pub(crate) fn domain(email: Option<&Value>) -> Option<&str> {
    let email = email?.as_str()?;
    let (_, domain) = email.split_once('@')?;
    (!domain.contains('@')).then_some(domain)
}

/// The email violations E1–E4, without the `field` that `register` adds.
pub fn violations(data: &PolicyData, input: Option<&Value>) -> Vec<Violation> {
    let email = get(input, "email");
    let domain = domain(email);
    let mut out = Vec::new();
    let domain_allowed = data
        .allowed_domains
        .admits(|globs| domain.is_some_and(|d| globs.iter().any(|g| g.is_match(d))));
    if !domain_allowed {
        out.push(Violation::coded(
            "email-domain-not-allowed",
            "email domain is not allowed",
        ));
    }
    if domain.is_some_and(|d| data.banned_domains.iter().any(|g| g.is_match(d))) {
        out.push(Violation::coded(
            "email-domain-banned",
            "email domain is banned",
        ));
    }
    if !data.allowed_addresses.admits(|c| data.matches(c, email)) {
        out.push(Violation::coded(
            "email-not-allowed",
            "email is not allowed",
        ));
    }
    if data.matches(&data.banned_addresses, email) {
        out.push(Violation::coded("email-banned", "email is not allowed"));
    }
    out
}

/// Evaluates `email/violation`.
pub fn evaluate(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    for v in violations(data, input) {
        out.push(v);
    }
    tenant_rules::email(data, input, out);
}
