//! `isolsim sweep`: design-space sweeps of the isolation experiment.
//!
//! A sweep file is TOML. `[sweep]` names the base (a preset, or several: then the preset is an
//! axis of its own), the protocols and the seeds; `[set]` sets keys on every point; `[grid]`
//! lists values per key and takes their cartesian product; `[[points]]` lists points by hand
//! (each is crossed with the grid, if there is one). Any key of the configuration
//! (`isolsim config` prints them all) may be set, gridded or listed:
//!
//! ```toml
//! [sweep]
//! name = "core-count"
//! preset = "arm64-server"                 # or ["arm64-server", "x86-server"]: an axis
//! protocols = ["broadcast", "deferred"]   # names or protocol files (relative to this file)
//! seeds = [1, 2]
//!
//! [set]
//! run.duration_us = 20000
//!
//! [grid]
//! run.cpus = [16, 32, 64]
//! ```
//!
//! Each point runs once per protocol and seed: a *unit*. Units are numbered point-major, then
//! protocol, then seed, and points are numbered listed-point-major, then grid axes in key order
//! (a preset axis first), the last axis fastest. The numbering is the file's whole identity: a
//! shard `i/n` runs the units whose number is `i-1` modulo `n`, and every result line carries
//! its number, so shards merge back into exactly the unsharded file.
//!
//! Results are JSON lines ([`Record`]), one per unit, each appended as soon as its unit
//! finishes, with the effective configuration, seed and software version. When every unit of
//! the run is done the file is rewritten in unit order, so a finished file is the same byte for
//! byte whatever `--jobs` was, however often the run was interrupted and resumed, and whether it
//! ran whole or as merged shards.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use workloads::experiment::{Experiment, Report};
use workloads::protocol::ProtocolFile;

use crate::config::{self, Config, Spans, line_col};

/// The software that wrote a result line.
pub const VERSION: &str = concat!("isolsim ", env!("CARGO_PKG_VERSION"));

/// A sweep file, a results file or a command-line argument that cannot be used:
/// `file:line:col: message` (position omitted when there is none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepError {
    /// The file (or argument) at fault.
    pub file: String,
    /// 1-based line and column, when known.
    pub pos: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl SweepError {
    fn at(file: &str, text: &str, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        SweepError { file: file.to_string(), pos: span.map(|s| line_col(text, s.start)), message: message.into() }
    }

    pub(crate) fn whole(file: impl fmt::Display, message: impl Into<String>) -> Self {
        SweepError { file: file.to_string(), pos: None, message: message.into() }
    }
}

impl fmt::Display for SweepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for SweepError {}

impl From<workloads::input::ReadError> for SweepError {
    fn from(e: workloads::input::ReadError) -> Self {
        SweepError { file: e.path, pos: e.pos, message: e.message }
    }
}

/// The `[sweep]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    /// Name of the sweep (default: the file's stem).
    name: Option<String>,
    /// One line on what the sweep asks; the report repeats it.
    #[serde(default)]
    description: String,
    /// A preset name, or a list of them (an axis named `preset`).
    preset: Option<toml::Value>,
    /// Protocols run at every point (default: broadcast, deferred, ct-work).
    protocols: Option<Vec<String>>,
    /// Seeds run at every point and protocol (default: [1]).
    seeds: Option<Vec<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    sweep: Header,
    #[serde(default)]
    set: toml::Table,
    grid: Option<toml::Table>,
    #[serde(default)]
    points: Vec<toml::Table>,
}

/// One point of the design space: the swept keys' values and the configuration they give.
#[derive(Clone, Debug)]
pub struct Point {
    /// The values of the keys that vary over the sweep (grid axes and listed keys, and
    /// `preset` when it is an axis), by dotted key.
    pub params: BTreeMap<String, Json>,
    /// The effective configuration.
    pub config: Config,
}

/// A sweep file, expanded and checked.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The sweep's name.
    pub name: String,
    /// What it asks.
    pub description: String,
    /// The points, in unit order.
    pub points: Vec<Point>,
    /// The protocols.
    pub protocols: Vec<ProtocolFile>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Fingerprint of everything the results depend on (see [`Record::digest`]).
    pub digest: String,
}

/// One run of the sweep: a point, a protocol, a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Its number.
    pub index: usize,
    /// The point.
    pub point: usize,
    /// The protocol (index into [`Sweep::protocols`]).
    pub protocol: usize,
    /// The seed.
    pub seed: u64,
}

/// One line of a results file: a unit and what it measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The sweep's name.
    pub sweep: String,
    /// Fingerprint of the sweep (software version, every unit's configuration, protocol text
    /// and seed): lines with different digests come from different sweeps and never mix.
    pub digest: String,
    /// The unit's number.
    pub unit: usize,
    /// Units in the whole sweep (all shards).
    pub units: usize,
    /// The point's number.
    pub point: usize,
    /// The swept keys' values at the point.
    pub params: BTreeMap<String, Json>,
    /// The protocol's name.
    pub protocol: String,
    /// The seed.
    pub seed: u64,
    /// The software that measured it.
    pub version: String,
    /// The effective configuration, defaults included.
    pub config: Config,
    /// What the run measured.
    pub report: Report,
}

