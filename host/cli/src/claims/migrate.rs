//! The migration check (extensions §4): the claims mapping over a user export.
//!
//! Each row of the export becomes one login's ID-token claims through a column mapping
//! (default `slug → preferred_username`, `name → name`, `email → email`,
//! `tenant_id → tenant_id`, `id → sub`), is mapped with the provider's `claims_imports`, and is
//! reported with its MXID. Users MAS would not let in with their planned MXID are locked out
//! (outcome `error` or `suggestion-dropped`); users whose accepted MXID an earlier row already
//! took collide with that row, within the same tenant or across tenants.
//!
//! **Bounded memory.** Rows are read and reported one at a time (CSV through the `csv`
//! crate's streaming reader, JSON lines line by line) and the report is written as it goes;
//! what stays in memory is one entry per distinct accepted MXID (the first row that took it
//! and how many rows share it), and the totals. The JSON format is therefore JSON lines: one
//! object per user, then one summary object.
//!
//! Cells: an empty CSV cell is a missing claim; a JSON `null` stays a null claim (which MAS
//! renders `none`).

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    io::{BufRead, Read, Write},
};

use claims_mapper::{Claims, Mapper, Mapping, Outcome};
use serde_json::{Map, Value, json};

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl InputFormat {
    /// The format a file name implies: `.csv`, or `.jsonl`/`.ndjson`.
    pub fn from_path(path: &std::path::Path) -> Option<InputFormat> {
        match path.extension()?.to_str()? {
            "csv" => Some(InputFormat::Csv),
            "jsonl" | "ndjson" => Some(InputFormat::JsonLines),
            _ => None,
        }
    }
}

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Aligned columns per user, then the summary.
    #[default]
    Table,
    /// JSON lines: one object per user, then `{"summary": …}`.
    Json,
}

/// Export column → claim.
#[derive(Debug, Clone)]
pub struct Columns(Vec<(String, String)>);

impl Default for Columns {
    fn default() -> Self {
        Columns(
            [
                ("slug", "preferred_username"),
                ("name", "name"),
                ("email", "email"),
                ("tenant_id", "tenant_id"),
                ("id", "sub"),
            ]
            .map(|(c, k)| (c.to_owned(), k.to_owned()))
            .to_vec(),
        )
    }
}

impl Columns {
    /// Adds or replaces mappings given as `column=claim`.
    ///
    /// # Errors
    ///
    /// An entry without `=`, or with an empty side.
    pub fn with(mut self, entries: &[String]) -> Result<Columns, String> {
        for entry in entries {
            let Some((column, claim)) = entry
                .split_once('=')
                .filter(|(c, k)| !c.is_empty() && !k.is_empty())
            else {
                return Err(format!(
                    "invalid column mapping `{entry}`; expected COLUMN=CLAIM"
                ));
            };
            self.0.retain(|(c, _)| c != column);
            self.0.push((column.to_owned(), claim.to_owned()));
        }
        Ok(self)
    }

    fn claim_of(&self, column: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, k)| k.as_str())
    }
}

/// The first row that took an MXID, and how many rows share it.
struct Taken {
    line: u64,
    user: String,
    tenant: String,
    users: u64,
    across_tenants: bool,
}

/// Totals kept while the export streams through.
#[derive(Default)]
struct Totals {
    users: u64,
    outcomes: BTreeMap<&'static str, u64>,
    codes: BTreeMap<String, u64>,
    locked_out: u64,
    colliding_users: u64,
    misplaced: u64,
}

/// The result of a check, for the exit code and the caller's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Rows checked.
    pub users: u64,
    /// Users who would not get their planned MXID.
    pub locked_out: u64,
    /// Users whose MXID an earlier row took.
    pub colliding: u64,
    /// Users whose localpart belongs to another tenant than their tenant claim names.
    pub misplaced: u64,
}

impl Verdict {
    /// True when nobody is locked out, misplaced or colliding (exit code 0).
    pub fn clean(&self) -> bool {
        self.locked_out == 0 && self.colliding == 0 && self.misplaced == 0
    }
}

/// One row of the report.
struct Row<'a> {
    line: u64,
    user: &'a str,
    tenant: &'a str,
    mapping: &'a Mapping,
    collides_with: Option<(u64, &'a str)>,
}

