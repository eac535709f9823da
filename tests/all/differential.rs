//! Generated inputs and data: the native rules, `policy.wasm` (through opa-wasm, warm), the
//! policy component (host runner) and the Rego twin (regorus) must agree.
//!
//! Each generated case is a policy data document with [`INPUTS_PER_DOCUMENT`] inputs. Every
//! engine loads the document once and evaluates all of its inputs, so the per-load costs (the
//! wasm instances, regorus preparing the Rego for new data) are paid once per document, not per
//! input; [`CASES`] counts (data, input) pairs.
//!
//! The strategies aim at the edges of each rule, and draw data and inputs from shared pools so
//! that data patterns actually meet the inputs:
//! - usernames around the localpart grammar and the length limit (with server names of several
//!   lengths, and multi-byte characters);
//! - emails with zero to two `@`, and domains around the globs of `allowed_domains` and
//!   `banned_domains`;
//! - URLs around the grammar: schemes, hosts that fail the host grammar, ports, paths and
//!   queries with characters in and out of the grammar, native-app schemes;
//! - scopes of every kind, including device scopes around the 10-character minimum;
//! - session counts around generated soft and hard limits and thresholds;
//! - constraint objects with every member kind, in list and object form, with regexes, and gate
//!   keys set to values that deny everyone (`null`, `{}`, …);
//! - banned IPs and CIDRs in both families, IPv4-mapped forms, host bits set, and requester IPs
//!   that do and do not parse.
//!
//! Data regexes are kept few: the Rego twin rewrites every data regex into Rust syntax once per
//! data document (`policies/rego/re2.rego`), a few milliseconds each under regorus, and every
//! generated case is a new document.
//!
//! A disagreement prints the case as a ready-to-paste fixture (see
//! [`policy_test::fixtures::as_fixture`]).
//!
//! `cargo test` runs [`CASES`] per entrypoint on every engine. A long hunt sets
//! `PROPTEST_CASES` and may leave out the slowest engine, e.g. (README, "Fuzzing at scale"):
//! `PROPTEST_CASES=1000000 DIFFERENTIAL_ENGINES=opa-warm,component cargo test --release -p
//! policy-tests --test all differential`.

use std::{cell::RefCell, collections::BTreeSet};

use policy_rules::Entrypoint;
use policy_test::{
    engine::{
        Engine, EvalError, LoadedPolicy, compare_loaded,
        component::ComponentEngine,
        native::NativeEngine,
        opa::{Mode, OpaEngine},
        rego::RegoEngine,
    },
    fixtures::{self, FIXTURE_SERVER_NAME},
    limits::Limits,
    merge,
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use serde_json::{Value, json};

/// Generated (data, input) cases per entrypoint; `PROPTEST_CASES` sets another number for a
/// longer hunt.
const CASES: u32 = 10_000;

fn cases() -> u32 {
    crate::proptest_cases(CASES)
}

/// Inputs evaluated against each generated data document.
const INPUTS_PER_DOCUMENT: usize = 10;

// ---------------------------------------------------------------------------------------------
// Small strategy helpers
// ---------------------------------------------------------------------------------------------

fn pick(values: &[Value]) -> BoxedStrategy<Value> {
    proptest::sample::select(values.to_vec()).boxed()
}

fn strs(values: &'static [&'static str]) -> BoxedStrategy<Value> {
    proptest::sample::select(values)
        .prop_map(|s| Value::String(s.to_owned()))
        .boxed()
}

fn text(pattern: &'static str) -> BoxedStrategy<Value> {
    pattern.prop_map(Value::String).boxed()
}

/// An object member that is present with probability `p`.
fn maybe(
    key: &'static str,
    p: f64,
    value: BoxedStrategy<Value>,
) -> BoxedStrategy<Option<(String, Value)>> {
    proptest::option::weighted(p, value.prop_map(move |v| (key.to_owned(), v))).boxed()
}

fn object(members: Vec<BoxedStrategy<Option<(String, Value)>>>) -> BoxedStrategy<Value> {
    members
        .prop_map(|members| Value::Object(members.into_iter().flatten().collect()))
        .boxed()
}

fn list(item: BoxedStrategy<Value>, len: std::ops::Range<usize>) -> BoxedStrategy<Value> {
    proptest::collection::vec(item, len)
        .prop_map(Value::Array)
        .boxed()
}

/// Values that are not what a key normally holds.
fn odd() -> BoxedStrategy<Value> {
    pick(&[
        json!(null),
        json!(false),
        json!(true),
        json!(0),
        json!(7),
        json!(""),
        json!([]),
        json!({}),
    ])
}