impl Sweep {
    /// Reads and expands a sweep file.
    pub fn load(path: &Path) -> Result<Sweep, SweepError> {
        let text = workloads::input::read_text_at_most(path, workloads::input::MAX_TOML_BYTES)?;
        Sweep::parse(&path.display().to_string(), &text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Expands the sweep file `text` (called `file` in errors); protocol files are looked up
    /// relative to `dir`.
    pub fn parse(file: &str, text: &str, dir: &Path) -> Result<Sweep, SweepError> {
        let form: FileForm = config::parse_toml_tables(file, text, &["sweep"]).map_err(|c| SweepError {
            file: file.to_string(),
            pos: c.pos,
            message: c.message,
        })?;
        let spans = Spans::new(text);
        let fail = |path: &[&str], message: String| SweepError::at(file, text, spans.find(path), message);

        let name = form.sweep.name.clone().unwrap_or_else(|| {
            Path::new(file).file_stem().map_or_else(|| "sweep".to_string(), |s| s.to_string_lossy().into_owned())
        });
        let presets: Vec<String> = match &form.sweep.preset {
            None => vec!["arm64-server".to_string()],
            Some(toml::Value::String(s)) => vec![s.clone()],
            Some(toml::Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| fail(&["sweep", "preset"], "`sweep.preset`: expected preset names".into()))?,
            Some(toml::Value::Array(_)) => {
                return Err(fail(&["sweep", "preset"], "`sweep.preset` is an empty list".into()));
            }
            Some(_) => {
                return Err(fail(
                    &["sweep", "preset"],
                    "`sweep.preset`: expected a preset name or a list of them".into(),
                ));
            }
        };
        let mut bases = vec![];
        for (i, p) in presets.iter().enumerate() {
            let span = spans.find_element(&["sweep", "preset"], (presets.len() > 1).then_some(i));
            bases.push(config::preset(p).map_err(|e| SweepError::at(file, text, span, e.message))?);
        }

        let protocol_names = form
            .sweep
            .protocols
            .clone()
            .unwrap_or_else(|| workloads::kernel::Protocol::ALL.iter().map(|p| p.name().to_string()).collect());
        if protocol_names.is_empty() {
            return Err(fail(&["sweep", "protocols"], "`sweep.protocols` is an empty list".into()));
        }
        let mut protocols = vec![];
        for (i, n) in protocol_names.iter().enumerate() {
            let found = match workloads::kernel::Protocol::by_name(n) {
                Some(p) => Ok(ProtocolFile::builtin(p)),
                None if !dir.join(n).exists() => Err(format!(
                    "neither a built-in protocol (broadcast, deferred, ct-work) nor a protocol file ({} does not exist)",
                    dir.join(n).display()
                )),
                None => ProtocolFile::load(&dir.join(n)).map_err(|e| {
                    if e.line == 0 { e.what } else { format!("{}:{}:{}: {}", e.path, e.line, e.col, e.what) }
                }),
            };
            let span = spans.find_element(&["sweep", "protocols"], Some(i));
            protocols.push(found.map_err(|m| SweepError::at(file, text, span, format!("protocol `{n}`: {m}")))?);
        }
        let seeds = form.sweep.seeds.clone().unwrap_or_else(|| vec![1]);
        if seeds.is_empty() {
            return Err(fail(&["sweep", "seeds"], "`sweep.seeds` is an empty list".into()));
        }
        let mut seen = BTreeSet::new();
        for (i, s) in seeds.iter().enumerate() {
            if !seen.insert(s) {
                let span = spans.find_element(&["sweep", "seeds"], Some(i));
                return Err(SweepError::at(file, text, span, format!("seed {s} is listed twice")));
            }
        }

        // One point is a sweep too, if it runs several protocols or seeds (a comparison with its
        // spread over seeds); one run is not.
        if form.grid.is_none() && form.points.is_empty() && presets.len() == 1 && protocols.len() * seeds.len() == 1 {
            // At the list that has one entry where a sweep needs more (the [sweep] table if neither
            // is written out).
            let span = spans
                .find(&["sweep", "protocols"])
                .or_else(|| spans.find(&["sweep", "seeds"]))
                .or_else(|| spans.find(&["sweep"]));
            return Err(SweepError::at(
                file,
                text,
                span,
                "nothing to sweep: one point, one protocol and one seed; add a [grid] table of keys and their \
                 values, [[points]], more protocols or more seeds (or use isolsim run)",
            ));
        }

        // Settings: (dotted key, its path in the file, value).
        let fixed = leaves(&form.set, &["set"]);
        let grid = match &form.grid {
            Some(g) => {
                let axes = leaves(g, &["grid"]);
                if axes.is_empty() && form.points.is_empty() {
                    return Err(fail(&["grid"], "the grid is empty: give each swept key a list of values".into()));
                }
                axes
            }
            None => vec![],
        };
        let mut axes: Vec<(String, Vec<String>, Vec<toml::Value>)> = vec![];
        for (key, path, v) in grid {
            let values = match v {
                toml::Value::Array(a) if !a.is_empty() => a,
                toml::Value::Array(_) => {
                    return Err(SweepError::at(
                        file,
                        text,
                        spans.find_strs(&path),
                        format!("grid axis `{key}` has no values"),
                    ));
                }
                _ => {
                    return Err(SweepError::at(
                        file,
                        text,
                        spans.find_strs(&path),
                        format!("grid axis `{key}`: expected a list of values"),
                    ));
                }
            };
            // The same value twice would be the same points twice (and a file of a few thousand
            // repeats costs seconds to check point by point before anything runs).
            let mut seen = BTreeSet::new();
            for (i, v) in values.iter().enumerate() {
                if !seen.insert(v.to_string()) {
                    let span = spans.find_element_strs(&path, Some(i));
                    return Err(SweepError::at(file, text, span, format!("grid axis `{key}` lists {v} twice")));
                }
            }
            axes.push((key, path, values));
        }
        let listed: Vec<Vec<(String, Vec<String>, toml::Value)>> = if form.points.is_empty() {
            vec![vec![]]
        } else {
            form.points
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut l = leaves(t, &["points"]);
                    for (_, path, _) in &mut l {
                        path.insert(1, format!("[{i}]"));
                    }
                    l
                })
                .collect()
        };
        for (i, l) in listed.iter().enumerate() {
            if l.is_empty() && !form.points.is_empty() {
                return Err(fail(&["points", &format!("[{i}]")], "this point sets no key".into()));
            }
            if let Some((k, path, _)) = l.iter().find(|(k, _, _)| axes.iter().any(|a| &a.0 == k)) {
                return Err(SweepError::at(
                    file,
                    text,
                    spans.find_strs(path),
                    format!("`{k}` is both a grid axis and set by a listed point"),
                ));
            }
        }
        if let Some((k, path, _)) =
            fixed.iter().find(|(k, _, _)| axes.iter().any(|a| &a.0 == k) || listed.iter().flatten().any(|l| &l.0 == k))
        {
            return Err(SweepError::at(
                file,
                text,
                spans.find_strs(path),
                format!("`{k}` is set in [set] and swept as well"),
            ));
        }

        // Counted before anything is expanded: a few long axes multiply into more than fits.
        let units = axes
            .iter()
            .map(|a| a.2.len())
            .chain([presets.len(), listed.len(), protocols.len(), seeds.len()])
            .try_fold(1usize, |n, k| n.checked_mul(k).filter(|&n| n <= MAX_UNITS));
        if units.is_none() {
            let span = if form.grid.is_some() { spans.find(&["grid"]) } else { spans.find(&["sweep"]) };
            return Err(SweepError::at(
                file,
                text,
                span,
                format!("the sweep has more than {MAX_UNITS} runs (points x protocols x seeds): split it"),
            ));
        }

        // Every value is checked where it is written, once, before any combination.
        let apply = |base: &Config, key: &str, path: &[String], element: Option<usize>, v: &toml::Value| {
            with_key(base, key, v).map_err(|m| {
                // An unknown key is shown where the key is written; a bad value where the value is.
                let span = if m.starts_with("unknown key") {
                    spans.find_key(path)
                } else {
                    spans.find_element_strs(path, element)
                };
                SweepError::at(file, text, span, m)
            })
        };
        // Each point with where each of its keys is set (the preset axis, [set], its listed
        // point, its grid values), to show a point that is not valid where a key at fault is.
        let mut point_cfgs: Vec<(BTreeMap<String, Json>, Config, SetBy, usize)> = vec![];
        for (b, base) in bases.iter().enumerate() {
            let mut base = base.clone();
            let mut bset: SetBy = vec![];
            if presets.len() > 1 {
                bset.push(("preset".into(), (vec!["sweep".into(), "preset".into()], Some(b))));
            }
            for (k, path, v) in &fixed {
                base = apply(&base, k, path, None, v)?;
                bset.push((k.clone(), (path.clone(), None)));
            }
            for l in &listed {
                let mut lbase = base.clone();
                let mut lparams = BTreeMap::new();
                if presets.len() > 1 {
                    lparams.insert("preset".to_string(), Json::String(presets[b].clone()));
                }
                let mut lset = bset.clone();
                for (k, path, v) in l {
                    lbase = apply(&lbase, k, path, None, v)?;
                    lparams.insert(k.clone(), to_json(v));
                    lset.push((k.clone(), (path.clone(), None)));
                }
                // The grid's product, the last axis fastest.
                let mut idx = vec![0usize; axes.len()];
                loop {
                    let mut cfg = lbase.clone();
                    let mut params = lparams.clone();
                    let mut set = lset.clone();
                    for (a, &i) in axes.iter().zip(&idx) {
                        cfg = apply(&cfg, &a.0, &a.1, Some(i), &a.2[i])?;
                        params.insert(a.0.clone(), to_json(&a.2[i]));
                        set.push((a.0.clone(), (a.1.clone(), Some(i))));
                    }
                    point_cfgs.push((params, cfg, set, b));
                    let mut carry = axes.len();
                    while carry > 0 {
                        carry -= 1;
                        idx[carry] += 1;
                        if idx[carry] < axes[carry].2.len() {
                            break;
                        }
                        idx[carry] = 0;
                        if carry == 0 {
                            carry = usize::MAX;
                            break;
                        }
                    }
                    if axes.is_empty() || carry == usize::MAX {
                        break;
                    }
                }
            }
        }
        let mut points = vec![];
        for (params, mut cfg, set, b) in point_cfgs {
            // A machine file the sweep names is read from the sweep's folder (the configuration's
            // own was read when the configuration was loaded).
            let topology = &mut cfg.machine.topology;
            let imported = if topology.file != bases[b].machine.topology.file {
                crate::topology::import::apply_file(topology, dir)
                    .map_err(|e| sim::Invalid::new(&["machine.topology.file"], e.to_string()))
            } else {
                Ok(())
            };
            if let Err(e) = imported.and_then(|()| config::validate_run(&cfg)) {
                let shown: Vec<String> = params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                // Where the file sets a key at fault; else where the point is swept (a preset
                // gives the machine, so the preset axis is where its keys come from).
                let machine = e.keys.iter().any(|k| k.starts_with("machine."));
                let set_here = e.keys.iter().find_map(|k| set.iter().find(|(s, _)| s == k));
                let at = set_here
                    .or_else(|| set.iter().find(|(s, _)| s == "preset" && machine))
                    .or_else(|| set.iter().rev().find(|(s, _)| params.contains_key(s)))
                    .and_then(|(_, (path, item))| spans.find_element_strs(path, *item));
                let key = set_here.map(|(k, _)| k).or(e.keys.first()).map_or(String::new(), |k| format!("`{k}`: "));
                return Err(SweepError::at(
                    file,
                    text,
                    at,
                    format!("the point {} is not a valid configuration: {key}{e}", shown.join(", ")),
                ));
            }
            points.push(Point { params, config: cfg });
        }
        let mut sweep = Sweep {
            name,
            description: form.sweep.description.clone(),
            points,
            protocols,
            seeds,
            digest: String::new(),
        };
        sweep.digest = sweep.fingerprint();
        Ok(sweep)
    }

