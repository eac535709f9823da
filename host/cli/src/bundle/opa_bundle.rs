//! OPA bundle tarballs (`bundle.tar.gz`), written reproducibly and read back.
//!
//! **Why reproducible.** The deployable bundle is signed and its digest is published, so the
//! same inputs must give the same bytes on every machine and every run: entries are sorted by
//! path, every entry is a regular file with mode `0644`, uid/gid 0, empty user and group names
//! and the caller's mtime (`SOURCE_DATE_EPOCH`, or 0), the tar header is ustar, and the gzip
//! header carries mtime 0, no file name and a fixed compression level (9).
//!
//! **Entry names.** Names are written with a leading `/` (`/data.json`, `/.manifest`,
//! `/policy.wasm`), as `opa build` writes them (`v1/bundle/bundle.go`, `Writer.Write`, and
//! `internal/file/archive/tarball.go`). OPA's reader accepts both spellings: data paths are
//! trimmed of leading `/` and `.`, and signature checks trim one leading `/`. But OPA's
//! tarball loader passes entry names through unchanged (`v1/bundle/file.go`, `Passthrough`),
//! and the manifest's `wasm[].module` must equal the wasm entry's name literally
//! (`validateAndInjectDefaults`), so the slash matters there: following `opa build` keeps
//! `"module": "/policy.wasm"` (the spelling OPA itself writes) valid. [`manifest`] writes
//! module paths the same way. Callers pass and get back names without the slash.

use std::{
    cell::Cell,
    collections::BTreeSet,
    fmt::Write as _,
    io::{self, Read},
    rc::Rc,
};

use anyhow::{Context as _, anyhow, bail};
use flate2::{Compression, GzBuilder, read::GzDecoder};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

/// The most a tarball may unpack to, counting file contents: 256 MiB. A bundle is a few
/// megabytes; anything near this is a mistake or a decompression bomb.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;

/// Headers, long-name records and padding allowed on top of [`MAX_UNPACKED_BYTES`] before the
/// decompressed stream itself is cut off.
const STREAM_ALLOWANCE: u64 = 64 * 1024 * 1024;

/// Lowercase hex SHA-256 of `bytes`: the digest published next to the bundle.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A bundle path as OPA sees it once the leading `/` is trimmed: `a/b/data.json`.
///
/// Accepts one leading `/` and any number of leading `./`; refuses what could escape or
/// confuse an extractor (`..`, a path that is still absolute, empty or `.` components,
/// backslashes, control characters). The reason is a short lowercase phrase.
pub(crate) fn normalise_path(path: &str) -> Result<String, String> {
    let mut rest = path.strip_prefix('/').unwrap_or(path);
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped;
    }
    if rest.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if rest.starts_with('/') {
        return Err("the path is absolute".to_owned());
    }
    if rest.chars().any(char::is_control) {
        return Err("the path has a control character".to_owned());
    }
    if rest.contains('\\') {
        return Err("the path has a backslash".to_owned());
    }
    for component in rest.split('/') {
        match component {
            ".." => return Err("the path has a `..` component".to_owned()),
            "" | "." => return Err("the path has an empty or `.` component".to_owned()),
            _ => {}
        }
    }
    Ok(rest.to_owned())
}

/// Writes `files` (bundle path, contents) as a gzip-compressed tar, byte-identical for
/// identical input.
///
/// Paths may be given as `data.json`, `/data.json` or `./data.json`; each is written as
/// `/data.json` (see the module documentation for why the slash). `mtime` is every entry's
/// modification time in seconds since the epoch: pass `SOURCE_DATE_EPOCH`, or 0.
///
/// # Errors
///
/// A path that is empty, absolute after its one leading `/`, has `..`, empty or `.`
/// components, a backslash or a control character; the same path given twice; an I/O error
/// from the compressor (which writes to memory, so in practice none).
pub fn write_tar_gz(files: &[(String, Vec<u8>)], mtime: u64) -> anyhow::Result<Vec<u8>> {
    let mut entries = Vec::with_capacity(files.len());
    for (path, contents) in files {
        let name = normalise_path(path).map_err(|why| anyhow!("file {path:?}: {why}"))?;
        entries.push((name, contents.as_slice()));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        bail!("file {:?} is given twice", pair[0].0);
    }

    let gzip = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    let mut tar = tar::Builder::new(gzip);
    // Keep the leading `/` (see the module documentation). Longer names than ustar's
    // 100-byte name plus 155-byte prefix get the crate's GNU long-name record, which OPA's
    // reader (Go's `archive/tar`) understands.
    tar.preserve_absolute(true);
    for (name, contents) in &entries {
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("")?;
        header.set_groupname("")?;
        header.set_mtime(mtime);
        header.set_size(u64::try_from(contents.len())?);
        tar.append_data(&mut header, format!("/{name}"), *contents)
            .with_context(|| format!("file {name:?}: cannot be written to the tarball"))?;
    }
    let gzip = tar.into_inner().context("cannot finish the tarball")?;
    gzip.finish().context("cannot finish the gzip stream")
}

