//! The localpart template that makes MAS itself apply the tenant markers (extensions §3).
//!
//! MAS renders `claims_imports.localpart.template` and nothing else; it knows nothing of
//! tenants. So the markers must live in that template. [`generate`] wraps the operator's base
//! template (say `{{ user.preferred_username | lower }}`) in plain minijinja that reads the
//! tenant claim and puts the tenant's prefix and suffix around the base's output. It uses only
//! minijinja's own syntax (no filter of ours), so it renders the same in MAS as in
//! [`crate::env`].
//!
//! # Two forms
//!
//! MAS reads its config, and so this template, only at start-up, while tenants are created at
//! runtime and pushed as dynamic policy data. So the template avoids naming tenants wherever
//! the markers allow it:
//! - **rule**: every non-default tenant's prefix is `A + id + B` and its suffix `C + id + D`
//!   for one set of constants (OpenMeet's `lisbon-tech.` for `lisbon-tech` is `id + "."`). The
//!   template applies that rule to *any* tenant claim and leaves the decision to the policy: a
//!   tenant added by a data push works at once, and an id the data does not know yields a
//!   localpart the policy refuses (`tenant-unknown` under `require_tenant`). Only the default
//!   tenant (no marker) is named in the template.
//! - **table**: the markers follow no such rule, so the template maps each tenant id to its
//!   markers. A tenant added later needs a rebuilt template and a MAS restart.
//!
//! Either way, suspending a tenant, closing its registration or changing its email domains or
//! clients is data only: the policy decides those on every request.
//!
//! # Refusing logins
//!
//! With `require_tenant`, a login whose tenant claim is missing, not a string, or (table form)
//! names no tenant renders the **empty string**. MAS treats an empty localpart as a missing
//! required attribute: under `require` at once, under `force` when the registration form is
//! posted (MAS re-renders a forced localpart as required). The user sees MAS's error page and
//! no unmarked account is made. An empty render was chosen over a render error because it
//! needs no trick of the template language and means the same in every minijinja version.
//! An empty base render also renders empty, exactly as without tenants. Without
//! `require_tenant`, such a login gets the base localpart unmarked.
//!
//! # Escaping
//!
//! Tenant ids and the claim name are arbitrary strings. They appear only inside minijinja
//! string literals, written as JSON strings: minijinja's string escapes are a superset of
//! JSON's (`\"`, `\\`, `\n`, `\uXXXX`, …), so any id round-trips, including quotes,
//! backslashes, `}}`, `%}` and newlines. Markers only use localpart characters.
//!
//! The base template is embedded once, in a `{% set %}` block. A base that cannot be embedded
//! (one that does not compile on its own, or that uses the generated template's own variable
//! names) is refused.

use std::fmt;

use minijinja::Value as JinjaValue;
use policy_rules::tenants::{Tenant, Tenants};

use crate::env::Template;

/// The generated template's own variables; a base template must not use them.
const VARS: [&str; 3] = ["__tenant_base", "__tenant_claim", "__tenant_markers"];

/// How the generated template finds a tenant's markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerForm {
    /// Every non-default tenant's prefix is `prefix.0 + id + prefix.1` (or empty for all when
    /// `prefix` is `None`), and likewise its suffix: new tenants need only a data push.
    Rule {
        /// The constants around the id in every prefix, or `None`: no tenant has a prefix.
        prefix: Option<(String, String)>,
        /// The constants around the id in every suffix, or `None`: no tenant has a suffix.
        suffix: Option<(String, String)>,
    },
    /// Each tenant's markers are listed: new tenants need a rebuilt template and a restart.
    Table,
}

impl MarkerForm {
    /// `rule` or `table`.
    pub fn name(&self) -> &'static str {
        match self {
            MarkerForm::Rule { .. } => "rule",
            MarkerForm::Table => "table",
        }
    }
}

/// A generated localpart template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantTemplate {
    /// The template text, for `claims_imports.localpart.template`.
    pub source: String,
    /// How it finds the markers.
    pub form: MarkerForm,
}

