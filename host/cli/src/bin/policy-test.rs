//! `policy-test`: runs fixture suites across engines and evaluates single inputs.
//!
//! Output goes through a locked stdout with `writeln!`, and every write error is returned: when
//! the reader goes away (`policy-test test | head`) the program stops quietly with status 0
//! instead of panicking as `println!` would.

use std::{
    io::{self, Write as _},
    ops::ControlFlow,
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use policy_rules::Entrypoint;
use policy_test::{
    coverage::Coverage,
    engine,
    fixtures::{self, FIXTURE_SERVER_NAME},
    merge, rego_tests,
    report::{self, TestRun, ViolationCoverage},
    runner,
};
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
    /// Run fixture suites on several engines and cross-check them; with the `rego` engine, also
    /// run the Rego twin's own `test_*` rules.
    Test(TestArgs),
    /// Write the resolved fixture cases with the native engine's result, as JSON lines, for
    /// tests in other runtimes (the OPA JS SDK test in `tests/node`).
    Export {
        /// Fixture files or folders (default: tests/cases).
        paths: Vec<PathBuf>,
        /// The output file.
        #[arg(long)]
        out: PathBuf,
        /// Also write each case into this folder as a seed for the fuzz targets in
        /// `tests/fuzz`, one file per case (see `policy_test::fuzz` for the format): policy
        /// cases under `policy/`, and this repository's claims fixtures under `claims/`.
        #[arg(long, value_name = "DIR")]
        fuzz_seeds: Option<PathBuf>,
    },
    /// Evaluate one entrypoint on one input.
    Eval {
        /// The entrypoint, e.g. `register/violation`.
        entrypoint: String,
        /// The input JSON file.
        #[arg(long)]
        input: PathBuf,
        #[command(flatten)]
        deployment: DeploymentArgs,
        /// The homeserver name in the base data when there is no config.
        #[arg(long, default_value = FIXTURE_SERVER_NAME)]
        server_name: String,
        /// The engine to evaluate with.
        #[arg(long, default_value = "native")]
        engine: String,
    },
    /// Map one login's claims with a provider's `claims_imports`, as MAS would, and check the
    /// result with the policy. Exit 1 when MAS would show an error page.
    Claims(policy_test::claims::cli::ClaimsArgs),
    /// Check a user export: each user's MXID, lock-outs and collisions. Exit 1 on any.
    Migrate(policy_test::claims::cli::MigrateArgs),
    /// Report policy data and `claims_imports` that MAS would load but that do not do what
    /// they seem to. Exit 1 on errors (or on warnings with `--deny-warnings`).
    Lint(LintArgs),
    /// Time every engine × entrypoint, per request (MAS's pattern) and warm, against the
    /// do-nothing module's floor measured in the same run, with a data-size scaling table.
    Bench(BenchArgs),
    /// Write the deployable bundle (`dist/`): policy.wasm, components, the Rego twin, data,
    /// the MAS config with generated tenant templates, Kubernetes manifests, an OPA bundle.
    Build(BuildArgs),
    /// Check a bundle: digests, policy.wasm's ABI, its artifacts on every engine against the
    /// fixture suites, its MAS config against its data, and signatures. Exit 1 on any problem.
    Verify(VerifyArgs),
}

/// `policy-test bench`.
#[derive(Args)]
struct BenchArgs {
    /// Engines to time, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "native,component,opa,rego"
    )]
    engine: Vec<String>,
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// How long each measurement repeats its call, in milliseconds (at least 5 calls).
    #[arg(long, default_value_t = 200)]
    time_per_case_ms: u64,
    /// Also time this OPA-ABI module beside ours, as the engine `module`, per request, warm and
    /// in the phase table: MAS's own OPA-built policy.wasm, say, or another build of ours.
    #[arg(long)]
    module: Option<PathBuf>,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Pretty)]
    format: OutputFormat,
}

