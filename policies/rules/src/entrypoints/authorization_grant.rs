//! `authorization_grant/violation` (contract §10).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{
    data::PolicyData,
    input_shape::{REQUESTER, Shape},
    requester,
    sessions::{self, Limit},
    tenant_rules,
    value::{eq, get, path, truthy},
    violation::{Violation, Violations},
};

/// What the rules below (requester, tenant and session rules included) read of the input.
pub const INPUT: Shape = Shape::Members(&[
    ("grant_type", Shape::Whole),
    ("scope", Shape::Whole),
    (
        "user",
        Shape::Members(&[
            ("username", Shape::Whole),
            ("can_request_admin", Shape::Whole),
        ]),
    ),
    (
        "client",
        Shape::Members(&[("id", Shape::Whole), ("client_id", Shape::Whole)]),
    ),
    ("session_counts", Shape::Members(&[("total", Shape::Whole)])),
    REQUESTER,
]);

const DEVICE_STABLE: &str = "urn:matrix:client:device:";
const DEVICE_UNSTABLE: &str = "urn:matrix:org.matrix.msc2967.client:device:";
const API_STABLE: &str = "urn:matrix:client:api:";
const API_UNSTABLE: &str = "urn:matrix:org.matrix.msc2967.client:api:";

/// A device id part: `[A-Za-z0-9._~!$&'()*+,;=:@/-]{10,}` over the whole rest.
fn device_id_ok(rest: &str) -> bool {
    rest.len() >= 10
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~!$&'()*+,;=:@/-".contains(&b))
}

/// Strips `prefix` where each `.` matches any one character but `\n`, as the unescaped dots of
/// upstream's unstable device regex do.
fn strip_loose_prefix<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let mut chars = s.char_indices();
    for expected in prefix.chars() {
        let (_, c) = chars.next()?;
        let ok = if expected == '.' {
            c != '\n'
        } else {
            c == expected
        };
        if !ok {
            return None;
        }
    }
    Some(chars.next().map_or("", |(i, _)| &s[i..]))
}

fn is_device_scope(token: &str) -> bool {
    token.strip_prefix(DEVICE_STABLE).is_some_and(device_id_ok)
        || strip_loose_prefix(token, DEVICE_UNSTABLE).is_some_and(device_id_ok)
}

struct Grant<'a> {
    data: &'a PolicyData,
    input: Option<&'a Value>,
    interactive: bool,
}

impl Grant<'_> {
    fn is_admin(&self) -> bool {
        let username = path(self.input, &["user", "username"]);
        self.data
            .admin_users
            .iter()
            .any(|admin| admin.matches(username))
            || truthy(path(self.input, &["user", "can_request_admin"]))
    }

    fn admin_client(&self) -> bool {
        let client_id = path(self.input, &["client", "id"]);
        eq(
            get(self.input, "grant_type"),
            &Value::from("client_credentials"),
        ) && client_id.is_some_and(|id| self.data.admin_clients().contains(id))
    }

    fn allowed(&self, token: &str) -> bool {
        match token {
            "" | "openid" | "email" | "urn:mas:graphql:*" => true,
            "urn:synapse:admin:*" => self.interactive && self.is_admin(),
            "urn:mas:admin" => (self.interactive && self.is_admin()) || self.admin_client(),
            "urn:matrix:client:api:*" | "urn:matrix:org.matrix.msc2967.client:api:*" => {
                self.interactive
            }
            _ => self.interactive && is_device_scope(token),
        }
    }
}

/// Evaluates `authorization_grant/violation`.
pub fn evaluate(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    let grant_type = get(input, "grant_type");
    let grant = Grant {
        data,
        input,
        interactive: eq(grant_type, &Value::from("authorization_code"))
            || eq(
                grant_type,
                &Value::from("urn:ietf:params:oauth:grant-type:device_code"),
            ),
    };
    let tokens: BTreeSet<&str> = get(input, "scope")
        .and_then(Value::as_str)
        .map(|scope| scope.split(' ').collect())
        .unwrap_or_default();

    for token in &tokens {
        out.push_if(!grant.allowed(token), || {
            Violation::msg(format!("scope '{token}' not allowed"))
        });
    }
    let starting = |prefix: &str| tokens.iter().filter(|t| t.starts_with(prefix)).count();
    out.push_if(
        starting(DEVICE_UNSTABLE) > 1 || starting(DEVICE_STABLE) > 1,
        || Violation::msg("only one device scope is allowed at a time"),
    );
    out.push_if(
        starting(DEVICE_STABLE) + starting(DEVICE_UNSTABLE) > 0
            && starting(API_STABLE) + starting(API_UNSTABLE) == 0,
        || {
            Violation::msg(
                "device scopes are only allowed when the client-server API scope is requested",
            )
        },
    );
    out.push_if(
        starting("urn:matrix:client:") > 0 && starting("urn:matrix:org.matrix.msc2967.client:") > 0,
        || Violation::msg("request cannot mix unstable and stable scopes"),
    );
    if let Some(v) = requester::violation(data, input) {
        out.push(v);
    }
    tenant_rules::authorization_grant(data, input, out);
    let counts = get(input, "session_counts");
    if !matches!(counts, None | Some(Value::Null))
        && let Some(v) = sessions::too_many(
            data,
            counts,
            Limit::Soft,
            "user has too many active sessions",
        )
    {
        out.push(v);
    }
}
