//! What of an input document each entrypoint's rules read.
//!
//! MAS sends whole records as input: the user with its timestamps and flags, the OAuth client
//! with its metadata. A warm evaluation in `policy.wasm` spends most of its time building that
//! input as values (a `String` and a map insert per member), so the wasm adapters parse input
//! with [`crate::json_parse::parse_input`], which builds only the members named here and only
//! validates the rest. Each entrypoint module declares its own `INPUT` beside the rules that
//! read it; a member a rule reads but its shape omits would read as absent, which the
//! differential tests (native on the whole input against the wasm engines on the pruned one)
//! and the tests below catch.

use serde_json::{Map, Value};

use crate::Entrypoint;

/// The part of a JSON value that is built.
#[derive(Debug)]
pub enum Shape {
    /// The whole value.
    Whole,
    /// When the value is an object, the listed members in their own shapes; any other member is
    /// validated and dropped. Any other value is built whole.
    Members(&'static [(&'static str, Shape)]),
}

/// `input.requester` as [`crate::requester::violation`] reads it.
pub const REQUESTER: (&str, Shape) = (
    "requester",
    Shape::Members(&[("ip_address", Shape::Whole), ("user_agent", Shape::Whole)]),
);

/// `a == b`, eight bytes at a time: in `policy.wasm` a `str` comparison calls
/// compiler-builtins' `memcmp`, a loop of about ten instructions a byte, and every input
/// member's key is compared here (700 of a `register` evaluation's 19,000 instructions).
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
    x.by_ref().zip(y.by_ref()).all(|(x, y)| word(x) == word(y))
        && x.remainder().iter().zip(y.remainder()).all(|(x, y)| x == y)
}

impl Shape {
    /// The member named `key`'s shape, or `None` when no rule reads it.
    pub fn member(&self, key: &str) -> Option<&Shape> {
        match self {
            Shape::Whole => Some(&Shape::Whole),
            Shape::Members(members) => members
                .iter()
                .find(|(k, _)| same_key(k, key))
                .map(|(_, s)| s),
        }
    }

    /// `value` cut to this shape: what [`crate::json_parse::parse_input`] builds from its text.
    pub fn prune(&self, value: &Value) -> Value {
        match (self, value) {
            (Shape::Members(_), Value::Object(map)) => Value::Object(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.member(k)?.prune(v))))
                    .collect::<Map<_, _>>(),
            ),
            _ => value.clone(),
        }
    }
}

