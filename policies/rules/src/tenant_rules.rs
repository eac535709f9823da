//! The tenant violations each entrypoint adds to MAS's (extensions §1).
//!
//! Resolution lives in [`crate::tenants`]; this module only turns a resolved tenant into the
//! exact violation objects of the spec's table. Every function is a no-op for a deployment
//! without tenants, except `tenant-unknown`, which needs `require_tenant: true` anyway.

use serde_json::Value;

use crate::{
    data::PolicyData,
    entrypoints::email::domain,
    tenants::Tenant,
    value::{get, path, truthy},
    violation::{Violation, Violations},
};

fn suspended(tenant: &Tenant) -> Violation {
    Violation::coded(
        "tenant-suspended",
        format!("tenant {} is suspended", tenant.id),
    )
}

/// `tenant-email-domain-not-allowed` when the tenant restricts domains and a present email's
/// domain (none when the address has no single `@`) matches none of them.
fn email_domain(tenant: &Tenant, input: Option<&Value>) -> Option<Violation> {
    let email = get(input, "email");
    (truthy(email) && !tenant.admits_domain(domain(email))).then(|| {
        Violation::coded(
            "tenant-email-domain-not-allowed",
            format!("email domain is not allowed for tenant {}", tenant.id),
        )
    })
}

/// The `register` rules, on `input.username` and `input.email`.
pub fn register(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    let tenants = data.tenants();
    let Some(tenant) = tenants.resolve_value(get(input, "username")) else {
        out.push_if(tenants.require_tenant(), || {
            Violation::coded("tenant-unknown", "username does not belong to any tenant")
                .with("field", "username")
        });
        return;
    };
    out.push_if(tenant.registration_closed, || {
        Violation::coded(
            "tenant-registration-closed",
            format!("registration is closed for tenant {}", tenant.id),
        )
        .with("field", "username")
    });
    out.push_if(tenant.suspended, || {
        suspended(tenant).with("field", "username")
    });
    if let Some(v) = email_domain(tenant, input) {
        out.push(v.with("field", "email"));
    }
}

/// The `email` rule: the email entrypoint has no username, so the tenant comes from the
/// optional `input.tenant` id that this project's hosts may pass.
pub fn email(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    let tenant = get(input, "tenant")
        .and_then(Value::as_str)
        .and_then(|id| data.tenants().get(id));
    if let Some(v) = tenant.and_then(|t| email_domain(t, input)) {
        out.push(v);
    }
}

/// The tenant of `input.user.username`.
fn user_tenant<'d>(data: &'d PolicyData, input: Option<&Value>) -> Option<&'d Tenant> {
    data.tenants()
        .resolve_value(path(input, &["user", "username"]))
}

/// `tenant-suspended` for the user's tenant (`compat_login`).
pub fn user_suspended(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    if let Some(t) = user_tenant(data, input).filter(|t| t.suspended) {
        out.push(suspended(t));
    }
}

/// `authorization_grant`: a suspended tenant, and a client the user's tenant does not allow.
pub fn authorization_grant(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    if !truthy(get(input, "user")) {
        return;
    }
    let Some(tenant) = user_tenant(data, input) else {
        return;
    };
    out.push_if(tenant.suspended, || suspended(tenant));
    let id = path(input, &["client", "id"]);
    let client_id = path(input, &["client", "client_id"]);
    if !tenant.admits_client(&[id, client_id]) {
        let label = [client_id, id]
            .into_iter()
            .find_map(|v| v.and_then(Value::as_str))
            .unwrap_or("unknown");
        out.push(Violation::coded(
            "client-not-allowed",
            format!("client {label} is not allowed for tenant {}", tenant.id),
        ));
    }
}
