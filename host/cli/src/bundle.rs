//! The deployable bundle (`dist/`): what `policy-test build` writes and `policy-test verify`
//! checks.
//!
//! ```text
//! dist/
//!   policy.wasm                 the OPA-ABI module MAS loads (policy.wasm_module)
//!   policy.component.wasm       the policy as a WIT component (world `policy`)
//!   claims.component.wasm       the claims mapper as a WIT component (world `claims-mapper`)
//!   rego/*.rego                 the Rego twin
//!   data.json                   the policy data, assembled as MAS assembles it, validated
//!   mas-config.yaml             the `policy:` section and the providers with generated templates
//!   kubernetes/configmap.yaml   policy.wasm + mas-config.yaml as an immutable ConfigMap
//!   kubernetes/deployment-patch.yaml
//!   bundle.tar.gz               an OPA bundle: .manifest, data.json, rego/, policy.wasm
//!   manifest.json               names, versions, and the size and sha256 of every other file
//!   .signatures.json            with --signing-key: OPA's signature format over every file
//! ```
//!
//! A build is reproducible: the same sources (the binary) and inputs give byte-identical
//! files. The only time in it is the tarball's file times, `SOURCE_DATE_EPOCH` or 0.

pub mod build;
pub mod kubernetes;
pub mod mas_config;
pub mod opa_bundle;
pub mod signing;
pub mod verify;
pub mod wasm_abi;

use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The bundle's name in its manifests.
pub const NAME: &str = "openmeet-mas-policy";

/// The version of this project, which is the bundle's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from, or `unknown`.
pub const SOURCE_REVISION: &str = env!("POLICY_SOURCE_REVISION");

/// The WIT worlds of the two components.
pub const WIT_WORLDS: [&str; 2] = [
    "openmeet:mas-policy/policy@0.1.0",
    "openmeet:mas-policy/claims-mapper@0.1.0",
];

/// File names inside `dist/`.
pub mod files {
    /// The OPA-ABI module.
    pub const POLICY_WASM: &str = "policy.wasm";
    /// The policy component.
    pub const POLICY_COMPONENT: &str = "policy.component.wasm";
    /// The claims-mapper component.
    pub const CLAIMS_COMPONENT: &str = "claims.component.wasm";
    /// The Rego twin's folder.
    pub const REGO_DIR: &str = "rego";
    /// The policy data.
    pub const DATA: &str = "data.json";
    /// The generated MAS config.
    pub const MAS_CONFIG: &str = "mas-config.yaml";
    /// The ConfigMap.
    pub const CONFIGMAP: &str = "kubernetes/configmap.yaml";
    /// The Deployment patch.
    pub const DEPLOYMENT_PATCH: &str = "kubernetes/deployment-patch.yaml";
    /// The OPA bundle.
    pub const TARBALL: &str = "bundle.tar.gz";
    /// The manifest with every digest.
    pub const MANIFEST: &str = "manifest.json";
    /// OPA-format signatures over every file.
    pub const SIGNATURES: &str = ".signatures.json";
}

/// One file's size and digest in `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`NAME`].
    pub name: String,
    /// [`VERSION`].
    pub version: String,
    /// [`SOURCE_REVISION`] of the binary that built it.
    pub source_revision: String,
    /// The OPA bundle revision: version, source revision and data digest.
    pub revision: String,
    /// `data.server_name` (MAS's `matrix.homeserver`).
    pub server_name: String,
    /// The policy entrypoints, as MAS names them.
    pub entrypoints: Vec<String>,
    /// The WIT worlds of the components.
    pub wit_worlds: Vec<String>,
    /// The OPA Wasm ABI version of `policy.wasm`.
    pub opa_abi_version: String,
    /// Every other file of the bundle (not `manifest.json`, not `.signatures.json`), by path.
    pub files: BTreeMap<String, FileEntry>,
}

/// Every regular file below `dir`, as (`/`-separated relative path, bytes), sorted by path.
///
/// # Errors
///
/// When the directory or a file cannot be read, or holds something other than files and
/// folders.
pub fn read_tree(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("cannot read {}", path.display()))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                out.push((relative, bytes));
            } else {
                anyhow::bail!("{relative}: not a regular file");
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