    /// Units in the whole sweep.
    pub fn len(&self) -> usize {
        self.points.len() * self.protocols.len() * self.seeds.len()
    }

    /// True when the sweep has no unit (never, for a parsed sweep).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unit `index`.
    pub fn unit(&self, index: usize) -> Unit {
        let (s, p) = (self.seeds.len(), self.protocols.len());
        Unit { index, point: index / (p * s), protocol: index / s % p, seed: self.seeds[index % s] }
    }

    /// The units of shard `shard` = (i, n), 1 ≤ i ≤ n (all of them for `None`).
    pub fn shard(&self, shard: Option<(usize, usize)>) -> Vec<Unit> {
        (0..self.len()).filter(|u| shard.is_none_or(|(i, n)| u % n == i - 1)).map(|u| self.unit(u)).collect()
    }

    fn fingerprint(&self) -> String {
        let mut h = Fnv::default();
        h.write(VERSION.as_bytes());
        for p in &self.points {
            h.write(serde_json::to_string(&p.params).expect("params serialise").as_bytes());
            h.write(serde_json::to_string(&p.config).expect("configs serialise").as_bytes());
        }
        for p in &self.protocols {
            h.write(p.name.as_bytes());
            h.write(p.text.as_bytes());
        }
        for s in &self.seeds {
            h.write(&s.to_le_bytes());
        }
        format!("{:016x}", h.0)
    }

