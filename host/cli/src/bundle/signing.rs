//! OPA bundle signatures (`.signatures.json`), written and checked exactly as OPA does.
//!
//! **Why.** A signed bundle lets an OPA (or anything else that trusts the key) refuse a bundle
//! that was altered after the build. The format is OPA's own ("Signing" in OPA's bundle
//! documentation; `v1/bundle/sign.go`, `verify.go`, `hash.go`, `keys.go`, `bundle.go`), so a
//! real OPA configured with the public key (or shared secret) accepts what [`sign`] writes:
//!
//! - `.signatures.json` is `{"signatures": ["<JWT>"]}`: exactly one compact JWT.
//! - The JWT's payload is `{"files": [{"name", "hash", "algorithm"}], "keyid"?, "scope"?}`:
//!   every file in the bundle except `.signatures.json`, named as in the tarball without the
//!   leading `/` (OPA trims one `/` from each entry name before the lookup), hashed with
//!   `SHA-256` and written as lowercase hex.
//! - What is hashed depends on the file's *base name*, not its extension: `data.json`,
//!   `data.yaml` and `.manifest` are "structured" (`IsStructuredDoc`) and are hashed in a
//!   canonical form; every other file, `.rego`, `.wasm` and any other `.json` included, is
//!   hashed as raw bytes.
//! - The canonical form is what OPA's `walk` feeds the hash after decoding the file with Go's
//!   `encoding/json` (`UseNumber`): objects as `{` + `"key":value` pairs sorted by key
//!   (bytewise) and joined by `,` + `}`, arrays as `[` + values joined by `,` + `]`, no
//!   whitespace, numbers exactly as written in the file (`1.0` stays `1.0`, `1e2` stays
//!   `1e2`), strings re-encoded as Go's encoder writes them with HTML escaping off (`\"`,
//!   `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as `\u00xx`, U+2028 and
//!   U+2029 as `\u2028`/`\u2029`, everything else as raw UTF-8; invalid UTF-8 and lone
//!   surrogates become U+FFFD), a UTF-8 byte-order mark dropped, and the last of duplicate
//!   keys kept. So re-formatting or re-ordering a `data.json` keeps its signature valid;
//!   changing `1` to `1.0` does not.
//!
//! **Not covered.** A `data.yaml` that is not JSON (OPA converts YAML to JSON before hashing;
//! this signer refuses it); signing plugins; the MD5 and SHA-1 digests OPA also accepts when
//! verifying (the SHA-2 family is supported).

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use anyhow::{Context as _, anyhow, bail};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation,
    crypto::CryptoProvider, errors::ErrorKind,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::opa_bundle::{normalise_path, to_hex};

/// The name of the signature file in a bundle.
pub const SIGNATURES_FILE: &str = ".signatures.json";

/// The digest [`sign`] writes for every file.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// Go's `encoding/json` nesting limit, which OPA's decoder inherits.
const MAX_JSON_DEPTH: usize = 10_000;

/// A key for one side of a bundle signature: [`SigningKey`] or [`VerificationKey`].
pub struct Key<M> {
    material: M,
    algorithm: Algorithm,
    /// The key id. Signing writes it as the JWT's `kid` header and as the (deprecated) `keyid`
    /// claim; OPA picks the verification key by the bundle's configured `signing.keyid`, else
    /// by this, and with neither it refuses the bundle ("verification key ID is empty").
    /// Verifying with it set fails when the token names another key, as it does in an OPA
    /// whose key table only holds this key under this id.
    pub keyid: Option<String>,
    /// The `scope` claim. OPA requires the token's scope to equal the one configured for the
    /// bundle or key (both empty when neither sets one); `None` is the empty scope.
    pub scope: Option<String>,
}

/// A key that signs bundles: an HMAC secret, or an RSA, EC (P-256/P-384) or Ed25519 private
/// key in PEM (PKCS#8, or PKCS#1 for RSA).
pub type SigningKey = Key<EncodingKey>;

/// A key that verifies bundle signatures: the HMAC secret, or an RSA, EC or Ed25519 public
/// key in PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`).
pub type VerificationKey = Key<DecodingKey>;