/// A reader that fails once more than `remaining` bytes have come through, and says so in
/// `tripped`, so a decompression bomb stops at a bound instead of filling memory.
struct CappedReader<R> {
    inner: R,
    remaining: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Only an error if there is more to come.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.tripped.set(true);
            return Err(io::Error::other("the tarball is too large"));
        }
        let room = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        let len = buf.len().min(room);
        let read = self.inner.read(&mut buf[..len])?;
        self.remaining -= u64::try_from(read).unwrap_or(u64::MAX).min(self.remaining);
        Ok(read)
    }
}

/// The error for a tarball over [`MAX_UNPACKED_BYTES`].
fn too_large() -> anyhow::Error {
    anyhow!("the tarball unpacks to more than {MAX_UNPACKED_BYTES} bytes; refusing it")
}

/// Reads a gzip-compressed tar back into (bundle path, contents), in archive order.
///
/// Takes any tarball of regular files, not only [`write_tar_gz`]'s: names lose one leading
/// `/` and any leading `./`; directory entries and pax global headers are skipped.
///
/// # Errors
///
/// Not gzip or not tar; an entry whose path has `..`, is absolute after the leading `/`, or is
/// otherwise not a plain relative path; a symlink or hard link, or any entry other than a
/// regular file or directory; a name that is not UTF-8; the same path twice; contents
/// totalling more than [`MAX_UNPACKED_BYTES`].
pub fn read_tar_gz(bytes: &[u8]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let tripped = Rc::new(Cell::new(false));
    let reader = CappedReader {
        inner: GzDecoder::new(bytes),
        remaining: MAX_UNPACKED_BYTES + STREAM_ALLOWANCE,
        tripped: Rc::clone(&tripped),
    };
    let unreadable = |error: io::Error| {
        if tripped.get() {
            too_large()
        } else {
            anyhow!("not a readable .tar.gz: {error}")
        }
    };

    let mut archive = tar::Archive::new(reader);
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let raw = String::from_utf8(entry.path_bytes().into_owned()).map_err(|error| {
            anyhow!(
                "tar entry {:?}: the name is not utf-8",
                String::from_utf8_lossy(error.as_bytes())
            )
        })?;
        match entry.header().entry_type() {
            EntryType::Regular => {}
            EntryType::Directory => {
                let trimmed = raw.trim_end_matches('/');
                if !trimmed.is_empty() && trimmed != "." {
                    normalise_path(trimmed).map_err(|why| anyhow!("tar entry {raw:?}: {why}"))?;
                }
                continue;
            }
            EntryType::XGlobalHeader => continue,
            EntryType::Symlink | EntryType::Link => {
                bail!("tar entry {raw:?}: links are not allowed in a bundle")
            }
            other => bail!("tar entry {raw:?}: only regular files are allowed, not {other:?}"),
        }
        let name = normalise_path(&raw).map_err(|why| anyhow!("tar entry {raw:?}: {why}"))?;
        let size = entry.size();
        if size > MAX_UNPACKED_BYTES - total {
            return Err(too_large());
        }
        let mut contents = Vec::with_capacity(usize::try_from(size)?);
        entry.read_to_end(&mut contents).map_err(unreadable)?;
        total += u64::try_from(contents.len())?;
        if !seen.insert(name.clone()) {
            bail!("tar entry {raw:?}: {name:?} appears twice");
        }
        files.push((name, contents));
    }
    Ok(files)
}