// ---------------------------------------------------------------------------------------------
// Pools shared by data and inputs
// ---------------------------------------------------------------------------------------------

const USERNAMES: &[&str] = &[
    "alice", "root", "admin", "mod1", "mod12", "staff", "Staff", "staffer", "bot", "robot",
    "a-bot", "matrix", "_x", "x-x", "1234", "é", "hello\n", "a.b", "m",
];
const USERNAME_PARTS: &[&str] = &[
    "a", "mod", "bot", "-x", "_", "x", "adm", "trix", "é", "", "1", "St",
];
const USERNAME_REGEXES: &[&str] = &[
    "^mod[0-9]+$",
    "(?i)^staff",
    r"\bbot\b",
    "^[0-9]",
    "^[a-z]+$",
    "adm",
    r"\d",
    r"^\w+$",
    "",
    "^.$",
    "[[:upper:]]",
    "x|y",
    "(?i:A)l",
    "^a{2,}",
    r"\.",
    "[^a-z0-9]",
    "(?i)é$",
];

const EMAILS: &[&str] = &[
    "a@example.com",
    "x@bad.example.com",
    "bob@example.org",
    "a@b@example.com",
    "",
    "nope",
];
const EMAIL_PARTS: &[&str] = &["@example.com", "@bad.", "bob", "a@", ".org", "", "B"];
const EMAIL_REGEXES: &[&str] = &[
    "^[a-z]",
    r"@example\.com$",
    "(?i)^BOB@",
    "^[^@]+@[^@]+$",
    r"\s",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "a.example.com",
    "b.a.example.com",
    "example.org",
    "a.test",
    "b.test",
    "c.test",
    "ab.test",
    "spam.org",
    "x.evil.net",
    "evil.net",
    "Example.com",
    "xy.com",
    "exbmple.com",
    "",
];
const DOMAIN_GLOBS: &[&str] = &[
    "*.example.com",
    "example.org",
    "{a,b}.test",
    "**.evil.net",
    "spam.org",
    "ex?mple.com",
    "[a-c].test",
    "[!a].test",
    "*",
    "**",
    r"a\.test",
    "(x)y.com",
    "xy.com$",
    "[unclosed",
    "{a,b",
    "",
    "Example.com",
    "*.*.example.com",
];

const AGENTS: &[&str] = &["Mozilla/5.0", "curl/8.0", "", "bot", "Curl/1.0 bot"];
const AGENT_PARTS: &[&str] = &["curl", "bot", "/", "Mozilla", "5.0"];
const AGENT_REGEXES: &[&str] = &["^curl/", "(?i)BOT", r"\d+\.\d+$"];

/// Valid IP addresses, also the bases of generated CIDRs.
const IPS_V4: &[&str] = &[
    "203.0.113.7",
    "192.0.2.5",
    "198.51.100.9",
    "10.1.2.3",
    "1.2.3.4",
    "0.0.0.0",
    "255.255.255.255",
];
const IPS_V6: &[&str] = &[
    "2001:db8::1",
    "2001:DB8::1",
    "::1",
    "::ffff:192.0.2.5",
    "::ffff:c000:205",
    "::192.0.2.5",
    "fe80::1",
    "::",
];

// ---------------------------------------------------------------------------------------------
// Policy data
// ---------------------------------------------------------------------------------------------

/// A constraint member: usually a list, sometimes an object (its values count) or a string
/// (which matches nothing).
fn member(item: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![
        8 => list(item.clone(), 1..3),
        1 => item.prop_map(|v| json!({"k": v})),
        1 => Just(json!("adm")),
    ]
    .boxed()
}

/// A constraint object (§5.4). Regexes are rarer than the other members (see the module doc).
fn constraint(
    words: &'static [&'static str],
    parts: &'static [&'static str],
    regexes: &'static [&'static str],
) -> BoxedStrategy<Value> {
    let literal = prop_oneof![
        6 => strs(words),
        1 => Just(json!(null)),
        1 => Just(json!(5)),
    ]
    .boxed();
    prop_oneof![
        12 => object(vec![
            maybe("literals", 0.5, member(literal)),
            maybe("substrings", 0.3, member(strs(parts))),
            maybe("prefixes", 0.3, member(strs(parts))),
            maybe("suffixes", 0.3, member(strs(parts))),
            maybe("regexes", 0.15, member(strs(regexes))),
            maybe("other", 0.05, strs(words)),
        ]),
        1 => pick(&[json!(null), json!([]), json!("alice"), json!(3)]),
    ]
    .boxed()
}

/// A gate key (§5.3): a real restriction, or a value that denies everyone (or no one).
fn gate(restriction: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![5 => restriction, 2 => odd()].boxed()
}