    /// Runs unit `u` and returns its result line (without the newline).
    pub fn run_unit(&self, u: Unit) -> Result<String, String> {
        let point = &self.points[u.point];
        let p = &self.protocols[u.protocol];
        let cfg = &point.config;
        let mut files: Vec<(&str, &str)> = workloads::kernel::FILES.to_vec();
        let own = p.protocol_files();
        files.extend(own.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        let exp = Experiment::build_with_kernel(&cfg.machine, &cfg.kernel, &cfg.run, p.base, u.seed, &files)
            .map_err(|e| e.to_string())?
            .named(&p.name);
        let report = exp.run().map_err(|e| e.to_string())?;
        let record = Record {
            sweep: self.name.clone(),
            digest: self.digest.clone(),
            unit: u.index,
            units: self.len(),
            point: u.point,
            params: point.params.clone(),
            protocol: p.name.clone(),
            seed: u.seed,
            version: VERSION.to_string(),
            config: cfg.clone(),
            report,
        };
        Ok(serde_json::to_string(&record).expect("records serialise"))
    }

    /// A rough cost of unit `u` (simulated CPU-cycles), to start the longest units first.
    fn cost(&self, u: Unit) -> u64 {
        let r = &self.points[u.point].config.run;
        r.cpus as u64 * r.duration_us
    }
}

/// Where a point is written: the path of a value in the file, and the item for an array.
type Origin = (Vec<String>, Option<usize>);

/// Where each key of a point is set in the sweep file (`preset` for the preset axis).
type SetBy = Vec<(String, Origin)>;

/// `base` with `key` (dotted) set to `v`; the message of what is wrong otherwise.
fn with_key(base: &Config, key: &str, v: &toml::Value) -> Result<Config, String> {
    let mut doc = toml::Table::new();
    let parts: Vec<&str> = key.split('.').collect();
    let mut t = &mut doc;
    for p in &parts[..parts.len() - 1] {
        t = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("just inserted as a table");
    }
    t.insert(parts[parts.len() - 1].to_string(), v.clone());
    let text = toml::to_string(&doc).map_err(|e| format!("`{key}`: {e}"))?;
    config::with_overrides(base, "sweep", &text).map_err(|e| e.message)
}

fn to_json(v: &toml::Value) -> Json {
    match v {
        // JSON has no NaN or infinity (serde_json makes them null): the text Rust prints, as
        // sim::float writes them.
        toml::Value::Float(f) if !f.is_finite() => Json::String(f.to_string()),
        v => serde_json::to_value(v).unwrap_or(Json::Null),
    }
}

/// The non-table values under `t`: (dotted key, path in the file, value), in key order.
fn leaves(t: &toml::Table, prefix: &[&str]) -> Vec<(String, Vec<String>, toml::Value)> {
    fn walk(t: &toml::Table, key: &mut Vec<String>, out: &mut Vec<(Vec<String>, toml::Value)>) {
        for (k, v) in t {
            key.push(k.clone());
            match v {
                toml::Value::Table(sub) => walk(sub, key, out),
                v => out.push((key.clone(), v.clone())),
            }
            key.pop();
        }
    }
    let mut out = vec![];
    walk(t, &mut vec![], &mut out);
    out.into_iter()
        .map(|(k, v)| {
            let mut path: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
            path.extend(k.iter().cloned());
            (k.join("."), path, v)
        })
        .collect()
}

/// 64-bit FNV-1a: a fingerprint that is the same on every machine and every run.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        // Separates consecutive fields ("ab","c" from "a","bc").
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
}

