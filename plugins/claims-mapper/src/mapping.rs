//! What one login maps to, and the flow that decides it (contract §15.3–§15.4, extensions §3).
//!
//! The order follows MAS: the subject at the callback; then, on the link page, the localpart
//! (render, tenant marker, the register policy), the display name and the email. The first
//! failure is the one described, as MAS stops at it.
//!
//! Decisions where MAS's behaviour cannot be reproduced without a database or a homeserver:
//! - an existing user with the same localpart (`on_conflict`) and Synapse's availability check
//!   are not evaluated; the migration check reports collisions between users instead;
//! - `force` with an empty or failing localpart render is an `error`: MAS shows no localpart on
//!   the link page, but re-renders it as required when the form is posted, and that fails;
//! - email violations (`field: email`) only block the registration when the email is imposed
//!   (`force`/`require`): MAS shows them as a form error, and a suggested email can be
//!   unticked. That description is ours; MAS has no error page for it.
//! - the render-failure descriptions (`required attribute … rendered empty`) are ours too: MAS
//!   shows a generic error page there.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What MAS would do with the login, for the localpart the templates produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The attributes are imported as rendered (or the localpart is not imported at all,
    /// with `action: ignore`, and the user picks one).
    Accepted,
    /// A suggested localpart is dropped: the user is asked to pick another.
    SuggestionDropped,
    /// The user sees an error page and cannot register.
    Error,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 3] = [
        Outcome::Accepted,
        Outcome::SuggestionDropped,
        Outcome::Error,
    ];

    /// The name in reports: `accepted`, `suggestion-dropped`, `error`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::SuggestionDropped => "suggestion-dropped",
            Outcome::Error => "error",
        }
    }

    /// Looks an outcome up by [`Outcome::name`].
    pub fn from_name(name: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// A template change that would make the localpart pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    /// What to do, in words: `lowercase it`, `remove `@` and what follows`.
    pub hint: String,
    /// The minijinja expression to add, e.g. `| lower` or `.split("@")[0]`.
    pub expression: String,
    /// The whole rewritten localpart template, when the template is a single `{{ … }}`
    /// expression; it was rendered on these claims to check it gives [`Fix::localpart`].
    pub template: Option<String>,
    /// The final localpart the change gives, which passes the policy.
    pub localpart: String,
}

/// The result of mapping one login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// What MAS would do.
    pub outcome: Outcome,
    /// The rendered subject (the upstream account's identity).
    pub subject: Option<String>,
    /// The localpart the template renders (with the tenant markers when the template is a
    /// generated tenant template), also when the outcome says MAS would not use it.
    pub localpart: Option<String>,
    /// `@localpart:server_name`, when the data has a `server_name`.
    pub mxid: Option<String>,
    /// The rendered display name, when imported.
    pub displayname: Option<String>,
    /// The rendered email, when imported.
    pub email: Option<String>,
    /// The tenant that owns the localpart, as the policy resolves it.
    pub tenant: Option<String>,
    /// The tenant the tenant claim names, when it names one. MAS never reads the claim; when
    /// it differs from [`Mapping::tenant`], the template put the user in another tenant.
    pub claimed_tenant: Option<String>,
    /// The violations of the localpart and email: the register rules' objects exactly, in the
    /// policy's canonical order.
    pub violations: Vec<Value>,
    /// For `error`, the description MAS shows; for `suggestion-dropped`, why.
    pub description: Option<String>,
    /// A template change that would make a refused localpart pass.
    pub fix: Option<Fix>,
    /// Render failures MAS only logs (an attribute that is not required).
    pub warnings: Vec<String>,
}

impl Mapping {
    /// The violations' codes, or their `msg` when they have none.
    pub fn codes(&self) -> Vec<String> {
        self.violations.iter().map(code_or_msg).collect()
    }
}

/// A violation's code, or its `msg` when it has none.
pub fn code_or_msg(v: &Value) -> String {
    v.get("code")
        .or_else(|| v.get("msg"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