fn cidr() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (proptest::sample::select(IPS_V4), 0u8..=32)
            .prop_map(|(a, p)| json!(format!("{a}/{p}"))),
        3 => (proptest::sample::select(IPS_V6), 0u8..=128)
            .prop_map(|(a, p)| json!(format!("{a}/{p}"))),
        2 => strs(IPS_V4),
        2 => strs(IPS_V6),
        2 => strs(&[
            "192.0.2.0/24",
            "2001:db8::/32",
            "::ffff:198.51.100.0/120",
            "::ffff:0:0/96",
            "0.0.0.0/0",
            "::/0",
            "1.2.3.5/24",
            "::192.0.2.0/120",
        ]),
    ]
    .boxed()
}

fn session_limit() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(json!(null)),
        4 => (
            1u64..6,
            1u64..9,
            prop_oneof![
                3 => (0u64..14).prop_map(|t| json!(t)),
                1 => Just(json!(null)),
                1 => Just(json!(false)),
                1 => Just(json!("absent")),
            ],
        )
            .prop_map(|(soft, hard, threshold)| {
                let mut limit = json!({"soft_limit": soft, "hard_limit": hard});
                if threshold != json!("absent") {
                    limit["max_session_threshold"] = threshold;
                }
                limit
            }),
    ]
    .boxed()
}

fn flag() -> BoxedStrategy<Value> {
    prop_oneof![4 => Just(json!(true)), 4 => Just(json!(false)), 1 => odd()].boxed()
}

/// Tenants (extensions §1) as `(id, localpart_prefix, localpart_suffix)`. Any subset of the
/// first seven loads: equal-length pairs never overlap (`t.`/`xy`, `acme.`/`u.z.p`). The last
/// one clashes with `acme.` (both could own `acme.q.`), so a document holding both is refused
/// at load by every engine alike.
const TENANTS: &[(&str, &str, &str)] = &[
    ("acme", "acme.", ""),
    ("acme-eu", "acme.eu.", ""),
    ("t", "t.", ""),
    ("initech", "", ".in"),
    ("xy", "x", "y"),
    ("uzp", "u.z", ".p"),
    ("main", "", ""),
    ("clash", "acme", "."),
];
/// Username pieces around the tenant markers: exact markers (empty middles), markers inside
/// other markers, and near misses.
const TENANT_USERNAME_PARTS: &[&str] = &[
    "acme.", "acme.eu.", "eu.", "t.", ".in", "x", "y", "u.z", ".p", "bob", "", "Acme.", "in",
];
/// Domain globs a tenant may list; malformed ones are load errors for tenants.
const TENANT_GLOBS: &[&str] = &[
    "*.example.com",
    "example.org",
    "{a,b}.test",
    "**.evil.net",
    "*",
];
const CLIENT_IDS: &[&str] = &["01ADMIN", "01OTHER", "element-web"];

fn tenant(prefix: &'static str, suffix: &'static str) -> BoxedStrategy<Value> {
    let affix = |value: &'static str| {
        if value.is_empty() {
            proptest::option::of(Just(json!(""))).boxed()
        } else {
            Just(Some(json!(value))).boxed()
        }
    };
    (
        affix(prefix),
        affix(suffix),
        proptest::option::weighted(0.4, strs(&["active", "suspended", "suspended"])),
        proptest::option::weighted(0.4, strs(&["open", "closed"])),
        proptest::option::weighted(0.4, list(strs(TENANT_GLOBS), 0..3)),
        proptest::option::weighted(0.4, list(strs(CLIENT_IDS), 0..3)),
    )
        .prop_map(|(prefix, suffix, status, registration, domains, clients)| {
            let members = [
                ("localpart_prefix", prefix),
                ("localpart_suffix", suffix),
                ("status", status),
                ("registration", registration),
                ("email_domains", domains),
                ("allowed_clients", clients),
            ];
            Value::Object(
                members
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                    .collect(),
            )
        })
        .boxed()
}

/// `data.tenants`: a subset of [`TENANTS`], the clashing one rarely.
fn tenants() -> BoxedStrategy<Value> {
    let by_id = TENANTS
        .iter()
        .map(|&(id, prefix, suffix)| {
            let p = if id == "clash" { 0.03 } else { 0.5 };
            maybe(id, p, tenant(prefix, suffix))
        })
        .collect();
    object(vec![
        maybe("require_tenant", 0.5, pick(&[json!(true), json!(false)])),
        maybe("claim", 0.2, strs(&["tenant_id", "org"])),
        maybe("by_id", 0.95, object(by_id)),
    ])
}

