//! `policy-test build`: assembles `dist/` (see [`crate::bundle`]).
//!
//! The data is assembled exactly as MAS assembles it (base data from the config's
//! `matrix.homeserver` and `experimental.session_limit`, then `policy.data`, then `--data`)
//! and loaded by the same loader every engine uses: data MAS would refuse is refused here,
//! with its data path, and nothing is written.
//!
//! The output folder is replaced whole, so no file of an earlier build lingers; a folder that
//! is not empty and holds no earlier bundle is refused rather than overwritten.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use policy_rules::Entrypoint;
use serde_json::{Value, json};

use super::{
    FileEntry, Manifest, NAME, SOURCE_REVISION, VERSION, WIT_WORLDS, files, kubernetes,
    mas_config::{self, Generated},
    opa_bundle, signing,
};
use crate::{
    claims::mas_config::{MasConfig, assemble},
    engine::{compile_data, rego},
    merge,
};

/// The default `policy.wasm_module`: the mount of the bundle's ConfigMap.
pub const DEFAULT_WASM_MODULE: &str = "/policy/policy.wasm";

/// What to build from.
#[derive(Debug)]
pub struct Options {
    /// The deployment's MAS config (or `:`-separated configs, as `MAS_CONFIG`).
    pub config: Option<PathBuf>,
    /// Policy data merged over the config's `policy.data`.
    pub data: Option<Value>,
    /// `matrix.homeserver` when there is no config.
    pub server_name: Option<String>,
    /// `policy.wasm_module` in the generated config.
    pub wasm_module: String,
    /// The Deployment the Kubernetes patch is for.
    pub kubernetes: kubernetes::Target,
    /// The tarball's file times (`SOURCE_DATE_EPOCH`).
    pub mtime: u64,
    /// Signs the bundle in OPA's format.
    pub signing_key: Option<signing::SigningKey>,
    /// Lists `policy.wasm`'s five entrypoints in the tarball's `.manifest` (`wasm`). OPA then
    /// loads the module as a resolver, which needs an OPA built with its wasm engine (the
    /// default image, not `-static`); without the list OPA only evaluates the Rego, and the
    /// module still travels in the tarball for other runtimes. By default true.
    pub opa_wasm_entrypoints: bool,
    /// Where the Rego twin is read from; `None`: the twin built into the binary.
    pub rego_dir: Option<PathBuf>,
}

impl Options {
    /// Defaults for a config: OpenMeet's Deployment shape, the twin of this repository.
    pub fn new(config: Option<PathBuf>) -> Self {
        Options {
            config,
            data: None,
            server_name: None,
            wasm_module: DEFAULT_WASM_MODULE.to_owned(),
            kubernetes: kubernetes::Target {
                namespace: None,
                deployment: "matrix-auth-service".to_owned(),
                container: "matrix-auth-service".to_owned(),
                config_path: "/config/config.yaml".to_owned(),
                mount_path: "/policy".to_owned(),
            },
            mtime: 0,
            signing_key: None,
            opa_wasm_entrypoints: true,
            rego_dir: None,
        }
    }
}

/// A built bundle, in memory.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Every file, by `/`-separated path, sorted.
    pub files: Vec<(String, Vec<u8>)>,
    /// The parsed `manifest.json`.
    pub manifest: Manifest,
    /// What was generated for each provider.
    pub generated: Generated,
}

/// The data documents of a build: the policy data as the config gives it (for
/// `mas-config.yaml`) and the assembled document (for `data.json`).
struct Data {
    policy_data: Value,
    assembled: Value,
}

fn data(options: &Options, config: Option<&MasConfig>) -> anyhow::Result<Data> {
    let base = match (config, &options.server_name) {
        (_, Some(name)) => merge::base(name),
        (Some(c), None) => c.base_data()?,
        (None, None) => bail!("give --config mas.yaml, or --server-name for data without a config"),
    };
    let config_data = config.map_or_else(merge::empty, MasConfig::policy_data);
    let policy_data = match &options.data {
        Some(extra) => merge::merge(config_data, extra.clone())
            .map_err(|e| anyhow::anyhow!("invalid policy data: {e}"))?,
        None => config_data,
    };
    let assembled = assemble(base, policy_data.clone(), None)?;
    Ok(Data {
        policy_data,
        assembled,
    })
}

/// The Rego twin's policies as bundle files (`rego/<name>`): from `dir`, or built in.
fn twin(dir: Option<&Path>) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let Some(dir) = dir else {
        return Ok(rego::TWIN
            .iter()
            .map(|(name, text)| {
                (
                    format!("{}/{name}", files::REGO_DIR),
                    text.as_bytes().to_vec(),
                )
            })
            .collect());
    };
    let mut out = Vec::new();
    for file in rego::rego_files(dir, false)? {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        out.push((format!("{}/{name}", files::REGO_DIR), text));
    }
    if out.is_empty() {
        bail!("{}: no Rego policies", dir.display());
    }
    Ok(out)
}

/// `value` as pretty JSON with a final newline.
fn json_bytes(value: &Value) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The directory of `path` (`/policy` for `/policy/policy.wasm`).
fn parent_dir(path: &str) -> String {
    Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned())
}

