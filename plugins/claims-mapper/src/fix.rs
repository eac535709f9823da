//! `fix` hints: a small template change that would make a refused localpart pass.
//!
//! MAS applies no lowercasing, trimming or filtering to a rendered localpart; the operator's
//! template has to. The hint therefore names the minijinja expression to add (`| lower`,
//! `.split("@")[0]`), and, when the template is one `{{ … }}` expression, the whole rewritten
//! template. Each candidate is checked before it is offered: the transformed localpart goes
//! through the same policy check as the original, and a rewritten template is rendered on the
//! same claims and must give that localpart.

use serde_json::Value;

use crate::{env::Template, mapper::Mapper, mapping::Fix};

/// One template transformation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `| lower`
    Lower,
    /// `| trim`: spaces around the value.
    Trim,
    /// `.split("@")[0]`: an email used as a username.
    BeforeAt,
    /// `| replace(" ", "-")`: a display name used as a username.
    SpacesToDashes,
    /// `"u" ~ …`: an all-numeric username.
    LetterFirst,
    /// `[:n]`: a username that makes the MXID too long.
    Cut(usize),
}

/// How an expression may be extended without parentheses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A variable, attribute or subscript chain, or one extended by methods: takes both
    /// methods and filters.
    Postfix,
    /// Ends in a filter: takes more filters, but a method needs parentheses.
    Filtered,
    /// Anything else: parenthesised before it is extended.
    Other,
}

impl Step {
    fn hint(self) -> String {
        match self {
            Step::Lower => "lowercase it".to_owned(),
            Step::Trim => "strip the spaces around it".to_owned(),
            Step::BeforeAt => "remove `@` and what follows".to_owned(),
            Step::SpacesToDashes => "replace spaces with `-`".to_owned(),
            Step::LetterFirst => "put a letter before it".to_owned(),
            Step::Cut(n) => format!("keep its first {n} characters"),
        }
    }

    fn expression(self) -> String {
        match self {
            Step::Lower => "| lower".to_owned(),
            Step::Trim => "| trim".to_owned(),
            Step::BeforeAt => ".split(\"@\")[0]".to_owned(),
            Step::SpacesToDashes => "| replace(\" \", \"-\")".to_owned(),
            Step::LetterFirst => "\"u\" ~".to_owned(),
            Step::Cut(n) => format!("[:{n}]"),
        }
    }

    /// What minijinja would produce (each is checked by rendering when a template is offered).
    fn apply(self, s: &str) -> String {
        match self {
            Step::Lower => s.to_lowercase(),
            Step::Trim => s.trim().to_owned(),
            Step::BeforeAt => s.split('@').next().unwrap_or_default().to_owned(),
            Step::SpacesToDashes => s.replace(' ', "-"),
            Step::LetterFirst => format!("u{s}"),
            Step::Cut(n) => s.chars().take(n).collect(),
        }
    }

    /// Extends a minijinja expression of `shape`.
    fn rewrite(self, expr: &str, shape: Shape) -> (String, Shape) {
        let paren = |wrap: bool| {
            if wrap {
                format!("({expr})")
            } else {
                expr.to_owned()
            }
        };
        match self {
            Step::Lower | Step::Trim | Step::SpacesToDashes => (
                format!("{} {}", paren(shape == Shape::Other), self.expression()),
                Shape::Filtered,
            ),
            Step::BeforeAt | Step::Cut(_) => (
                format!("{}{}", paren(shape != Shape::Postfix), self.expression()),
                Shape::Postfix,
            ),
            Step::LetterFirst => (
                format!("\"u\" ~ {}", paren(shape == Shape::Other)),
                Shape::Other,
            ),
        }
    }
}

/// The expression of a template that is exactly one `{{ … }}`.
fn single_expression(source: &str) -> Option<&str> {
    let inner = source.strip_prefix("{{")?.strip_suffix("}}")?;
    let blocked = ["{{", "}}", "{%", "%}", "{#", "#}"];
    let plain = !blocked.iter().any(|b| inner.contains(b))
        && !inner.starts_with('-')
        && !inner.ends_with('-');
    plain.then(|| inner.trim()).filter(|e| !e.is_empty())
}

/// Whether `expr` is a variable followed by `.name`, `[0]` or `["key"]` accesses.
fn is_path(expr: &str) -> bool {
    let mut rest = expr;
    let ident = |s: &str| {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (end > 0 && !s.starts_with(|c: char| c.is_ascii_digit())).then_some(end)
    };
    let Some(end) = ident(rest) else { return false };
    rest = &rest[end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let Some(end) = ident(after) else {
                return false;
            };
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = after.find(']') else {
                return false;
            };
            let key = &after[..close];
            let quoted = key.len() >= 2
                && ((key.starts_with('"') && key.ends_with('"'))
                    || (key.starts_with('\'') && key.ends_with('\'')))
                && !key[1..key.len() - 1].contains(['"', '\'']);
            if !(quoted || (!key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()))) {
                return false;
            }
            rest = &after[close + 1..];
        } else {
            return false;
        }
    }
    true
}