/// A username built from tenant markers and filler.
fn tenant_username() -> BoxedStrategy<Value> {
    proptest::collection::vec(proptest::sample::select(TENANT_USERNAME_PARTS), 1..4)
        .prop_map(|parts| json!(parts.concat()))
        .boxed()
}

/// A `policy.data` document, before it is merged over MAS's base data. Every regex and CIDR is
/// valid, so every engine must load it.
fn policy_data() -> BoxedStrategy<Value> {
    let registration = object(vec![
        maybe(
            "banned_usernames",
            0.5,
            constraint(USERNAMES, USERNAME_PARTS, USERNAME_REGEXES),
        ),
        maybe(
            "allowed_usernames",
            0.3,
            gate(constraint(USERNAMES, USERNAME_PARTS, USERNAME_REGEXES)),
        ),
    ]);
    let emails = object(vec![
        maybe(
            "banned_addresses",
            0.4,
            constraint(EMAILS, EMAIL_PARTS, EMAIL_REGEXES),
        ),
        maybe(
            "allowed_addresses",
            0.3,
            gate(constraint(EMAILS, EMAIL_PARTS, EMAIL_REGEXES)),
        ),
    ]);
    let requester = object(vec![
        maybe(
            "banned_ips",
            0.6,
            prop_oneof![
                6 => list(cidr(), 1..4),
                1 => cidr().prop_map(|c| json!({"k": c})),
                1 => pick(&[json!(null), json!("192.0.2.0/24")]),
            ]
            .boxed(),
        ),
        maybe(
            "banned_user_agents",
            0.4,
            constraint(AGENTS, AGENT_PARTS, AGENT_REGEXES),
        ),
    ]);
    let client_registration = object(vec![
        maybe("allow_insecure_uris", 0.3, flag()),
        maybe("allow_host_mismatch", 0.3, flag()),
        maybe("allow_missing_client_uri", 0.3, flag()),
    ]);
    object(vec![
        maybe(
            "server_name",
            0.3,
            strs(&["a.io", "example.com", "matrix.example.org", "x"]),
        ),
        maybe("registration", 0.5, registration),
        maybe("emails", 0.4, emails),
        maybe("allowed_domains", 0.3, gate(list(strs(DOMAIN_GLOBS), 1..4))),
        maybe(
            "banned_domains",
            0.4,
            prop_oneof![4 => list(strs(DOMAIN_GLOBS), 1..4), 1 => odd()].boxed(),
        ),
        maybe("requester", 0.5, requester),
        maybe("session_limit", 0.6, session_limit()),
        maybe(
            "admin_users",
            0.4,
            prop_oneof![
                4 => list(
                    pick(&[
                        json!("alice"),
                        json!("admin"),
                        json!(null),
                        json!(5),
                        json!("@alice:example.com"),
                        json!("@alice:a.io"),
                        json!("@admin:x"),
                        json!("@alice:other.org"),
                        json!("@:example.com"),
                    ]),
                    1..3
                ),
                1 => Just(json!({"k": "alice"})),
                1 => Just(json!("alice")),
            ]
            .boxed(),
        ),
        maybe(
            "admin_clients",
            0.4,
            prop_oneof![
                4 => list(pick(&[json!("01ADMIN"), json!("01OTHER"), json!(null)]), 1..3),
                1 => Just(json!({"k": "01ADMIN"})),
            ]
            .boxed(),
        ),
        maybe("client_registration", 0.5, client_registration),
        maybe("tenants", 0.5, tenants()),
    ])
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

fn ip_address() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => strs(IPS_V4),
        3 => strs(IPS_V6),
        2 => strs(&[
            "192.0.2.256",
            "01.2.3.4",
            "fe80::1%eth0",
            "not an ip",
            "",
            "1.2.3",
            "::ffff:192.0.2.5/128",
        ]),
        1 => pick(&[json!(null), json!(5)]),
    ]
    .boxed()
}

fn requester() -> BoxedStrategy<Value> {
    prop_oneof![
        12 => object(vec![
            maybe("ip_address", 0.9, ip_address()),
            maybe(
                "user_agent",
                0.9,
                prop_oneof![
                    4 => strs(AGENTS),
                    1 => Just(json!(null)),
                    1 => text("[a-zA-Z/.0-9 ]{0,12}"),
                ]
                .boxed(),
            ),
        ]),
        1 => odd(),
    ]
    .boxed()
}