/// Runs the check: reads `input`, writes the report to `out`, and calls `progress` with the
/// bytes read so far every few thousand rows.
///
/// # Errors
///
/// A row that cannot be read (malformed CSV or JSON, not an object), or a write error; the
/// message names the line.
pub fn run<R: Read, W: Write>(
    input: R,
    format: InputFormat,
    columns: &Columns,
    mapper: &Mapper,
    report: ReportFormat,
    mut out: W,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Verdict> {
    let mut check = Check {
        mapper,
        report,
        taken: HashMap::new(),
        totals: Totals::default(),
    };
    let tenant_claim = mapper.tenants().claim().to_owned();
    let write_err = |e: std::io::Error| anyhow::anyhow!("cannot write the report: {e}");
    if report == ReportFormat::Table {
        writeln!(
            out,
            "{:<6} {:<14} {:<10} {:<44} {:<18} problems",
            "line", "user", "tenant", "mxid", "outcome"
        )
        .map_err(write_err)?;
    }
    match format {
        InputFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new().from_reader(input);
            let headers = reader
                .headers()
                .map_err(|e| anyhow::anyhow!("line 1: invalid CSV header: {e}"))?
                .clone();
            let mut record = csv::StringRecord::new();
            loop {
                let line = reader.position().line();
                match reader.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(e) => anyhow::bail!("line {line}: invalid CSV: {e}"),
                }
                let mut claims = Map::new();
                for (header, cell) in headers.iter().zip(record.iter()) {
                    if let Some(claim) = columns.claim_of(header)
                        && !cell.is_empty()
                    {
                        claims.insert(claim.to_owned(), Value::from(cell));
                    }
                }
                check.row(line, claims, &tenant_claim, &mut out)?;
                if check.totals.users.is_multiple_of(4096) {
                    progress(reader.position().byte());
                }
            }
            progress(reader.position().byte());
        }
        InputFormat::JsonLines => {
            let mut reader = std::io::BufReader::new(input);
            let mut text = String::new();
            let (mut line, mut bytes) = (0_u64, 0_u64);
            loop {
                text.clear();
                let n = reader
                    .read_line(&mut text)
                    .map_err(|e| anyhow::anyhow!("line {}: cannot read: {e}", line + 1))?;
                if n == 0 {
                    break;
                }
                line += 1;
                bytes += n as u64;
                if text.trim().is_empty() {
                    continue;
                }
                let row = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(row)) => row,
                    Ok(_) => anyhow::bail!("line {line}: expected a JSON object"),
                    Err(e) => anyhow::bail!("line {line}: invalid JSON: {e}"),
                };
                let claims = row
                    .into_iter()
                    .filter_map(|(k, v)| columns.claim_of(&k).map(|c| (c.to_owned(), v)))
                    .collect();
                check.row(line, claims, &tenant_claim, &mut out)?;
                if check.totals.users.is_multiple_of(4096) {
                    progress(bytes);
                }
            }
            progress(bytes);
        }
    }
    check.summary(&mut out).map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(Verdict {
        users: check.totals.users,
        locked_out: check.totals.locked_out,
        colliding: check.totals.colliding_users,
        misplaced: check.totals.misplaced,
    })
}

struct Check<'m> {
    mapper: &'m Mapper,
    report: ReportFormat,
    /// One entry per distinct accepted MXID.
    taken: HashMap<String, Taken>,
    totals: Totals,
}

