//! `client_registration/violation` (contract §9), with decisions D1 and D2.

use serde_json::Value;

use crate::{
    data::PolicyData,
    input_shape::Shape,
    url::{self, ParsedUrl},
    value::{as_str, count, get, iter, truthy},
    violation::{Violation, Violations},
};

/// What the rules below read of the input: the client metadata, whole.
pub const INPUT: Shape = Shape::Members(&[("client_metadata", Shape::Whole)]);

const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// `first(items, len(reference)) == reference`: `reference` is a prefix of `items`.
fn starts_with_labels<'a>(
    mut items: impl Iterator<Item = &'a str>,
    reference: impl Iterator<Item = &'a str>,
) -> bool {
    reference.into_iter().all(|r| items.next() == Some(r))
}

/// `is_subdomain(h, s)`: the reversed labels of `h` prefix the reversed labels of `s`, that is
/// `s` is `h` or ends with `.` and `h`.
fn is_subdomain(host: &str, sub: &str) -> bool {
    sub.strip_suffix(host)
        .is_some_and(|head| head.is_empty() || head.ends_with('.'))
}

/// `rdns_match(h, scheme)`: the scheme's first labels are the host's labels reversed.
fn rdns_match(host: &str, scheme: &str) -> bool {
    starts_with_labels(scheme.split('.'), host.rsplit('.'))
}

struct Metadata<'a> {
    data: &'a PolicyData,
    md: Option<&'a Value>,
    client_uri: Option<ParsedUrl<'a>>,
}

impl<'a> Metadata<'a> {
    fn field(&self, key: &str) -> Option<&'a Value> {
        get(self.md, key)
    }

    fn parse(v: &Value) -> Option<ParsedUrl<'_>> {
        v.as_str().and_then(url::parse)
    }

    // Each URI is parsed once by the caller; `None` is a URI that is not a string or does not
    // parse.

    fn secure(&self, u: Option<ParsedUrl<'_>>) -> bool {
        self.data.allow_insecure_uris
            || u.is_some_and(|u| {
                u.scheme == "https"
                    && !matches!(u.host, "localhost" | "127.0.0.1" | "0.0.0.0" | "[::1]")
            })
    }

    fn host_ok(&self, u: Option<ParsedUrl<'_>>) -> bool {
        self.data.allow_host_mismatch
            || (self.data.allow_missing_client_uri && !truthy(self.field("client_uri")))
            || match (&self.client_uri, u) {
                (Some(c), Some(u)) => is_subdomain(c.host, u.host),
                _ => false,
            }
    }

    fn native_ok(&self, u: Option<ParsedUrl<'_>>) -> bool {
        let Some(u) = u else {
            return false;
        };
        if u.scheme == "http" {
            return LOOPBACK_HOSTS.contains(&u.host);
        }
        u.scheme != "https"
            && u.authority.is_empty()
            && self
                .client_uri
                .as_ref()
                .is_some_and(|c| rdns_match(c.host, u.scheme))
    }

    fn redirect_ok(&self, x: &Value) -> bool {
        let u = Self::parse(x);
        (as_str(self.field("application_type")) == Some("native") && self.native_ok(u))
            || (self.secure(u) && self.host_ok(u))
    }

    fn uses(&self, grant: &str) -> bool {
        let grants = self.field("grant_types");
        iter(grants).any(|g| g.as_str() == Some(grant))
            || (grant == "authorization_code" && !truthy(grants))
    }
}

/// The checks of an informational URI: (key, "invalid" message, "not on the same host" message).
const INFO_URIS: [(&str, &str, &str); 3] = [
    (
        "tos_uri",
        "invalid tos_uri",
        "tos_uri not on the same host as the client_uri",
    ),
    (
        "policy_uri",
        "invalid policy_uri",
        "policy_uri not on the same host as the client_uri",
    ),
    (
        "logo_uri",
        "invalid logo_uri",
        "logo_uri not on the same host as the client_uri",
    ),
];

/// Evaluates `client_registration/violation`.
pub fn evaluate(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    let md = get(input, "client_metadata");
    let client_uri = get(md, "client_uri");
    let m = Metadata {
        data,
        md,
        client_uri: client_uri.and_then(Metadata::parse),
    };

    out.push_if(
        !data.allow_missing_client_uri && !truthy(client_uri),
        || Violation::msg("missing client_uri"),
    );
    out.push_if(client_uri.is_some() && !m.secure(m.client_uri), || {
        Violation::msg("invalid client_uri")
    });
    for (key, invalid, other_host) in INFO_URIS {
        if let Some(x) = m.field(key) {
            let u = Metadata::parse(x);
            out.push_if(!m.secure(u), || Violation::msg(invalid));
            out.push_if(!m.host_ok(u), || Violation::msg(other_host));
        }
    }
    out.push_if(
        m.uses("client_credentials")
            && as_str(m.field("token_endpoint_auth_method")) == Some("none"),
        || {
            Violation::msg(
                "client_credentials grant_type requires some form of client authentication",
            )
        },
    );

    let redirects = m.field("redirect_uris");
    let needs_redirects = m.uses("authorization_code") || m.uses("implicit");
    out.push_if(needs_redirects && !truthy(redirects), || {
        Violation::msg("missing redirect_uris")
    });
    out.push_if(redirects.is_some_and(|r| !r.is_array()), || {
        Violation::msg("invalid redirect_uris: it must be an array")
    });
    out.push_if(needs_redirects && count(redirects) == Some(0), || {
        Violation::msg("invalid redirect_uris: it must have at least one redirect_uri")
    });
    for x in iter(redirects) {
        out.push_if(!m.redirect_ok(x), || {
            Violation::msg("invalid redirect_uri").with("redirect_uri", x.clone())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_and_rdns_examples() {
        assert!(is_subdomain("example.com", "app.example.com"));
        assert!(is_subdomain("example.com", "example.com"));
        assert!(!is_subdomain("app.example.com", "example.com"));
        assert!(!is_subdomain("example.com", "notexample.com"));
        assert!(rdns_match("example.com", "com.example"));
        assert!(rdns_match("example.com", "com.example.app"));
        assert!(!rdns_match("example.com", "com"));
        assert!(!rdns_match("example.com", "org.example.app"));
    }

    proptest::proptest! {
        /// The suffix test is the contract's label comparison.
        #[test]
        fn subdomain_is_a_suffix_of_labels(host in "[ab.]{0,6}", sub in "[ab.]{0,8}") {
            proptest::prop_assert_eq!(
                is_subdomain(&host, &sub),
                starts_with_labels(sub.rsplit('.'), host.rsplit('.'))
            );
        }
    }
}