fn username() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => strs(USERNAMES),
        3 => text("[a-z0-9._=/+-]{0,12}"),
        2 => text("[A-Za-z0-9@:!é _.\t-]{0,10}"),
        1 => text("[0-9]{1,6}"),
        3 => tenant_username(),
        2 => text("(mod|staff|Staff|root|a|m|_|adm|bot)[a-z0-9]{0,5}(\n)?"),
        // Around the 255-code-point limit for every generated server name.
        1 => (228usize..=256).prop_map(|n| json!("a".repeat(n))),
        1 => (228usize..=256).prop_map(|n| json!(format!("{}é", "1".repeat(n - 1)))),
        1 => odd(),
    ]
    .boxed()
}

fn email() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => strs(EMAILS),
        6 => (
            text("[a-zA-Z.]{0,4}"),
            proptest::collection::vec(proptest::sample::select(DOMAINS), 0..=2),
        )
            .prop_map(|(local, domains)| {
                let mut email = local.as_str().unwrap_or_default().to_owned();
                for domain in domains {
                    email.push('@');
                    email.push_str(domain);
                }
                json!(email)
            }),
        1 => odd(),
    ]
    .boxed()
}

fn register_input() -> BoxedStrategy<Value> {
    object(vec![
        maybe(
            "registration_method",
            0.9,
            prop_oneof![
                6 => strs(&["password", "upstream-oauth2"]),
                1 => strs(&["", "other", "Password"]),
                1 => odd(),
            ]
            .boxed(),
        ),
        maybe("username", 0.9, username()),
        maybe("email", 0.6, email()),
        maybe("tenant", 0.1, strs(&["acme", "t"])),
        maybe("requester", 0.85, requester()),
    ])
}

fn email_input() -> BoxedStrategy<Value> {
    object(vec![
        maybe("email", 0.9, email()),
        maybe(
            "tenant",
            0.5,
            prop_oneof![6 => strs(&["acme", "acme-eu", "t", "initech", "main", "nobody"]), 1 => odd()]
                .boxed(),
        ),
        maybe("requester", 0.85, requester()),
    ])
}

const URL_SCHEMES: &[&str] = &[
    "https",
    "https",
    "http",
    "com.example",
    "com.example.app",
    "org.example",
    "com",
    "HTTPS",
    "ht_tp",
    "a+b.c-d",
    "1x",
];
const URL_LABELS: &[&str] = &[
    "example",
    "app",
    "com",
    "org",
    "a",
    "x-y",
    "-bad",
    "bad-",
    "Good",
    "good_host",
    "",
    "127",
    "0",
    "evil",
];
const URL_HOSTS: &[&str] = &[
    "example.com",
    "app.example.com",
    "example.org",
    "localhost",
    "127.0.0.1",
    "0.0.0.0",
    "[::1]",
    "[::2]",
    "127_0_0_1",
    "example.com.",
    "user@example.com",
    "notexample.com",
];
const URL_PATHS: &[&str] = &[
    "",
    "/",
    "/cb",
    "/a/b.c~_-",
    "/%20",
    "/a:b",
    "/a@b",
    "/a+b",
    "//x",
    "/é",
];
const URL_QUERIES: &[&str] = &["", "", "", "?x=1", "?", "?a=b#f", "?(x)", "?x y", "#f"];

/// A URL assembled from pieces in and out of the grammar of §9.2: schemes, separators with and
/// without an authority, hosts that fail the host grammar, ports, paths, queries.
fn grammar_url() -> BoxedStrategy<Value> {
    let host = prop_oneof![
        5 => proptest::collection::vec(proptest::sample::select(URL_LABELS), 1..4)
            .prop_map(|labels| labels.join(".")),
        3 => proptest::sample::select(URL_HOSTS).prop_map(str::to_owned),
    ];
    (
        proptest::sample::select(URL_SCHEMES),
        proptest::sample::select(&["://", "://", "://", ":/", ":", ":///"][..]),
        host,
        proptest::option::weighted(0.2, proptest::sample::select(&["8080", "0", "", "x"][..])),
        proptest::sample::select(URL_PATHS),
        proptest::sample::select(URL_QUERIES),
    )
        .prop_map(|(scheme, separator, host, port, path, query)| {
            let authority = if separator.ends_with("//") {
                port.map_or_else(|| host.clone(), |p| format!("{host}:{p}"))
            } else {
                String::new()
            };
            json!(format!("{scheme}{separator}{authority}{path}{query}"))
        })
        .boxed()
}

/// A well-formed web URL on a related host, so that host matching also succeeds.
fn web_url() -> BoxedStrategy<Value> {
    (
        proptest::sample::select(
            &[
                "example.com",
                "app.example.com",
                "a.app.example.com",
                "example.org",
                "notexample.com",
            ][..],
        ),
        proptest::sample::select(&["", "/", "/cb", "/a/b.c"][..]),
        proptest::sample::select(&["", "", "?x=1"][..]),
    )
        .prop_map(|(host, path, query)| json!(format!("https://{host}{path}{query}")))
        .boxed()
}

