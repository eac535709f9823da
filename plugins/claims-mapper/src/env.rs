//! The minijinja environment MAS renders `claims_imports` templates in (contract §15.1).
//!
//! - minijinja 2 with its default builtins (filters, tests, `range dict debug namespace`), plus
//!   the `json` (`tojson`) and `urlencode` features MAS enables. MAS's other features
//!   (`loader`, `speedups`, `unstable_machinery`) change nothing a template can observe here.
//! - minijinja-contrib's filters and globals (`pluralize filesizeformat truncate striptags`,
//!   `cycler joiner`) and its Python-style methods (`.lower()`, `.split("@")`, …).
//! - MAS's own filters ([`crate::filters`]), `string` replacing the builtin.
//! - Lenient undefined values, no auto-escaping, output not trimmed, `none` for null.
//!
//! MAS compiles each template when it renders it, under the name `<string>`. Here each
//! template is compiled once, when the mapper is loaded, into its own environment under that
//! same name, so error messages read as MAS's do (`… (in <string>:1)`) while a migration
//! check of 100k users does not re-parse the templates 100k times. A syntax error is kept and
//! reported on every render, as MAS would.
//!
//! Version: exactly minijinja 2.21.0, MAS 1.22's. From 2.22 on, minijinja prints null as
//! `None` and booleans as `True`/`False` (MAS prints `none`, `true`), so a newer 2.x would
//! render different localparts from the same claims.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::filters;

/// The template name MAS renders under (minijinja's `render_str`).
const NAME: &str = "<string>";

/// A bare environment configured exactly like MAS's.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    minijinja_contrib::add_to_environment(&mut env);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.add_filter("b64decode", filters::b64decode);
    env.add_filter("b64encode", filters::b64encode);
    env.add_filter("tlvdecode", filters::tlvdecode);
    env.add_filter("string", filters::string);
    env.add_filter("from_json", filters::from_json);
    env
}

/// One attribute's template, compiled once.
#[derive(Debug)]
pub struct Template {
    source: String,
    /// The environment holding the compiled template, or the syntax error.
    compiled: Result<Environment<'static>, String>,
}

impl Template {
    /// Compiles `source`. A syntax error is not an error here: MAS only meets it when it
    /// renders, so [`Template::render`] reports it.
    pub fn new(source: &str) -> Template {
        let mut env = environment();
        let compiled = match env.add_template_owned(NAME, source.to_owned()) {
            Ok(()) => Ok(env),
            Err(e) => Err(one_line(&e)),
        };
        Template {
            source: source.to_owned(),
            compiled,
        }
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders against `context`.
    ///
    /// # Errors
    ///
    /// The syntax or render error as one line, as minijinja words it.
    pub fn render(&self, context: &Value) -> Result<String, String> {
        let env = self.compiled.as_ref().map_err(Clone::clone)?;
        env.get_template(NAME)
            .and_then(|t| t.render(context))
            .map_err(|e| one_line(&e))
    }
}

/// A minijinja error on one line: its message with the template location, without the
/// multi-line source excerpt its alternate form adds.
fn one_line(e: &minijinja::Error) -> String {
    e.to_string().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    fn render(source: &str, ctx: &Value) -> Result<String, String> {
        Template::new(source).render(ctx)
    }

    #[test]
    fn mas_rendering_rules() {
        let ctx = context! { user => context! { name => "<b>A&B</b>", nothing => () } };
        // No auto-escaping, null prints `none`, a missing attribute prints nothing.
        assert_eq!(
            render(
                "{{ user.name }}|{{ user.nothing }}|{{ user.missing }}",
                &ctx
            )
            .unwrap(),
            "<b>A&B</b>|none|"
        );
        // An attribute of an undefined value is an error.
        assert_eq!(
            render("{{ user.missing.deeper }}", &ctx).unwrap_err(),
            "undefined value (in <string>:1)"
        );
        // Output is not trimmed; pycompat methods and contrib filters exist.
        assert_eq!(
            render(
                " {{ user.name.lower() | truncate(length=5, killwords=true, end='', leeway=0) }} ",
                &ctx
            )
            .unwrap(),
            " <b>a& "
        );
    }

    #[test]
    fn syntax_errors_surface_when_rendering() {
        let template = Template::new("{{ user.name ");
        assert!(
            template
                .render(&Value::UNDEFINED)
                .unwrap_err()
                .starts_with("syntax error: ")
        );
    }
}
