//! The `mapper` interface, implemented over `claims-mapper`.

#![expect(
    unsafe_code,
    reason = "wit-bindgen's generated canonical-ABI glue and export macro"
)]

use claims_mapper::{Claims, LoadError, Mapper, Mapping, Outcome};
use serde_json::Value;

/// The canonical-ABI glue wit-bindgen generates for `wit/claims.wit`.
#[expect(
    clippy::same_length_and_capacity,
    reason = "wit-bindgen's generated lifting code"
)]
mod bindings {
    wit_bindgen::generate!({
        world: "claims-mapper",
        path: "../../wit",
        pub_export_macro: true,
    });
}

use bindings::exports::openmeet::mas_policy::mapper as wit;

struct Component;

impl wit::Guest for Component {
    type Mapper = LoadedMapper;
}

/// The `mapper` resource: templates and data compiled once.
struct LoadedMapper(Mapper);

fn parse(json: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(json).map_err(|e| format!("{what} is not JSON: {e}"))
}

fn typed(mapping: Mapping) -> wit::Mapping {
    wit::Mapping {
        outcome: match mapping.outcome {
            Outcome::Accepted => wit::Outcome::Accepted,
            Outcome::SuggestionDropped => wit::Outcome::SuggestionDropped,
            Outcome::Error => wit::Outcome::Error,
        },
        subject: mapping.subject,
        localpart: mapping.localpart,
        mxid: mapping.mxid,
        displayname: mapping.displayname,
        email: mapping.email,
        tenant: mapping.tenant,
        claimed_tenant: mapping.claimed_tenant,
        violations: mapping
            .violations
            .iter()
            .map(|v| {
                let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
                wit::Violation {
                    msg: text("msg").unwrap_or_default(),
                    code: text("code"),
                    field: text("field"),
                    object_json: v.to_string(),
                }
            })
            .collect(),
        description: mapping.description,
        fix: mapping.fix.map(|f| wit::Fix {
            hint: f.hint,
            expression: f.expression,
            template: f.template,
            localpart: f.localpart,
        }),
        warnings: mapping.warnings,
    }
}

impl wit::GuestMapper for LoadedMapper {
    fn load(claims_imports_json: String, data_json: String) -> Result<wit::Mapper, wit::Error> {
        let imports =
            parse(&claims_imports_json, "claims_imports").map_err(wit::Error::InvalidConfig)?;
        let data = parse(&data_json, "the policy data").map_err(wit::Error::InvalidData)?;
        let mapper = Mapper::load(&imports, &data).map_err(|e| match e {
            LoadError::Imports(_) => wit::Error::InvalidConfig(e.to_string()),
            LoadError::Data(_) => wit::Error::InvalidData(e.to_string()),
        })?;
        Ok(wit::Mapper::new(LoadedMapper(mapper)))
    }

    fn unknown_keys(&self) -> Vec<String> {
        self.0.unknown_keys().to_vec()
    }

    fn map_claims(&self, claims_json: String) -> Result<wit::Mapping, wit::Error> {
        let claims = parse(&claims_json, "the claims")
            .and_then(|v| Claims::from_json(&v).map_err(|e| e.to_string()))
            .map_err(wit::Error::InvalidClaims)?;
        Ok(typed(self.0.map(&claims)))
    }
}

bindings::export!(Component with_types_in bindings);
