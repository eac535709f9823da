//! The URL grammar of `client_registration` (contract §9.2), hand-written.
//!
//! Upstream matches one large regex. Compiling it per evaluation would dominate the cost of a
//! request, and a static cache is not allowed in `policy.wasm` (the host rewinds the heap), so
//! the grammar is parsed by hand. Each part of the regex is deterministic once the characters
//! that may follow it are known, except the host alternatives, which are tried in the regex's
//! priority order. A test checks this parser against the regex on generated URLs.

/// The positional groups of a successful parse; a group that took no part is `""`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedUrl<'a> {
    /// Group 1.
    pub scheme: &'a str,
    /// Group 2: host plus an optional `:port`.
    pub authority: &'a str,
    /// Group 3.
    pub host: &'a str,
    /// Group 4.
    pub port: &'a str,
    /// Group 5.
    pub path: &'a str,
    /// Group 6.
    pub query: &'a str,
}

// Every character class of the grammar is ASCII, so the parser reads bytes: no byte of a
// multi-byte character belongs to a class, exactly as the character itself does not.

fn is_scheme_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'-')
}

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'~' | b'-')
}

fn is_query_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-()@:%_+.~#?&/=".contains(&b)
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// The length of the longest prefix of `s` whose bytes are all in `class`.
fn run(s: &str, class: impl Fn(u8) -> bool) -> usize {
    s.bytes().position(|b| !class(b)).unwrap_or(s.len())
}

/// Parses `(?:path)?(?:query)?$` and returns (path, query).
fn path_and_query(rest: &str) -> Option<(&str, &str)> {
    let path_len = if rest.starts_with('/') {
        run(rest, is_path_char)
    } else {
        0
    };
    let (path, after) = rest.split_at(path_len);
    if after.is_empty() {
        return Some((path, ""));
    }
    if after.starts_with('?') && after.bytes().skip(1).all(is_query_char) {
        return Some((path, after));
    }
    None
}

/// `(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])` labels joined by dots, over the whole of `host`.
fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.as_bytes().split(|&b| b == b'.').all(|label| {
            matches!((label.first(), label.last()), (Some(&first), Some(&last))
                if first != b'-' && last != b'-')
                && label.iter().all(|&b| is_label_char(b) || b == b'-')
        })
}

/// `127.0.0.1` or `0.0.0.0` with each unescaped dot matching any character but `\n`.
fn dotted_literal_len(s: &str, literal: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    for expected in literal.chars() {
        let (_, c) = chars.next()?;
        if expected == '.' {
            if c == '\n' {
                return None;
            }
        } else if c != expected {
            return None;
        }
    }
    Some(chars.next().map_or(s.len(), |(i, _)| i))
}

/// Tries `host(:port)?` followed by path and query, for one host candidate of `len` bytes.
fn with_host<'a>(
    scheme: &'a str,
    after_slashes: &'a str,
    host_len: usize,
) -> Option<ParsedUrl<'a>> {
    let (host, rest) = after_slashes.split_at(host_len);
    if let Some(port_and_rest) = rest.strip_prefix(':') {
        let port_len = run(port_and_rest, |b| b.is_ascii_digit());
        if port_len > 0 {
            let (port, rest) = port_and_rest.split_at(port_len);
            if let Some((path, query)) = path_and_query(rest) {
                return Some(ParsedUrl {
                    scheme,
                    authority: &after_slashes[..host_len + 1 + port_len],
                    host,
                    port,
                    path,
                    query,
                });
            }
        }
    }
    let (path, query) = path_and_query(rest)?;
    Some(ParsedUrl {
        scheme,
        authority: host,
        host,
        port: "",
        path,
        query,
    })
}