/// A URL around the grammar of §9.2.
fn url() -> BoxedStrategy<Value> {
    prop_oneof![
        5 => web_url(),
        5 => grammar_url(),
        3 => strs(&[
            "https://example.com/",
            "https://app.example.com/cb",
            "https://example.org/cb?x=1",
            "http://localhost:8080/cb",
            "http://127.0.0.1/cb",
            "http://[::1]/",
            "https://localhost/",
            "com.example.app:/cb",
            "com.example:/cb",
            "org.example.app:/cb",
            "com.example.app://cb",
            "https://Good.com/",
            "https://good_host.com/",
            "https://127_0_0_1/",
            "https:///x",
            "https:/x",
        ]),
        1 => pick(&[json!(5), json!(null), json!("")]),
    ]
    .boxed()
}

fn client_registration_input() -> BoxedStrategy<Value> {
    let grant = pick(&[
        json!("authorization_code"),
        json!("implicit"),
        json!("client_credentials"),
        json!("refresh_token"),
        json!("urn:ietf:params:oauth:grant-type:device_code"),
        json!(null),
    ]);
    let metadata = object(vec![
        maybe("client_uri", 0.8, url()),
        maybe("tos_uri", 0.3, url()),
        maybe("policy_uri", 0.3, url()),
        maybe("logo_uri", 0.3, url()),
        maybe(
            "redirect_uris",
            0.8,
            prop_oneof![
                6 => list(url(), 0..4),
                1 => url().prop_map(|u| json!({"k": u})),
                1 => url(),
                1 => odd(),
            ]
            .boxed(),
        ),
        maybe(
            "grant_types",
            0.6,
            prop_oneof![
                5 => list(grant.clone(), 0..3),
                1 => grant.prop_map(|g| json!({"k": g})),
                1 => Just(json!("authorization_code")),
                1 => odd(),
            ]
            .boxed(),
        ),
        maybe(
            "application_type",
            0.5,
            pick(&[json!("native"), json!("web"), json!(null), json!("Native")]),
        ),
        maybe(
            "token_endpoint_auth_method",
            0.5,
            pick(&[
                json!("none"),
                json!("client_secret_basic"),
                json!(null),
                json!("None"),
            ]),
        ),
    ]);
    object(vec![
        maybe("client_metadata", 0.95, metadata),
        maybe("requester", 0.5, requester()),
    ])
}

const TOKENS: &[&str] = &[
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
    "urn:matrix:client:",
    "urn:matrix:org.matrix.msc2967.client:",
    "profile",
];

fn scope_token() -> BoxedStrategy<String> {
    let device = (
        proptest::sample::select(
            &[
                "urn:matrix:client:device:",
                "urn:matrix:org.matrix.msc2967.client:device:",
                "urn:matrix:orgXmatrix.msc2967.client:device:",
            ][..],
        ),
        prop_oneof![
            4 => "[A-Za-z0-9._~!$&'()*+,;=:@/-]{8,12}",
            1 => "[A-Za-z0-9%é]{8,12}",
        ],
    )
        .prop_map(|(prefix, suffix)| format!("{prefix}{suffix}"));
    prop_oneof![
        4 => proptest::sample::select(TOKENS).prop_map(str::to_owned),
        1 => device,
    ]
    .boxed()
}

fn session_counts() -> BoxedStrategy<Value> {
    prop_oneof![
        8 => (0u64..14).prop_map(|t| json!({"total": t, "oauth2": t, "compat": 0, "personal": 0})),
        1 => pick(&[
            json!({"total": u64::MAX}),
            json!({"total": "3"}),
            json!({"total": null}),
            json!({}),
        ]),
        1 => odd(),
    ]
    .boxed()
}

