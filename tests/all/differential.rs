//! Generated inputs: the native rules, `policy.wasm` (through opa-wasm, warm) and the policy
//! component (host runner) must agree.
//!
//! The strategies aim at the edges of each rule: usernames around the localpart grammar and
//! the length limit, emails with zero to two `@`, URLs around the grammar, scope tokens of every
//! kind, session counts around the limits, banned IPs in both address families, and several
//! data documents (empty, restrictive, gate keys set to `null`). A disagreement prints the
//! case as a ready-to-paste fixture.

use std::cell::RefCell;

use policy_host::{
    engine::{
        Engine, LoadedPolicy,
        component::ComponentEngine,
        native::NativeEngine,
        opa::{Mode, OpaEngine},
    },
    limits::Limits,
};
use policy_rules::Entrypoint;
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use serde_json::{Value, json};

/// Generated cases per entrypoint.
const CASES: u32 = 10_000;

fn data_documents() -> Vec<Value> {
    let base = |extra: Value| {
        policy_host::merge::merge(policy_host::merge::base("example.com"), extra).unwrap()
    };
    vec![
        base(json!({})),
        base(json!({
            "registration": {
                "banned_usernames": {"regexes": ["^mod[0-9]+$", "(?i)^staff", "\\bbot\\b"], "literals": ["root"], "substrings": ["matrix"], "suffixes": ["-x"]},
                "allowed_usernames": {"prefixes": ["a", "m", "s", "_"], "regexes": ["^[0-9]"]}
            },
            "requester": {"banned_ips": ["192.0.2.0/24", "2001:db8::/32", "::ffff:198.51.100.0/120"], "banned_user_agents": {"regexes": ["^curl/"], "literals": [null]}},
            "allowed_domains": ["*.example.com", "example.org", "{a,b}.test"],
            "banned_domains": ["spam.org", "**.evil.net"],
            "emails": {"banned_addresses": {"suffixes": ["@bad.example.com"]}, "allowed_addresses": {"regexes": ["^[a-z]"]}},
            "session_limit": {"soft_limit": 3, "hard_limit": 5, "max_session_threshold": 10},
            "admin_users": ["admin"],
            "admin_clients": ["01ADMIN"]
        })),
        base(json!({
            "registration": {"allowed_usernames": null},
            "emails": {"allowed_addresses": {}},
            "allowed_domains": null,
            "session_limit": {"soft_limit": 1, "hard_limit": 2, "max_session_threshold": null},
            "client_registration": {"allow_insecure_uris": true}
        })),
        base(json!({
            "client_registration": {"allow_missing_client_uri": true},
            "session_limit": {"soft_limit": 2, "hard_limit": 4, "max_session_threshold": false}
        })),
        base(json!({"client_registration": {"allow_host_mismatch": true}, "server_name": "a.io"})),
    ]
}

fn one_of(values: &[Value]) -> impl Strategy<Value = Value> + use<> {
    proptest::sample::select(values.to_vec())
}

fn text(pattern: &'static str) -> BoxedStrategy<Value> {
    pattern.prop_map(Value::String).boxed()
}

fn maybe(key: &'static str, value: BoxedStrategy<Value>) -> BoxedStrategy<Option<(String, Value)>> {
    proptest::option::weighted(0.85, value.prop_map(move |v| (key.to_owned(), v))).boxed()
}

fn object(members: Vec<BoxedStrategy<Option<(String, Value)>>>) -> BoxedStrategy<Value> {
    members
        .prop_map(|members| Value::Object(members.into_iter().flatten().collect()))
        .boxed()
}

fn requester() -> BoxedStrategy<Value> {
    object(vec![
        maybe(
            "ip_address",
            one_of(&[
                json!("203.0.113.7"),
                json!("192.0.2.5"),
                json!("::ffff:192.0.2.5"),
                json!("198.51.100.9"),
                json!("2001:db8::1"),
                json!(null),
                json!("not an ip"),
            ])
            .boxed(),
        ),
        maybe(
            "user_agent",
            prop_oneof![
                one_of(&[
                    json!("Mozilla/5.0"),
                    json!("curl/8.0"),
                    json!(null),
                    json!("")
                ]),
                text("[a-z/.0-9 ]{0,12}"),
            ]
            .boxed(),
        ),
    ])
}