impl<M: KeyMaterial> fmt::Debug for Key<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(M::ROLE)
            .field("algorithm", &self.algorithm)
            .field("keyid", &self.keyid)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl<M> Key<M> {
    fn new(material: M, algorithm: Algorithm) -> Self {
        Key {
            material,
            algorithm,
            keyid: None,
            scope: None,
        }
    }

    /// Sets the key id (see [`Key::keyid`]).
    #[must_use]
    pub fn with_keyid(mut self, keyid: impl Into<String>) -> Self {
        self.keyid = Some(keyid.into());
        self
    }

    /// Sets the scope (see [`Key::scope`]).
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The JWT algorithm of this key.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// The label of a PEM document (`PRIVATE KEY` for `-----BEGIN PRIVATE KEY-----`), if the
/// bytes are one.
fn pem_label(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let rest = text.trim_start().strip_prefix("-----BEGIN ")?;
    rest.split_once("-----").map(|(label, _)| label)
}

/// Whether `key` can sign with `algorithm` (the key parses and fits the curve).
fn can_sign(key: &EncodingKey, algorithm: Algorithm) -> bool {
    jsonwebtoken::crypto::sign(b"probe", key, algorithm).is_ok()
}

/// Whether `key` is a usable public key for `algorithm`: EC and Ed keys are parsed when the
/// verifier is built; RSA keys only when used, so those are parsed here.
fn can_verify(key: &DecodingKey, algorithm: Algorithm) -> bool {
    if jsonwebtoken::crypto::verify("", b"probe", key, algorithm).is_err() {
        return false;
    }
    if algorithm.family() != AlgorithmFamily::Rsa {
        return true;
    }
    let (Some(provider), Ok(der)) = (CryptoProvider::try_get_default(), key.try_get_as_bytes())
    else {
        return false;
    };
    (provider.key_utils.rsa_pub_components_from_public_key)(der).is_ok()
}

/// What a key file is read into on each side of a signature (jsonwebtoken's `EncodingKey`
/// and `DecodingKey`), so that reading one is written once for both.
pub trait KeyMaterial: Sized {
    /// `signing key` or `verification key`, as errors name it.
    const ROLE: &'static str;
    /// An HMAC secret, byte for byte.
    ///
    /// # Errors
    ///
    /// An empty secret.
    fn secret(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self>;
    /// An RSA key in PEM.
    ///
    /// # Errors
    ///
    /// Not such a key.
    fn rsa(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self>;
    /// An EC key in PEM.
    ///
    /// # Errors
    ///
    /// Not such a key.
    fn ec(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self>;
    /// An Ed25519 key in PEM.
    ///
    /// # Errors
    ///
    /// Not such a key.
    fn ed(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self>;
    /// Whether the key works with `algorithm` (it parses and fits the curve).
    fn works_with(&self, algorithm: Algorithm) -> bool;
}

impl KeyMaterial for EncodingKey {
    const ROLE: &'static str = "signing key";
    fn secret(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        EncodingKey::from_secret(bytes)
    }
    fn rsa(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        EncodingKey::from_rsa_pem(bytes)
    }
    fn ec(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        EncodingKey::from_ec_pem(bytes)
    }
    fn ed(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        EncodingKey::from_ed_pem(bytes)
    }
    fn works_with(&self, algorithm: Algorithm) -> bool {
        can_sign(self, algorithm)
    }
}

impl KeyMaterial for DecodingKey {
    const ROLE: &'static str = "verification key";
    fn secret(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        DecodingKey::from_secret(bytes)
    }
    fn rsa(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        DecodingKey::from_rsa_pem(bytes)
    }
    fn ec(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        DecodingKey::from_ec_pem(bytes)
    }
    fn ed(bytes: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        DecodingKey::from_ed_pem(bytes)
    }
    fn works_with(&self, algorithm: Algorithm) -> bool {
        can_verify(self, algorithm)
    }
}

/// The key for `algorithm`'s family, from PEM or secret bytes.
fn key_for<K: KeyMaterial>(bytes: &[u8], algorithm: Algorithm) -> anyhow::Result<K> {
    let key = match algorithm.family() {
        AlgorithmFamily::Hmac => K::secret(bytes),
        AlgorithmFamily::Rsa => K::rsa(bytes),
        AlgorithmFamily::Ec => K::ec(bytes),
        AlgorithmFamily::Ed => K::ed(bytes),
    }
    .map_err(|error| anyhow!("{}: not a usable {algorithm:?} key ({error})", K::ROLE))?;
    if algorithm.family() != AlgorithmFamily::Hmac && !key.works_with(algorithm) {
        bail!("{}: not a usable {algorithm:?} key", K::ROLE);
    }
    Ok(key)
}

/// A PEM key of any family this module handles (RS256; ES256 or ES384 by curve; `EdDSA`),
/// with its algorithm.
fn pem_key<K: KeyMaterial>(bytes: &[u8]) -> Option<(K, Algorithm)> {
    let candidates: [(jsonwebtoken::errors::Result<K>, &[Algorithm]); 3] = [
        (K::rsa(bytes), &[Algorithm::RS256]),
        (K::ec(bytes), &[Algorithm::ES256, Algorithm::ES384]),
        (K::ed(bytes), &[Algorithm::EdDSA]),
    ];
    candidates.into_iter().find_map(|(key, algorithms)| {
        let key = key.ok()?;
        let algorithm = algorithms.iter().copied().find(|&a| key.works_with(a))?;
        Some((key, algorithm))
    })
}

impl Key<EncodingKey> {
    /// Builds the key from a key file's bytes.
    ///
    /// With `algorithm` `None` the key decides: a PEM private key (`-----BEGIN PRIVATE
    /// KEY-----` or `-----BEGIN RSA PRIVATE KEY-----`) signs with RS256 (RSA), ES256/ES384
    /// (EC P-256/P-384) or `EdDSA` (Ed25519); anything else is an HS256 secret. A secret is
    /// used byte for byte, trailing newline included, as `opa sign --signing-key <file>` does
    /// (`keys.go`, `GetPrivateKey`): create it with `printf`, not `echo`, or configure OPA's
    /// key with the newline. With `algorithm` given, the key must be of its family.
    ///
    /// # Errors
    ///
    /// An empty secret; a PEM that is not a private key, is encrypted, is a SEC1 `EC PRIVATE
    /// KEY` (convert it with `openssl pkcs8 -topk8 -nocrypt`), or does not parse or fit the
    /// algorithm.
    pub fn from_pem_or_secret(bytes: &[u8], algorithm: Option<Algorithm>) -> anyhow::Result<Self> {
        let (key, algorithm) = if let Some(algorithm) = algorithm {
            (key_for(bytes, algorithm)?, algorithm)
        } else {
            match pem_label(bytes) {
                None => (key_for(bytes, Algorithm::HS256)?, Algorithm::HS256),
                Some("EC PRIVATE KEY") => bail!(
                    "signing key: a sec1 `EC PRIVATE KEY` is not supported; convert it with \
                     `openssl pkcs8 -topk8 -nocrypt`"
                ),
                Some("ENCRYPTED PRIVATE KEY") => {
                    bail!("signing key: encrypted private keys are not supported")
                }
                Some(label) if label.ends_with("PRIVATE KEY") => pem_key(bytes).ok_or_else(|| {
                    anyhow!(
                        "signing key: a pem private key that is not rsa, ec (p-256 or p-384) or \
                         ed25519 in pkcs#8"
                    )
                })?,
                Some(label) => bail!("signing key: a pem {label:?} is not a private key"),
            }
        };
        Ok(Key::new(key, algorithm))
    }
}

impl Key<DecodingKey> {
    /// Builds the key from a key file's bytes.
    ///
    /// With `algorithm` `None` the key decides: a PEM public key (`-----BEGIN PUBLIC
    /// KEY-----` or `-----BEGIN RSA PUBLIC KEY-----`) verifies RS256 (RSA), ES256/ES384 (EC
    /// P-256/P-384) or `EdDSA` (Ed25519); anything else is an HS256 secret, used byte for byte
    /// (see the signing key's `from_pem_or_secret`). With `algorithm` given, the key must be of
    /// its family.
    ///
    /// # Errors
    ///
    /// An empty secret; a PEM private key (give the public half:
    /// `openssl pkey -in key.pem -pubout`); a PEM that is not a public key or does not parse
    /// or fit the algorithm.
    pub fn from_pem_or_secret(bytes: &[u8], algorithm: Option<Algorithm>) -> anyhow::Result<Self> {
        let (key, algorithm) = if let Some(algorithm) = algorithm {
            (key_for(bytes, algorithm)?, algorithm)
        } else {
            match pem_label(bytes) {
                None => (key_for(bytes, Algorithm::HS256)?, Algorithm::HS256),
                Some("PUBLIC KEY" | "RSA PUBLIC KEY") => pem_key(bytes).ok_or_else(|| {
                    anyhow!(
                        "verification key: a pem public key that is not rsa, ec (p-256 or p-384) \
                         or ed25519"
                    )
                })?,
                Some(label) if label.ends_with("PRIVATE KEY") => bail!(
                    "verification key: give the public key (`openssl pkey -in key.pem -pubout`), \
                     not the private key"
                ),
                Some(label) => bail!("verification key: a pem {label:?} is not a public key"),
            }
        };
        Ok(Key::new(key, algorithm))
    }
}

/// One file in the JWT payload (`FileInfo` in OPA's `bundle.go`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileInfo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    hash: String,
    #[serde(default)]
    algorithm: String,
}

/// The JWT payload [`sign`] writes; field order is OPA's (`json.Marshal` of a map sorts keys).
#[derive(Serialize)]
struct PayloadOut<'a> {
    files: &'a [FileInfo],
    #[serde(skip_serializing_if = "Option::is_none")]
    keyid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// The JWT payload as [`verify`] reads it (`DecodedSignature` in OPA's `bundle.go`).
#[derive(Deserialize)]
struct PayloadIn {
    #[serde(default)]
    files: Option<Vec<FileInfo>>,
    #[serde(default)]
    keyid: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// `.signatures.json` as OPA reads it (`SignaturesConfig`).
#[derive(Deserialize)]
struct SignaturesIn {
    #[serde(default)]
    signatures: Option<Vec<String>>,
    #[serde(default)]
    plugin: Option<String>,
}

/// Whether OPA hashes the file in canonical JSON form (`IsStructuredDoc`: the base name is
/// `data.json`, `data.yaml`, `.manifest` or `signatures.json`).
fn is_structured(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    matches!(
        base,
        "data.json" | "data.yaml" | ".manifest" | "signatures.json"
    )
}

/// The bytes OPA feeds its hash for file `name`: canonical JSON for structured documents,
/// the raw bytes otherwise.
fn digest_input<'a>(name: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, String> {
    if !is_structured(name) {
        return Ok(Cow::Borrowed(bytes));
    }
    match canonical_json(bytes) {
        Ok(canonical) => Ok(Cow::Owned(canonical)),
        Err(_) if name.rsplit('/').next() == Some("data.yaml") => Err(
            "opa hashes yaml data after converting it to json, which this signer does not do; \
             write data.json instead"
                .to_owned(),
        ),
        Err(why) => Err(format!("not valid json ({why})")),
    }
}

/// `data` hashed with OPA's hashing algorithm `algorithm` (`hash.go`), if supported here.
fn digest(algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
    Some(match algorithm {
        "SHA-224" => sha2::Sha224::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        "SHA-512-224" => sha2::Sha512_224::digest(data).to_vec(),
        "SHA-512-256" => sha2::Sha512_256::digest(data).to_vec(),
        _ => return None,
    })
}

/// The SHA-256 digest (lowercase hex) OPA computes for the bundle file `name` with contents
/// `bytes`: of the canonical JSON form for `data.json`, `data.yaml` and `.manifest`, of the
/// raw bytes for everything else (see the module documentation).
///
/// # Errors
///
/// A `data.json` or `.manifest` that is not valid JSON; a `data.yaml` that is not JSON.
pub fn file_digest(name: &str, bytes: &[u8]) -> anyhow::Result<String> {
    let input = digest_input(name, bytes).map_err(|why| anyhow!("file {name}: {why}"))?;
    Ok(to_hex(&sha2::Sha256::digest(&input)))
}

/// Whether OPA would take the file for the bundle's signature file: its reader treats every
/// entry whose name ends in `signatures.json` as one (`preProcessBundle`).
fn mistaken_for_signatures(name: &str) -> bool {
    name != SIGNATURES_FILE && name.ends_with("signatures.json")
}

/// Signs the bundle `files` (bundle path, contents) and returns the bytes of
/// `.signatures.json`.
///
/// Every file except `.signatures.json` itself is listed, sorted by path, with its SHA-256
/// digest as OPA computes it. The JWT header holds `alg`, `typ` and, with a key id, `kid`;
/// the payload holds `files` and the key's `keyid` and `scope` when set, and no `iat`, so
/// the output is deterministic for HMAC, RSA PKCS#1 v1.5, ECDSA (RFC 6979 nonces) and
/// Ed25519 keys.
///
/// # Errors
///
/// A path that is not a plain relative bundle path; the same path twice; a file other than
/// `.signatures.json` whose name ends in `signatures.json` (OPA would read it as the
/// signature); a `data.json` or `.manifest` that is not valid JSON, or a `data.yaml` that is
/// not JSON; a key the JWT library cannot sign with.
pub fn sign(files: &[(String, Vec<u8>)], key: &SigningKey) -> anyhow::Result<Vec<u8>> {
    let mut listed: BTreeMap<String, FileInfo> = BTreeMap::new();
    for (path, bytes) in files {
        let name = normalise_path(path).map_err(|why| anyhow!("file {path:?}: {why}"))?;
        if name == SIGNATURES_FILE {
            continue;
        }
        if mistaken_for_signatures(&name) {
            bail!(
                "file {name}: opa reads every file whose name ends in `signatures.json` as the \
                 bundle signature; rename it"
            );
        }
        let input = digest_input(&name, bytes).map_err(|why| anyhow!("file {name}: {why}"))?;
        let hash = to_hex(&sha2::Sha256::digest(&input));
        let info = FileInfo {
            name: name.clone(),
            hash,
            algorithm: HASH_ALGORITHM.to_owned(),
        };
        if listed.insert(name.clone(), info).is_some() {
            bail!("file {name} is given twice");
        }
    }
    let files: Vec<FileInfo> = listed.into_values().collect();
    let payload = PayloadOut {
        files: &files,
        keyid: key.keyid.as_deref(),
        scope: key.scope.as_deref(),
    };
    let mut header = Header::new(key.algorithm);
    header.kid.clone_from(&key.keyid);
    let token = jsonwebtoken::encode(&header, &payload, &key.material)
        .map_err(|error| anyhow!("cannot sign the bundle: {error}"))?;
    let mut out = serde_json::to_vec(&serde_json::json!({ "signatures": [token] }))
        .context("cannot write .signatures.json")?;
    out.push(b'\n');
    Ok(out)
}

/// Checks `.signatures.json` (`signatures_json`) against the bundle `files` the way OPA
/// does: the JWT's signature first, then that every file other than `.signatures.json` is
/// listed with a matching digest and that no listed file is missing.
///
/// File names are compared after trimming one leading `/` (and any leading `./`), as OPA
/// trims the tar entry names.
///
/// # Errors
///
/// Every problem found, one lowercase line each, naming the file: `signature: invalid (wrong
/// key or altered token)`, `file data.json: digest does not match the signature`, `file
/// x.rego is not in the signature`, `file y: signed but missing from the bundle`, and the
/// like. A token whose signature does not verify stops the check there (its file list cannot
/// be trusted); file problems are all collected.
pub fn verify(
    files: &[(String, Vec<u8>)],
    signatures_json: &[u8],
    key: &VerificationKey,
) -> Result<(), Vec<String>> {
    let signatures: SignaturesIn = serde_json::from_slice(signatures_json).map_err(|error| {
        vec![format!(
            "signature: {SIGNATURES_FILE} is not valid ({error})"
        )]
    })?;
    if let Some(plugin) = signatures.plugin.filter(|plugin| !plugin.is_empty()) {
        return Err(vec![format!(
            "signature: {SIGNATURES_FILE} names the signing plugin {plugin:?}; only opa's default \
             format is supported"
        )]);
    }
    let tokens = signatures.signatures.unwrap_or_default();
    let [token] = tokens.as_slice() else {
        return Err(vec![format!(
            "signature: {SIGNATURES_FILE} holds {} tokens; opa expects exactly one",
            tokens.len()
        )]);
    };

    let payload = verify_token(token, key).map_err(|problem| vec![problem])?;
    let mut problems = Vec::new();
    check_key_id_and_scope(token, &payload, key, &mut problems);

    // Names as the token gives them: OPA looks them up verbatim.
    let mut signed: BTreeMap<String, FileInfo> = BTreeMap::new();
    for file in payload.files.unwrap_or_default() {
        signed.insert(file.name.clone(), file);
    }
    let mut seen = BTreeSet::new();
    for (path, bytes) in files {
        let name = match normalise_path(path) {
            Ok(name) => name,
            Err(why) => {
                problems.push(format!("file {path:?}: {why}"));
                continue;
            }
        };
        if name == SIGNATURES_FILE {
            continue;
        }
        if !seen.insert(name.clone()) {
            problems.push(format!("file {name} appears twice in the bundle"));
            continue;
        }
        if mistaken_for_signatures(&name) {
            problems.push(format!(
                "file {name}: opa reads every file whose name ends in `signatures.json` as the \
                 bundle signature"
            ));
        }
        let Some(info) = signed.remove(&name) else {
            problems.push(format!("file {name} is not in the signature"));
            continue;
        };
        if let Err(problem) = check_file(&name, bytes, &info) {
            problems.push(problem);
        }
    }
    for name in signed.keys() {
        problems.push(format!(
            "file {}: signed but missing from the bundle",
            one_line(name)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// `name` as is when it is one printable line, else quoted with escapes (a name from the
/// token can hold anything).
fn one_line(name: &str) -> Cow<'_, str> {
    if name.is_empty() || name.chars().any(char::is_control) {
        Cow::Owned(format!("{name:?}"))
    } else {
        Cow::Borrowed(name)
    }
}

/// Verifies the JWT's signature with `key` and returns its payload.
fn verify_token(token: &str, key: &VerificationKey) -> Result<PayloadIn, String> {
    let mut validation = Validation::new(key.algorithm);
    // OPA checks no registered claims: no expiry, audience or issuer.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    match jsonwebtoken::decode::<PayloadIn>(token, &key.material, &validation) {
        Ok(data) => Ok(data.claims),
        Err(error) => Err(match error.kind() {
            ErrorKind::InvalidSignature => {
                "signature: invalid (wrong key or altered token)".to_owned()
            }
            ErrorKind::InvalidAlgorithm => {
                let signed_with = jsonwebtoken::decode_header(token).map_or_else(
                    |_| "another algorithm".to_owned(),
                    |h| format!("{:?}", h.alg),
                );
                format!(
                    "signature: the token is signed with {signed_with}, the key is for {:?}",
                    key.algorithm
                )
            }
            ErrorKind::Json(_) => format!("signature: the token's payload is not opa's ({error})"),
            _ => format!("signature: not a well-formed token ({error})"),
        }),
    }
}

/// Compares the token's key id and scope with what `key` expects.
fn check_key_id_and_scope(
    token: &str,
    payload: &PayloadIn,
    key: &VerificationKey,
    problems: &mut Vec<String>,
) {
    // OPA's order: the `kid` header, then the deprecated `keyid` claim.
    let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
    let token_keyid = kid.or_else(|| payload.keyid.clone());
    if let (Some(expected), Some(found)) = (&key.keyid, &token_keyid)
        && expected != found
    {
        problems.push(format!(
            "signature: the token names key {found:?}, the key is {expected:?}"
        ));
    }
    let found = payload.scope.as_deref().unwrap_or("");
    let expected = key.scope.as_deref().unwrap_or("");
    if found != expected {
        problems.push(format!(
            "signature: scope {found:?} in the token, {expected:?} expected"
        ));
    }
}

/// Checks one file against its entry in the token.
fn check_file(name: &str, bytes: &[u8], info: &FileInfo) -> Result<(), String> {
    if info.algorithm.is_empty() {
        return Err(format!(
            "file {name}: the signature gives no hashing algorithm"
        ));
    }
    let input = digest_input(name, bytes).map_err(|why| format!("file {name}: {why}"))?;
    let actual = digest(&info.algorithm, &input).ok_or_else(|| {
        format!(
            "file {name}: hashing algorithm {:?} is not supported",
            info.algorithm
        )
    })?;
    let expected =
        from_hex(&info.hash).ok_or_else(|| format!("file {name}: the signed digest is not hex"))?;
    if expected == actual {
        Ok(())
    } else {
        Err(format!("file {name}: digest does not match the signature"))
    }
}

/// Decodes hex (either case), as Go's `hex.DecodeString`.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

/// An open container while [`canonical_json`] walks the document.
enum Frame {
    /// An array: its canonical text so far, starting with `[`.
    Array(Vec<u8>),
    /// An object: the members so far (decoded key → canonical value, the last duplicate
    /// winning, as in Go's map) and the key whose value is being read.
    Object(BTreeMap<String, Vec<u8>>, String),
}

/// The canonical form OPA hashes for a structured document (see the module documentation):
/// `bytes` parsed as Go's `encoding/json` parses them (a leading UTF-8 BOM dropped, as
/// `util.Unmarshal` does) and written back as `hash.go`'s `walk` writes them.
///
/// Iterative rather than recursive, so Go's full nesting depth (10 000) fits on any stack.
fn canonical_json(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut parser = JsonParser { text: bytes, at: 0 };
    let mut stack: Vec<Frame> = Vec::new();
    'value: loop {
        parser.skip_whitespace();
        let mut done: Vec<u8> = match parser.peek() {
            Some(b'{' | b'[') if stack.len() >= MAX_JSON_DEPTH => {
                // Go counts every container, empty ones included.
                return Err(format!("nested deeper than {MAX_JSON_DEPTH} levels"));
            }
            Some(b'{') => {
                parser.at += 1;
                parser.skip_whitespace();
                if parser.eat(b'}') {
                    b"{}".to_vec()
                } else {
                    let key = parser.key()?;
                    stack.push(Frame::Object(BTreeMap::new(), key));
                    continue 'value;
                }
            }
            Some(b'[') => {
                parser.at += 1;
                parser.skip_whitespace();
                if parser.eat(b']') {
                    b"[]".to_vec()
                } else {
                    stack.push(Frame::Array(vec![b'[']));
                    continue 'value;
                }
            }
            Some(b'"') => {
                let mut out = Vec::new();
                write_go_string(&parser.string()?, &mut out);
                out
            }
            Some(b't') => parser.literal("true")?,
            Some(b'f') => parser.literal("false")?,
            Some(b'n') => parser.literal("null")?,
            Some(b'-' | b'0'..=b'9') => parser.number()?.to_vec(),
            Some(_) => return Err(parser.unexpected("a value")),
            None => return Err("unexpected end of input".to_owned()),
        };
        // `done` is a complete value: hand it to the open containers, closing those that end.
        loop {
            match stack.pop() {
                None => {
                    parser.skip_whitespace();
                    if parser.at != parser.text.len() {
                        return Err(parser.unexpected("the end of the document"));
                    }
                    return Ok(done);
                }
                Some(Frame::Array(mut out)) => {
                    if out.len() > 1 {
                        out.push(b',');
                    }
                    out.extend_from_slice(&done);
                    parser.skip_whitespace();
                    if parser.eat(b',') {
                        stack.push(Frame::Array(out));
                        continue 'value;
                    }
                    if !parser.eat(b']') {
                        return Err(parser.unexpected("`,` or `]`"));
                    }
                    out.push(b']');
                    done = out;
                }
                Some(Frame::Object(mut members, key)) => {
                    members.insert(key, done);
                    parser.skip_whitespace();
                    if parser.eat(b',') {
                        parser.skip_whitespace();
                        let key = parser.key()?;
                        stack.push(Frame::Object(members, key));
                        continue 'value;
                    }
                    if !parser.eat(b'}') {
                        return Err(parser.unexpected("`,` or `}`"));
                    }
                    let mut out = vec![b'{'];
                    for (index, (key, value)) in members.iter().enumerate() {
                        if index > 0 {
                            out.push(b',');
                        }
                        write_go_string(key, &mut out);
                        out.push(b':');
                        out.extend_from_slice(value);
                    }
                    out.push(b'}');
                    done = out;
                }
            }
        }
    }
}

/// Writes `text` as a JSON string the way Go's `encoding/json` encoder does with HTML
/// escaping off (Go 1.22 and later, which OPA 1.x requires).
fn write_go_string(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{0}'..='\u{1f}' => {
                let byte = u32::from(c);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(byte >> 4) as usize]);
                out.push(HEX[(byte & 0xf) as usize]);
            }
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            _ => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
        }
    }
    out.push(b'"');
}

