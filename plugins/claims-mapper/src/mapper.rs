//! The mapper: a provider's templates compiled once, applied to one login at a time.
//!
//! Validation is the policy itself: the final localpart and email go through
//! [`PolicyData::evaluate`] for `register/violation` with `registration_method:
//! upstream-oauth2`, exactly what MAS evaluates on the link page, so the username rules and
//! the tenant rules are never implemented twice. The mapper adds only what the policy cannot
//! see: the tenant *claim* (missing, unknown, or naming another tenant than the localpart's).

use std::fmt;

use policy_rules::{Entrypoint, PolicyData, tenants::Tenants};
use serde_json::{Map, Value};

use crate::{
    claims::Claims,
    env::Template,
    fix,
    imports::{Action, ClaimsImports, Import},
    mapping::{Fix, Mapping, Outcome},
    tenant_template,
};

/// Why a mapper could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The `claims_imports` block is refused (MAS refuses it at start-up).
    Imports(String),
    /// The policy data is refused, with its data path.
    Data(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Imports(msg) => write!(f, "invalid claims_imports: {msg}"),
            LoadError::Data(msg) => write!(f, "invalid policy data: {msg}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A provider's `claims_imports` with the policy data, ready to map logins.
#[derive(Debug)]
pub struct Mapper {
    imports: ClaimsImports,
    unknown_keys: Vec<String>,
    subject: Template,
    localpart: Template,
    /// The operator's base template inside a generated tenant template, compiled on its own
    /// so that fix hints can tell the markers from what the base rendered.
    base: Option<Template>,
    displayname: Template,
    email: Template,
    policy: PolicyData,
}

/// MAS's default templates.
const DEFAULT_SUBJECT: &str = "{{ user.sub }}";
pub(crate) const DEFAULT_LOCALPART: &str = "{{ user.preferred_username }}";
const DEFAULT_DISPLAYNAME: &str = "{{ user.name }}";
const DEFAULT_EMAIL: &str = "{{ user.email }}";

/// A template's result, as MAS distinguishes it.
enum Rendered {
    Text(String),
    Empty,
    Failed(String),
}

/// The outcome as it builds up: the first failure wins, as MAS stops there.
#[derive(Default)]
struct Verdict {
    error: Option<String>,
    dropped: Option<String>,
    warnings: Vec<String>,
}

impl Verdict {
    fn fail(&mut self, description: String) {
        self.error.get_or_insert(description);
    }

    fn drop_suggestion(&mut self, why: String) {
        self.dropped.get_or_insert(why);
    }
}

fn field_is(v: &Value, field: &str) -> bool {
    v.get("field").and_then(Value::as_str) == Some(field)
}

/// The `msg`s of `violations` joined as MAS joins them.
fn msgs<'v>(violations: impl Iterator<Item = &'v Value>) -> String {
    violations
        .filter_map(|v| v.get("msg").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Mapper {
    /// Reads `claims_imports` and compiles `data` (the policy data as MAS assembles it,
    /// `server_name` included).
    ///
    /// # Errors
    ///
    /// A `claims_imports` block MAS would refuse, or data the policy refuses.
    pub fn load(imports: &Value, data: &Value) -> Result<Mapper, LoadError> {
        let (imports, unknown_keys) =
            ClaimsImports::parse(imports).map_err(|e| LoadError::Imports(e.to_string()))?;
        let policy = PolicyData::compile(Some(data)).map_err(|e| LoadError::Data(e.to_string()))?;
        let template =
            |t: &Option<String>, default: &str| Template::new(t.as_deref().unwrap_or(default));
        let localpart = template(&imports.localpart.template, DEFAULT_LOCALPART);
        let base = tenant_template::base_of(localpart.source()).map(Template::new);
        Ok(Mapper {
            subject: template(&imports.subject, DEFAULT_SUBJECT),
            localpart,
            base,
            displayname: template(&imports.displayname.template, DEFAULT_DISPLAYNAME),
            email: template(&imports.email.template, DEFAULT_EMAIL),
            imports,
            unknown_keys,
            policy,
        })
    }

    /// The `claims_imports` keys MAS ignores, by path (`claims_imports.tenant_id`).
    pub fn unknown_keys(&self) -> &[String] {
        &self.unknown_keys
    }

    /// The parsed `claims_imports`.
    pub fn imports(&self) -> &ClaimsImports {
        &self.imports
    }

    /// `data.server_name`.
    pub fn server_name(&self) -> Option<&str> {
        self.policy.server_name()
    }

    /// `data.tenants`.
    pub fn tenants(&self) -> &Tenants {
        self.policy.tenants()
    }

    /// Maps one login: renders exactly the configured templates, as MAS does, and checks the
    /// localpart and email with the policy. Nothing is added to the rendered localpart: the
    /// tenant markers come from the template itself ([`crate::tenant_template`]).
    pub fn map(&self, claims: &Claims) -> Mapping {
        let user = claims.user();
        let ctx = claims.context(user.as_deref());
        let mut verdict = Verdict::default();

        let subject = match render(&self.subject, &ctx) {
            Rendered::Text(s) => Some(s),
            Rendered::Empty => {
                verdict.fail("the subject template rendered an empty string".to_owned());
                None
            }
            Rendered::Failed(e) => {
                verdict.fail(format!("the subject template failed to render: {e}"));
                None
            }
        };

        let localpart = attribute_if(
            "localpart",
            &self.imports.localpart,
            &self.localpart,
            &ctx,
            &mut verdict,
        );
        let displayname = attribute_if(
            "displayname",
            &self.imports.displayname,
            &self.displayname,
            &ctx,
            &mut verdict,
        );
        let email = attribute_if(
            "email",
            &self.imports.email,
            &self.email,
            &ctx,
            &mut verdict,
        );

        let mut violations = Vec::new();
        let mut fix = None;
        if let Some(localpart) = &localpart {
            violations = self.check(localpart, email.as_deref());
            fix = self.judge(localpart, email.as_deref(), &ctx, &violations, &mut verdict);
        }

        let tenant = localpart
            .as_deref()
            .and_then(|l| self.tenants().resolve(l))
            .map(|t| t.id.clone());
        let claimed_tenant = self.tenant_claim(user.as_deref(), &mut verdict);
        if let (Some(claimed), Some(localpart)) = (&claimed_tenant, &localpart)
            && tenant.as_ref() != Some(claimed)
        {
            verdict.warnings.push(format!(
                "the tenant claim names {claimed}, but {localpart:?} belongs to {}",
                tenant
                    .as_deref()
                    .map_or_else(|| "no tenant".to_owned(), |t| format!("tenant {t}"))
            ));
        }
        let mxid = localpart
            .as_ref()
            .zip(self.server_name())
            .map(|(l, s)| policy_rules::mxid::format(l, s));
        let (outcome, description) = match (verdict.error, verdict.dropped) {
            (Some(e), _) => (Outcome::Error, Some(e)),
            (None, Some(d)) => (Outcome::SuggestionDropped, Some(d)),
            (None, None) => (Outcome::Accepted, None),
        };
        Mapping {
            outcome,
            subject,
            localpart,
            mxid,
            displayname,
            email,
            tenant,
            claimed_tenant,
            violations,
            description,
            fix,
            warnings: verdict.warnings,
        }
    }

    /// MAS's action semantics on the policy's answer (contract §15.4 step 3): a refused
    /// localpart is an error page when imposed and dropped when suggested; a refused email
    /// blocks the form when imposed. Returns the fix hint for a refused localpart.
    fn judge(
        &self,
        localpart: &str,
        email: Option<&str>,
        ctx: &minijinja::Value,
        violations: &[Value],
        verdict: &mut Verdict,
    ) -> Option<Fix> {
        let (refused, others): (Vec<&Value>, Vec<&Value>) =
            violations.iter().partition(|v| field_is(v, "username"));
        let fix = if refused.is_empty() {
            None
        } else {
            let msgs = msgs(refused.into_iter());
            if self.imports.localpart.action.imposes() {
                verdict.fail(format!(
                    "Upstream account provider returned {localpart:?} as username, which does not pass the policy check: {msgs}"
                ));
            } else {
                verdict.drop_suggestion(format!(
                    "the suggested localpart {localpart:?} does not pass the policy check: {msgs}"
                ));
            }
            fix::suggest(self, localpart, email, ctx, violations)
        };
        // Checked when the form is posted, after the link page's localpart check.
        if !others.is_empty() && self.imports.email.action.imposes() {
            verdict.fail(format!(
                "the registration form refuses the email: {}",
                msgs(others.into_iter())
            ));
        }
        fix
    }

    /// The register policy's violations for one candidate localpart, as MAS evaluates them
    /// on the link page (`registration_method: upstream-oauth2`).
    pub(crate) fn check(&self, localpart: &str, email: Option<&str>) -> Vec<Value> {
        let mut input = Map::new();
        input.insert("username".to_owned(), Value::from(localpart));
        if let Some(email) = email {
            input.insert("email".to_owned(), Value::from(email));
        }
        input.insert(
            "registration_method".to_owned(),
            Value::from("upstream-oauth2"),
        );
        self.policy
            .evaluate(Entrypoint::Register, Some(&Value::Object(input)))
    }

    /// The tenant the tenant claim names, for the report only: MAS never reads the claim
    /// itself, the localpart template does. A claim naming no tenant is a warning.
    fn tenant_claim(
        &self,
        user: Option<&Map<String, Value>>,
        verdict: &mut Verdict,
    ) -> Option<String> {
        let tenants = self.tenants();
        if tenants.is_empty() {
            return None;
        }
        let name = tenants.claim();
        match user.and_then(|u| u.get(name)) {
            Some(Value::String(id)) if tenants.get(id).is_some() => Some(id.clone()),
            Some(Value::String(id)) => {
                verdict
                    .warnings
                    .push(format!("the tenant claim {name} names no tenant: {id}"));
                None
            }
            Some(other) => {
                verdict
                    .warnings
                    .push(format!("the tenant claim {name} is not a string: {other}"));
                None
            }
            None => {
                verdict
                    .warnings
                    .push(format!("the tenant claim {name} is missing"));
                None
            }
        }
    }

    /// The template the operator wrote: the base inside a generated tenant template, else
    /// the localpart template itself. Fix hints rewrite this one.
    pub(crate) fn base_template(&self) -> &Template {
        self.base.as_ref().unwrap_or(&self.localpart)
    }
}

fn attribute_if(
    name: &str,
    import: &Import,
    template: &Template,
    ctx: &minijinja::Value,
    verdict: &mut Verdict,
) -> Option<String> {
    match import.action {
        Action::Ignore => None,
        action => attribute(name, action, template, ctx, verdict),
    }
}

/// Renders an imported attribute. The localpart is required under `force` as well (MAS
/// re-renders it as required when the form is posted); other attributes only under
/// `require`.
fn attribute(
    name: &str,
    action: Action,
    template: &Template,
    ctx: &minijinja::Value,
    verdict: &mut Verdict,
) -> Option<String> {
    let required = action == Action::Require || (name == "localpart" && action.imposes());
    match render(template, ctx) {
        Rendered::Text(s) => Some(s),
        Rendered::Empty if required => {
            verdict.fail(format!("required attribute {name} rendered empty"));
            None
        }
        Rendered::Empty => {
            if name == "localpart" {
                verdict
                    .drop_suggestion("the localpart template rendered an empty string".to_owned());
            }
            None
        }
        Rendered::Failed(e) if required => {
            verdict.fail(format!("required attribute {name} failed to render: {e}"));
            None
        }
        Rendered::Failed(e) => {
            verdict
                .warnings
                .push(format!("the {name} template failed to render: {e}"));
            if name == "localpart" {
                verdict.drop_suggestion(format!("the localpart template failed to render: {e}"));
            }
            None
        }
    }
}

fn render(template: &Template, ctx: &minijinja::Value) -> Rendered {
    match template.render(ctx) {
        Ok(s) if s.is_empty() => Rendered::Empty,
        Ok(s) => Rendered::Text(s),
        Err(e) => Rendered::Failed(e),
    }
}