fn username() -> BoxedStrategy<Value> {
    prop_oneof![
        text("[a-z0-9._=/+-]{0,12}"),
        text("[A-Za-z0-9@:!é _.-]{0,10}"),
        text("[0-9]{1,6}"),
        text("(mod|staff|Staff|root|a|m|_)[a-z0-9]{0,5}(\n)?"),
        (240usize..260).prop_map(|n| json!("a".repeat(n))),
        one_of(&[json!(null), json!(5), json!([]), json!(""), json!(false)]),
    ]
    .boxed()
}

fn email() -> BoxedStrategy<Value> {
    prop_oneof![
        text("[a-zA-Z]{0,4}(@[a-z]{0,5}(\\.(com|org|test|example\\.com|evil\\.net))?){0,2}"),
        one_of(&[
            json!(""),
            json!(null),
            json!("x@bad.example.com"),
            json!("a@b.evil.net")
        ]),
    ]
    .boxed()
}

fn register_input() -> BoxedStrategy<Value> {
    object(vec![
        maybe(
            "registration_method",
            one_of(&[
                json!("password"),
                json!("upstream-oauth2"),
                json!(""),
                json!(null),
                json!(false),
                json!("other"),
            ])
            .boxed(),
        ),
        maybe("username", username()),
        maybe("email", email()),
        maybe("requester", requester()),
    ])
}

fn email_input() -> BoxedStrategy<Value> {
    object(vec![
        maybe("email", email()),
        maybe("requester", requester()),
    ])
}

fn url() -> BoxedStrategy<Value> {
    prop_oneof![
        one_of(&[
            json!("https://example.com/"),
            json!("https://app.example.com/cb"),
            json!("https://example.org/cb?x=1"),
            json!("http://localhost:8080/cb"),
            json!("http://127.0.0.1/cb"),
            json!("http://[::1]/"),
            json!("https://localhost/"),
            json!("com.example.app:/cb"),
            json!("com.example:/cb"),
            json!("org.example.app:/cb"),
            json!("com.example.app://cb"),
            json!("https://Good.com/"),
            json!("https://good_host.com/"),
            json!("https://127_0_0_1/"),
            json!("https:///x"),
            json!(5),
            json!(null),
        ]),
        text("(https?|com\\.example)://[a-z0-9._-]{1,10}(:[0-9]{1,4})?(/[a-z#?%:]{0,5})?"),
    ]
    .boxed()
}

fn client_registration_input() -> BoxedStrategy<Value> {
    let metadata = object(vec![
        maybe("client_uri", url()),
        maybe("tos_uri", url()),
        maybe("policy_uri", url()),
        maybe("logo_uri", url()),
        maybe(
            "redirect_uris",
            prop_oneof![
                proptest::collection::vec(url(), 0..3).prop_map(Value::Array),
                one_of(&[json!("https://example.com/cb"), json!({}), json!(null)]),
            ]
            .boxed(),
        ),
        maybe(
            "grant_types",
            one_of(&[
                json!(["authorization_code"]),
                json!(["client_credentials"]),
                json!(["implicit", "refresh_token"]),
                json!([]),
                json!(null),
                json!(["urn:ietf:params:oauth:grant-type:device_code"]),
            ])
            .boxed(),
        ),
        maybe(
            "application_type",
            one_of(&[json!("native"), json!("web")]).boxed(),
        ),
        maybe(
            "token_endpoint_auth_method",
            one_of(&[json!("none"), json!("client_secret_basic")]).boxed(),
        ),
    ]);
    object(vec![maybe("client_metadata", metadata)])
}

const TOKENS: [&str; 15] = [
    "openid",
    "email",
    "",
    "urn:mas:admin",
    "urn:synapse:admin:*",
    "urn:mas:graphql:*",
    "urn:matrix:client:api:*",
    "urn:matrix:org.matrix.msc2967.client:api:*",
    "urn:matrix:client:device:ABCDEFGHIJ",
    "urn:matrix:client:device:short",
    "urn:matrix:client:device:KLMNOPQRST",
    "urn:matrix:orgXmatrixYmsc2967.client:device:ABCDEFGHIJK",
    "urn:matrix:org.matrix.msc2967.client:device:0123456789",
    "urn:matrix:client:api:foo",
    "profile",
];