/// A claim's value as report text.
fn text_of(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl Check<'_> {
    fn row<W: Write>(
        &mut self,
        line: u64,
        claims: Map<String, Value>,
        tenant_claim: &str,
        out: &mut W,
    ) -> anyhow::Result<()> {
        let user = text_of(claims.get("sub"));
        let tenant = text_of(claims.get(tenant_claim));
        let claims = Claims {
            id_token_claims: Some(claims),
            ..Claims::default()
        };
        let mapping = self.mapper.map(&claims);
        self.totals.users += 1;
        *self
            .totals
            .outcomes
            .entry(mapping.outcome.name())
            .or_default() += 1;
        for code in mapping.codes() {
            *self.totals.codes.entry(code).or_default() += 1;
        }
        if mapping.outcome != Outcome::Accepted {
            self.totals.locked_out += 1;
        }
        if misplaced(&mapping).is_some() {
            self.totals.misplaced += 1;
        }
        let mut collides_with = None;
        if let (Outcome::Accepted, Some(mxid)) = (mapping.outcome, &mapping.mxid) {
            match self.taken.get_mut(mxid) {
                Some(first) => {
                    first.users += 1;
                    first.across_tenants |= first.tenant != tenant;
                    self.totals.colliding_users += 1;
                    collides_with = Some((first.line, first.user.clone()));
                }
                None => {
                    self.taken.insert(
                        mxid.clone(),
                        Taken {
                            line,
                            user: user.clone(),
                            tenant: tenant.clone(),
                            users: 1,
                            across_tenants: false,
                        },
                    );
                }
            }
        }
        let row = Row {
            line,
            user: &user,
            tenant: &tenant,
            mapping: &mapping,
            collides_with: collides_with.as_ref().map(|(l, u)| (*l, u.as_str())),
        };
        match self.report {
            ReportFormat::Table => writeln!(out, "{}", table_line(&row)),
            ReportFormat::Json => writeln!(out, "{}", json_line(&row)),
        }
        .map_err(|e| anyhow::anyhow!("cannot write the report: {e}"))
    }

    fn summary<W: Write>(&self, out: &mut W) -> std::io::Result<()> {
        let mut groups: Vec<(&String, &Taken)> =
            self.taken.iter().filter(|(_, t)| t.users > 1).collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        let across = groups.iter().filter(|(_, t)| t.across_tenants).count();
        match self.report {
            ReportFormat::Json => {
                let summary = json!({"summary": {
                    "users": self.totals.users,
                    "distinct_mxids": self.taken.len(),
                    "outcomes": self.totals.outcomes,
                    "codes": self.totals.codes,
                    "locked_out": self.totals.locked_out,
                    "colliding_users": self.totals.colliding_users,
                    "misplaced": self.totals.misplaced,
                    "collisions": groups.iter().map(|(mxid, t)| json!({
                        "mxid": mxid,
                        "users": t.users,
                        "first_line": t.line,
                        "first_user": t.user,
                        "across_tenants": t.across_tenants,
                    })).collect::<Vec<_>>(),
                }});
                writeln!(out, "{summary}")
            }
            ReportFormat::Table => {
                let mut s = String::new();
                let t = &self.totals;
                let _ = writeln!(
                    s,
                    "\nsummary: {} users, {} distinct accepted MXIDs",
                    t.users,
                    self.taken.len()
                );
                for outcome in Outcome::ALL {
                    let n = t.outcomes.get(outcome.name()).copied().unwrap_or(0);
                    let _ = writeln!(s, "  outcome {:<28} {n}", outcome.name());
                }
                for (code, n) in &t.codes {
                    let _ = writeln!(s, "  code {code:<31} {n}");
                }
                let _ = writeln!(s, "  locked out {:<25} {}", "", t.locked_out);
                let _ = writeln!(s, "  in another tenant {:<18} {}", "", t.misplaced);
                let _ = writeln!(
                    s,
                    "  collisions: {} users collide on {} MXIDs ({} within a tenant, {across} across tenants)",
                    t.colliding_users,
                    groups.len(),
                    groups.len() - across
                );
                for (mxid, taken) in &groups {
                    let _ = writeln!(
                        s,
                        "    {mxid}: {} users, first {} (line {}), {}",
                        taken.users,
                        taken.user,
                        taken.line,
                        if taken.across_tenants {
                            "across tenants"
                        } else {
                            "within a tenant"
                        }
                    );
                }
                out.write_all(s.as_bytes())
            }
        }
    }
}

/// Where a user lands when the localpart belongs to another tenant than the tenant claim
/// names: MAS never reads the claim, so only the template can keep users in their tenant.
fn misplaced(m: &Mapping) -> Option<String> {
    let claimed = m.claimed_tenant.as_ref()?;
    m.localpart.as_ref()?;
    (m.tenant.as_ref() != Some(claimed)).then(|| {
        m.tenant
            .as_deref()
            .map_or_else(|| "no tenant".to_owned(), |t| format!("tenant {t}"))
    })
}

fn table_line(row: &Row<'_>) -> String {
    let m = row.mapping;
    let mut problems = m.codes();
    if let Some(lands) = misplaced(m) {
        problems.push(format!("lands in {lands}"));
    }
    if let Some((line, user)) = row.collides_with {
        problems.push(format!("collides with {user} (line {line})"));
    }
    if let Some(fix) = &m.fix {
        problems.push(format!("fix: {}", fix.expression));
    }
    if problems.is_empty()
        && m.outcome != Outcome::Accepted
        && let Some(d) = &m.description
    {
        problems.push(d.clone());
    }
    format!(
        "{:<6} {:<14} {:<10} {:<44} {:<18} {}",
        row.line,
        row.user,
        row.tenant,
        m.mxid.as_deref().unwrap_or("-"),
        m.outcome.name(),
        problems.join("; ")
    )
    .trim_end()
    .to_owned()
}

fn json_line(row: &Row<'_>) -> Value {
    let m = row.mapping;
    let mut line = json!({
        "line": row.line,
        "user": row.user,
        "tenant": row.tenant,
        "mxid": m.mxid,
        "outcome": m.outcome.name(),
        "codes": m.codes(),
        "description": m.description,
        "fix": m.fix.as_ref().map(|f| &f.expression),
    });
    if let Some(lands) = misplaced(m) {
        line["lands_in"] = Value::from(lands);
    }
    if let Some((first_line, first_user)) = row.collides_with {
        line["collides_with"] = json!({"line": first_line, "user": first_user});
    }
    line
}
