//! `policy-test claims` and `policy-test migrate`: arguments and commands.
//!
//! Both take the provider's `claims_imports` and the policy data from a real MAS
//! `config.yaml` (`--config mas.yaml --provider ID`); `claims` also takes the block inline.
//! Keys MAS would silently ignore under `claims_imports` are reported by path on stderr.

use std::{
    io::{IsTerminal as _, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use claims_mapper::{Claims, Mapper, Mapping, Outcome};
use clap::{Args, ValueEnum};
use serde_json::Value;

use super::{
    engine_by_name,
    mas_config::{self, MasConfig},
    migrate::{self, Columns, InputFormat, ReportFormat},
};

/// Where the provider's `claims_imports` and the policy data come from.
#[derive(Debug, Args)]
pub struct Source {
    /// A MAS config.yaml: `upstream_oauth2.providers`, `policy.data` and `matrix.homeserver`
    /// are read from it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The provider's `id` in the config.
    #[arg(long, requires = "config")]
    provider: Option<String>,
    /// Policy data JSON or YAML, merged over the config's `policy.data` like MAS's dynamic
    /// data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The homeserver name, when there is no config (MAS's default otherwise).
    #[arg(long)]
    server_name: Option<String>,
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For tools.
    Json,
}

/// `policy-test claims`.
#[derive(Debug, Args)]
pub struct ClaimsArgs {
    /// The claims JSON: `{"id_token_claims": …, "userinfo_claims": …,
    /// "extra_callback_parameters": …}`, or a bare claims object, read as the ID token's.
    /// `-` reads standard input.
    claims: PathBuf,
    #[command(flatten)]
    source: Source,
    /// The `claims_imports` block inline, as YAML or JSON, instead of `--provider`.
    #[arg(long, conflicts_with = "provider")]
    imports: Option<String>,
    /// The engine: `native` or `component`.
    #[arg(long, default_value = "native")]
    engine: String,
    /// `text` or `json`.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// `policy-test migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The user export: `.csv` with a header row, or `.jsonl` (one object per line).
    users: PathBuf,
    #[command(flatten)]
    source: Source,
    /// Maps an export column to a claim, `COLUMN=CLAIM`; repeatable. The defaults are
    /// `slug=preferred_username`, `name=name`, `email=email`, `tenant_id=tenant_id`, `id=sub`.
    #[arg(long = "column", value_name = "COLUMN=CLAIM")]
    columns: Vec<String>,
    /// `text` (a table) or `json` (JSON lines: one per user, then the summary).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

fn read_document(path: &Path) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    serde_norway::from_str(&text)
        .with_context(|| format!("{}: invalid JSON or YAML", path.display()))
}

impl Source {
    /// The `claims_imports` block (from the config or `inline`) and the merged data. With a
    /// config, its tenant-safety findings for this provider go to stderr first: a template
    /// without the markers is what MAS will render, and the report below shows its effect.
    fn resolve(&self, inline: Option<&str>) -> anyhow::Result<(Value, Value)> {
        let config = self.config.as_deref().map(MasConfig::load).transpose()?;
        let imports = match (inline, &config, &self.provider) {
            (Some(text), _, _) => {
                serde_norway::from_str(text).context("--imports: invalid YAML or JSON")?
            }
            (None, Some(config), Some(id)) => config.claims_imports(id)?,
            (None, _, _) => bail!("give --config mas.yaml --provider ID, or --imports"),
        };
        let base = match (&self.server_name, &config) {
            (Some(name), _) => crate::merge::base(name),
            (None, Some(config)) => config.base_data()?,
            (None, None) => crate::merge::base(mas_config::DEFAULT_HOMESERVER),
        };
        let policy_data = config
            .as_ref()
            .map_or_else(crate::merge::empty, MasConfig::policy_data);
        let extra = self.data.as_deref().map(read_document).transpose()?;
        let data = mas_config::assemble(base, policy_data, extra)?;
        if let (Some(config), Some(id), None) = (&config, &self.provider, inline) {
            let own = format!("provider {id}: ");
            for finding in crate::lint::tenant_safety::lint(config, &data) {
                if finding.message.starts_with(&own) || !finding.message.starts_with("provider ") {
                    eprintln!("{finding}");
                }
            }
        }
        Ok((imports, data))
    }
}

fn report_unknown_keys(keys: &[String]) {
    for key in keys {
        eprintln!("warning: {key} is not a MAS claims_imports key; MAS ignores it");
    }
}

/// Runs `policy-test claims`. Exit code 1 when the outcome is `error`.
///
/// # Errors
///
/// Unreadable files, a refused `claims_imports` block or data, malformed claims.
pub fn claims(args: &ClaimsArgs) -> anyhow::Result<ExitCode> {
    let (imports, data) = args.source.resolve(args.imports.as_deref())?;
    let mut document = read_document(&args.claims)?;
    let is_document = document
        .as_object()
        .is_some_and(|o| o.keys().any(|k| Claims::KEYS.contains(&k.as_str())));
    if !is_document {
        document = serde_json::json!({ "id_token_claims": document });
    }
    let engine = engine_by_name(&args.engine)?;
    let mut mapper = engine.load(&imports, &data).map_err(anyhow::Error::msg)?;
    report_unknown_keys(&mapper.unknown_keys());
    let mapping = mapper.map(&document).map_err(anyhow::Error::msg)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&mapping)?),
        Format::Text => print!("{}", describe(&mapping)),
    }
    Ok(if mapping.outcome == Outcome::Error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A mapping for people: one field per line.
pub fn describe(m: &Mapping) -> String {
    let mut lines = vec![format!("outcome:     {}", m.outcome.name())];
    let mut field = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            lines.push(format!("{:<13}{v}", format!("{name}:")));
        }
    };
    field("subject", m.subject.as_deref());
    field("localpart", m.localpart.as_deref());
    field("mxid", m.mxid.as_deref());
    field("displayname", m.displayname.as_deref());
    field("email", m.email.as_deref());
    field("tenant", m.tenant.as_deref());
    field("claimed", m.claimed_tenant.as_deref());
    field("description", m.description.as_deref());
    for v in &m.violations {
        lines.push(format!(
            "violation:   {} ({})",
            claims_mapper::code_or_msg(v),
            v.get("msg").and_then(Value::as_str).unwrap_or_default()
        ));
    }
    if let Some(fix) = &m.fix {
        lines.push(format!("fix:         {}: `{}`", fix.hint, fix.expression));
        if let Some(t) = &fix.template {
            lines.push(format!("             template: {t}"));
        }
        lines.push(format!("             gives: {}", fix.localpart));
    }
    for w in &m.warnings {
        lines.push(format!("warning:     {w}"));
    }
    lines.push(String::new());
    lines.join("\n")
}