impl Entrypoint {
    /// The part of this entrypoint's input its rules read.
    pub fn input_shape(self) -> &'static Shape {
        use crate::entrypoints::{
            authorization_grant, client_registration, compat_login, email, register,
        };
        match self {
            Entrypoint::Register => &register::INPUT,
            Entrypoint::Email => &email::INPUT,
            Entrypoint::ClientRegistration => &client_registration::INPUT,
            Entrypoint::AuthorizationGrant => &authorization_grant::INPUT,
            Entrypoint::CompatLogin => &compat_login::INPUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::PolicyData;

    /// Data under which every rule that reads input can fire: bans that the generated values
    /// hit, an admin, an admin client, a tenant, session limits.
    fn data() -> PolicyData {
        let doc = json!({
            "server_name": "example.com",
            "admin_users": ["admin"],
            "admin_clients": ["01ADMIN"],
            "registration": {"banned_usernames": {"literals": ["root"], "substrings": ["x"]}},
            "emails": {"banned_addresses": {"suffixes": ["@bad.example"]}},
            "banned_domains": ["*.spam.example"],
            "requester": {"banned_ips": ["192.0.2.0/24"], "banned_user_agents": {"substrings": ["curl"]}},
            "session_limit": {"soft_limit": 2, "hard_limit": 3},
            "tenants": {"by_id": {
                "t1": {"localpart_prefix": "t1_", "status": "suspended", "allowed_clients": ["good"]},
                "t2": {"localpart_prefix": "t2_", "registration": "closed", "email_domains": ["ok.example"]},
            }},
        });
        PolicyData::compile_owned(doc).unwrap_or_else(|e| unreachable!("valid data: {e}"))
    }

    /// A value from `values`, or now and then one of another type.
    fn one_of(values: &[Value]) -> BoxedStrategy<Value> {
        prop_oneof![
            4 => prop::sample::select(values.to_vec()),
            1 => odd(),
        ]
        .boxed()
    }

    /// Values of every type.
    fn odd() -> BoxedStrategy<Value> {
        let odd = [
            json!(null),
            json!(false),
            json!(true),
            json!(7),
            json!(""),
            json!([]),
            json!({}),
        ];
        prop::sample::select(odd.to_vec()).boxed()
    }

    /// An object holding each of `members` with probability 3/4, or now and then a value of
    /// another type.
    fn object(members: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
        let present = members
            .into_iter()
            .map(|(key, value)| {
                prop::option::weighted(0.75, value)
                    .prop_map(move |v| v.map(|v| (key.to_owned(), v)))
            })
            .collect::<Vec<_>>();
        prop_oneof![
            6 => present.prop_map(|members| Value::Object(members.into_iter().flatten().collect())),
            1 => odd(),
        ]
        .boxed()
    }

    /// Inputs over every member any entrypoint's rules read, written out here rather than taken
    /// from the shapes (a member a shape forgets must still be generated), with values that make
    /// the rules fire under [`data`], and members no rule reads.
    fn input() -> BoxedStrategy<Value> {
        let unread = || one_of(&[json!("01J"), json!({"deep": [1, {"x": null}]})]);
        let requester = object(vec![
            (
                "ip_address",
                one_of(&[json!("192.0.2.9"), json!("203.0.113.1")]),
            ),
            ("user_agent", one_of(&[json!("curl/8"), json!("Mozilla")])),
            ("x", unread()),
        ]);
        let username = || {
            one_of(&[
                json!("root"),
                json!("admin"),
                json!("t1_bob"),
                json!("t2_eve"),
                json!("alice"),
            ])
        };
        let email = one_of(&[
            json!("a@bad.example"),
            json!("b@ok.example"),
            json!("c@x.spam.example"),
        ]);
        let user = object(vec![
            ("username", username()),
            ("can_request_admin", one_of(&[json!(true), json!(false)])),
            ("sub", unread()),
        ]);
        let client = object(vec![
            (
                "id",
                one_of(&[json!("01ADMIN"), json!("good"), json!("01OTHER")]),
            ),
            ("client_id", one_of(&[json!("good"), json!("rogue")])),
            ("redirect_uris", unread()),
        ]);
        let counts = object(vec![
            ("total", one_of(&[json!(1), json!(2), json!(5)])),
            ("oauth2", unread()),
        ]);
        let metadata = object(vec![
            (
                "client_uri",
                one_of(&[json!("https://a.example/"), json!("http://a.example/")]),
            ),
            (
                "redirect_uris",
                one_of(&[
                    json!(["https://a.example/cb"]),
                    json!(["https://b.example/cb"]),
                ]),
            ),
            ("application_type", one_of(&[json!("web"), json!("native")])),
        ]);
        object(vec![
            ("username", username()),
            ("email", email),
            (
                "registration_method",
                one_of(&[json!("password"), json!("upstream-oauth2")]),
            ),
            ("tenant", one_of(&[json!("t1"), json!("t2")])),
            ("requester", requester),
            ("client_metadata", metadata),
            ("user", user),
            ("client", client),
            (
                "scope",
                one_of(&[
                    json!("openid urn:mas:admin"),
                    json!("urn:synapse:admin:* urn:matrix:client:api:*"),
                ]),
            ),
            (
                "grant_type",
                one_of(&[json!("authorization_code"), json!("client_credentials")]),
            ),
            ("session_counts", counts),
            ("session_replaced", one_of(&[json!(false), json!(true)])),
            (
                "login",
                object(vec![(
                    "type",
                    one_of(&[json!("m.login.sso"), json!("m.login.password")]),
                )]),
            ),
            ("created_at", unread()),
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Every entrypoint decides its pruned input as its whole input.
        #[test]
        fn the_shape_holds_all_the_rules_read(input in input()) {
            let data = data();
            for entrypoint in Entrypoint::ALL {
                let pruned = entrypoint.input_shape().prune(&input);
                prop_assert_eq!(
                    data.evaluate(entrypoint, Some(&pruned)),
                    data.evaluate(entrypoint, Some(&input)),
                    "{} on {}", entrypoint, input
                );
            }
        }
    }

    #[test]
    fn unread_members_are_dropped_at_every_level() {
        let input = json!({
            "user": {"username": "alice", "sub": "01J", "locked_at": null},
            "client": {"id": "01C", "redirect_uris": ["https://a/"]},
            "scope": "openid",
            "extra": {"deep": [1, 2]},
            "session_counts": 4,
        });
        assert_eq!(
            Entrypoint::AuthorizationGrant.input_shape().prune(&input),
            json!({
                "user": {"username": "alice"},
                "client": {"id": "01C"},
                "scope": "openid",
                "session_counts": 4,
            })
        );
    }
}