/// Why a base template cannot be wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateError(String);

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GenerateError {}

/// A minijinja string literal for `s` (JSON's escapes, which minijinja reads the same way).
fn literal(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Splits `marker` around the first occurrence of `id`.
fn around<'m>(marker: &'m str, id: &str) -> Option<(&'m str, &'m str)> {
    if id.is_empty() {
        return None;
    }
    let at = marker.find(id)?;
    Some((&marker[..at], &marker[at + id.len()..]))
}

/// The one rule (constants around the id) all `markers` follow, `Ok(None)` when all are
/// empty, `Err(())` when there is no such rule.
fn rule<'t>(
    tenants: &[&'t Tenant],
    marker: impl Fn(&'t Tenant) -> &'t str,
) -> Result<Option<(String, String)>, ()> {
    if tenants.iter().all(|t| marker(t).is_empty()) {
        return Ok(None);
    }
    let mut found: Option<(&str, &str)> = None;
    for t in tenants {
        let parts = around(marker(t), &t.id).ok_or(())?;
        match found {
            None => found = Some(parts),
            Some(f) if f == parts => {}
            Some(_) => return Err(()),
        }
    }
    Ok(found.map(|(a, b)| (a.to_owned(), b.to_owned())))
}

/// The marker form `tenants` allow.
fn form(tenants: &Tenants) -> MarkerForm {
    let marked: Vec<&Tenant> = tenants
        .iter()
        .filter(|t| !(t.prefix.is_empty() && t.suffix.is_empty()))
        .collect();
    if marked.is_empty() {
        return MarkerForm::Table;
    }
    match (rule(&marked, |t| &t.prefix), rule(&marked, |t| &t.suffix)) {
        (Ok(prefix), Ok(suffix)) => MarkerForm::Rule { prefix, suffix },
        _ => MarkerForm::Table,
    }
}

/// `{"id": ["prefix", "suffix"], …}` for `tenants`.
fn table<'t>(tenants: impl Iterator<Item = &'t Tenant>) -> String {
    let entries: Vec<String> = tenants
        .map(|t| {
            format!(
                "{}: [{}, {}]",
                literal(&t.id),
                literal(&t.prefix),
                literal(&t.suffix)
            )
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// The rule as a minijinja expression around `__tenant_base`.
fn rule_expression(prefix: Option<&(String, String)>, suffix: Option<&(String, String)>) -> String {
    /// The pieces of one marker: `a ~ __tenant_claim ~ b`, without empty constants.
    fn side(constants: Option<&(String, String)>) -> Vec<String> {
        let Some((a, b)) = constants else {
            return Vec::new();
        };
        let mut parts = Vec::new();
        if !a.is_empty() {
            parts.push(literal(a));
        }
        parts.push("__tenant_claim".to_owned());
        if !b.is_empty() {
            parts.push(literal(b));
        }
        parts
    }
    let mut parts = side(prefix);
    parts.push("__tenant_base".to_owned());
    parts.extend(side(suffix));
    parts.join(" ~ ")
}

/// The opening of every generated template, before the base.
const OPENING: &str = "{% set __tenant_base %}";
/// What follows the base in every generated template.
const AFTER_BASE: &str = "{% endset %}{% set __tenant_claim = ";

/// The base template inside a template [`generate`] made, or `None` for any other template.
/// A base never contains [`AFTER_BASE`]: it would not compile on its own.
pub fn base_of(source: &str) -> Option<&str> {
    let rest = source.strip_prefix(OPENING)?;
    rest.find(AFTER_BASE).map(|end| &rest[..end])
}

/// Wraps `base` (the operator's localpart template) so that MAS adds the tenant markers.
/// Without tenants, `base` is returned unchanged.
///
/// # Errors
///
/// A base template that does not compile, or that uses the generated template's variables.
pub fn generate(base: &str, tenants: &Tenants) -> Result<TenantTemplate, GenerateError> {
    if tenants.is_empty() {
        return Ok(TenantTemplate {
            source: base.to_owned(),
            form: MarkerForm::Table,
        });
    }
    if let Some(var) = VARS.iter().find(|v| base.contains(*v)) {
        return Err(GenerateError(format!(
            "the localpart template uses `{var}`, a name the tenant template needs"
        )));
    }
    if let Err(e) = Template::new(base).render(&JinjaValue::UNDEFINED)
        && e.starts_with("syntax error")
    {
        return Err(GenerateError(format!(
            "the localpart template does not compile: {e}"
        )));
    }
    let form = form(tenants);
    let listed = match &form {
        MarkerForm::Rule { .. } => table(
            tenants
                .iter()
                .filter(|t| t.prefix.is_empty() && t.suffix.is_empty()),
        ),
        MarkerForm::Table => table(tenants.iter()),
    };
    let mut source = format!(
        "{OPENING}{base}{AFTER_BASE}user[{claim}] %}}\
         {{% set __tenant_markers = {listed}[__tenant_claim] %}}\
         {{% if not __tenant_base %}}\
         {{% elif __tenant_markers %}}{{{{ __tenant_markers[0] ~ __tenant_base ~ __tenant_markers[1] }}}}",
        claim = literal(tenants.claim()),
    );
    if let MarkerForm::Rule { prefix, suffix } = &form {
        source.push_str("{% elif __tenant_claim is string and __tenant_claim %}{{ ");
        source.push_str(&rule_expression(prefix.as_ref(), suffix.as_ref()));
        source.push_str(" }}");
    }
    if !tenants.require_tenant() {
        source.push_str("{% else %}{{ __tenant_base }}");
    }
    source.push_str("{% endif %}");
    // The base must still render as it did on its own inside the set block.
    if Template::new(&source)
        .render(&JinjaValue::UNDEFINED)
        .is_err_and(|e| e.starts_with("syntax error"))
    {
        return Err(GenerateError(
            "the localpart template cannot be embedded in the tenant template (it does not \
             compile there); use a template of expressions and tags that close themselves"
                .to_owned(),
        ));
    }
    Ok(TenantTemplate { source, form })
}

/// `imports` (a provider's `claims_imports` block) with its localpart template replaced by
/// the generated tenant template around it (MAS's default template when it sets none). The
/// rest of the block is kept as it is.
///
/// # Errors
///
/// A block that is not a map, or a base template [`generate`] refuses.
pub fn apply(
    imports: &serde_json::Value,
    tenants: &Tenants,
) -> Result<(serde_json::Value, TenantTemplate), GenerateError> {
    use serde_json::{Map, Value};
    let mut block = match imports {
        Value::Null => Map::new(),
        Value::Object(m) => m.clone(),
        _ => return Err(GenerateError("claims_imports is not a map".to_owned())),
    };
    let localpart = block
        .entry("localpart")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(localpart) = localpart else {
        return Err(GenerateError(
            "claims_imports.localpart is not a map".to_owned(),
        ));
    };
    let base = match localpart.get("template") {
        None => crate::mapper::DEFAULT_LOCALPART,
        Some(Value::String(s)) => base_of(s).unwrap_or(s),
        Some(_) => {
            return Err(GenerateError(
                "claims_imports.localpart.template is not a string".to_owned(),
            ));
        }
    };
    let generated = generate(base, tenants)?;
    localpart.insert("template".to_owned(), Value::from(generated.source.clone()));
    Ok((Value::Object(block), generated))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::env::Template;

    fn tenants(v: &Value) -> Tenants {
        Tenants::compile(
            Some(v),
            &policy_rules::data::DataPath::root().key("tenants"),
        )
        .unwrap()
    }

    fn render(source: &str, user: &Value) -> Result<String, String> {
        Template::new(source).render(&JinjaValue::from_serialize(json!({ "user": user })))
    }

    const BASE: &str = "{{ user.preferred_username | lower }}";

    #[test]
    fn rule_form_applies_the_rule_to_any_tenant_claim() {
        let t = tenants(&json!({
            "require_tenant": true,
            "by_id": {
                "openmeet": {},
                "lisbon-tech": {"localpart_prefix": "lisbon-tech."},
                "hikers": {"localpart_prefix": "hikers."},
            }
        }));
        let g = generate(BASE, &t).unwrap();
        assert_eq!(
            g.form,
            MarkerForm::Rule {
                prefix: Some((String::new(), ".".to_owned())),
                suffix: None
            }
        );
        let r = |user: Value| render(&g.source, &user).unwrap();
        assert_eq!(
            r(json!({"preferred_username": "Ana", "tenant_id": "lisbon-tech"})),
            "lisbon-tech.ana"
        );
        assert_eq!(
            r(json!({"preferred_username": "Ana", "tenant_id": "openmeet"})),
            "ana"
        );
        // A tenant the template has never seen: the rule still applies (the policy decides).
        assert_eq!(
            r(json!({"preferred_username": "Ana", "tenant_id": "new-one"})),
            "new-one.ana"
        );
        // require_tenant: no claim, a non-string claim, or an empty base render nothing.
        assert_eq!(r(json!({"preferred_username": "Ana"})), "");
        assert_eq!(r(json!({"preferred_username": "Ana", "tenant_id": 7})), "");
        assert_eq!(r(json!({"preferred_username": "Ana", "tenant_id": ""})), "");
        assert_eq!(r(json!({"tenant_id": "hikers"})), "");
    }

    #[test]
    fn table_form_lists_every_tenant() {
        let t = tenants(&json!({
            "by_id": {
                "acme": {"localpart_prefix": "acme."},
                "globex": {"localpart_suffix": ".gx"},
            }
        }));
        let g = generate(BASE, &t).unwrap();
        assert_eq!(g.form, MarkerForm::Table);
        let r = |user: Value| render(&g.source, &user).unwrap();
        assert_eq!(
            r(json!({"preferred_username": "Bob", "tenant_id": "acme"})),
            "acme.bob"
        );
        assert_eq!(
            r(json!({"preferred_username": "Bob", "tenant_id": "globex"})),
            "bob.gx"
        );
        // Without require_tenant, an unknown or missing tenant gets no marker.
        assert_eq!(
            r(json!({"preferred_username": "Bob", "tenant_id": "hooli"})),
            "bob"
        );
        assert_eq!(r(json!({"preferred_username": "Bob"})), "bob");
    }

    #[test]
    fn ids_and_claim_names_with_template_syntax_are_escaped() {
        let nasty = "a\"b\\c}}%}{#\n'é{{";
        let claim = "https://x/\"tenant\"}}";
        let t = tenants(&json!({
            "require_tenant": true,
            "claim": claim,
            "by_id": {
                nasty: {"localpart_prefix": "n."},
                "plain": {"localpart_prefix": "p-"},
            }
        }));
        let g = generate(BASE, &t).unwrap();
        assert_eq!(g.form, MarkerForm::Table);
        let user = |id: &str| json!({"preferred_username": "X", claim: id});
        assert_eq!(render(&g.source, &user(nasty)).unwrap(), "n.x");
        assert_eq!(render(&g.source, &user("plain")).unwrap(), "p-x");
        assert_eq!(render(&g.source, &user("a\"b")).unwrap(), "");
    }

    #[test]
    fn a_base_that_cannot_be_embedded_is_refused() {
        let t = tenants(&json!({"by_id": {"acme": {"localpart_prefix": "acme."}}}));
        assert!(
            generate("{{ user.name ", &t)
                .unwrap_err()
                .to_string()
                .starts_with("the localpart template does not compile")
        );
        assert!(generate("{{ __tenant_base }}", &t).is_err());
        // The base is found again in what was generated, and only there.
        let g = generate(BASE, &t).unwrap();
        assert_eq!(base_of(&g.source), Some(BASE));
        assert_eq!(base_of(BASE), None);
        // Without tenants, the base is returned as it is.
        let none = Tenants::default();
        assert_eq!(generate(BASE, &none).unwrap().source, BASE);
    }
}