/// OPA's `.manifest` for the bundle.
///
/// The field names are OPA's (`v1/bundle/bundle.go`, `Manifest` and `WasmResolver`; the
/// "Bundle File Format" section of OPA's bundle documentation): `revision`, `roots`,
/// `rego_version` (always 1: the policies are Rego v1) and `wasm` entries of `entrypoint`
/// (a `data` path such as `register/violation`) and `module` (the wasm file in the bundle).
/// `wasm` is left out when empty and `metadata` when null, as OPA's `omitempty` does.
///
/// `module` is written with one leading `/` (`policy.wasm` and `/policy.wasm` both become
/// `/policy.wasm`) because OPA compares it literally with the tar entry's name and
/// [`write_tar_gz`] writes that slash. OPA only loads wasm files named `policy.wasm`.
///
/// `roots` is written as given: `[""]` claims the whole `data` tree, an empty list claims
/// nothing (OPA then refuses any policy or data in the bundle). `metadata` must be a JSON
/// object (or null): OPA refuses a manifest whose `metadata` is anything else.
pub fn manifest(
    revision: &str,
    roots: &[String],
    wasm: &[(String, String)],
    metadata: Value,
) -> Value {
    let mut manifest = Map::new();
    manifest.insert("revision".to_owned(), json!(revision));
    manifest.insert("roots".to_owned(), json!(roots));
    manifest.insert("rego_version".to_owned(), json!(1));
    if !wasm.is_empty() {
        let resolvers: Vec<Value> = wasm
            .iter()
            .map(|(entrypoint, module)| {
                json!({
                    "entrypoint": entrypoint,
                    "module": format!("/{}", module.trim_start_matches('/')),
                })
            })
            .collect();
        manifest.insert("wasm".to_owned(), Value::Array(resolvers));
    }
    if !metadata.is_null() {
        manifest.insert("metadata".to_owned(), metadata);
    }
    Value::Object(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(String, Vec<u8>)> {
        vec![
            ("policy.wasm".to_owned(), b"\0asm\x01\0\0\0".to_vec()),
            (".manifest".to_owned(), br#"{"revision":"r1"}"#.to_vec()),
            ("data.json".to_owned(), b"{}".to_vec()),
            (
                "register/violation.rego".to_owned(),
                b"package register\n".to_vec(),
            ),
        ]
    }

    fn sorted(mut files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
        files.sort();
        files
    }

    /// Raw entries (name as stored, type, mtime) without any normalisation.
    fn raw_entries(tarball: &[u8]) -> Vec<(String, EntryType, u64, u32)> {
        let mut archive = tar::Archive::new(GzDecoder::new(tarball));
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
                    header.entry_type(),
                    header.mtime().unwrap(),
                    header.mode().unwrap(),
                )
            })
            .collect()
    }

    /// A tarball with one entry whose name and type are set by hand (the tar crate refuses to
    /// write `..` through its path API).
    fn hand_made(name: &[u8], entry_type: EntryType, contents: &[u8]) -> Vec<u8> {
        let mut header = Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(entry_type);
        header.set_mode(0o644);
        header.set_size(contents.len() as u64);
        if entry_type == EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        let mut tar = tar::Builder::new(GzBuilder::new().write(Vec::new(), Compression::fast()));
        tar.append(&header, contents).unwrap();
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn write_is_byte_identical_across_calls() {
        let first = write_tar_gz(&files(), 1_700_000_000).unwrap();
        let second = write_tar_gz(&files(), 1_700_000_000).unwrap();
        assert_eq!(first, second);
        // Input order does not matter, only content.
        let mut reversed = files();
        reversed.reverse();
        assert_eq!(first, write_tar_gz(&reversed, 1_700_000_000).unwrap());
        // The mtime is the caller's.
        assert_ne!(first, write_tar_gz(&files(), 0).unwrap());
    }

    #[test]
    fn gzip_header_has_no_mtime_and_no_name() {
        let tarball = write_tar_gz(&files(), 1_700_000_000).unwrap();
        assert_eq!(&tarball[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(tarball[3], 0, "no FNAME or other flags");
        assert_eq!(&tarball[4..8], &[0, 0, 0, 0], "gzip mtime is 0");
    }

    #[test]
    fn entries_are_sorted_slash_rooted_regular_files() {
        let tarball = write_tar_gz(&files(), 42).unwrap();
        let entries = raw_entries(&tarball);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "/.manifest",
                "/data.json",
                "/policy.wasm",
                "/register/violation.rego"
            ]
        );
        for (_, entry_type, mtime, mode) in &entries {
            assert_eq!(*entry_type, EntryType::Regular);
            assert_eq!(*mtime, 42);
            assert_eq!(*mode, 0o644);
        }
        let mut archive = tar::Archive::new(GzDecoder::new(tarball.as_slice()));
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            assert!(header.as_ustar().is_some());
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.gid().unwrap(), 0);
            assert_eq!(header.username().unwrap(), Some(""));
            assert_eq!(header.groupname().unwrap(), Some(""));
        }
    }

    #[test]
    fn read_returns_exactly_what_was_written() {
        let tarball = write_tar_gz(&files(), 0).unwrap();
        assert_eq!(read_tar_gz(&tarball).unwrap(), sorted(files()));
    }

    #[test]
    fn long_paths_round_trip() {
        let long = format!("{}/data.json", "directory".repeat(40));
        let files = vec![(long.clone(), b"[]".to_vec())];
        let tarball = write_tar_gz(&files, 0).unwrap();
        assert_eq!(read_tar_gz(&tarball).unwrap(), files);
        assert_eq!(raw_entries(&tarball)[0].0, format!("/{long}"));
    }

    #[test]
    fn leading_slash_and_dot_slash_are_normalised() {
        let files = vec![
            ("/a.rego".to_owned(), b"a".to_vec()),
            ("./b/data.json".to_owned(), b"{}".to_vec()),
        ];
        let tarball = write_tar_gz(&files, 0).unwrap();
        let names: Vec<String> = read_tar_gz(&tarball)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["a.rego", "b/data.json"]);
        let read = read_tar_gz(&hand_made(b"./c.rego", EntryType::Regular, b"c")).unwrap();
        assert_eq!(read, [("c.rego".to_owned(), b"c".to_vec())]);
    }

    #[test]
    fn dot_dot_is_refused() {
        let error = read_tar_gz(&hand_made(b"../evil.rego", EntryType::Regular, b"x"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            r#"tar entry "../evil.rego": the path has a `..` component"#
        );
        let error = read_tar_gz(&hand_made(b"a/../../evil", EntryType::Regular, b"x"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("a/../../evil"), "{error}");
        let error = write_tar_gz(&[("a/../b".to_owned(), Vec::new())], 0)
            .unwrap_err()
            .to_string();
        assert_eq!(error, r#"file "a/../b": the path has a `..` component"#);
    }

    #[test]
    fn absolute_names_links_and_duplicates_are_refused() {
        let error = read_tar_gz(&hand_made(b"//etc/passwd", EntryType::Regular, b"x"))
            .unwrap_err()
            .to_string();
        assert_eq!(error, r#"tar entry "//etc/passwd": the path is absolute"#);
        let error = read_tar_gz(&hand_made(b"link", EntryType::Symlink, b""))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            r#"tar entry "link": links are not allowed in a bundle"#
        );
        let error = read_tar_gz(&hand_made(b"fifo", EntryType::Fifo, b""))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(r#"tar entry "fifo": only regular files"#));
        let error = write_tar_gz(
            &[
                ("a.rego".to_owned(), Vec::new()),
                ("/a.rego".to_owned(), Vec::new()),
            ],
            0,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(error, r#"file "a.rego" is given twice"#);
    }

    #[test]
    fn oversized_tarballs_are_refused() {
        // A header that claims more than the cap; the contents are never read.
        let mut header = Header::new_ustar();
        header.set_path("big.json").unwrap();
        header.set_entry_type(EntryType::Regular);
        header.set_size(MAX_UNPACKED_BYTES + 1);
        header.set_cksum();
        let mut tar = tar::Builder::new(GzBuilder::new().write(Vec::new(), Compression::fast()));
        tar.append(&header, io::empty()).unwrap();
        let tarball = tar.into_inner().unwrap().finish().unwrap();
        let error = read_tar_gz(&tarball).unwrap_err().to_string();
        assert_eq!(
            error,
            "the tarball unpacks to more than 268435456 bytes; refusing it"
        );
    }

    #[test]
    fn capped_reader_trips_past_its_bound() {
        let tripped = Rc::new(Cell::new(false));
        let mut reader = CappedReader {
            inner: &[0u8; 10][..],
            remaining: 4,
            tripped: Rc::clone(&tripped),
        };
        let mut out = Vec::new();
        assert!(reader.read_to_end(&mut out).is_err());
        assert!(tripped.get());
        assert_eq!(out.len(), 4);
        let mut exact = CappedReader {
            inner: &[0u8; 4][..],
            remaining: 4,
            tripped: Rc::new(Cell::new(false)),
        };
        assert_eq!(exact.read_to_end(&mut Vec::new()).unwrap(), 4);
    }

    #[test]
    fn garbage_is_not_a_tarball() {
        let error = read_tar_gz(b"not gzip").unwrap_err().to_string();
        assert!(error.starts_with("not a readable .tar.gz"), "{error}");
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn manifest_uses_opa_field_names() {
        let value = manifest(
            "abc123",
            &["register".to_owned(), "claims".to_owned()],
            &[("register/violation".to_owned(), "policy.wasm".to_owned())],
            json!({"git": "abc123"}),
        );
        assert_eq!(
            value,
            json!({
                "revision": "abc123",
                "roots": ["register", "claims"],
                "rego_version": 1,
                "wasm": [{"entrypoint": "register/violation", "module": "/policy.wasm"}],
                "metadata": {"git": "abc123"},
            })
        );
        let bare = manifest("r", &[String::new()], &[], Value::Null);
        assert_eq!(
            bare,
            json!({"revision": "r", "roots": [""], "rego_version": 1})
        );
        let slashed = manifest(
            "r",
            &[],
            &[("a/b".to_owned(), "/x/policy.wasm".to_owned())],
            Value::Null,
        );
        assert_eq!(slashed["wasm"][0]["module"], "/x/policy.wasm");
    }
}