/// The candidates, most likely first. `room` is how many characters the rendered part may
/// have before the MXID is too long.
fn plans(raw: &str, room: Option<usize>) -> Vec<Vec<Step>> {
    let mut plans = vec![
        vec![Step::Lower],
        vec![Step::Trim],
        vec![Step::Trim, Step::Lower],
        vec![Step::BeforeAt],
        vec![Step::BeforeAt, Step::Lower],
        vec![Step::Lower, Step::SpacesToDashes],
        vec![Step::Trim, Step::Lower, Step::SpacesToDashes],
    ];
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        plans.push(vec![Step::LetterFirst]);
    }
    if let Some(n) = room.filter(|&n| n > 0) {
        plans.push(vec![Step::Cut(n)]);
        plans.push(vec![Step::Lower, Step::Cut(n)]);
    }
    plans
}

/// The violations a change of the localpart's spelling can cure. A banned or not-allowed
/// name, a closed or suspended tenant, or a tenant claim problem is a decision, not a
/// spelling, so it gets no hint.
const SPELLING: [&str; 3] = [
    "username-invalid-chars",
    "username-all-numeric",
    "username-too-long",
];

/// `localpart` as (markers before, what the base template rendered, markers after). For a
/// generated tenant template the base is rendered on its own and found in the localpart;
/// otherwise the whole localpart is the base's.
fn split<'l>(
    mapper: &Mapper,
    localpart: &'l str,
    ctx: &minijinja::Value,
) -> (&'l str, &'l str, &'l str) {
    mapper
        .base_template()
        .render(ctx)
        .ok()
        .filter(|raw| !raw.is_empty())
        .and_then(|raw| {
            // Markers on one side are the common case: try the ends first.
            let at = if localpart.ends_with(raw.as_str()) {
                localpart.len() - raw.len()
            } else if localpart.starts_with(raw.as_str()) {
                0
            } else {
                localpart.find(raw.as_str())?
            };
            let end = at + raw.len();
            Some((&localpart[..at], &localpart[at..end], &localpart[end..]))
        })
        .unwrap_or(("", localpart, ""))
}

/// The first candidate under which the localpart passes, if any. The candidates change what
/// the operator's base template renders; the tenant markers stay as they are.
pub(crate) fn suggest(
    mapper: &Mapper,
    localpart: &str,
    email: Option<&str>,
    ctx: &minijinja::Value,
    violations: &[Value],
) -> Option<Fix> {
    let unfixable = violations
        .iter()
        .filter(|v| v.get("field").and_then(Value::as_str) == Some("username"))
        .any(|v| !SPELLING.contains(&v.get("code").and_then(Value::as_str).unwrap_or_default()));
    if unfixable {
        return None;
    }
    let (prefix, raw, suffix) = split(mapper, localpart, ctx);
    let room = mapper.server_name().map(|server| {
        // `@` + localpart + `:` + server_name may have 255 characters.
        255_usize.saturating_sub(
            2 + server.chars().count() + prefix.chars().count() + suffix.chars().count(),
        )
    });
    let room = room.filter(|&n| raw.chars().count() > n);
    let source = mapper.base_template().source();
    let mut tried: Vec<Vec<Step>> = Vec::new();
    for plan in plans(raw, room) {
        // Only the steps that change something: `| lower` on a lowercase value is noise.
        let mut transformed = raw.to_owned();
        let mut effective = Vec::new();
        for step in plan {
            let next = step.apply(&transformed);
            if next != transformed {
                effective.push(step);
                transformed = next;
            }
        }
        if transformed.is_empty() || effective.is_empty() || tried.contains(&effective) {
            continue;
        }
        tried.push(effective.clone());
        let plan = effective;
        let localpart = format!("{prefix}{transformed}{suffix}");
        let passes = !mapper
            .check(&localpart, email)
            .iter()
            .any(|v| v.get("field").and_then(Value::as_str) == Some("username"));
        if !passes {
            continue;
        }
        let template = single_expression(source).and_then(|expr| {
            let start = if is_path(expr) {
                Shape::Postfix
            } else {
                Shape::Other
            };
            let (rewritten, _) = plan
                .iter()
                .fold((expr.to_owned(), start), |(e, shape), step| {
                    step.rewrite(&e, shape)
                });
            let rewritten = format!("{{{{ {rewritten} }}}}");
            let renders_the_same =
                Template::new(&rewritten).render(ctx).ok().as_deref() == Some(&transformed);
            renders_the_same.then_some(rewritten)
        });
        return Some(Fix {
            hint: plan
                .iter()
                .map(|s| s.hint())
                .collect::<Vec<_>>()
                .join(", then "),
            expression: plan
                .iter()
                .map(|s| s.expression())
                .collect::<Vec<_>>()
                .join(" "),
            template,
            localpart,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_expression_templates_are_rewritten() {
        assert_eq!(
            single_expression("{{ user.preferred_username }}"),
            Some("user.preferred_username")
        );
        assert_eq!(single_expression("x{{ user.a }}"), None);
        assert_eq!(single_expression("{{ a }}{{ b }}"), None);
        assert_eq!(single_expression("{{- a }}"), None);
    }

    #[test]
    fn paths_are_extended_without_parentheses() {
        assert!(is_path("user.preferred_username"));
        assert!(is_path("extra_callback_parameters[\"user\"]"));
        assert!(!is_path("user.a ~ user.b"));
        let (e, shape) = Step::BeforeAt.rewrite("user.email", Shape::Postfix);
        let (e, _) = Step::Lower.rewrite(&e, shape);
        assert_eq!(e, "user.email.split(\"@\")[0] | lower");
        let (e, shape) = Step::Lower.rewrite("user.a ~ user.b", Shape::Other);
        let (e, _) = Step::Cut(3).rewrite(&e, shape);
        assert_eq!(e, "((user.a ~ user.b) | lower)[:3]");
    }
}