fn authorization_grant_input() -> BoxedStrategy<Value> {
    let scope = prop_oneof![
        9 => proptest::collection::vec(scope_token(), 0..5).prop_map(|t| json!(t.join(" "))),
        1 => odd(),
    ]
    .boxed();
    let user = prop_oneof![
        1 => Just(json!(null)),
        4 => object(vec![
            maybe(
                "username",
                0.9,
                prop_oneof![
                    2 => pick(&[json!("alice"), json!("admin"), json!("bob"), json!(null)]),
                    2 => tenant_username(),
                ]
                .boxed(),
            ),
            maybe("can_request_admin", 0.8, flag()),
            maybe("sub", 0.5, unread()),
            maybe("locked_at", 0.5, unread()),
        ]),
    ]
    .boxed();
    object(vec![
        maybe("user", 0.9, user),
        maybe("session_counts", 0.9, session_counts()),
        maybe(
            "client",
            0.9,
            pick(&[
                json!({"id": "01ADMIN"}),
                json!({"id": "01OTHER"}),
                json!({"id": "01OTHER", "client_id": "element-web"}),
                json!({"id": "01OTHER", "redirect_uris": ["https://a/cb"], "client_name": "A"}),
                json!({"id": "01NEW", "client_id": "rogue"}),
                json!({"id": 7, "client_id": null}),
                json!({}),
                json!(null),
            ]),
        ),
        maybe("scope", 0.95, scope),
        maybe(
            "grant_type",
            0.9,
            pick(&[
                json!("authorization_code"),
                json!("client_credentials"),
                json!("urn:ietf:params:oauth:grant-type:device_code"),
                json!("refresh_token"),
                json!(null),
            ]),
        ),
        maybe("requester", 0.85, requester()),
        maybe("device_id", 0.3, unread()),
    ])
}

/// Members of MAS's input records that no rule reads: the wasm engines validate them without
/// building them (`policy_rules::input_shape`), native reads the whole input.
fn unread() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => odd(),
        1 => pick(&[json!("2026-01-01T00:00:00Z"), json!({"nested": [1, {"x": "\\u00e9"}]})]),
    ]
    .boxed()
}

fn compat_login_input() -> BoxedStrategy<Value> {
    object(vec![
        maybe(
            "user",
            0.8,
            prop_oneof![
                6 => (tenant_username(), unread()).prop_map(|(u, x)| json!({"username": u, "id": x})),
                1 => Just(json!({"username": "alice"})),
                1 => odd(),
            ]
            .boxed(),
        ),
        maybe("session_counts", 0.95, session_counts()),
        maybe(
            "session_replaced",
            0.9,
            prop_oneof![4 => Just(json!(false)), 2 => Just(json!(true)), 1 => odd()].boxed(),
        ),
        maybe(
            "login",
            0.9,
            prop_oneof![
                6 => pick(&[
                    json!({"type": "m.login.sso", "redirect_uri": "https://x/"}),
                    json!({"type": "m.login.password"}),
                    json!({"type": "m.login.token"}),
                ]),
                1 => pick(&[json!({}), json!({"type": null}), json!({"type": "M.login.sso"})]),
                1 => odd(),
            ]
            .boxed(),
        ),
        maybe("requester", 0.85, requester()),
    ])
}

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

/// The engines compared with native: `DIFFERENTIAL_ENGINES` (comma-separated, of
/// `opa-warm,component,rego`) when set, for a long hunt without the slowest, else all three.
fn engines() -> Vec<Box<dyn Engine>> {
    let wanted = std::env::var("DIFFERENTIAL_ENGINES")
        .unwrap_or_else(|_| "opa-warm,component,rego".to_owned());
    let mut engines: Vec<Box<dyn Engine>> = vec![Box::new(NativeEngine)];
    for name in wanted.split(',').map(str::trim) {
        engines.push(match name {
            "opa-warm" => Box::new(OpaEngine::new(Mode::Warm).unwrap()),
            "component" => Box::new(ComponentEngine::new(Limits::default()).unwrap()),
            "rego" => Box::new(RegoEngine::new().unwrap()),
            other => panic!("DIFFERENTIAL_ENGINES: unknown engine {other:?}"),
        });
    }
    engines
}

/// Loads `policy_data` on every engine and evaluates each input on all of them; the first
/// disagreement with native is the error, as a fixture.
fn compare(
    engines: &[Box<dyn Engine>],
    entrypoint: Entrypoint,
    policy_data: &Value,
    inputs: &[Value],
    seen: &mut BTreeSet<String>,
) -> Result<(), String> {
    let data = merge::merge(merge::base(FIXTURE_SERVER_NAME), policy_data.clone())
        .map_err(|e| format!("generated data does not merge: {e}"))?;
    let mut loaded: Vec<Result<Box<dyn LoadedPolicy + '_>, EvalError>> =
        engines.iter().map(|e| e.load(&data)).collect();
    for input in inputs {
        let compared = compare_loaded(engines, &mut loaded, entrypoint, Some(input));
        match &compared.first {
            Ok(violations) => seen.extend(violations.iter().map(|v| {
                v.get("code")
                    .or_else(|| v.get("msg"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })),
            Err(_) => {
                seen.insert("<data refused>".to_owned());
            }
        }
        if !compared.disagreeing.is_empty() {
            let names: Vec<&str> = compared.disagreeing.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "native and {} disagree; as a fixture:\n{}",
                names.join(", "),
                fixtures::as_fixture(
                    entrypoint,
                    policy_data,
                    Some(input),
                    &compared.first,
                    &compared.disagreeing
                )
            ));
        }
    }
    Ok(())
}