/// `policy-test build`.
#[derive(Args)]
struct BuildArgs {
    /// The deployment's MAS config.yaml (or `a.yaml:b.yaml`, merged as MAS merges `MAS_CONFIG`):
    /// `matrix.homeserver`, `experimental.session_limit`, `policy.data` and every upstream
    /// provider are read.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Policy data JSON or YAML merged over the config's `policy.data`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The homeserver name, instead of the config's `matrix.homeserver`.
    #[arg(long)]
    server_name: Option<String>,
    /// The output folder; an earlier bundle there is replaced.
    #[arg(long, default_value = "dist")]
    out: PathBuf,
    /// `policy.wasm_module` in the generated config; its folder is where Kubernetes mounts the
    /// bundle.
    #[arg(long, default_value = policy_test::bundle::build::DEFAULT_WASM_MODULE)]
    wasm_module: String,
    /// The Kubernetes namespace of the ConfigMap (default: kubectl's current one).
    #[arg(long)]
    k8s_namespace: Option<String>,
    /// The MAS Deployment the patch is for.
    #[arg(long, default_value = "matrix-auth-service")]
    k8s_deployment: String,
    /// The MAS container in that Deployment.
    #[arg(long, default_value = "matrix-auth-service")]
    k8s_container: String,
    /// The Deployment's own MAS config file, listed before the bundle's in `MAS_CONFIG`.
    #[arg(long, default_value = "/config/config.yaml")]
    k8s_config_path: String,
    /// Sign the bundle (OPA's `.signatures.json`): a PEM private key (RSA or EC) or an HMAC
    /// secret file.
    #[arg(long, value_name = "KEY")]
    signing_key: Option<PathBuf>,
    /// Leave the `wasm` entrypoints out of the OPA bundle's `.manifest`, for OPA builds without
    /// the wasm engine (such as the `-static` images), which refuse a bundle that lists them.
    #[arg(long)]
    no_opa_wasm_entrypoints: bool,
    /// The signing key's id (`kid`), which OPA looks up in its `keys` config.
    #[arg(long, default_value = "openmeet-mas-policy")]
    signing_key_id: String,
}

/// `policy-test verify`.
#[derive(Args)]
struct VerifyArgs {
    /// The bundle folder.
    dir: PathBuf,
    /// Policy fixture files or folders to run on the bundle's engines (default: this
    /// repository's tests/cases).
    #[arg(long = "suite")]
    suites: Vec<PathBuf>,
    /// Claims fixture files or folders (default: this repository's tests/claims).
    #[arg(long = "claims-suite")]
    claims_suites: Vec<PathBuf>,
    /// Check the signatures with this key: a PEM public key or the HMAC secret file.
    #[arg(long, value_name = "KEY")]
    verification_key: Option<PathBuf>,
}