/// Parses `--shard i/n`.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard {s}: expected i/n with 1 <= i <= n (e.g. 2/8)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Units run at once.
    pub jobs: usize,
    /// Run only this shard (i, n).
    pub shard: Option<(usize, usize)>,
    /// Continue an interrupted run in the results file instead of refusing to touch it.
    pub resume: bool,
}

/// What [`run`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// Units of this run (the shard's, or all).
    pub units: usize,
    /// Of which already in the file (resumed).
    pub resumed: usize,
    /// Of which run now.
    pub ran: usize,
}

/// A line of a results file: what identifies its run, where it is, and the line itself.
struct Line {
    /// Its 1-based line number in the file it was read from.
    number: usize,
    unit: usize,
    units: usize,
    digest: String,
    point: usize,
    protocol: String,
    seed: u64,
    text: String,
}

/// The most units a sweep may have: a bound on what a sweep file expands to and on the counts a
/// results file claims (2^24 runs of a few kilobytes each is already tens of gigabytes).
pub const MAX_UNITS: usize = 1 << 24;

/// What is wrong with a result line on its own (the fields' values, not their types, which
/// [`Record`]'s reader checks).
fn check_record(r: &Record) -> Result<(), String> {
    if r.units == 0 || r.units > MAX_UNITS {
        return Err(format!("units = {}: a sweep has 1 to {MAX_UNITS} units", r.units));
    }
    if r.unit >= r.units {
        return Err(format!("unit = {} is not below units = {}", r.unit, r.units));
    }
    if r.point > r.unit {
        return Err(format!("point = {} cannot hold unit {} (units are numbered point by point)", r.point, r.unit));
    }
    if r.digest.len() != 16 || !r.digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("digest = {:?} is not 16 lowercase hexadecimal digits", r.digest));
    }
    let semver = r.version.strip_prefix("isolsim ").is_some_and(|v| {
        let core = v.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if !semver {
        return Err(format!("version = {:?} is not `isolsim X.Y.Z`", r.version));
    }
    if r.report.seed != r.seed || r.report.name != r.protocol {
        return Err(format!(
            "the report is of protocol {} seed {}, the line says protocol {} seed {}",
            r.report.name, r.report.seed, r.protocol, r.seed
        ));
    }
    Ok(())
}

/// The complete lines of a results file, each a valid result line, all of one sweep and each
/// unit once, and the byte length they span. A last line without its newline (a run killed
/// while writing it) is left out; `strict` makes it an error. A file that does not exist has
/// no line, unless `strict`.
fn read_lines(path: &Path, strict: bool) -> Result<(Vec<Line>, u64), SweepError> {
    if !strict && std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Ok((vec![], 0));
    }
    read_lines_from(workloads::input::Lines::open(path)?, &path.display().to_string(), strict)
}

/// [`read_lines`] of the lines `reader` gives, from the file called `file`.
fn read_lines_from<R: std::io::BufRead>(
    mut reader: workloads::input::Lines<R>,
    file: &str,
    strict: bool,
) -> Result<(Vec<Line>, u64), SweepError> {
    let at = |line: usize, col: usize, message: String| SweepError {
        file: file.to_string(),
        pos: Some((line, col)),
        message,
    };
    let mut lines: Vec<Line> = vec![];
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut complete = 0;
    while let Some(l) = reader.next()? {
        let number = l.number;
        if !l.complete {
            if strict {
                return Err(at(
                    number,
                    1,
                    "the last line is cut short (an interrupted run): finish it with `isolsim sweep --resume`".into(),
                ));
            }
            break;
        }
        complete = l.end;
        let text = reader.text(l)?;
        let r: Record = serde_json::from_str(&text).map_err(|e| {
            let ((_, col), what) = workloads::input::json_error(&text, &e);
            at(number, col, format!("not a result line of this version of isolsim: {what}"))
        })?;
        check_record(&r).map_err(|m| at(number, 1, m))?;
        if let Some(first) = lines.first()
            && (first.digest != r.digest || first.units != r.units)
        {
            return Err(at(
                number,
                1,
                format!(
                    "mixes two sweeps: digest {} and {} units here, {} and {} on line {}",
                    r.digest, r.units, first.digest, first.units, first.number
                ),
            ));
        }
        if let Some(other) = seen.insert(r.unit, number) {
            return Err(at(
                number,
                1,
                format!("unit {} is also on line {other}: a results file holds each unit once", r.unit),
            ));
        }
        let Record { unit, units, digest, point, protocol, seed, .. } = r;
        lines.push(Line { number, unit, units, digest, point, protocol, seed, text });
    }
    Ok((lines, complete))
}