/// Runs the generated cases of one entrypoint on every engine. `reach` lists violation codes
/// the generators must produce at least once, so a generator that drifts away from the rules
/// fails instead of comparing empty results.
fn check(entrypoint: Entrypoint, inputs: BoxedStrategy<Value>, reach: &[&str]) {
    let engines = engines();
    let seen = RefCell::new(BTreeSet::new());
    let mut runner = TestRunner::new(Config {
        cases: cases().div_ceil(u32::try_from(INPUTS_PER_DOCUMENT).unwrap()),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        policy_data(),
        proptest::collection::vec(inputs, INPUTS_PER_DOCUMENT),
    );
    let result = runner.run(&strategy, |(policy_data, inputs)| {
        compare(
            &engines,
            entrypoint,
            &policy_data,
            &inputs,
            &mut seen.borrow_mut(),
        )
        .map_err(TestCaseError::fail)
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    let seen = seen.into_inner();
    let missing: Vec<&&str> = reach.iter().filter(|c| !seen.contains(**c)).collect();
    assert!(
        missing.is_empty(),
        "{entrypoint}: the generators never produced {missing:?}; seen: {seen:?}"
    );
}

#[test]
fn register_agrees() {
    check(
        Entrypoint::Register,
        register_input(),
        &[
            "username-too-long",
            "username-banned",
            "username-not-allowed",
            "email-domain-not-allowed",
            "tenant-unknown",
            "tenant-registration-closed",
            "tenant-suspended",
            "tenant-email-domain-not-allowed",
            "<data refused>",
        ],
    );
}

#[test]
fn email_agrees() {
    check(
        Entrypoint::Email,
        email_input(),
        &[
            "email-domain-not-allowed",
            "email-banned",
            "tenant-email-domain-not-allowed",
        ],
    );
}

#[test]
fn client_registration_agrees() {
    check(
        Entrypoint::ClientRegistration,
        client_registration_input(),
        &["missing client_uri", "invalid redirect_uri"],
    );
}

#[test]
fn authorization_grant_agrees() {
    check(
        Entrypoint::AuthorizationGrant,
        authorization_grant_input(),
        &[
            "too-many-sessions",
            "tenant-suspended",
            "client-not-allowed",
        ],
    );
}

#[test]
fn compat_login_agrees() {
    check(
        Entrypoint::CompatLogin,
        compat_login_input(),
        &["too-many-sessions", "tenant-suspended"],
    );
}

/// The printed fixture is one that `policy-test` loads and that passes on native: a failure
/// report can be pasted under `tests/cases` as it is.
#[test]
fn a_disagreement_prints_a_loadable_fixture() {
    let policy_data = json!({
        "server_name": "a.io",
        "registration": {"banned_usernames": {"regexes": ["(?i)^staff\\b"], "literals": [null, "é\n"]}},
        "requester": {"banned_ips": ["::ffff:192.0.2.0/120"]}
    });
    let input = json!({
        "registration_method": "password",
        "username": "Staff \"x\"\t\u{7}",
        "requester": {"ip_address": "192.0.2.5", "user_agent": null}
    });
    let data = merge::merge(merge::base(FIXTURE_SERVER_NAME), policy_data.clone()).unwrap();
    let native = NativeEngine
        .load(&data)
        .unwrap()
        .evaluate(Entrypoint::Register, Some(&input));
    assert!(
        native.as_ref().is_ok_and(|v| v.len() > 1),
        "the example should produce violations: {native:?}"
    );
    let other: Result<Vec<Value>, EvalError> = Ok(Vec::new());
    let text = fixtures::as_fixture(
        Entrypoint::Register,
        &policy_data,
        Some(&input),
        &native,
        &[("rego", other)],
    );
    let dir = std::env::temp_dir().join(format!("policy-generated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("generated.yaml");
    std::fs::write(&file, &text).unwrap();
    let engines: Vec<Box<dyn Engine>> = vec![Box::new(NativeEngine)];
    let report = policy_test::runner::run(std::slice::from_ref(&file), &engines, |_| {});
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report.cases.len(), 1, "{text}\n{report:?}");
    assert_eq!(report.failed(), 0, "{text}\n{report:?}");
    assert_eq!(report.cases[0].violations, native.unwrap(), "{text}");
}
