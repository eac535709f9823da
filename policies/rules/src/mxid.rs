//! Matrix user IDs (`@localpart:server_name`): building them, and the admin-user entries that
//! may use them (extensions §2).
//!
//! Upstream MAS compares `data.admin_users` entries with the bare username only, so an entry
//! written as a full MXID silently never matches. This project also accepts
//! `@localpart:server_name`, but only for this homeserver's `server_name`: an MXID on another
//! server can never name a local user.

use serde_json::Value;

use crate::value::eq;

/// Splits `@localpart:server` at the first `:`; the server part may hold a port.
pub fn split(mxid: &str) -> Option<(&str, &str)> {
    mxid.strip_prefix('@')?.split_once(':')
}

/// `@localpart:server_name`.
pub fn format(localpart: &str, server_name: &str) -> String {
    format!("@{localpart}:{server_name}")
}

/// One `data.admin_users` entry, prepared at load.
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// The entry as written; it matches an equal username, exactly as upstream.
    entry: Value,
    /// The localpart of an MXID entry on this server.
    local: Option<Value>,
}

impl AdminUser {
    /// Prepares an entry; `server_name` is `data.server_name`.
    pub fn new(entry: &Value, server_name: Option<&str>) -> Self {
        let local = entry
            .as_str()
            .and_then(split)
            .filter(|(_, server)| Some(*server) == server_name)
            .map(|(localpart, _)| Value::from(localpart));
        AdminUser {
            entry: entry.clone(),
            local,
        }
    }

    /// True when this entry names the user whose username is `username`.
    pub fn matches(&self, username: Option<&Value>) -> bool {
        eq(username, &self.entry) || self.local.as_ref().is_some_and(|l| eq(username, l))
    }

    /// The server of an MXID entry naming another homeserver: such an entry never matches, and
    /// `policy-test lint` warns about it.
    pub fn foreign_server<'a>(entry: &'a Value, server_name: Option<&str>) -> Option<&'a str> {
        let (_, server) = entry.as_str().and_then(split)?;
        (Some(server) != server_name).then_some(server)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mxid_entries_match_only_on_this_server() {
        let here = AdminUser::new(&json!("@alice:example.com"), Some("example.com"));
        assert!(here.matches(Some(&json!("alice"))));
        assert!(!here.matches(Some(&json!("bob"))));
        let there = AdminUser::new(&json!("@alice:other.org"), Some("example.com"));
        assert!(!there.matches(Some(&json!("alice"))));
        let no_server = AdminUser::new(&json!("@alice:example.com"), None);
        assert!(!no_server.matches(Some(&json!("alice"))));
        let port = AdminUser::new(&json!("@alice:example.com:8448"), Some("example.com:8448"));
        assert!(port.matches(Some(&json!("alice"))));
    }

    #[test]
    fn plain_entries_keep_upstream_equality() {
        assert!(AdminUser::new(&json!("alice"), None).matches(Some(&json!("alice"))));
        assert!(AdminUser::new(&json!(1), None).matches(Some(&json!(1.0))));
        assert!(!AdminUser::new(&json!("alice"), None).matches(None));
        assert_eq!(
            AdminUser::foreign_server(&json!("@a:b.org"), Some("c.org")),
            Some("b.org")
        );
        assert_eq!(
            AdminUser::foreign_server(&json!("@a:c.org"), Some("c.org")),
            None
        );
    }
}