/// Checks that `lines` (each with its file), if they are every unit of their sweep, are numbered
/// as a sweep numbers its units: point by point, then protocol, then seed. (Fewer lines do not
/// tell how many protocols and seeds the sweep has.)
fn check_numbering(lines: &[(&Path, &Line)]) -> Result<(), SweepError> {
    let Some(&(file, first)) = lines.first() else { return Ok(()) };
    if lines.len() != first.units {
        return Ok(());
    }
    let at = |file: &Path, l: &Line, message: String| SweepError {
        file: file.display().to_string(),
        pos: Some((l.number, 1)),
        message,
    };
    let protocols: BTreeSet<&str> = lines.iter().map(|(_, l)| l.protocol.as_str()).collect();
    let seeds: BTreeSet<u64> = lines.iter().map(|(_, l)| l.seed).collect();
    let (p, s) = (protocols.len(), seeds.len());
    if first.units % (p * s) != 0 {
        return Err(at(
            file,
            first,
            format!("units = {} is not a whole number of points of {p} protocols x {s} seeds", first.units),
        ));
    }
    // Each protocol has one place among a point's units, and each seed one among a protocol's:
    // the one most lines give it, so that the lines blamed are the few that differ.
    let mut protocol_votes: Vec<BTreeMap<&str, usize>> = vec![BTreeMap::new(); p];
    let mut seed_votes: Vec<BTreeMap<u64, usize>> = vec![BTreeMap::new(); s];
    for (_, l) in lines {
        *protocol_votes[l.unit / s % p].entry(&l.protocol).or_default() += 1;
        *seed_votes[l.unit % s].entry(l.seed).or_default() += 1;
    }
    fn most<K: Copy>(votes: &BTreeMap<K, usize>) -> K {
        let best = votes.values().max().copied().unwrap_or(0);
        *votes.iter().find(|(_, n)| **n == best).expect("a unit voted").0
    }
    for &(file, l) in lines {
        let (point, protocol, seed) =
            (l.unit / (p * s), most(&protocol_votes[l.unit / s % p]), most(&seed_votes[l.unit % s]));
        if l.point != point || l.protocol != protocol || l.seed != seed {
            return Err(at(
                file,
                l,
                format!(
                    "unit {} does not fit the sweep's numbering ({p} protocols x {s} seeds per point): it should be \
                     point {point}, protocol {protocol}, seed {seed}; the line says point {}, protocol {}, seed {}",
                    l.unit, l.point, l.protocol, l.seed
                ),
            ));
        }
    }
    Ok(())
}

/// Runs the sweep's units (those of `opts.shard`) and writes their lines to `out`.
///
/// `progress(done, total)` is called after each unit. The file is refused if it already has
/// lines and `opts.resume` is off; with it, lines from another sweep (another digest) or shard
/// are refused, a cut-short last line is dropped and every unit with a line is skipped.
pub fn run(
    sweep: &Sweep,
    out: &Path,
    opts: &RunOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RunSummary, SweepError> {
    let units = sweep.shard(opts.shard);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| SweepError::whole(dir.display(), format!("cannot create it ({e})")))?;
    }
    // Held until the file is final: one writer at a time.
    let _lock =
        crate::lock::OutputLock::take(out, "isolsim sweep", "--out").map_err(|(file, m)| SweepError::whole(file, m))?;
    let (lines, complete) = read_lines(out, false)?;
    let exists = std::fs::metadata(out).is_ok_and(|m| m.len() > 0);
    if exists && !opts.resume {
        return Err(SweepError::whole(
            out.display(),
            "already exists: pass --resume to continue the sweep it holds, or choose another --out",
        ));
    }
    let mut done = BTreeSet::new();
    for l in &lines {
        let at = |m: String| SweepError { file: out.display().to_string(), pos: Some((l.number, 1)), message: m };
        if l.digest != sweep.digest {
            return Err(at(format!(
                "written by another sweep or version (digest {}, this sweep's is {}): choose another --out",
                l.digest, sweep.digest
            )));
        }
        if opts.shard.is_some_and(|(i, n)| l.unit % n != i - 1) {
            return Err(at(format!("unit {} is not in this shard: choose another --out", l.unit)));
        }
        // The digest is this sweep's, so the line must be the unit's own.
        let u = sweep.unit(l.unit);
        let p = &sweep.protocols[u.protocol].name;
        if l.units != sweep.len() || l.point != u.point || l.protocol != *p || l.seed != u.seed {
            return Err(at(format!(
                "unit {} of this sweep is point {}, protocol {p}, seed {} of {} units; the line says point {}, \
                 protocol {}, seed {} of {}",
                l.unit,
                u.point,
                u.seed,
                sweep.len(),
                l.point,
                l.protocol,
                l.seed,
                l.units
            )));
        }
        done.insert(l.unit);
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .map_err(|e| SweepError::whole(out.display(), format!("cannot open it ({e})")))?;
    // Drop a line cut short by a kill; every unit before it is whole.
    if file.metadata().map(|m| m.len()).unwrap_or(0) > complete {
        file.set_len(complete).map_err(|e| SweepError::whole(out.display(), format!("cannot truncate ({e})")))?;
    }
    let mut todo: Vec<Unit> = units.iter().copied().filter(|u| !done.contains(&u.index)).collect();
    // Longest first: the last units to start are the short ones, so the jobs finish together.
    todo.sort_by_key(|u| (std::cmp::Reverse(sweep.cost(*u)), u.index));
    let total = units.len();
    let resumed = total - todo.len();
    progress(resumed, total);

    let file = Mutex::new(file);
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(resumed);
    let failed: Mutex<Option<SweepError>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    // More threads than units would only wait; --jobs is bounded where it is read (MAX_JOBS).
    let jobs = opts.jobs.clamp(1, todo.len().max(1));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| SweepError::whole("--jobs", e.to_string()))?;
    pool.install(|| {
        (0..jobs).into_par_iter().for_each(|_| {
            while !stop.load(Ordering::Relaxed) {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&u) = todo.get(k) else { break };
                let result = sweep.run_unit(u).and_then(|mut line| {
                    line.push('\n');
                    // One write of the whole line: a kill leaves at most a line without its newline.
                    let mut f = file.lock().expect("no writer panics");
                    f.write_all(line.as_bytes()).map_err(|e| format!("cannot write {} ({e})", out.display()))
                });
                if let Err(m) = result {
                    let p = &sweep.points[u.point].params;
                    let shown: Vec<String> = p.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    let e = SweepError::whole(
                        &sweep.name,
                        format!(
                            "unit {} ({}, {}, seed {}) failed: {m}",
                            u.index,
                            shown.join(", "),
                            sweep.protocols[u.protocol].name,
                            u.seed
                        ),
                    );
                    failed.lock().expect("no writer panics").get_or_insert(e);
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                progress(finished.fetch_add(1, Ordering::Relaxed) + 1, total);
            }
        })
    });
    if let Some(e) = failed.into_inner().expect("no writer panics") {
        return Err(e);
    }
    drop(file);
    // Every unit is in: put the lines in unit order.
    let (mut lines, _) = read_lines(out, true)?;
    lines.sort_by_key(|l| l.unit);
    write_lines(out, &lines)?;
    Ok(RunSummary { units: total, resumed, ran: total - resumed })
}

