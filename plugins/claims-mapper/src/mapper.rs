//! The mapper: a provider's templates compiled once, applied to one login at a time.
//!
//! Validation is the policy itself: the final localpart and email go through
//! [`PolicyData::evaluate`] for `register/violation` with `registration_method:
//! upstream-oauth2`, exactly what MAS evaluates on the link page, so the username rules and
//! the tenant rules are never implemented twice. The mapper adds only what the policy cannot
//! see: the tenant *claim* (missing, unknown, or naming another tenant than the localpart's).

use std::fmt;

use policy_rules::{
    Entrypoint, PolicyData,
    tenants::{Tenant, Tenants},
    value::compare,
};
use serde_json::{Map, Value, json};

use crate::{
    claims::Claims,
    env::Template,
    fix,
    imports::{Action, ClaimsImports, Import},
    mapping::{Fix, Mapping, Outcome},
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
    displayname: Template,
    email: Template,
    policy: PolicyData,
}

/// MAS's default templates.
const DEFAULT_SUBJECT: &str = "{{ user.sub }}";
const DEFAULT_LOCALPART: &str = "{{ user.preferred_username }}";
const DEFAULT_DISPLAYNAME: &str = "{{ user.name }}";
const DEFAULT_EMAIL: &str = "{{ user.email }}";

/// A template's result, as MAS distinguishes it.
enum Rendered {
    Text(String),
    Empty,
    Failed(String),
}

/// What the tenant claim says.
enum TenantClaim<'t> {
    /// No tenants are configured: the claim means nothing.
    Unused,
    Found(&'t Tenant),
    Unknown(String),
    Missing,
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

fn mapping_violation(code: &str, msg: &str) -> Value {
    json!({"code": code, "field": "username", "msg": msg})
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
        Ok(Mapper {
            subject: template(&imports.subject, DEFAULT_SUBJECT),
            localpart: template(&imports.localpart.template, DEFAULT_LOCALPART),
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

    /// Maps one login.
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

        let claim = self.tenant_claim(user.as_deref());
        let mut violations = self.claim_violations(&claim, &mut verdict);
        let claimed = match claim {
            TenantClaim::Found(t) => Some(t),
            _ => None,
        };

        let localpart_import = &self.imports.localpart;
        let raw = match localpart_import.action {
            Action::Ignore => None,
            action => attribute("localpart", action, &self.localpart, &ctx, &mut verdict),
        };
        let localpart = raw.as_ref().map(|raw| match claimed {
            Some(t) => format!("{}{raw}{}", t.prefix, t.suffix),
            None => raw.clone(),
        });
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

        let mut fix = None;
        if let (Some(localpart), Some(raw)) = (&localpart, &raw) {
            violations.extend(self.check(localpart, email.as_deref(), claimed));
            sort_set(&mut violations);
            fix = self.judge(
                localpart,
                raw,
                claimed,
                email.as_deref(),
                &ctx,
                &violations,
                &mut verdict,
            );
        }

        let tenant = claimed
            .or_else(|| localpart.as_deref().and_then(|l| self.tenants().resolve(l)))
            .map(|t| t.id.clone());
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
            violations,
            description,
            fix,
            warnings: verdict.warnings,
        }
    }

    /// The mapping's own violations for the tenant claim; a claim naming no tenant is only
    /// a warning unless `require_tenant` is set.
    fn claim_violations(&self, claim: &TenantClaim<'_>, verdict: &mut Verdict) -> Vec<Value> {
        let name = self.tenants().claim();
        match (claim, self.tenants().require_tenant()) {
            (TenantClaim::Missing, true) => vec![mapping_violation(
                "tenant-claim-missing",
                &format!("the tenant claim {name} is missing"),
            )],
            (TenantClaim::Unknown(id), true) => vec![mapping_violation(
                "tenant-claim-unknown",
                &format!("the tenant claim {name} names no tenant: {id}"),
            )],
            (TenantClaim::Unknown(id), false) => {
                verdict.warnings.push(format!(
                    "the tenant claim {name} names no tenant: {id}; no tenant marker added"
                ));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// MAS's action semantics on the policy's answer (contract §15.4 step 3): a refused
    /// localpart is an error page when imposed and dropped when suggested; a refused email
    /// blocks the form when imposed. Returns the fix hint for a refused localpart.
    #[expect(
        clippy::too_many_arguments,
        reason = "the pieces of one mapping, passed rather than bundled for a single caller"
    )]
    fn judge(
        &self,
        localpart: &str,
        raw: &str,
        claimed: Option<&Tenant>,
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
            fix::suggest(self, raw, claimed, email, ctx, violations)
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

    /// The violations of one candidate localpart: the register policy's, plus a tenant
    /// mismatch when the localpart would belong to another tenant than the claimed one.
    pub(crate) fn check(
        &self,
        localpart: &str,
        email: Option<&str>,
        claimed: Option<&Tenant>,
    ) -> Vec<Value> {
        let mut input = Map::new();
        input.insert("username".to_owned(), Value::from(localpart));
        if let Some(email) = email {
            input.insert("email".to_owned(), Value::from(email));
        }
        input.insert(
            "registration_method".to_owned(),
            Value::from("upstream-oauth2"),
        );
        let mut violations = self
            .policy
            .evaluate(Entrypoint::Register, Some(&Value::Object(input)));
        let owner = self.tenants().resolve(localpart);
        if let (Some(claimed), Some(owner)) = (claimed, owner)
            && owner.id != claimed.id
        {
            violations.push(mapping_violation(
                "tenant-mismatch",
                &format!(
                    "localpart would belong to tenant {}, not {}",
                    owner.id, claimed.id
                ),
            ));
            sort_set(&mut violations);
        }
        violations
    }

    /// The tenant the tenant claim names. A number is read as its decimal text.
    fn tenant_claim(&self, user: Option<&Map<String, Value>>) -> TenantClaim<'_> {
        let tenants = self.tenants();
        if tenants.is_empty() {
            return TenantClaim::Unused;
        }
        let id = match user.and_then(|u| u.get(tenants.claim())) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return TenantClaim::Missing,
        };
        match tenants.get(&id) {
            Some(t) => TenantClaim::Found(t),
            None => TenantClaim::Unknown(id),
        }
    }

    pub(crate) fn localpart_template(&self) -> &Template {
        &self.localpart
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

/// Sorts violations into the policy's canonical order without duplicates.
fn sort_set(violations: &mut Vec<Value>) {
    violations.sort_by(compare);
    violations.dedup_by(|a, b| compare(a, b).is_eq());
}