/// A cursor over a JSON document, accepting what Go's `encoding/json` accepts (RFC 8259).
struct JsonParser<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> JsonParser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn unexpected(&self, wanted: &str) -> String {
        match self.peek() {
            Some(byte) => format!(
                "expected {wanted} at byte {}, found {:?}",
                self.at,
                char::from(byte)
            ),
            None => format!("expected {wanted}, found the end of input"),
        }
    }

    /// An object key and the `:` after it.
    fn key(&mut self) -> Result<String, String> {
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("a string key"));
        }
        let key = self.string()?;
        self.skip_whitespace();
        if !self.eat(b':') {
            return Err(self.unexpected("`:`"));
        }
        Ok(key)
    }

    fn literal(&mut self, word: &str) -> Result<Vec<u8>, String> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(word.as_bytes().to_vec())
        } else {
            Err(self.unexpected(word))
        }
    }

    fn digits(&mut self) -> Result<(), String> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.unexpected("a digit"));
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        Ok(())
    }

    /// A number, returned exactly as written (Go's `json.Number`).
    fn number(&mut self) -> Result<&'a [u8], String> {
        let start = self.at;
        self.eat(b'-');
        if !self.eat(b'0') {
            self.digits()?;
        }
        if self.eat(b'.') {
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
        }
        Ok(&self.text[start..self.at])
    }

    /// Four hex digits at the cursor, as a code unit.
    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.text.get(at..at + 4)?;
        digits.iter().try_fold(0u32, |unit, &digit| {
            Some(unit * 16 + char::from(digit).to_digit(16)?)
        })
    }

    /// A string, decoded as Go decodes it: invalid UTF-8 bytes and unpaired surrogate
    /// escapes become U+FFFD, one per byte or escape.
    fn string(&mut self) -> Result<String, String> {
        self.at += 1; // the opening quote
        let mut out = String::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err("unterminated string".to_owned());
            };
            match byte {
                b'"' => {
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let escape = self.text.get(self.at + 1).copied();
                    self.at += 2;
                    match escape {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let unit = self
                                .hex4(self.at)
                                .ok_or_else(|| format!("bad \\u escape at byte {}", self.at))?;
                            self.at += 4;
                            out.push(self.code_point(unit));
                        }
                        _ => return Err(format!("bad escape at byte {}", self.at - 2)),
                    }
                }
                0x00..=0x1f => {
                    return Err(format!("control character in a string at byte {}", self.at));
                }
                0x20..=0x7f => {
                    out.push(char::from(byte));
                    self.at += 1;
                }
                _ => {
                    let width = match byte {
                        0xc2..=0xdf => 2,
                        0xe0..=0xef => 3,
                        0xf0..=0xf4 => 4,
                        _ => 1,
                    };
                    let decoded = self
                        .text
                        .get(self.at..self.at + width)
                        .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        .and_then(|text| text.chars().next());
                    if let Some(c) = decoded {
                        out.push(c);
                        self.at += width;
                    } else {
                        out.push(char::REPLACEMENT_CHARACTER);
                        self.at += 1;
                    }
                }
            }
        }
    }

    /// The character for the `\u` escape `unit` just read: a high surrogate pairs with an
    /// immediately following `\u` low surrogate (consuming it); any other surrogate is
    /// U+FFFD and the next escape stands alone, as in Go's `unquote`.
    fn code_point(&mut self, unit: u32) -> char {
        if !(0xd800..0xe000).contains(&unit) {
            return char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER);
        }
        if unit < 0xdc00
            && self.text.get(self.at..self.at + 2) == Some(b"\\u")
            && let Some(low) = self
                .hex4(self.at + 2)
                .filter(|low| (0xdc00..0xe000).contains(low))
        {
            self.at += 6;
            let combined = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            return char::from_u32(combined).unwrap_or(char::REPLACEMENT_CHARACTER);
        }
        char::REPLACEMENT_CHARACTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test keys, generated once with `openssl genpkey` for these tests only; they protect
    // nothing.
    const RSA_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC0yUqzSNVndf7E
