//! Lints for a config with tenants: can MAS put each user in the right tenant, and can a user
//! pick another tenant's marker?
//!
//! MAS's `register/violation` input carries no claims, so the policy only sees the localpart.
//! A tenant marker is therefore only trustworthy when the user cannot choose the localpart:
//! - a provider whose localpart `action` is `suggest` or `ignore` lets the user type
//!   `lisbon-tech.x` on the registration form;
//! - local password registration (`passwords.enabled`, default true, with
//!   `account.password_registration_enabled`, default false) lets anyone type it.
//!
//! And the markers only exist if the provider's template writes them: each provider's template
//! is rendered, as MAS renders it, on one synthetic login per tenant (the tenant claim naming
//! that tenant), and the tenants whose login does not resolve back to them are named.

use claims_mapper::{Claims, Mapper, imports::Action};
use serde_json::{Map, Value};

use super::{Finding, Severity, warn};
use crate::claims::mas_config::MasConfig;

/// The synthetic login for `tenant`.
fn synthetic_login(claim: &str, tenant: &str) -> Claims {
    let mut claims = Map::new();
    for (key, value) in [
        ("sub", "policy-test-lint"),
        ("preferred_username", "user"),
        ("name", "User"),
        ("email", "user@example.com"),
    ] {
        claims.insert(key.to_owned(), Value::from(value));
    }
    claims.insert(claim.to_owned(), Value::from(tenant));
    Claims {
        id_token_claims: Some(claims),
        ..Claims::default()
    }
}

/// The tenant-safety findings for `config` with the assembled `data`. Nothing when the data
/// has no tenants or does not load (the data lint reports that).
pub fn lint(config: &MasConfig, data: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let Ok(policy) = crate::engine::compile_data(data) else {
        return out;
    };
    let tenants = policy.tenants();
    if tenants.is_empty() {
        return out;
    }
    let doc = config.document();
    let passwords = doc
        .pointer("/passwords/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let registration = doc
        .pointer("/account/password_registration_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if passwords && registration {
        out.push(warn(
            "account.password_registration_enabled with tenants: anyone can register a password \
             account with another tenant's marker (`<prefix>name`); the policy cannot tell, as \
             register/violation carries no claims"
                .to_owned(),
        ));
    }
    for (id, imports) in config.providers() {
        let Ok(mapper) = Mapper::load(&imports, data) else {
            continue;
        };
        let action = mapper.imports().localpart.action;
        if matches!(action, Action::Suggest | Action::Ignore) {
            out.push(warn(format!(
                "provider {id}: localpart action is `{}` with tenants: the user can type another \
                 tenant's marker on the registration form; use `require` or `force`",
                action.name()
            )));
            continue;
        }
        let missed: Vec<&str> = tenants
            .iter()
            .filter(|t| {
                let mapping = mapper.map(&synthetic_login(tenants.claim(), &t.id));
                mapping.tenant.as_deref() != Some(t.id.as_str())
            })
            .map(|t| t.id.as_str())
            .collect();
        if !missed.is_empty() {
            let (severity, effect) = if tenants.require_tenant() {
                (Severity::Error, "would be locked out")
            } else {
                (Severity::Warning, "would land outside their tenant")
            };
            out.push(Finding {
                severity,
                message: format!(
                    "provider {id}: the localpart template does not produce the tenant markers: \
                     users of {} {effect}; use the template `policy-test build` writes into \
                     mas-config.yaml",
                    missed.join(", ")
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn findings(config: &Value) -> Vec<String> {
        let config = MasConfig::from_value("mas.yaml", config.clone());
        let data = crate::merge::merge(config.base_data().unwrap(), config.policy_data()).unwrap();
        lint(&config, &data)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn config(localpart: &Value, tenants: &Value) -> Value {
        json!({
            "matrix": {"homeserver": "matrix.openmeet.net"},
            "upstream_oauth2": {"providers": [
                {"id": "01JAYS74TCG3BTWKADN5Q4518C", "claims_imports": {"localpart": localpart}},
            ]},
            "policy": {"data": {"tenants": tenants}},
        })
    }

    #[test]
    fn a_template_without_markers_names_the_tenants() {
        let tenants = json!({
            "require_tenant": true,
            "by_id": {"openmeet": {}, "lisbon-tech": {"localpart_prefix": "lisbon-tech."}, "hikers": {"localpart_prefix": "hikers."}},
        });
        let plain = json!({"action": "require", "template": "{{ user.preferred_username }}"});
        assert_eq!(
            findings(&config(&plain, &tenants)),
            [
                "error: provider 01JAYS74TCG3BTWKADN5Q4518C: the localpart template does not produce the tenant markers: users of hikers, lisbon-tech would be locked out; use the template `policy-test build` writes into mas-config.yaml"
            ]
        );
        // The generated template produces them.
        let policy = crate::engine::compile_data(
            &crate::merge::merge(
                crate::merge::base("matrix.openmeet.net"),
                json!({"tenants": tenants}),
            )
            .unwrap(),
        )
        .unwrap();
        let (generated, _) =
            claims_mapper::tenant_template::apply(&json!({"localpart": plain}), policy.tenants())
                .unwrap();
        assert_eq!(
            findings(&config(&generated["localpart"], &tenants)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn editable_localparts_and_password_registration_are_warned() {
        let tenants = json!({"by_id": {"acme": {"localpart_prefix": "acme."}}});
        let mut c = config(&json!({"action": "suggest"}), &tenants);
        c["account"] = json!({"password_registration_enabled": true});
        let found = findings(&c);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("warning: account.password_registration_enabled with tenants")
        );
        assert!(found[1].contains("localpart action is `suggest` with tenants"));
        // Without tenants, nothing.
        let mut c = config(&json!({"action": "suggest"}), &json!(null));
        c["account"] = json!({"password_registration_enabled": true});
        assert_eq!(findings(&c), Vec::<String>::new());
    }
}