fn write_lines(out: &Path, lines: &[Line]) -> Result<(), SweepError> {
    let mut bytes = Vec::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
    for l in lines {
        bytes.extend_from_slice(l.text.as_bytes());
        bytes.push(b'\n');
    }
    crate::write_atomically(out, &bytes).map_err(|e| SweepError::whole(out.display(), format!("cannot write it ({e})")))
}

/// What [`merge`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeSummary {
    /// Lines written.
    pub lines: usize,
    /// Units of the whole sweep.
    pub units: usize,
    /// Units no part holds, as ranges (the merge writes nothing then, unless allowed).
    pub missing: Vec<Range<usize>>,
}

/// Combines the results files `parts` (shards of one sweep) into `out`, in unit order.
///
/// Refused: a part that is not a results file (each line is checked, [`read_records`]), parts
/// from different sweeps, a unit in two parts with different lines, a part with a cut-short
/// line; and, unless `allow_missing`, a sweep some unit of which no part holds. Nothing is
/// written when refused.
pub fn merge(parts: &[PathBuf], out: &Path, allow_missing: bool) -> Result<MergeSummary, SweepError> {
    let mut all: BTreeMap<usize, (&Path, Line)> = BTreeMap::new();
    let mut first: Option<(&Path, String, usize)> = None;
    for p in parts {
        let (lines, _) = read_lines(p, true)?;
        for l in lines {
            let at = |m: String| SweepError { file: p.display().to_string(), pos: Some((l.number, 1)), message: m };
            match &first {
                None => first = Some((p, l.digest.clone(), l.units)),
                Some((f, d, u)) if *d != l.digest || *u != l.units => {
                    return Err(at(format!(
                        "from another sweep than {} (digest {} vs {d}, {} units vs {u})",
                        f.display(),
                        l.digest,
                        l.units
                    )));
                }
                Some(_) => {}
            }
            if let Some((f, prev)) = all.get(&l.unit) {
                if prev.text != l.text {
                    return Err(at(format!(
                        "unit {} is also in {} (line {}), with different results",
                        l.unit,
                        f.display(),
                        prev.number
                    )));
                }
                continue;
            }
            all.insert(l.unit, (p, l));
        }
    }
    let Some((_, _, units)) = first else {
        return Err(SweepError::whole("merge", "the parts hold no result line"));
    };
    let lines: Vec<(&Path, &Line)> = all.values().map(|(p, l)| (*p, l)).collect();
    check_numbering(&lines)?;
    // The gaps between the units there are, never the missing units one by one: a line may
    // claim millions of units.
    let mut missing = vec![];
    let mut next = 0;
    for &u in all.keys().chain([units].iter()) {
        if u > next {
            missing.push(next..u);
        }
        next = u + 1;
    }
    let summary = MergeSummary { lines: all.len(), units, missing };
    if !summary.missing.is_empty() && !allow_missing {
        return Ok(summary);
    }
    let lines: Vec<Line> = all.into_values().map(|(_, l)| l).collect();
    write_lines(out, &lines)?;
    Ok(summary)
}

/// Reads every line of a results file as a [`Record`]: each line valid on its own (`unit` below
/// `units`, a digest and a version of the right form, the report of the line's protocol and
/// seed), all of one sweep, each unit once and, when every unit is there, numbered as the sweep
/// numbers them.
pub fn read_records(path: &Path) -> Result<Vec<Record>, SweepError> {
    let (lines, _) = read_lines(path, true)?;
    records(path, &lines)
}