SaVeolpowtWiHiGCnukYsu9kbcud8o3RDqtFZWZdR66xxt1vWy3hdOop7kYHWiRP
6uQ9eeXMWaPQI/DWdf0XPRundaI8EYymJswhsQkcQZnWtYJ/04KSerqLgVOBxkU0
l9vR6p+/JGtqNNmdcvXIn6nCq9jHKj9ihlsjYNJYIzYPks4w8Dldxqu7VbGHGdQz
5EeNf6y/S0Co9FSAkU7UywZuNj2ldfkPPMI3g4bCZlPvNyJo+aa9pIDmwH44RPGL
xOeotJx/dBaV4Ys9jvOztol2QbCS3Wqx9EHSUiyuirb9nVKF6sfGPDEssH/Npc2L
EqJuOL4XAgMBAAECggEAFif3PjVbu2QezC/vEu6DIFoEdEEMv/qOvFwC8m7G/hKs
ZmXNqrcXI7EgdqGAdjXD+otpaVMjhPd7V3SvnTMpF8bCne8nBHmNrNaXODThTvWi
+aKWm5Mb9+O4TAk5tvBqjQjP1OoNccGlWKE7K6T9XUpu2aN5f2OH6MWx40L2pyMl
CetoasJJQ2rIy81Rp6eKvoHcvrc5wi7U1iBo5dZrR1g/zouUpzk4oFtqIYgANWxM
FGnUB0KSrf52x1WQQCDaDlfp5El6hMWchAk1YcdttwiKLKsrptTTNWdlY9A9vs2v
cPGhi8ELnSMBc6jUMiGK+XqRLwD+iL3oYt4fKe46RQKBgQD+nL0VgROahvKirlPK
V6K0Uz5/EFi74Y7ZIGVXaPWZuOymVtLJqESXpqwVXYjlBZfDWIkMVJyryGw87bmt
X6jmdUTKVVXnyLx9rS2CR1733bUtIpIP3EEN6YwUiQ1jEg/rlgPwaL8aKUcJmrSw
xbSVxw0eDUAAE9OS1+jFgBJ+CwKBgQC1xYsmrgj8zChXHvI/98G0uMovuE6GGUmW
R1GwINJDandievK9rEVY1USNaPudHfahQJqtDKGTXa6nP7zzfg2P2F9dnT7U++4h
Jgs8gjJOetd8HQ5VZzT1/Wt9agKZl/X2W8XpPRT7IWbjljR30VCObaZP92gJD1FJ
oQROBnYjpQKBgBz6c97VsQh+YXE4jBrUfJUvgEZv8tl3Y428zSv0qzdSv8Ryz0za
VOw5sQ5Bdgoy58H4+qgnnSlEB2Wr3N0prQyFvk2VBtD5nNJk+nAAdYOafTtk2uDp
PZI6yZGww5BKBvvWOB6NnWp51jb2n6ga6GG/pPONqIIZv5PP9RM9b11fAoGACqaI
gLuxyx4rPu+RQi5CK1SohCNIdpMEvMlw/+DscQbL9/k8P+DYL1xPp/l+xLX8vXYL
mhgjX38dvK7/Y0T/hm4nKFUOWWxph4ezINiAGhkYhy0sqdRiRgeTRMXxYQ6GWukF
r6TkldJfNPaYHG0nSzEhjY3xipZbLPVCS1AVnAECgYEAvcJORIbMlbjREhlR6qE8
T8CjQ9iIWCpYNiZ8OuinB1gFAXjR9Bgioix5andVSq8icEQB9UQlt2A6HoPQFGLY
RdgVQ/1MGpLOJUjeySqv0LY5oLl/B+E1KVaGC6dIcXjAecUeuLvux5LCl3EfmZC6
u8Q8XB3CVe2uK22Kt04Pr3M=
-----END PRIVATE KEY-----
";
    const RSA_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtMlKs0jVZ3X+xEmlXqJa
