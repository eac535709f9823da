//! The upstream claims of one login, and the template context MAS builds from them
//! (contract §15.2).

use std::{borrow::Cow, fmt};

use minijinja::Value as Jinja;
use serde_json::{Map, Value};

/// What an upstream login hands MAS: each set of claims is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    /// The ID token's claims.
    pub id_token_claims: Option<Map<String, Value>>,
    /// The userinfo endpoint's claims, when the provider fetches userinfo.
    pub userinfo_claims: Option<Map<String, Value>>,
    /// Callback parameters other than `state`, `code`, `error`, `error_description` and
    /// `error_uri` (Apple sends `user` there).
    pub extra_callback_parameters: Option<Map<String, Value>>,
}

/// Why a claims document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsError(String);

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClaimsError {}

impl Claims {
    /// The three keys a claims document may have.
    pub const KEYS: [&'static str; 3] = [
        "id_token_claims",
        "userinfo_claims",
        "extra_callback_parameters",
    ];

    /// Reads `{"id_token_claims": {…}, "userinfo_claims": {…}, "extra_callback_parameters":
    /// {…}}`; every key is optional.
    ///
    /// # Errors
    ///
    /// When the document is not an object, has another key, or a set is not an object.
    pub fn from_json(v: &Value) -> Result<Claims, ClaimsError> {
        let Value::Object(doc) = v else {
            return Err(ClaimsError(
                "claims: expected an object with id_token_claims, userinfo_claims or extra_callback_parameters".to_owned(),
            ));
        };
        if let Some(key) = doc.keys().find(|k| !Self::KEYS.contains(&k.as_str())) {
            return Err(ClaimsError(format!(
                "claims: unknown key `{key}`; expected id_token_claims, userinfo_claims or extra_callback_parameters"
            )));
        }
        let set = |key: &str| match doc.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(ClaimsError(format!("claims.{key}: expected an object"))),
        };
        Ok(Claims {
            id_token_claims: set("id_token_claims")?,
            userinfo_claims: set("userinfo_claims")?,
            extra_callback_parameters: set("extra_callback_parameters")?,
        })
    }

    /// The claims document [`Claims::from_json`] reads.
    pub fn to_json(&self) -> Value {
        let mut doc = Map::new();
        for (key, set) in [
            ("id_token_claims", &self.id_token_claims),
            ("userinfo_claims", &self.userinfo_claims),
            ("extra_callback_parameters", &self.extra_callback_parameters),
        ] {
            if let Some(set) = set {
                doc.insert(key.to_owned(), Value::Object(set.clone()));
            }
        }
        Value::Object(doc)
    }

    /// `user`: the userinfo claims overlaid by the ID-token claims (the ID token wins), or
    /// `None` when neither set exists. Borrowed when only one set exists, which is the
    /// common case and saves a copy per login.
    pub fn user(&self) -> Option<Cow<'_, Map<String, Value>>> {
        match (&self.id_token_claims, &self.userinfo_claims) {
            (None, None) => None,
            (Some(only), None) | (None, Some(only)) => Some(Cow::Borrowed(only)),
            (Some(id_token), Some(userinfo)) => {
                let mut user = userinfo.clone();
                for (k, v) in id_token {
                    user.insert(k.clone(), v.clone());
                }
                Some(Cow::Owned(user))
            }
        }
    }

    /// The template context: `user`, `id_token_claims`, `userinfo_claims` and
    /// `extra_callback_parameters`, each only when it exists.
    pub fn context(&self, user: Option<&Map<String, Value>>) -> Jinja {
        let id_token = self.id_token_claims.as_ref().map(Jinja::from_serialize);
        // `user` is the ID token's claims themselves when there is no userinfo: convert once.
        let user = user.map(|u| match (&id_token, &self.id_token_claims) {
            (Some(converted), Some(claims)) if std::ptr::eq(u, claims) => converted.clone(),
            _ => Jinja::from_serialize(u),
        });
        let entries = [
            ("user", user),
            ("id_token_claims", id_token),
            (
                "userinfo_claims",
                self.userinfo_claims.as_ref().map(Jinja::from_serialize),
            ),
            (
                "extra_callback_parameters",
                self.extra_callback_parameters
                    .as_ref()
                    .map(Jinja::from_serialize),
            ),
        ];
        entries
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_id_token_wins_over_userinfo() {
        let claims = Claims::from_json(&json!({
            "id_token_claims": {"sub": "1", "name": "From ID token"},
            "userinfo_claims": {"name": "From userinfo", "email": "a@b.c"},
        }))
        .unwrap();
        assert_eq!(
            Value::Object(claims.user().unwrap().into_owned()),
            json!({"sub": "1", "name": "From ID token", "email": "a@b.c"})
        );
        assert_eq!(Claims::default().user(), None);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        assert_eq!(
            Claims::from_json(&json!({"id_token": {}}))
                .unwrap_err()
                .to_string(),
            "claims: unknown key `id_token`; expected id_token_claims, userinfo_claims or extra_callback_parameters"
        );
    }
}