/// [`read_records`] of a results file's bytes, held in memory; `name` names it in errors.
pub fn read_records_from(name: &str, bytes: &[u8]) -> Result<Vec<Record>, SweepError> {
    let (lines, _) = read_lines_from(workloads::input::Lines::from_reader(name, bytes), name, true)?;
    records(Path::new(name), &lines)
}

fn records(path: &Path, lines: &[Line]) -> Result<Vec<Record>, SweepError> {
    check_numbering(&lines.iter().map(|l| (path, l)).collect::<Vec<_>>())?;
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Record>(&l.text).map_err(|e| {
                let ((_, col), what) = workloads::input::json_error(&l.text, &e);
                SweepError {
                    file: path.display().to_string(),
                    pos: Some((l.number, col)),
                    message: format!("not a result line of this version of isolsim: {what}"),
                }
            })
        })
        .collect()
}

/// Unit ranges as text: `0-3, 7, 9-10`.
pub fn ranges(units: &[Range<usize>]) -> String {
    let shown: Vec<String> = units
        .iter()
        .map(|r| if r.end == r.start + 1 { r.start.to_string() } else { format!("{}-{}", r.start, r.end - 1) })
        .collect();
    shown.join(", ")
}

/// The number of units in `ranges`.
pub fn count(ranges: &[Range<usize>]) -> usize {
    ranges.iter().map(|r| r.end - r.start).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Sweep, SweepError> {
        Sweep::parse("t.toml", text, Path::new("."))
    }

    #[test]
    fn points_are_numbered_preset_then_listed_then_grid_last_axis_fastest() {
        let s = parse(
            "[sweep]\npreset = [\"arm64-server\", \"x86-server\"]\nprotocols = [\"deferred\"]\n\
             [set]\nrun.cpus = 16\nrun.isolated = 2\n\
             [grid]\nrun.activity.vmalloc_per_s = [1.0, 2.0]\nrun.activity.text_patch_per_s = [10.0, 20.0]\n\
             [[points]]\nrun.activity.munmap_per_s = 5.0\n[[points]]\nrun.activity.munmap_per_s = 6.0\n",
        )
        .unwrap();
        let shown: Vec<String> =
            s.points.iter().map(|p| p.params.values().map(show).collect::<Vec<_>>().join(" ")).collect();
        // Shown in key order (preset, munmap, text_patch, vmalloc); numbered preset first, then the
        // listed points, then the grid's axes in key order (text_patch before vmalloc).
        assert_eq!(shown.len(), 2 * 2 * 2 * 2);
        assert_eq!(shown[0], "arm64-server 5.0 10.0 1.0");
        assert_eq!(shown[1], "arm64-server 5.0 10.0 2.0");
        assert_eq!(shown[2], "arm64-server 5.0 20.0 1.0");
        assert_eq!(shown[4], "arm64-server 6.0 10.0 1.0");
        assert_eq!(shown[8], "x86-server 5.0 10.0 1.0");
        let p = &s.points[3].config.run.activity;
        assert_eq!((p.munmap_per_s, p.text_patch_per_s, p.vmalloc_per_s), (5.0, 20.0, 2.0));
        assert_eq!(s.points[9].config.machine.clock_mhz, config::preset("x86-server").unwrap().machine.clock_mhz);
        assert_eq!(s.points[9].config.run.cpus, 16, "[set] applies over every preset");
    }

    fn show(v: &Json) -> String {
        match v {
            Json::String(s) => s.clone(),
            Json::Number(n) if n.is_f64() => format!("{:.1}", n.as_f64().unwrap()),
            v => v.to_string(),
        }
    }

    #[test]
    fn shards_partition_the_units() {
        let s = parse("[sweep]\nseeds = [1, 2, 3]\n[grid]\nrun.cpus = [16, 32]\n").unwrap();
        assert_eq!(s.len(), 2 * 3 * 3);
        let mut seen: Vec<usize> = (1..=4).flat_map(|i| s.shard(Some((i, 4)))).map(|u| u.index).collect();
        seen.sort();
        assert_eq!(seen, (0..s.len()).collect::<Vec<_>>());
        let u = s.unit(13);
        assert_eq!((u.point, u.protocol, u.seed), (1, 1, 2));
        assert_eq!(parse_shard("2/8"), Ok((2, 8)));
        for bad in ["0/8", "9/8", "1/0", "x", "1/2/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_digest_changes_with_anything_that_changes_a_result() {
        let base = "[sweep]\nseeds = [1]\n[grid]\nrun.cpus = [16, 32]\n";
        let d = parse(base).unwrap().digest;
        assert_eq!(d, parse(base).unwrap().digest);
        for other in [
            base.replace("[1]", "[2]"),
            base.replace("32", "33"),
            base.replace("[sweep]\n", "[sweep]\nprotocols = [\"deferred\"]\n"),
            base.to_string() + "[set]\nrun.duration_us = 7\n",
        ] {
            assert_ne!(parse(&other).unwrap().digest, d, "{other}");
        }
        // The name and description do not change a result.
        assert_eq!(parse(&base.replace("[sweep]\n", "[sweep]\nname = \"x\"\n")).unwrap().digest, d);
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[0..3, 5..6, 7..9]), "0-2, 5, 7-8");
        assert_eq!(ranges(&[]), "");
    }
}