aMLVoh4hgp7pGLLvZG3LnfKN0Q6rRWVmXUeuscbdb1st4XTqKe5GB1okT+rkPXnl
zFmj0CPw1nX9Fz0bp3WiPBGMpibMIbEJHEGZ1rWCf9OCknq6i4FTgcZFNJfb0eqf
vyRrajTZnXL1yJ+pwqvYxyo/YoZbI2DSWCM2D5LOMPA5Xcaru1WxhxnUM+RHjX+s
v0tAqPRUgJFO1MsGbjY9pXX5DzzCN4OGwmZT7zciaPmmvaSA5sB+OETxi8TnqLSc
f3QWleGLPY7zs7aJdkGwkt1qsfRB0lIsroq2/Z1SherHxjwxLLB/zaXNixKibji+
FwIDAQAB
-----END PUBLIC KEY-----
";
    const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtlcZlHd6C23TY6rp
erEfZ2ecu2oznde8xwQnGY7h6GWhRANCAASMZmmdT89MbW9Q30wBEL0vbIst7Oad
0mxLKqND73HXdlgTqCGLJ67wlwsQKdqFd/XIFZ6+bXB0+Rnuuk5pDt3N
-----END PRIVATE KEY-----
";
    const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjGZpnU/PTG1vUN9MARC9L2yLLezm