/// Runs `policy-test migrate`. Exit code 1 when a user is locked out or collides.
///
/// # Errors
///
/// Unreadable files, a refused `claims_imports` block or data, a malformed row.
pub fn migrate(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let Some(input_format) = InputFormat::from_path(&args.users) else {
        bail!(
            "{}: unknown export format; expected a .csv or .jsonl file",
            args.users.display()
        );
    };
    let (imports, data) = args.source.resolve(None)?;
    let mapper = Mapper::load(&imports, &data)?;
    report_unknown_keys(mapper.unknown_keys());
    let columns = Columns::default()
        .with(&args.columns)
        .map_err(anyhow::Error::msg)?;
    let file = std::fs::File::open(&args.users)
        .with_context(|| format!("cannot read {}", args.users.display()))?;
    let size = file.metadata().map_or(0, |m| m.len());
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let report = match args.format {
        Format::Text => ReportFormat::Table,
        Format::Json => ReportFormat::Json,
    };
    let stdout = std::io::stdout().lock();
    let verdict = migrate::run(
        std::io::BufReader::new(file),
        input_format,
        &columns,
        &mapper,
        report,
        std::io::BufWriter::new(stdout),
        |bytes| {
            if let Some(bar) = &bar {
                bar.set_position(bytes);
            }
        },
    )
    .with_context(|| args.users.display().to_string())?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    std::io::stdout().flush().ok();
    Ok(if verdict.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
