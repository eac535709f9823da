//! `policy-test`: runs fixture suites across engines and evaluates single inputs.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use policy_host::{
    coverage::Coverage,
    engine,
    fixtures::{self, FIXTURE_SERVER_NAME},
    merge, runner,
};
use policy_rules::Entrypoint;
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "policy-test",
    version,
    about = "Test and run the MAS policy bundle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run fixture suites on several engines and cross-check them.
    Test {
        /// Fixture files or folders (default: tests/cases).
        paths: Vec<PathBuf>,
        /// Engines to run, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "native,component,opa,rego"
        )]
        engine: Vec<String>,
        /// The catalogue of contract violations whose coverage is reported.
        #[arg(long, default_value = "tests/violations.yaml")]
        catalogue: PathBuf,
        /// Fail unless at least this percentage of the catalogue is produced by passing cases.
        #[arg(long, default_value_t = 0.0)]
        min_coverage: f64,
    },
    /// Write the resolved fixture cases with the native engine's result, as JSON lines, for
    /// tests in other runtimes (the OPA JS SDK test in `tests/node`).
    Export {
        /// Fixture files or folders (default: tests/cases).
        paths: Vec<PathBuf>,
        /// The output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate one entrypoint on one input.
    Eval {
        /// The entrypoint, e.g. `register/violation`.
        entrypoint: String,
        /// The input JSON file.
        #[arg(long)]
        input: PathBuf,
        /// Policy data JSON, merged over the MAS base data like `policy.data`.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The homeserver name in the base data (`matrix.homeserver`).
        #[arg(long, default_value = FIXTURE_SERVER_NAME)]
        server_name: String,
        /// The engine to evaluate with.
        #[arg(long, default_value = "native")]
        engine: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Test {
            paths,
            engine,
            catalogue,
            min_coverage,
        } => test(paths, &engine, &catalogue, min_coverage),
        Command::Export { paths, out } => export(paths, &out),
        Command::Eval {
            entrypoint,
            input,
            data,
            server_name,
            engine,
        } => eval(&entrypoint, &input, data.as_deref(), &server_name, &engine),
    }
}

fn test(
    paths: Vec<PathBuf>,
    names: &[String],
    catalogue: &std::path::Path,
    min_coverage: f64,
) -> anyhow::Result<ExitCode> {
    let mut coverage = Coverage::load(catalogue).map_err(anyhow::Error::msg)?;
    let paths = default_paths(paths);
    let engines = names
        .iter()
        .map(|n| engine::by_name(n.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "engines: {}",
        engines
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let report = runner::run(&paths, &engines, |case| match &case.failure {
        None => println!("ok   {}", case.label),
        Some(why) => {
            println!("FAIL {}", case.label);
            for line in why.lines() {
                println!("     {line}");
            }
        }
    });
    for case in &report.cases {
        coverage.observe(&case.violations);
    }
    let (covered, total) = coverage.counts();
    #[expect(
        clippy::cast_precision_loss,
        reason = "a percentage of a few dozen entries"
    )]
    let percent = if total == 0 {
        100.0
    } else {
        100.0 * covered as f64 / total as f64
    };
    println!(
        "coverage: {covered}/{total} contract violations produced by passing cases ({percent:.0}%)"
    );
    for id in coverage.uncovered() {
        println!("     not covered: {id}");
    }
    let coverage_ok = percent >= min_coverage;
    if !coverage_ok {
        println!("coverage {percent:.0}% is below --min-coverage {min_coverage}");
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    Ok(if report.failed() == 0 && coverage_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("tests/cases")]
    } else {
        paths
    }
}

fn export(paths: Vec<PathBuf>, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;

    use policy_host::engine::{Engine as _, EvalError, native::NativeEngine};

    let mut lines = Vec::new();
    for root in default_paths(paths) {
        for file in fixtures::discover(&root).map_err(anyhow::Error::msg)? {
            let suite = fixtures::load(&file).map_err(anyhow::Error::msg)?;
            if let Some((label, err)) = suite.broken.first() {
                bail!("{}::{label}: invalid case: {err}", file.display());
            }
            for case in suite.cases {
                let result = NativeEngine
                    .load(&case.data)
                    .and_then(|mut p| p.evaluate(suite.entrypoint, case.input.as_ref()));
                let mut line = serde_json::json!({
                    "label": format!("{}::{}", file.display(), case.name),
                    "entrypoint": suite.entrypoint.name(),
                    "data": case.data,
                });
                if let Some(input) = case.input {
                    line["input"] = input;
                }
                match result {
                    Ok(violations) => line["result"] = Value::Array(violations),
                    Err(EvalError::Data(msg)) => line["data_error"] = Value::String(msg),
                    Err(EvalError::Engine(msg)) => line["engine_error"] = Value::String(msg),
                }
                lines.push(line.to_string());
            }
        }
    }
    let mut file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    for line in &lines {
        writeln!(file, "{line}").with_context(|| format!("cannot write {}", out.display()))?;
    }
    println!("wrote {} cases to {}", lines.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

fn read_json(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))
}

fn eval(
    entrypoint: &str,
    input: &std::path::Path,
    data: Option<&std::path::Path>,
    server_name: &str,
    engine: &str,
) -> anyhow::Result<ExitCode> {
    let Some(entrypoint) = Entrypoint::from_name(entrypoint) else {
        bail!(
            "unknown entrypoint `{entrypoint}`; expected one of: {}",
            Entrypoint::ALL.map(Entrypoint::name).join(", ")
        );
    };
    let input = read_json(input)?;
    let policy_data = data
        .map(read_json)
        .transpose()?
        .unwrap_or_else(merge::empty);
    let data = merge::merge(merge::base(server_name), policy_data)
        .map_err(|e| anyhow::anyhow!("invalid policy data: {e}"))?;
    let engine = engine::by_name(engine)?;
    let mut policy = engine.load(&data)?;
    let violations = policy.evaluate(entrypoint, Some(&input))?;
    println!("{}", Value::Array(violations));
    Ok(ExitCode::SUCCESS)
}