ndJsSyqjQ+9x13ZYE6ghiyeu8JcLECnahXf1yBWevm1wdPkZ7rpOaQ7dzQ==
-----END PUBLIC KEY-----
";
    /// Another EC key pair's public half: the wrong key.
    const OTHER_EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENuW1PwepWH3K5jQ5CYYo6KRhSqLb
X0LnIJud1JKSP+0Zult/bYHf+f57htnKBkMm2rKkB6gCTrRubwZFw+AwUQ==
-----END PUBLIC KEY-----
";
    /// [`EC_PRIVATE`] in SEC1 form (`openssl ec`), which the JWT library does not read.
    const EC_PRIVATE_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEILZXGZR3egtt02Oq6XqxH2dnnLtqM53XvMcEJxmO4ehloAoGCCqGSM49
AwEHoUQDQgAEjGZpnU/PTG1vUN9MARC9L2yLLezmndJsSyqjQ+9x13ZYE6ghiyeu
8JcLECnahXf1yBWevm1wdPkZ7rpOaQ7dzQ==
-----END EC PRIVATE KEY-----
";

    fn bundle() -> Vec<(String, Vec<u8>)> {
        vec![
            (
                ".manifest".to_owned(),
                br#"{"revision":"r1","roots":[""],"rego_version":1}"#.to_vec(),
            ),
            (
                "data.json".to_owned(),
                br#"{"tenants":{"b":[1,2.50],"a":"x"}}"#.to_vec(),
            ),
            ("policy.wasm".to_owned(), b"\0asm\x01\0\0\0".to_vec()),
            (
                "register/violation.rego".to_owned(),
                b"package register\n".to_vec(),
            ),
        ]
    }

    fn hs256() -> (SigningKey, VerificationKey) {
        (
            SigningKey::from_pem_or_secret(b"test secret", None).unwrap(),
            VerificationKey::from_pem_or_secret(b"test secret", None).unwrap(),
        )
    }

    fn replace(files: &mut [(String, Vec<u8>)], name: &str, contents: &[u8]) {
        let file = files.iter_mut().find(|(n, _)| n == name).unwrap();
        file.1 = contents.to_vec();
    }

    fn payload(signatures: &[u8]) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_slice(signatures).unwrap();
        let token = value["signatures"][0].as_str().unwrap();
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&b64url(part)).unwrap()
    }

    fn header(signatures: &[u8]) -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_slice(signatures).unwrap();
        let token = value["signatures"][0].as_str().unwrap();
        let part = token.split('.').next().unwrap();
        serde_json::from_slice(&b64url(part)).unwrap()
    }

    /// Unpadded base64url, decoded by hand (the crate has no base64 dependency of its own).
    fn b64url(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        };
        let mut out = Vec::new();
        let mut buffer = 0u32;
        let mut bits = 0;
        for &c in text.as_bytes() {
            buffer = (buffer << 6) | u32::from(value(c));
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
            }
        }
        out
    }

    #[test]
    fn hs256_round_trip() {
        let (signing, verification) = hs256();
        assert_eq!(signing.algorithm(), Algorithm::HS256);
        let signatures = sign(&bundle(), &signing).unwrap();
        verify(&bundle(), &signatures, &verification).unwrap();
    }

    #[test]
    fn rsa_and_ec_round_trip() {
        for (private, public, algorithm) in [
            (RSA_PRIVATE, RSA_PUBLIC, Algorithm::RS256),
            (EC_PRIVATE, EC_PUBLIC, Algorithm::ES256),
        ] {
            let signing = SigningKey::from_pem_or_secret(private.as_bytes(), None).unwrap();
            let verification =
                VerificationKey::from_pem_or_secret(public.as_bytes(), None).unwrap();
            assert_eq!(signing.algorithm(), algorithm);
            assert_eq!(verification.algorithm(), algorithm);
            let signatures = sign(&bundle(), &signing).unwrap();
            verify(&bundle(), &signatures, &verification).unwrap();
            // Deterministic (RFC 6979 for ECDSA).
            assert_eq!(signatures, sign(&bundle(), &signing).unwrap());
        }
    }

    #[test]
    fn forced_algorithm_must_fit_the_key() {
        let signing =
            SigningKey::from_pem_or_secret(RSA_PRIVATE.as_bytes(), Some(Algorithm::RS512)).unwrap();
        let verification =
            VerificationKey::from_pem_or_secret(RSA_PUBLIC.as_bytes(), Some(Algorithm::RS512))
                .unwrap();
        let signatures = sign(&bundle(), &signing).unwrap();
        assert_eq!(header(&signatures)["alg"], "RS512");
        verify(&bundle(), &signatures, &verification).unwrap();
        let error = SigningKey::from_pem_or_secret(RSA_PRIVATE.as_bytes(), Some(Algorithm::ES256))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("signing key: not a usable ES256 key"),
            "{error}"
        );
        // A key given as HS256 is a secret, even when it looks like a PEM.
        let secret =
            SigningKey::from_pem_or_secret(RSA_PUBLIC.as_bytes(), Some(Algorithm::HS256)).unwrap();
        assert_eq!(secret.algorithm(), Algorithm::HS256);
    }

    #[test]
    fn key_mistakes_are_explained() {
        let error = SigningKey::from_pem_or_secret(EC_PRIVATE_SEC1.as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("openssl pkcs8 -topk8 -nocrypt"), "{error}");
        let error = SigningKey::from_pem_or_secret(RSA_PUBLIC.as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            r#"signing key: a pem "PUBLIC KEY" is not a private key"#
        );
        let error = VerificationKey::from_pem_or_secret(RSA_PRIVATE.as_bytes(), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("-pubout"), "{error}");
        assert!(SigningKey::from_pem_or_secret(b"", None).is_err());
    }

    #[test]
    fn payload_and_header_are_opas() {
        let (signing, _) = hs256();
        let signing = signing.with_keyid("global_key").with_scope("write");
        let signatures = sign(&bundle(), &signing).unwrap();
        let header = header(&signatures);
        assert_eq!(
            header,
            serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "global_key"})
        );
        let payload = payload(&signatures);
        let names: Vec<&str> = payload["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| file["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                ".manifest",
                "data.json",
                "policy.wasm",
                "register/violation.rego"
            ]
        );
        assert_eq!(payload["files"][2]["algorithm"], "SHA-256");
        assert_eq!(
            payload["files"][2]["hash"],
            crate::bundle::opa_bundle::sha256_hex(b"\0asm\x01\0\0\0")
        );
        assert_eq!(payload["keyid"], "global_key");
        assert_eq!(payload["scope"], "write");
        assert!(payload.get("iat").is_none());
        // Deterministic, and `.signatures.json` itself is never listed.
        let mut with_signatures = bundle();
        with_signatures.push((SIGNATURES_FILE.to_owned(), signatures.clone()));
        assert_eq!(sign(&with_signatures, &signing).unwrap(), signatures);
    }

    #[test]
    fn flipped_byte_is_named() {
        let (signing, verification) = hs256();
        let signatures = sign(&bundle(), &signing).unwrap();
        let mut altered = bundle();
        altered[2].1[4] ^= 1; // policy.wasm
        let problems = verify(&altered, &signatures, &verification).unwrap_err();
        assert_eq!(
            problems,
            ["file policy.wasm: digest does not match the signature"]
        );
        let mut altered = bundle();
        replace(
            &mut altered,
            "data.json",
            br#"{"tenants":{"b":[1,2.50],"a":"y"}}"#,
        );
        let problems = verify(&altered, &signatures, &verification).unwrap_err();
        assert_eq!(
            problems,
            ["file data.json: digest does not match the signature"]
        );
    }

    #[test]
    fn removed_and_extra_files_are_named() {
        let (signing, verification) = hs256();
        let signatures = sign(&bundle(), &signing).unwrap();
        let mut altered = bundle();
        altered.retain(|(name, _)| name != "register/violation.rego");
        altered.push(("extra.rego".to_owned(), b"package extra\n".to_vec()));
        let problems = verify(&altered, &signatures, &verification).unwrap_err();
        assert_eq!(
            problems,
            [
                "file extra.rego is not in the signature",
                "file register/violation.rego: signed but missing from the bundle",
            ]
        );
    }

    #[test]
    fn all_problems_are_collected() {
        let (signing, verification) = hs256();
        let signatures = sign(&bundle(), &signing).unwrap();
        let mut altered = bundle();
        replace(&mut altered, ".manifest", br#"{"revision":"r2"}"#);
        replace(&mut altered, "policy.wasm", b"changed");
        let problems = verify(&altered, &signatures, &verification).unwrap_err();
        assert_eq!(
            problems,
            [
                "file .manifest: digest does not match the signature",
                "file policy.wasm: digest does not match the signature",
            ]
        );
    }

    #[test]
    fn wrong_key_is_refused() {
        let (signing, _) = hs256();
        let signatures = sign(&bundle(), &signing).unwrap();
        let wrong = VerificationKey::from_pem_or_secret(b"another secret", None).unwrap();
        assert_eq!(
            verify(&bundle(), &signatures, &wrong).unwrap_err(),
            ["signature: invalid (wrong key or altered token)"]
        );
        let signing = SigningKey::from_pem_or_secret(EC_PRIVATE.as_bytes(), None).unwrap();
        let signatures = sign(&bundle(), &signing).unwrap();
        let wrong = VerificationKey::from_pem_or_secret(OTHER_EC_PUBLIC.as_bytes(), None).unwrap();
        assert_eq!(
            verify(&bundle(), &signatures, &wrong).unwrap_err(),
            ["signature: invalid (wrong key or altered token)"]
        );
        let rsa = VerificationKey::from_pem_or_secret(RSA_PUBLIC.as_bytes(), None).unwrap();
        assert_eq!(
            verify(&bundle(), &signatures, &rsa).unwrap_err(),
            ["signature: the token is signed with ES256, the key is for RS256"]
        );
    }

    #[test]
    fn altered_token_is_refused() {
        let (signing, verification) = hs256();
        let signatures = sign(&bundle(), &signing).unwrap();
        // Swap in a payload that lists a different digest, keeping the old signature.
        let text = String::from_utf8(signatures).unwrap();
        let token = text.split('"').nth(3).unwrap().to_owned();
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged_payload = payload(text.as_bytes());
        forged_payload["files"][0]["hash"] = serde_json::json!("00");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64url_encode(&serde_json::to_vec(&forged_payload).unwrap()),
            parts[2]
        );
        let forged_file = format!(r#"{{"signatures":["{forged}"]}}"#);
        assert_eq!(
            verify(&bundle(), forged_file.as_bytes(), &verification).unwrap_err(),
            ["signature: invalid (wrong key or altered token)"]
        );
    }

    fn b64url_encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let mut buffer = [0u8; 3];
            buffer[..chunk.len()].copy_from_slice(chunk);
            let n =
                (u32::from(buffer[0]) << 16) | (u32::from(buffer[1]) << 8) | u32::from(buffer[2]);
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn keyid_and_scope_must_match() {
        let (signing, verification) = hs256();
        let signatures = sign(&bundle(), &signing.with_keyid("a").with_scope("write")).unwrap();
        verify(
            &bundle(),
            &signatures,
            &VerificationKey::from_pem_or_secret(b"test secret", None)
                .unwrap()
                .with_keyid("a")
                .with_scope("write"),
        )
        .unwrap();
        assert_eq!(
            verify(&bundle(), &signatures, &verification.with_keyid("b")).unwrap_err(),
            [
                r#"signature: the token names key "a", the key is "b""#,
                r#"signature: scope "write" in the token, "" expected"#,
            ]
        );
    }

    #[test]
    fn signatures_file_shape_is_checked() {
        let (_, verification) = hs256();
        assert_eq!(
            verify(&bundle(), br#"{"signatures":[]}"#, &verification).unwrap_err(),
            ["signature: .signatures.json holds 0 tokens; opa expects exactly one"]
        );
        let problems = verify(&bundle(), b"nonsense", &verification).unwrap_err();
        assert!(problems[0].starts_with("signature: .signatures.json is not valid"));
        let problems = verify(&bundle(), br#"{"signatures":["a.b"]}"#, &verification).unwrap_err();
        assert!(
            problems[0].starts_with("signature: not a well-formed token"),
            "{problems:?}"
        );
    }

    #[test]
    fn reformatted_json_verifies_only_where_opa_hashes_it_canonically() {
        let (signing, verification) = hs256();
        let mut files = bundle();
        files.push(("config.json".to_owned(), br#"{"a":1,"b":2}"#.to_vec()));
        let signatures = sign(&files, &signing).unwrap();

        // data.json and .manifest: whitespace and key order do not matter.
        let mut reformatted = files.clone();
        replace(
            &mut reformatted,
            "data.json",
            b"\xEF\xBB\xBF{\n  \"tenants\": {\n    \"a\": \"x\",\n    \"b\": [ 1, 2.50 ]\n  }\n}\n",
        );
        replace(
            &mut reformatted,
            ".manifest",
            br#"{ "rego_version": 1, "roots": [ "" ], "revision": "\u0072\u0031" }"#,
        );
        verify(&reformatted, &signatures, &verification).unwrap();

        // But a number written differently is a different document to OPA (`json.Number`).
        let mut renumbered = files.clone();
        replace(
            &mut renumbered,
            "data.json",
            br#"{"tenants":{"a":"x","b":[1,2.5]}}"#,
        );
        assert_eq!(
            verify(&renumbered, &signatures, &verification).unwrap_err(),
            ["file data.json: digest does not match the signature"]
        );

        // Any other .json file is hashed as raw bytes.
        let mut other = files.clone();
        replace(&mut other, "config.json", br#"{"b":2,"a":1}"#);
        assert_eq!(
            verify(&other, &signatures, &verification).unwrap_err(),
            ["file config.json: digest does not match the signature"]
        );
    }

    #[test]
    fn opa_signed_bundle_verifies() {
        // `TestReadWithSignaturesWithBaseDir` in OPA's `v1/bundle/bundle_test.go`: a token made
        // by OPA's signer (HS256, secret "secret", scope "write") over these three files,
        // which OPA's reader accepts.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZvbyJ9.eyJmaWxlcyI6W3sibmFtZSI6ImZvby9iYXIvLm1hbmlmZXN0IiwiaGFzaCI6IjUwN2EyYzM4YTE0NDFkYjU4ZDJjYjg3OTgyYzQyYWE5MWE0MzQyZWY0MjJhNmI1NDJlZGRlYmVlZjZmMDQxMmYiLCJhbGdvcml0aG0iOiJTSEEtMjU2In0seyJuYW1lIjoiZm9vL2Jhci9hL2IvYy9kYXRhLmpzb24iLCJoYXNoIjoiYTYxNWVlYWVlMjFkZTUxNzlkZTA4MGRlOGMzMDUyYzhkYTkwMTEzODQwNmJhNzFjMzhjMDMyODQ1ZjdkNTRmNCIsImFsZ29yaXRobSI6IlNIQS0yNTYifSx7Im5hbWUiOiJmb28vYmFyL2h0dHAvcG9saWN5L3BvbGljeS5yZWdvIiwiaGFzaCI6ImY2NjQ0NjFlMzAzYjM3YzIwYzVlMGJlMjkwMDg4MTY3OGNkZjhlODYwYWE0MzNhNWExNGQ0OTRiYTNjNjY2NDkiLCJhbGdvcml0aG0iOiJTSEEtMjU2In1dLCJpYXQiOjE1OTIyNDgwMjcsImlzcyI6IkpXVFNlcnZpY2UiLCJzY29wZSI6IndyaXRlIn0.qTHkuBDVuT-Zl5pbJdZ6LoJ9eooFOhhpRdCheauDrlA";
        let files = vec![
            (
                "/foo/bar/.manifest".to_owned(),
                br#"{"revision": "quickbrownfaux"}"#.to_vec(),
            ),
            ("/foo/bar/a/b/c/data.json".to_owned(), b"[1,2,3]".to_vec()),
            (
                "/foo/bar/http/policy/policy.rego".to_owned(),
                b"package example".to_vec(),
            ),
        ];
        let signatures = format!(r#"{{"signatures": ["{token}"]}}"#);
        let key = VerificationKey::from_pem_or_secret(b"secret", None)
            .unwrap()
            .with_scope("write");
        verify(&files, signatures.as_bytes(), &key).unwrap();
        // And ours lists the same digests.
        let ours = sign(
            &files,
            &SigningKey::from_pem_or_secret(b"secret", None).unwrap(),
        )
        .unwrap();
        let ours = payload(&ours);
        let theirs: serde_json::Value =
            serde_json::from_slice(&b64url(token.split('.').nth(1).unwrap())).unwrap();
        assert_eq!(ours["files"], theirs["files"]);
    }

    #[test]
    fn digests_match_opas_test_vectors() {
        // OPA's `TestVerifyBundleFileHash` (SHA-512 entries) and `TestReadWithSignatures`.
        let sha512 = |name: &str, bytes: &[u8]| {
            to_hex(&digest("SHA-512", &digest_input(name, bytes).unwrap()).unwrap())
        };
        assert_eq!(
            sha512("/a/b/c/data.json", b"[1,2,3]"),
            "60f7b5dc86ded48785436192a08dbfd04894d7f1b417c4f8d3714679a7f78cb3c833f16a8559a1cf1f32968747dc1d95ef34826263dacf125ded8f5c374be4c0"
        );
        assert_eq!(
            sha512("/policy.wasm", b"modules-compiled-as-wasm-binary"),
            "4f73765168fd8b5c294b739436da312cc5e979faf09f67bf576d36ea79a4f79c70cbb3c33d06ff65f531a9f42abd0a8f4daacc554cb521837e876dc28f56ce89"
        );
        assert_eq!(
            file_digest(".manifest", br#"{"revision": "quickbrownfaux"}"#).unwrap(),
            "507a2c38a1441db58d2cb87982c42aa91a4342ef422a6b542eddebeef6f0412f"
        );
        let error = file_digest("a/data.yaml", b"foo: 1")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("file a/data.yaml: opa hashes yaml"),
            "{error}"
        );
        assert_eq!(
            file_digest("a/data.yaml", b"[1,2,3]").unwrap(),
            file_digest("a/data.json", b"[1, 2, 3]").unwrap()
        );
    }

    fn canonical(text: &[u8]) -> String {
        String::from_utf8(canonical_json(text).unwrap()).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        assert_eq!(
            canonical(br#"{"x": {"y": true}, "a": {"b": {"z": true}}}"#),
            r#"{"a":{"b":{"z":true}},"x":{"y":true}}"#
        );
        assert_eq!(
            canonical(b" [ {} , [ ] , null , false , [[1]] ] "),
            "[{},[],null,false,[[1]]]"
        );
        assert_eq!(canonical(br#"{"a":1,"a":2}"#), r#"{"a":2}"#);
        assert_eq!(
            canonical(br#"{"b":1,"B":2,"a":3}"#),
            r#"{"B":2,"a":3,"b":1}"#
        );
    }

    #[test]
    fn canonical_json_keeps_numbers_as_written() {
        assert_eq!(
            canonical(b"[1.0, 1e2, 1E+2, -0, 0.5e-3, 123456789012345678901234567890]"),
            "[1.0,1e2,1E+2,-0,0.5e-3,123456789012345678901234567890]"
        );
    }

    #[test]
    fn canonical_json_encodes_strings_as_go_does() {
        assert_eq!(
            canonical(br#""\u00e9\/<>&\u2028\u2029\b\f\n\r\t\u0001\u007f\"\\""#),
            "\"é/<>&\\u2028\\u2029\\b\\f\\n\\r\\t\\u0001\u{7f}\\\"\\\\\""
        );
        // Surrogate pairs combine; lone surrogates and invalid UTF-8 become U+FFFD, one per
        // escape or byte.
        assert_eq!(canonical(br#""\ud83d\ude00""#), "\"😀\"");
        assert_eq!(
            canonical(br#""\ud800x\udc00\ud800\u0041""#),
            "\"\u{fffd}x\u{fffd}\u{fffd}A\""
        );
        assert_eq!(
            canonical(b"\"a\xe2\x82b\xffc\""),
            "\"a\u{fffd}\u{fffd}b\u{fffd}c\""
        );
        assert_eq!(canonical("\"é\u{2028}\"".as_bytes()), "\"é\\u2028\"");
    }

    #[test]
    fn canonical_json_refuses_what_go_refuses() {
        for bad in [
            &b"[1,]"[..],
            b"{\"a\":1,}",
            b"[01]",
            b"[1.]",
            b"[.5]",
            b"NaN",
            b"{'a':1}",
            b"[1] [2]",
            b"// comment\n{}",
            b"\"tab\there\"",
            b"\"\\x\"",
            b"",
            b"{\"a\"}",
            b"[true false]",
        ] {
            assert!(
                canonical_json(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(canonical_json(deep.as_bytes()).is_ok());
        let deeper = format!("[{deep}]");
        assert!(canonical_json(deeper.as_bytes()).is_err());
    }

    #[test]
    fn sign_refuses_what_opa_would_misread() {
        let (signing, _) = hs256();
        let mut files = bundle();
        files.push(("x/signatures.json".to_owned(), b"{}".to_vec()));
        let error = sign(&files, &signing).unwrap_err().to_string();
        assert!(
            error.starts_with("file x/signatures.json: opa reads"),
            "{error}"
        );
        let mut files = bundle();
        replace(&mut files, "data.json", b"{not json");
        let error = sign(&files, &signing).unwrap_err().to_string();
        assert!(
            error.starts_with("file data.json: not valid json"),
            "{error}"
        );
        let error = sign(&[("../x".to_owned(), Vec::new())], &signing)
            .unwrap_err()
            .to_string();
        assert_eq!(error, r#"file "../x": the path has a `..` component"#);
    }

    #[test]
    fn verify_reads_what_read_tar_gz_returns() {
        use crate::bundle::opa_bundle::{read_tar_gz, write_tar_gz};
        let (signing, verification) = hs256();
        let mut files = bundle();
        let signatures = sign(&files, &signing).unwrap();
        files.push((SIGNATURES_FILE.to_owned(), signatures));
        let tarball = write_tar_gz(&files, 0).unwrap();
        let read = read_tar_gz(&tarball).unwrap();
        let signatures = &read
            .iter()
            .find(|(name, _)| name == SIGNATURES_FILE)
            .unwrap()
            .1;
        verify(&read, signatures, &verification).unwrap();
    }
}