/// Parses `x` with the contract's URL grammar, including decision D2.
pub fn parse(x: &str) -> Option<ParsedUrl<'_>> {
    // The scheme runs up to the first `:`, which is not a scheme character.
    let colon = run(x, is_scheme_char);
    if x.as_bytes().get(colon) != Some(&b':') || !x.as_bytes()[0].is_ascii_lowercase() {
        return None;
    }
    let scheme = &x[..colon];
    let rest = &x[colon + 1..];
    if let Some(after) = rest.strip_prefix("//") {
        // The host alternatives in the regex's priority order, each tried only if the one
        // before it fails.
        let name = run(after, |b| is_label_char(b) || b == b'.' || b == b'-');
        let candidates: [&dyn Fn() -> Option<usize>; 4] = [
            &|| is_hostname(&after[..name]).then_some(name),
            &|| dotted_literal_len(after, "127.0.0.1"),
            &|| dotted_literal_len(after, "0.0.0.0"),
            &|| after.starts_with("[::1]").then_some(5),
        ];
        if let Some(parsed) = candidates
            .iter()
            .find_map(|len| with_host(scheme, after, len()?))
        {
            return Some(parsed);
        }
    }
    let (path, query) = path_and_query(rest)?;
    // D2: the authority failed the host grammar and the path absorbed it.
    if path.starts_with("//") {
        return None;
    }
    Some(ParsedUrl {
        scheme,
        authority: "",
        host: "",
        port: "",
        path,
        query,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PATTERN: &str = r"^(?P<scheme>[a-z][a-z0-9+.-]*):(?://(?P<host>((?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])|127.0.0.1|0.0.0.0|\[::1\])(?::(?P<port>[0-9]+))?))?(?P<path>/[A-Za-z0-9/._~-]*)?(?P<query>\?[-a-zA-Z0-9()@:%_+.~#?&/=]*)?$";

    /// The contract's regex with D2 applied, as the oracle.
    fn oracle(x: &str) -> Option<[String; 6]> {
        let re = regex::Regex::new(PATTERN).unwrap();
        let caps = re.captures(x)?;
        let group = |i| caps.get(i).map_or("", |m| m.as_str()).to_owned();
        let groups = [group(1), group(2), group(3), group(4), group(5), group(6)];
        if groups[1].is_empty() && groups[4].starts_with("//") {
            return None;
        }
        Some(groups)
    }

    fn ours(x: &str) -> Option<[String; 6]> {
        parse(x)
            .map(|u| [u.scheme, u.authority, u.host, u.port, u.path, u.query].map(str::to_owned))
    }

    #[test]
    fn contract_lists() {
        for ok in [
            "https://example.com?q=v",
            "https://example.com/cb?x#f",
            "com.example.app:/cb",
            "com.example.app://cb",
            "https://127_0_0_1/",
            "https:/x",
            "http://[::1]:8080/cb",
        ] {
            assert!(parse(ok).is_some(), "{ok} must parse");
            assert_eq!(ours(ok), oracle(ok), "{ok}");
        }
        assert_eq!(parse("com.example.app://cb").unwrap().authority, "cb");
        assert_eq!(parse("https://127_0_0_1/").unwrap().host, "127_0_0_1");
        for bad in [
            "https://user@example.com/",
            "https://example.com/#frag",
            "https://example.com/a%20b",
            "https://example.com/a:b",
            "https://example.com/a@b",
            "https://example.com/a+b",
            "https://[fe80::1]/",
            "https://Good.com/",
            "https://good_host.com/",
            "https://example.com./",
            "https:///x",
            "hello\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} must not parse");
        }
    }

    fn url_strategy() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("https://".to_owned()),
            Just("http:".to_owned()),
            Just("//".to_owned()),
            Just("127.0.0.1".to_owned()),
            Just("0.0.0.0".to_owned()),
            Just("[::1]".to_owned()),
            Just("localhost".to_owned()),
            Just(":8080".to_owned()),
            Just("?a=b".to_owned()),
            "[a-zA-Z0-9._~:/?#@%+=&()\\[\\]\n -]{0,6}",
            "[a-z0-9.-]{1,8}",
        ];
        proptest::collection::vec(piece, 1..6).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn agrees_with_the_regex(x in url_strategy()) {
            prop_assert_eq!(ours(&x), oracle(&x), "{:?}", x);
        }
    }
}