fn counts() -> BoxedStrategy<Value> {
    prop_oneof![
        (0u64..14).prop_map(|t| json!({"total": t, "oauth2": t, "compat": 0, "personal": 0})),
        one_of(&[json!(null), json!({}), json!({"total": u64::MAX})]),
    ]
    .boxed()
}

fn authorization_grant_input() -> BoxedStrategy<Value> {
    let scope = proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..5)
        .prop_map(|tokens| json!(tokens.join(" ")))
        .boxed();
    let user = prop_oneof![
        Just(json!(null)),
        (
            one_of(&[json!("alice"), json!("admin"), json!(null)]),
            one_of(&[json!(true), json!(false), json!(null)]),
        )
            .prop_map(|(u, a)| json!({"username": u, "can_request_admin": a})),
    ]
    .boxed();
    object(vec![
        maybe("user", user),
        maybe("session_counts", counts()),
        maybe(
            "client",
            one_of(&[json!({"id": "01ADMIN"}), json!({"id": "01OTHER"})]).boxed(),
        ),
        maybe("scope", scope),
        maybe(
            "grant_type",
            one_of(&[
                json!("authorization_code"),
                json!("client_credentials"),
                json!("urn:ietf:params:oauth:grant-type:device_code"),
                json!("refresh_token"),
            ])
            .boxed(),
        ),
        maybe("requester", requester()),
    ])
}

fn compat_login_input() -> BoxedStrategy<Value> {
    object(vec![
        maybe("session_counts", counts()),
        maybe(
            "session_replaced",
            one_of(&[json!(true), json!(false), json!(null)]).boxed(),
        ),
        maybe(
            "login",
            one_of(&[
                json!({"type": "m.login.sso", "redirect_uri": "https://x/"}),
                json!({"type": "m.login.password"}),
                json!({"type": "m.login.token"}),
                json!({}),
            ])
            .boxed(),
        ),
        maybe("requester", requester()),
    ])
}

/// The native, opa and component instances for one data document.
type Loaded<'e> = Vec<Box<dyn LoadedPolicy + 'e>>;

fn check(entrypoint: Entrypoint, inputs: BoxedStrategy<Value>) {
    let documents = data_documents();
    let engines: Vec<Box<dyn Engine>> = vec![
        Box::new(NativeEngine),
        Box::new(OpaEngine::new(Mode::Warm).unwrap()),
        Box::new(ComponentEngine::new(Limits::default()).unwrap()),
    ];
    // `TestRunner::run` takes a `Fn`; the loaded instances are mutated through a `RefCell`.
    let loaded: RefCell<Vec<Loaded<'_>>> = RefCell::new(
        documents
            .iter()
            .map(|d| engines.iter().map(|e| e.load(d).unwrap()).collect())
            .collect(),
    );
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..documents.len(), inputs);
    let result = runner.run(&strategy, |(which, input)| {
        let mut loaded = loaded.borrow_mut();
        let mut results = loaded[which]
            .iter_mut()
            .map(|policy| policy.evaluate(entrypoint, Some(&input)));
        let want = results.next().unwrap();
        for (got, engine) in results.zip(&engines[1..]) {
            prop_assert_eq!(
                &want,
                &got,
                "native and {} disagree; as a fixture:\nentrypoint: {}\ndata: {}\ncases:\n  - name: generated\n    input: {}\n    expect: {}",
                engine.name(),
                entrypoint,
                documents[which],
                input,
                want.as_ref()
                    .map_or_else(ToString::to_string, |v| Value::Array(v.clone()).to_string())
            );
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}

#[test]
fn register_agrees() {
    check(Entrypoint::Register, register_input());
}

#[test]
fn email_agrees() {
    check(Entrypoint::Email, email_input());
}

#[test]
fn client_registration_agrees() {
    check(Entrypoint::ClientRegistration, client_registration_input());
}

#[test]
fn authorization_grant_agrees() {
    check(Entrypoint::AuthorizationGrant, authorization_grant_input());
}

#[test]
fn compat_login_agrees() {
    check(Entrypoint::CompatLogin, compat_login_input());
}
