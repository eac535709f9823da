//! `register/violation` (contract §7).

use serde_json::Value;

use crate::{
    data::PolicyData,
    entrypoints::email,
    input_shape::{REQUESTER, Shape},
    requester, tenant_rules,
    value::{count, eq, get, truthy},
    violation::{Violation, Violations},
};

/// What the rules below (and the tenant and email rules they call) read of the input.
pub const INPUT: Shape = Shape::Members(&[
    ("username", Shape::Whole),
    ("registration_method", Shape::Whole),
    ("email", Shape::Whole),
    REQUESTER,
]);

fn username_violation(code: &str, msg: &str) -> Violation {
    Violation::coded(code, msg).with("field", "username")
}

/// `^[0-9]+$`
fn all_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `^[a-z0-9.=_/+-]+$`
fn valid_localpart_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=/+-".contains(&b))
}

/// The username rules R1–R6, reused by the claims mapper's validation.
pub fn username_rules(data: &PolicyData, username: Option<&Value>, out: &mut Violations) {
    out.push_if(count(username) == Some(0), || {
        username_violation("username-too-short", "username too short")
    });
    if let (Some(Value::String(u)), Some(server)) = (username, &data.server_name) {
        let mxid_len = 2 + u.chars().count() + server.chars().count();
        out.push_if(mxid_len > 255, || {
            username_violation("username-too-long", "username too long")
        });
    }
    let text = username.and_then(Value::as_str);
    out.push_if(text.is_some_and(all_numeric), || {
        username_violation(
            "username-all-numeric",
            "username must contain at least one non-numeric character",
        )
    });
    out.push_if(
        username.is_some() && !text.is_some_and(valid_localpart_chars),
        || {
            username_violation(
                "username-invalid-chars",
                "username contains invalid characters",
            )
        },
    );
    out.push_if(data.matches(&data.banned_usernames, username), || {
        username_violation("username-banned", "username is banned")
    });
    out.push_if(
        !data.allowed_usernames.admits(|c| data.matches(c, username)),
        || username_violation("username-not-allowed", "username is not allowed"),
    );
}

/// Evaluates `register/violation`.
pub fn evaluate(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    username_rules(data, get(input, "username"), out);
    tenant_rules::register(data, input, out);

    let method = get(input, "registration_method");
    out.push_if(!truthy(method), || {
        Violation::msg("unspecified registration method")
    });
    out.push_if(
        method.is_some()
            && !eq(method, &Value::from("password"))
            && !eq(method, &Value::from("upstream-oauth2")),
        || Violation::msg("unknown registration method"),
    );

    if let Some(v) = requester::violation(data, input) {
        out.push(v);
    }

    if truthy(get(input, "email")) {
        for v in email::violations(data, input) {
            out.push(v.with("field", "email"));
        }
    }
}