/// Builds the bundle in memory.
///
/// # Errors
///
/// Unreadable inputs, data the policy refuses, a provider the generated config cannot carry,
/// a ConfigMap over Kubernetes' limit, or a signing failure.
pub fn build(options: &Options) -> anyhow::Result<Bundle> {
    let config = options.config.as_deref().map(MasConfig::load).transpose()?;
    let data = data(options, config.as_ref())?;
    let policy = compile_data(&data.assembled).map_err(|e| anyhow::anyhow!("{e}"))?;
    let server_name = policy.server_name().unwrap_or_default().to_owned();

    let generated = mas_config::generate(
        config.as_ref(),
        &server_name,
        &data.policy_data,
        policy.tenants(),
        &options.wasm_module,
    )?;
    let mas_config = generated.to_yaml()?;
    let data_json = json_bytes(&data.assembled)?;
    let policy_wasm = policy_artifacts::policy_wasm();

    let mut target = options.kubernetes.clone();
    target.mount_path = parent_dir(&options.wasm_module);
    let k8s = kubernetes::manifests(&target, policy_wasm, &mas_config, VERSION)?;

    let mut out: Vec<(String, Vec<u8>)> = vec![
        (files::POLICY_WASM.to_owned(), policy_wasm.to_vec()),
        (
            files::POLICY_COMPONENT.to_owned(),
            policy_artifacts::policy_component().to_vec(),
        ),
        (
            files::CLAIMS_COMPONENT.to_owned(),
            policy_artifacts::claims_component().to_vec(),
        ),
        (files::DATA.to_owned(), data_json.clone()),
        (files::MAS_CONFIG.to_owned(), mas_config.into_bytes()),
        (files::CONFIGMAP.to_owned(), k8s.configmap.into_bytes()),
        (
            files::DEPLOYMENT_PATCH.to_owned(),
            k8s.deployment_patch.into_bytes(),
        ),
    ];
    let rego_files = twin(options.rego_dir.as_deref())?;
    out.extend(rego_files.iter().cloned());

    let revision = format!(
        "{VERSION}+{}.{}",
        &SOURCE_REVISION[..SOURCE_REVISION.len().min(12)],
        &opa_bundle::sha256_hex(&data_json)[..12]
    );
    let tarball = tarball(options, &revision, &server_name, &data_json, &rego_files)?;
    out.push((files::TARBALL.to_owned(), tarball));
    out.sort_by(|a, b| a.0.cmp(&b.0));

    let manifest = Manifest {
        name: NAME.to_owned(),
        version: VERSION.to_owned(),
        source_revision: SOURCE_REVISION.to_owned(),
        revision,
        server_name,
        entrypoints: Entrypoint::ALL
            .iter()
            .map(|e| e.name().to_owned())
            .collect(),
        wit_worlds: WIT_WORLDS.iter().map(|w| (*w).to_owned()).collect(),
        opa_abi_version: "1.3".to_owned(),
        files: out
            .iter()
            .map(|(path, bytes)| {
                (
                    path.clone(),
                    FileEntry {
                        size: bytes.len() as u64,
                        sha256: opa_bundle::sha256_hex(bytes),
                    },
                )
            })
            .collect(),
    };
    out.push((
        files::MANIFEST.to_owned(),
        json_bytes(&serde_json::to_value(&manifest)?)?,
    ));
    if let Some(key) = &options.signing_key {
        let signatures = signing::sign(&out, key)?;
        out.push((files::SIGNATURES.to_owned(), signatures));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Bundle {
        files: out,
        manifest,
        generated,
    })
}

/// `bundle.tar.gz` in OPA's bundle layout, signed like `dist/` when a key is given.
fn tarball(
    options: &Options,
    revision: &str,
    server_name: &str,
    data_json: &[u8],
    rego_files: &[(String, Vec<u8>)],
) -> anyhow::Result<Vec<u8>> {
    let wasm: Vec<(String, String)> = if options.opa_wasm_entrypoints {
        Entrypoint::ALL
            .iter()
            .map(|e| (e.name().to_owned(), format!("/{}", files::POLICY_WASM)))
            .collect()
    } else {
        Vec::new()
    };
    let manifest = opa_bundle::manifest(
        revision,
        &[String::new()],
        &wasm,
        json!({
            "name": NAME,
            "version": VERSION,
            "source_revision": SOURCE_REVISION,
            "server_name": server_name,
        }),
    );
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        (".manifest".to_owned(), json_bytes(&manifest)?),
        (files::DATA.to_owned(), data_json.to_vec()),
        (
            files::POLICY_WASM.to_owned(),
            policy_artifacts::policy_wasm().to_vec(),
        ),
    ];
    entries.extend(rego_files.iter().cloned());
    if let Some(key) = &options.signing_key {
        let signatures = signing::sign(&entries, key)?;
        entries.push((files::SIGNATURES.to_owned(), signatures));
    }
    opa_bundle::write_tar_gz(&entries, options.mtime)
}

/// Writes `bundle` to `out`, replacing an earlier bundle there.
///
/// # Errors
///
/// When `out` holds something that is not an earlier bundle, or a file cannot be written.
pub fn write(bundle: &Bundle, out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let is_bundle = out.join(files::MANIFEST).is_file();
        let is_empty = std::fs::read_dir(out)
            .with_context(|| format!("cannot read {}", out.display()))?
            .next()
            .is_none();
        if !is_bundle && !is_empty {
            bail!(
                "{}: not empty and not an earlier bundle (no {}); refusing to replace it",
                out.display(),
                files::MANIFEST
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("cannot remove {}", out.display()))?;
    }
    for (path, bytes) in &bundle.files {
        let file = out.join(path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

/// Every file of the bundle with its size in bytes, for the build's listing.
pub fn listing(bundle: &Bundle) -> Vec<(String, u64)> {
    bundle
        .files
        .iter()
        .map(|(p, b)| (p.clone(), b.len() as u64))
        .collect()
}