/// `policy-test lint`.
#[derive(Args)]
struct LintArgs {
    /// A MAS config.yaml: `policy.data`, `matrix.homeserver` and every upstream provider's
    /// `claims_imports` are checked.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Policy data JSON or YAML, merged over the config's `policy.data` like dynamic data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The homeserver name when there is no config.
    #[arg(long, default_value = FIXTURE_SERVER_NAME)]
    server_name: String,
    /// Exit 1 on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

/// The deployment whose data the cases run on: MAS's base data from the config, its
/// `policy.data`, then `--data`, and only then each suite's own `data`.
#[derive(Args)]
struct DeploymentArgs {
    /// A MAS config.yaml (or `a.yaml:b.yaml`, merged as MAS merges `MAS_CONFIG`): its
    /// `matrix.homeserver`, `experimental.session_limit` and `policy.data`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Policy data JSON or YAML merged over the config's `policy.data`, like MAS's dynamic
    /// data.
    #[arg(long)]
    data: Option<PathBuf>,
}

impl DeploymentArgs {
    /// The data every case starts from, or `None` for the fixtures' default (MAS's base data
    /// for `example.com`).
    fn base(&self, server_name: &str) -> anyhow::Result<Option<Value>> {
        use policy_test::claims::mas_config::{MasConfig, assemble};
        if self.config.is_none() && self.data.is_none() {
            return Ok(None);
        }
        let config = self.config.as_deref().map(MasConfig::load).transpose()?;
        let (base, policy_data) = match &config {
            Some(c) => (c.base_data()?, c.policy_data()),
            None => (merge::base(server_name), merge::empty()),
        };
        let extra = self.data.as_deref().map(read_document).transpose()?;
        assemble(base, policy_data, extra).map(Some)
    }
}

/// `policy-test test`.
#[derive(Args)]
struct TestArgs {
    /// Fixture files or folders (default: this project's tests/cases, with --self-check).
    paths: Vec<PathBuf>,
    /// Engines to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "native,component,opa,rego"
    )]
    engine: Vec<String>,
    /// Also run this project's self-checks: the contract catalogue's coverage by passing
    /// cases and, with the `rego` engine, the Rego twin's own tests. On by default when no
    /// PATH is given (this project's own suites).
    #[arg(long)]
    self_check: bool,
    /// The catalogue of contract violations whose coverage the self-check reports (default:
    /// the contract's, built in).
    #[arg(long)]
    catalogue: Option<PathBuf>,
    /// Fail unless at least this percentage of the catalogue is produced by passing cases
    /// (self-check).
    #[arg(long, default_value_t = 0.0)]
    min_coverage: f64,
    /// Report the Rego twin's line coverage by its tests, per file, with the uncovered lines
    /// (self-check).
    #[arg(long)]
    coverage: bool,
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// Load every engine's artifact from this bundle folder (`policy-test build`).
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Run the `opa` engine on this OPA-ABI module (MAS's own `policy.wasm`, say). Failures of
    /// cases marked as needing an extension, or documenting a decision, are counted apart.
    #[arg(long, value_name = "FILE")]
    wasm: Option<PathBuf>,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Pretty)]
    format: OutputFormat,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

/// How `test` prints its results.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// Lines for people, each fixture case as it ends.
    Pretty,
    /// One JSON document when the run ends.
    Json,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        // The reader went away (`policy-test test | head`): stop quietly, as `cat` does.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Test(args) => test(args),
        Command::Export {
            paths,
            out,
            fuzz_seeds,
        } => export(paths, &out, fuzz_seeds.as_deref()),
        Command::Eval {
            entrypoint,
            input,
            deployment,
            server_name,
            engine,
        } => eval(&entrypoint, &input, &deployment, &server_name, &engine),
        Command::Claims(args) => policy_test::claims::cli::claims(&args),
        Command::Migrate(args) => policy_test::claims::cli::migrate(&args),
        Command::Lint(args) => lint(&args),
        Command::Bench(args) => bench(&args),
        Command::Build(args) => build(&args),
        Command::Verify(args) => verify(&args),
    }
}

fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;

    use policy_test::bench;
    let (source, workload) = match args.deployment.base(FIXTURE_SERVER_NAME)? {
        Some(data) => {
            let source = args
                .deployment
                .config
                .as_ref()
                .or(args.deployment.data.as_ref())
                .map_or_else(String::new, |p| p.display().to_string());
            (source, bench::Workload::with_data(data))
        }
        None => (
            "the built-in workload (benches/workload.json)".to_owned(),
            bench::Workload::builtin(),
        ),
    };
    let engines = args
        .engine
        .iter()
        .map(|name| {
            let name = name.trim();
            let warm: anyhow::Result<Box<dyn engine::Engine>> = if name == "opa" {
                Ok(Box::new(engine::opa::OpaEngine::new(
                    engine::opa::Mode::Warm,
                )?))
            } else {
                engine::by_name(name)
            };
            Ok((engine::by_name(name)?, warm?))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let module = args
        .module
        .as_ref()
        .map(|path| {
            let wasm =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            anyhow::Ok((path.display().to_string(), wasm))
        })
        .transpose()?;
    let bar = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        bar
    });
    let report = bench::run(
        &source,
        &workload,
        &engines,
        module
            .as_ref()
            .map(|(name, wasm)| (name.as_str(), wasm.as_slice())),
        std::time::Duration::from_millis(args.time_per_case_ms),
        |what, done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(what.to_owned());
            }
        },
    )?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut out = io::stdout().lock();
    match args.format {
        OutputFormat::Pretty => write!(out, "{}", report.pretty())?,
        OutputFormat::Json => writeln!(out, "{:#}", report.json())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a JSON or YAML document.
fn read_document(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_norway::from_str(&text)
        .with_context(|| format!("{}: invalid JSON or YAML", path.display()))
}

/// A fixture folder of this repository, for commands whose suites default to it.
fn repo_suite(relative: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

fn build(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    use policy_test::bundle::{build, signing::SigningKey};
    let started = std::time::Instant::now();
    let mut options = build::Options::new(args.config.clone());
    options.data = args.data.as_deref().map(read_document).transpose()?;
    options.server_name.clone_from(&args.server_name);
    options.wasm_module.clone_from(&args.wasm_module);
    options.kubernetes.namespace.clone_from(&args.k8s_namespace);
    options
        .kubernetes
        .deployment
        .clone_from(&args.k8s_deployment);
    options.kubernetes.container.clone_from(&args.k8s_container);
    options
        .kubernetes
        .config_path
        .clone_from(&args.k8s_config_path);
    options.opa_wasm_entrypoints = !args.no_opa_wasm_entrypoints;
    options.mtime = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH: not a number of seconds: `{v}`"))?,
        Err(_) => 0,
    };
    if let Some(path) = &args.signing_key {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let key = SigningKey::from_pem_or_secret(&bytes, None)
            .with_context(|| path.display().to_string())?
            .with_keyid(args.signing_key_id.clone());
        options.signing_key = Some(key);
    }
    let bundle = build::build(&options)?;
    build::write(&bundle, &args.out)?;
    let mut out = io::stdout().lock();
    for provider in &bundle.generated.providers {
        let form = match &provider.form {
            None => "no tenants: the template is unchanged".to_owned(),
            Some(f) if f.name() == "rule" => {
                "tenant markers by rule: new tenants need only a data push".to_owned()
            }
            Some(_) => {
                "tenant markers by table: a new tenant needs a rebuild and a MAS restart".to_owned()
            }
        };
        writeln!(out, "provider {}: {form}", provider.id)?;
    }
    for (path, size) in build::listing(&bundle) {
        writeln!(out, "{:>10}  {}", size, args.out.join(path).display())?;
    }
    writeln!(
        out,
        "built {} (revision {}) in {:.2} s",
        args.out.display(),
        bundle.manifest.revision,
        started.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    use policy_test::bundle::{signing::VerificationKey, verify};
    let started = std::time::Instant::now();
    let verification_key = args
        .verification_key
        .as_deref()
        .map(|path| {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            VerificationKey::from_pem_or_secret(&bytes, None)
                .with_context(|| path.display().to_string())
        })
        .transpose()?;
    // Without --suite, this checkout's suites, when the binary runs beside one.
    let or_default = |paths: &[PathBuf], default: &str| {
        if !paths.is_empty() {
            return paths.to_vec();
        }
        let dir = repo_suite(default);
        if dir.is_dir() {
            vec![dir]
        } else {
            eprintln!(
                "warning: no {default} here; give --suite/--claims-suite to run fixtures on the bundle"
            );
            Vec::new()
        }
    };
    let options = verify::Options {
        suites: or_default(&args.suites, "tests/cases"),
        claims_suites: or_default(&args.claims_suites, "tests/claims"),
        verification_key,
    };
    let report = verify::verify(&args.dir, &options)?;
    let mut out = io::stdout().lock();
    for line in &report.checked {
        writeln!(out, "checked: {line}")?;
    }
    for problem in &report.problems {
        writeln!(out, "problem: {problem}")?;
    }
    writeln!(
        out,
        "{}: {} problems ({:.2} s)",
        args.dir.display(),
        report.problems.len(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn lint(args: &LintArgs) -> anyhow::Result<ExitCode> {
    use policy_test::{claims::mas_config, lint};
    let config = args
        .config
        .as_deref()
        .map(mas_config::MasConfig::load)
        .transpose()?;
    let (base, policy_data) = match &config {
        Some(c) => (c.base_data()?, c.policy_data()),
        None => (merge::base(&args.server_name), merge::empty()),
    };
    let extra = match &args.data {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                serde_norway::from_str(&text)
                    .with_context(|| format!("{}: invalid JSON or YAML", path.display()))?,
            )
        }
        None => None,
    };
    let data = mas_config::assemble(base, policy_data, extra)?;
    let mut findings = config
        .as_ref()
        .map(|c| lint::lint_claims_imports(&c.providers()))
        .unwrap_or_default();
    findings.extend(lint::lint(&data));
    if let Some(config) = &config {
        findings.extend(
            config
                .merge_problems()
                .into_iter()
                .map(|message| lint::Finding {
                    severity: lint::Severity::Error,
                    message,
                }),
        );
        findings.extend(lint::tenant_safety::lint(config, &data));
    }
    let mut stdout = io::stdout().lock();
    for finding in &findings {
        writeln!(stdout, "{finding}")?;
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == lint::Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    writeln!(stdout, "{errors} errors, {warnings} warnings")?;
    let fail = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let self_check = args.self_check || args.paths.is_empty();
    if !self_check && (args.coverage || args.min_coverage > 0.0 || args.catalogue.is_some()) {
        bail!("--coverage, --min-coverage and --catalogue are self-checks: add --self-check");
    }
    let mut coverage = match &args.catalogue {
        Some(path) => Coverage::load(path),
        None => Coverage::builtin(),
    }
    .map_err(anyhow::Error::msg)?;
    let paths = default_paths(args.paths)?;
    let base = args
        .deployment
        .base(FIXTURE_SERVER_NAME)?
        .unwrap_or_else(|| merge::base(FIXTURE_SERVER_NAME));
    let artifacts = engine::Artifacts {
        bundle: args.bundle.clone(),
        wasm: args.wasm.clone(),
    };
    if args.wasm.is_some() && !args.engine.iter().any(|n| n.trim() == "opa") {
        bail!("--wasm is a module for the `opa` engine: add `opa` to --engine");
    }
    let engines = args
        .engine
        .iter()
        .map(|n| engine::by_name_from(n.trim(), &artifacts))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names: Vec<String> = engines.iter().map(|e| e.name().to_owned()).collect();
    let with_rego = self_check && names.iter().any(|n| n == "rego");
    if args.coverage && !with_rego {
        bail!("--coverage is the rego tests' line coverage: add `rego` to --engine");
    }
    let pretty = args.format == OutputFormat::Pretty;
    let mut out = io::stdout().lock();
    if pretty {
        writeln!(out, "engines: {}", names.join(", "))?;
    }
    let mut write_error = None;
    let fixtures = runner::run_over(&paths, &engines, &base, |case| {
        if !pretty {
            return ControlFlow::Continue(());
        }
        report::pretty_case(&mut out, case).map_or_else(
            |e| {
                write_error = Some(e);
                ControlFlow::Break(())
            },
            ControlFlow::Continue,
        )
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }
    for case in &fixtures.cases {
        coverage.observe(&case.violations);
    }
    let (covered, total) = coverage.counts();
    let violations = self_check.then(|| ViolationCoverage {
        covered,
        total,
        uncovered: coverage
            .uncovered()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        min_percent: args.min_coverage,
    });
    let rego = with_rego
        .then(|| rego_tests::run(&engine::rego::default_policy_dir(), args.coverage))
        .transpose()?;
    let run = TestRun {
        engines: names,
        fixtures,
        violations,
        rego,
    };
    match args.format {
        OutputFormat::Pretty => report::pretty_summary(&mut out, &run)?,
        OutputFormat::Json => writeln!(out, "{:#}", report::json(&run))?,
    }
    out.flush()?;
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&run))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if run.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `paths`, or this project's own suites: `tests/cases` here, else in the checkout the binary
/// was built from.
fn default_paths(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    if !paths.is_empty() {
        return Ok(paths);
    }
    let here = PathBuf::from("tests/cases");
    if here.is_dir() {
        return Ok(vec![here]);
    }
    let checkout = repo_suite("tests/cases");
    if checkout.is_dir() {
        return Ok(vec![checkout]);
    }
    bail!("give the fixture files or folders to run (this project's tests/cases is not here)")
}

fn export(
    paths: Vec<PathBuf>,
    out: &std::path::Path,
    fuzz_seeds: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use policy_test::engine::{Engine as _, EvalError, native::NativeEngine};

    let mut lines = Vec::new();
    let mut seeds = Vec::new();
    for root in default_paths(paths)? {
        for file in fixtures::discover(&root).map_err(anyhow::Error::msg)? {
            let suite = fixtures::load(&file).map_err(anyhow::Error::msg)?;
            if let Some((label, err)) = suite.broken.first() {
                bail!("{}::{label}: invalid case: {err}", file.display());
            }
            for case in suite.cases {
                if fuzz_seeds.is_some() {
                    seeds.push(policy_test::fuzz::encode(
                        suite.entrypoint,
                        &case.data,
                        case.input.as_ref(),
                    ));
                }
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
    writeln!(
        io::stdout().lock(),
        "wrote {} cases to {}",
        lines.len(),
        out.display()
    )?;
    if let Some(dir) = fuzz_seeds {
        write_fuzz_seeds(dir, &seeds)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the fuzz targets' seeds (`policy_test::fuzz`): the policy cases under `dir/policy`,
/// and this checkout's claims fixtures under `dir/claims` (an installed binary run elsewhere
/// writes policy seeds only).
fn write_fuzz_seeds(dir: &std::path::Path, seeds: &[Vec<u8>]) -> anyhow::Result<()> {
    use policy_test::claims::fixtures as claims_fixtures;

    let mut claims_seeds = Vec::new();
    let claims_suite = repo_suite("tests/claims");
    let claims_files = if claims_suite.is_dir() {
        claims_fixtures::discover(&claims_suite).map_err(anyhow::Error::msg)?
    } else {
        Vec::new()
    };
    for file in claims_files {
        for case in claims_fixtures::load(&file).map_err(anyhow::Error::msg)? {
            claims_seeds.push(policy_test::fuzz::encode_claims(
                &case.imports,
                &case.data,
                &case.claims,
            ));
        }
    }
    for (kind, seeds) in [("policy", seeds), ("claims", claims_seeds.as_slice())] {
        let dir = dir.join(kind);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for (i, seed) in seeds.iter().enumerate() {
            let file = dir.join(format!("case-{i:04}"));
            std::fs::write(&file, seed)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        writeln!(
            io::stdout().lock(),
            "wrote {} {kind} fuzz seeds to {}",
            seeds.len(),
            dir.display()
        )?;
    }
    Ok(())
}

fn read_json(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))
}

fn eval(
    entrypoint: &str,
    input: &std::path::Path,
    deployment: &DeploymentArgs,
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
    let data = deployment
        .base(server_name)?
        .unwrap_or_else(|| merge::base(server_name));
    let engine = engine::by_name(engine)?;
    let mut policy = engine.load(&data)?;
    let violations = policy.evaluate(entrypoint, Some(&input))?;
    writeln!(io::stdout().lock(), "{}", Value::Array(violations))?;
    Ok(ExitCode::SUCCESS)
}
