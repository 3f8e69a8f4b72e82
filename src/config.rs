//! Configuration files: every parameter of a run in one TOML document.
//!
//! The file format is [`Config`]: one table per section (`[machine]`, `[machine.core]`, …), each
//! key optional (a missing key keeps its default). Files are read strictly: an unknown key or a
//! value of the wrong type is a [`ConfigError`] that names the file, the 1-based line and column,
//! and the dotted key:
//!
//! ```
//! let e = isolsim::config::from_toml_str("my.toml", "[machine.core]\nrob_entrys = 4\n").unwrap_err();
//! assert!(e.to_string().starts_with("my.toml:2:1: unknown key `machine.core.rob_entrys`"));
//! ```
//!
//! Presets ([`PRESETS`], `presets/*.toml`, compiled in) are read by the same loader. [`load`]
//! starts from a preset and lets a file override some of its keys; [`to_commented_toml`] prints a
//! configuration back with every key present and each preceded by its one-line documentation.
//!
//! Nothing here lists fields by hand: documentation, defaults and the merge rule all come from
//! the schemars schema of [`Config`], so new sections and fields need no change in this module.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use cpu_model::machine::MachineConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use workloads::experiment::ExperimentConfig;
use workloads::kernel::KernelConfig;

/// An isolsim configuration file. Every key may be omitted and then keeps its default;
/// unknown keys and values of the wrong type are errors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The simulated machine: memory model, cores, caches.
    pub machine: MachineConfig,
    /// The simulated kernel: lengths of the code that runs as compute blocks.
    pub kernel: KernelConfig,
    /// The isolation experiment of `isolsim run`: CPUs, isolated CPUs, duration, activity.
    pub run: ExperimentConfig,
}

/// Names of the built-in presets (`presets/NAME.toml`).
pub const PRESETS: &[&str] = &["arm64-server", "x86-server"];

/// The text of a built-in preset.
fn preset_source(name: &str) -> Option<&'static str> {
    match name {
        "arm64-server" => Some(include_str!("../presets/arm64-server.toml")),
        "x86-server" => Some(include_str!("../presets/x86-server.toml")),
        _ => None,
    }
}

/// A configuration that could not be read: `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the error is in (`presets/NAME.toml` for a preset); `None` when the error is in
    /// the command line itself (an unknown preset name).
    pub file: Option<String>,
    /// 1-based line and column (in characters), when the error has a position.
    pub pos: Option<(usize, usize)>,
    /// Dotted path of the offending key (`machine.core.rob_entries`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.pos) {
            (Some(file), Some((line, col))) => write!(f, "{file}:{line}:{col}: {}", self.message),
            (Some(file), None) => write!(f, "{file}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads a configuration strictly; `name` is the file name used in errors.
pub fn from_toml_str(name: &str, text: &str) -> Result<Config, ConfigError> {
    strict(name, text)
}

fn strict<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, ConfigError> {
    parse_toml(name, text)
}

/// Reads TOML `text` (named `name` in errors) as a `T`: the one way the TOML readers
/// (configuration, sweep and scenario files) parse, each error at its `file:line:col`, and text
/// past [`workloads::input::MAX_TOML_BYTES`] refused before it is parsed.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, ConfigError> {
    workloads::input::at_most(name, text, workloads::input::MAX_TOML_BYTES).map_err(read_error)?;
    toml::from_str::<T>(text).map_err(|e| toml_error(name, text, &e))
}

/// [`parse_toml`] for a form whose `tables` (top-level keys; `key[]` for each item of an array of
/// tables) must be written as tables: serde reads a struct from an array of its fields in order
/// too, and `program = [["a.S", "0x1000"]]` would set fields no reader of the file could name.
pub(crate) fn parse_toml_tables<T: serde::de::DeserializeOwned>(
    name: &str,
    text: &str,
    tables: &[&str],
) -> Result<T, ConfigError> {
    workloads::input::at_most(name, text, workloads::input::MAX_TOML_BYTES).map_err(read_error)?;
    // Text that is not TOML gets its syntax error from the parse below.
    if let Ok(doc) = text.parse::<toml::Table>() {
        let spans = Spans::new(text);
        for t in tables {
            let (key, items) = t.strip_suffix("[]").map_or((*t, false), |k| (k, true));
            // Other wrong types get serde's own message from the parse below.
            let found = match (doc.get(key), items) {
                (Some(toml::Value::Array(a)), true) => a
                    .iter()
                    .position(toml::Value::is_array)
                    .map(|i| (format!("{key}[{i}]"), spans.find_element(&[key], Some(i)))),
                (Some(toml::Value::Array(_)), false) => Some((key.to_string(), spans.find(&[key]))),
                _ => None,
            };
            if let Some((what, span)) = found {
                return Err(array_for_table(name, text, &what, span));
            }
        }
    }
    parse_toml(name, text)
}

/// The error for a table (`what`, at `span` of `text`) written as an array.
fn array_for_table(name: &str, text: &str, what: &str, span: Option<Range<usize>>) -> ConfigError {
    ConfigError {
        file: Some(name.to_string()),
        pos: span.map(|s| line_col(text, s.start)),
        key: Some(what.to_string()),
        message: format!("wrong type for `{what}`: expected a table, found an array (a table's keys are set by name)"),
    }
}

fn read_error(e: workloads::input::ReadError) -> ConfigError {
    ConfigError { file: Some(e.path), pos: e.pos, key: None, message: e.message }
}

/// Reads a configuration file strictly.
pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
    let (name, text) = read(path)?;
    from_toml_str(&name, &text)
}

/// A built-in preset (one of [`PRESETS`]).
pub fn preset(name: &str) -> Result<Config, ConfigError> {
    let text = preset_source(name).ok_or_else(|| ConfigError {
        file: None,
        pos: None,
        key: None,
        message: format!("unknown preset `{name}` (known presets: {})", PRESETS.join(", ")),
    })?;
    from_toml_str(&format!("presets/{name}.toml"), text)
}

/// `base` with the keys of the TOML document `text` (file name `name`) overriding its values.
///
/// `text` is first validated strictly on its own, so its errors carry its own line numbers.
/// Tables that are structs in the schema merge key by key, recursively; any other value
/// (numbers, strings, arrays, enums) replaces the base's value whole.
pub fn with_overrides(base: &Config, name: &str, text: &str) -> Result<Config, ConfigError> {
    overlay(base, name, text)
}

fn overlay<T: Serialize + serde::de::DeserializeOwned + schemars::JsonSchema + 'static>(
    base: &T,
    name: &str,
    text: &str,
) -> Result<T, ConfigError> {
    strict::<T>(name, text)?;
    let over: toml::Table = text.parse().map_err(|e| toml_error(name, text, &e))?;
    let mut merged = toml::Table::try_from(base).map_err(|e| ConfigError {
        file: Some(name.to_string()),
        pos: None,
        key: None,
        message: format!("the base configuration has no TOML form: {e}"),
    })?;
    let schema = schema_json::<T>();
    if let Some(path) = non_table_record(&over, &schema, &schema, &mut vec![]) {
        // serde reads a struct from an array of its fields in order too; a reader of the file
        // could not tell which key each number sets.
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        return Err(array_for_table(name, text, &path.join("."), Spans::new(text).find(&keys)));
    }
    merge(&mut merged, over, &schema, &schema);
    T::deserialize(merged).map_err(|e| ConfigError {
        file: Some(name.to_string()),
        pos: None,
        key: None,
        message: format!("invalid once merged over its base: {}", e.message()),
    })
}

/// The effective configuration of `isolsim config [--preset NAME] [--config FILE]`: the preset
/// (or the defaults) with FILE's keys overriding it.
pub fn load(preset_name: Option<&str>, file: Option<&Path>) -> Result<Config, ConfigError> {
    load_with_sources(preset_name, file, &[]).map(|(c, _)| c)
}

/// Checks a configuration: each section's own checks (`machine.tlb`, `machine.topology`, `run`)
/// and what the run's values make at the machine's clock (a clock that ticks, durations whose
/// cycles fit, rates × duration a run can lay out); the error names the keys at fault, as dotted
/// paths. Every loader runs this once it has all of the configuration ([`load_with_sources`]),
/// `isolsim config` included.
pub fn validate(c: &Config) -> Result<(), sim::Invalid> {
    c.machine.tlb.validate().map_err(|e| e.under("machine.tlb"))?;
    c.machine.topology.validate().map_err(|e| sim::Invalid::from(e).under("machine.topology"))?;
    c.run.validate_at(c.machine.clock_mhz)
}

/// [`validate`], and the isolation experiment's run against the machine (its CPUs within the
/// topology): what `isolsim run` and each sweep point need, and `exec`, which lays out CPUs of its
/// own, does not.
pub fn validate_run(c: &Config) -> Result<(), sim::Invalid> {
    validate(c)?;
    workloads::experiment::Experiment::check(&c.machine, &c.run).map(|_| ())
}

/// [`load_with_sets`] for `isolsim run`: checked with [`validate_run`].
pub fn load_for_run(preset_name: Option<&str>, file: Option<&Path>, sets: &[String]) -> Result<Config, ConfigError> {
    load_checked(preset_name, file, sets, validate_run).map(|(c, _)| c)
}

/// `e` shown where the user wrote a key at fault: the first of its keys a `--set` or the
/// configuration file gave (else the preset); `texts` are the files' (name, text).
fn invalid_at(e: &sim::Invalid, sources: &Sources, texts: &[(String, &str)]) -> ConfigError {
    let preset = |s: &Source| s.origin.starts_with("presets/");
    let found = [false, true]
        .iter()
        .find_map(|&p| e.keys.iter().find_map(|k| sources.get(k).filter(|s| preset(s) == p).map(|s| (k, s))));
    let Some((key, source)) = found else {
        let key = e.keys.first().map_or(String::new(), |k| format!("`{k}`: "));
        return ConfigError {
            file: None,
            pos: None,
            key: e.keys.first().cloned(),
            message: format!("invalid configuration: {key}{e}"),
        };
    };
    // The value's place where the file's text is at hand, else the key's.
    let pos = texts
        .iter()
        .find(|(name, _)| *name == source.origin)
        .and_then(|(_, text)| {
            let path: Vec<&str> = key.split('.').collect();
            Spans::new(text).find(&path).map(|span| line_col(text, span.start))
        })
        .or(source.pos);
    ConfigError {
        file: Some(source.origin.clone()),
        pos,
        key: Some(key.clone()),
        message: format!("invalid value for `{key}`: {e}"),
    }
}

/// `base` with one key set from the command line: `KEY=VALUE`, KEY a dotted path
/// (`machine.core.rob_entries`, `kernel.tlb_scheme`) and VALUE a TOML value (a bare word that is
/// not one is taken as a string: `kernel.tlb_scheme=ipi`). Errors name `--set KEY=VALUE`.
///
/// ```
/// let base = isolsim::config::Config::default();
/// let c = isolsim::config::with_set(&base, "kernel.tlb_scheme=ipi").unwrap();
/// assert_eq!(c.kernel.tlb_scheme, workloads::kernel::TlbScheme::Ipi);
/// let e = isolsim::config::with_set(&base, "machine.core.rob_entrys=4").unwrap_err();
/// assert!(e.to_string().starts_with("--set machine.core.rob_entrys=4: unknown key"), "{e}");
/// ```
pub fn with_set(base: &Config, arg: &str) -> Result<Config, ConfigError> {
    let name = format!("--set {arg}");
    let fail = |message: String| ConfigError { file: Some(name.clone()), pos: None, key: None, message };
    let (key, value) = arg.split_once('=').ok_or_else(|| fail("expected KEY=VALUE".into()))?;
    let (key, value) = (key.trim(), value.trim());
    if key.is_empty()
        || !key
            .split('.')
            .all(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(fail(format!("`{key}` is not a dotted key")));
    }
    let literal = format!("v = {value}");
    let value = if literal.parse::<toml::Table>().is_ok() {
        value.to_string()
    } else {
        toml::Value::String(value.into()).to_string()
    };
    let text = format!("{key} = {value}\n");
    with_overrides(base, &name, &text).map_err(|mut e| {
        // One line, no column worth giving: the argument is the position.
        e.pos = None;
        e
    })
}

/// [`load`], then each of `sets` ([`with_set`]) in order.
pub fn load_with_sets(preset_name: Option<&str>, file: Option<&Path>, sets: &[String]) -> Result<Config, ConfigError> {
    load_with_sources(preset_name, file, sets).map(|(c, _)| c)
}

/// Where a key's value came from: the preset, a configuration file or a `--set`, with the comment
/// lines written right above the key there (the source a preset cites for its value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// `presets/NAME.toml`, the file's path, or `--set KEY=VALUE`.
    pub origin: String,
    /// The comment lines above the key, without their `#`.
    pub comment: Vec<String>,
    /// 1-based line and column of the key in `origin` (none for a `--set`: the argument is the place).
    pub pos: Option<(usize, usize)>,
}

/// Dotted key (`machine.topology.cluster_socket_latency`) → where its value was last set.
pub type Sources = BTreeMap<String, Source>;

/// [`load_with_sets`], and where each key that is not at its default was set (the last of the
/// preset, the file and the `--set`s that set it).
pub fn load_with_sources(
    preset_name: Option<&str>,
    file: Option<&Path>,
    sets: &[String],
) -> Result<(Config, Sources), ConfigError> {
    load_checked(preset_name, file, sets, validate)
}

fn load_checked(
    preset_name: Option<&str>,
    file: Option<&Path>,
    sets: &[String],
    check: fn(&Config) -> Result<(), sim::Invalid>,
) -> Result<(Config, Sources), ConfigError> {
    let read_file = file.map(read).transpose()?;
    load_text_checked(preset_name, read_file.as_ref().map(|(n, t)| (n.as_str(), t.as_str())), sets, check)
}

/// What `isolsim config --config FILE` makes of FILE's text: the configuration `text` (named
/// `name` in errors) over the preset (or the defaults), then checked ([`validate`]), each error at
/// its `file:line:col`.
///
/// ```
/// let e = isolsim::config::load_text(None, "my.toml", "[machine]\nclock_mhz = 0\n").unwrap_err();
/// assert!(e.to_string().starts_with("my.toml:2:13: invalid value for `machine.clock_mhz`"), "{e}");
/// ```
pub fn load_text(preset_name: Option<&str>, name: &str, text: &str) -> Result<Config, ConfigError> {
    load_text_checked(preset_name, Some((name, text)), &[], validate).map(|(c, _)| c)
}

fn load_text_checked(
    preset_name: Option<&str>,
    file: Option<(&str, &str)>,
    sets: &[String],
    check: fn(&Config) -> Result<(), sim::Invalid>,
) -> Result<(Config, Sources), ConfigError> {
    let mut sources = Sources::new();
    let mut texts: Vec<(String, &str)> = vec![];
    let mut c = match preset_name {
        Some(p) => {
            let c = preset(p)?;
            let text = preset_source(p).expect("preset() found it");
            note_sources(&mut sources, &format!("presets/{p}.toml"), text);
            texts.push((format!("presets/{p}.toml"), text));
            c
        }
        None => Config::default(),
    };
    if let Some((name, text)) = file {
        c = with_overrides(&c, name, text)?;
        note_sources(&mut sources, name, text);
        texts.push((name.to_string(), text));
    }
    for s in sets {
        c = with_set(&c, s)?;
        if let Some((key, _)) = s.split_once('=') {
            sources.insert(key.trim().to_string(), Source { origin: format!("--set {s}"), comment: vec![], pos: None });
        }
    }
    import_topology(&mut c, &sources).map_err(|e| invalid_at(&e, &sources, &texts))?;
    // Each value was checked alone; now the whole, as a run will use it.
    check(&c).map_err(|e| invalid_at(&e, &sources, &texts))?;
    Ok((c, sources))
}

/// `c` with the machine shape `machine.topology.file` describes, read from the directory of the
/// file that names it (the current one for a `--set`). A shape key a file or `--set` also gives
/// must agree with it (a configuration `isolsim config` dumped has both); a preset's are replaced.
fn import_topology(c: &mut Config, sources: &Sources) -> Result<(), sim::Invalid> {
    const FILE: &str = "machine.topology.file";
    if c.machine.topology.file.is_empty() {
        return Ok(());
    }
    let named_in = sources.get(FILE).map(|s| s.origin.as_str()).unwrap_or("");
    let base = if named_in.starts_with("--set") || named_in.starts_with("presets/") {
        Path::new(".")
    } else {
        Path::new(named_in).parent().unwrap_or(Path::new("."))
    };
    let given = c.machine.topology.clone();
    crate::topology::import::apply_file(&mut c.machine.topology, base)
        .map_err(|e| sim::Invalid::new(&[FILE], e.to_string()))?;
    let imported = &c.machine.topology;
    for key in crate::topology::import::SHAPE_KEYS {
        let dotted = format!("machine.topology.{key}");
        let by_user = sources.get(&dotted).is_some_and(|s| !s.origin.starts_with("presets/"));
        let show = |t: &cpu_model::topology::TopologyConfig| match key {
            "sockets" => t.sockets.to_string(),
            "clusters_per_socket" => t.clusters_per_socket.to_string(),
            "cores_per_cluster" => t.cores_per_cluster.to_string(),
            "threads_per_core" => t.threads_per_core.to_string(),
            _ => format!("{:?}", t.linux_cpus),
        };
        if by_user && show(&given) != show(imported) {
            return Err(sim::Invalid::new(
                &[&dotted],
                format!(
                    "`{dotted}` is {}, but {} describes {}: with `{FILE}` the file gives the shape",
                    show(&given),
                    given.file,
                    show(imported)
                ),
            ));
        }
    }
    Ok(())
}

/// `e`, a configuration the reader accepted but a command cannot use, positioned where `sources`
/// says one of its keys was set (the first key a file or `--set` gave, else the preset's); with no
/// key set anywhere (all defaults) the message names the key.
pub fn invalid_error(sources: &Sources, e: &sim::Invalid) -> ConfigError {
    invalid_at(e, sources, &[])
}

/// Records every plain key of the TOML document `text` (file `origin`) with the comment lines
/// right above it.
fn note_sources(sources: &mut Sources, origin: &str, text: &str) {
    let Ok(root) = toml::de::DeTable::parse(text) else { return };
    let lines: Vec<&str> = text.lines().collect();
    let mut found = vec![];
    collect_keys(root.get_ref(), &mut vec![], &mut found);
    for (path, at) in found {
        let (line, col) = line_col(text, at);
        let mut comment = vec![];
        for l in lines[..line - 1].iter().rev() {
            match l.trim_start().strip_prefix('#') {
                Some(c) => comment.push(c.trim().to_string()),
                None => break,
            }
        }
        comment.reverse();
        sources.insert(path, Source { origin: origin.to_string(), comment, pos: Some((line, col)) });
    }
}

/// Dotted paths of the non-table values of `t` with the byte offset of their key.
fn collect_keys(t: &toml::de::DeTable<'_>, path: &mut Vec<String>, out: &mut Vec<(String, usize)>) {
    for (k, v) in t.iter() {
        path.push(quote_key(k.get_ref()));
        match v.get_ref() {
            toml::de::DeValue::Table(sub) => collect_keys(sub, path, out),
            _ => out.push((join_path(path), k.span().start)),
        }
        path.pop();
    }
}

/// The JSON schema of [`Config`] (descriptions are the fields' doc comments).
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Config)
}

/// `T`'s JSON schema, made once per type: a sweep merges a configuration for each of its points,
/// and making the schema each time took most of that.
fn schema_json<T: schemars::JsonSchema + 'static>() -> std::sync::Arc<Json> {
    use std::any::TypeId;
    use std::sync::{Arc, Mutex, OnceLock};
    static SCHEMAS: OnceLock<Mutex<BTreeMap<TypeId, Arc<Json>>>> = OnceLock::new();
    let mut schemas = SCHEMAS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    schemas
        .entry(TypeId::of::<T>())
        .or_insert_with(|| Arc::new(serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Json::Null)))
        .clone()
}

/// A TOML file's name (for errors) and text, bounded and UTF-8 checked.
pub(crate) fn read(path: &Path) -> Result<(String, String), ConfigError> {
    let name = path.display().to_string();
    match workloads::input::read_text_at_most(path, workloads::input::MAX_TOML_BYTES) {
        Ok(text) => Ok((name, text)),
        Err(e) => Err(read_error(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: position, key path, message.

pub(crate) fn toml_error(name: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span();
    let pos = Some(span.as_ref().map_or((1, 1), |s| line_col(text, s.start)));
    let key = span.clone().and_then(|s| key_at(text, s));
    let raw = e.message().trim();
    let spanned = span.and_then(|s| text.get(s)).unwrap_or("");
    ConfigError { file: Some(name.to_string()), pos, message: describe(raw, key.as_deref(), spanned), key }
}

/// 1-based line and column (in characters) of byte offset `at`.
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Where things are in a TOML text: the span of a value by its path (`[i]` for array items).
pub(crate) struct Spans<'a> {
    root: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> Spans<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Spans { root: toml::de::DeTable::parse(text).ok() }
    }

    pub(crate) fn find(&self, path: &[&str]) -> Option<Range<usize>> {
        self.find_element(path, None)
    }

    pub(crate) fn find_strs(&self, path: &[String]) -> Option<Range<usize>> {
        self.find_element_strs(path, None)
    }

    pub(crate) fn find_element_strs(&self, path: &[String], element: Option<usize>) -> Option<Range<usize>> {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        self.find_element(&p, element)
    }

    /// The span of the last key of `path`.
    pub(crate) fn find_key(&self, path: &[String]) -> Option<Range<usize>> {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        self.walk(&p).map(|(key, _)| key)
    }

    /// The span of the value at `path` (of its `element`-th item, for an array).
    pub(crate) fn find_element(&self, path: &[&str], element: Option<usize>) -> Option<Range<usize>> {
        let (key, v) = self.walk(path)?;
        match (v.get_ref(), element) {
            (toml::de::DeValue::Array(a), Some(i)) => a.get(i).map(|e| e.span()),
            // A table's span is its body; its key's is where a reader looks.
            (toml::de::DeValue::Table(_), _) => Some(key),
            _ => Some(v.span()),
        }
    }

    /// The last key's span and the value at `path`.
    fn walk(&self, path: &[&str]) -> Option<(Range<usize>, &toml::Spanned<toml::de::DeValue<'a>>)> {
        let mut table = self.root.as_ref()?.get_ref();
        let mut found: Option<&toml::Spanned<toml::de::DeValue<'_>>> = None;
        let mut last_span = None;
        for seg in path {
            let v = match (found.map(|f| f.get_ref()), seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'))) {
                (Some(toml::de::DeValue::Array(a)), Some(i)) => a.get(i.parse::<usize>().ok()?)?,
                (_, _) => {
                    let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *seg)?;
                    last_span = Some(k.span());
                    v
                }
            };
            if let toml::de::DeValue::Table(t) = v.get_ref() {
                table = t;
            }
            found = Some(v);
        }
        Some((last_span?, found?))
    }
}

/// Rewrites serde's message so that it names the dotted key.
fn describe(raw: &str, key: Option<&str>, spanned: &str) -> String {
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        // "unknown field `x`, expected one of `a`, `b`" (or "there are no fields").
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let path = key.unwrap_or(field);
        let mut msg = format!("unknown key `{path}`{tail}");
        if let Some(s) = suggestion(field, tail) {
            msg.push_str(&format!(" (did you mean `{s}`?)"));
        }
        return msg;
    }
    let Some(key) = key else {
        return if raw == "duplicate key" && !spanned.is_empty() {
            format!("duplicate key `{spanned}`")
        } else {
            raw.into()
        };
    };
    if let Some(rest) = raw.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        let expected = if expected.starts_with("struct ") { "a table" } else { expected };
        return format!("wrong type for `{key}`: expected {expected}, found {found}");
    }
    if let Some(rest) = raw.strip_prefix("invalid value: ") {
        return format!("invalid value for `{key}`: {rest}");
    }
    if raw.starts_with("unknown variant ") {
        return format!("invalid value for `{key}`: {raw}");
    }
    format!("`{key}`: {raw}")
}

/// The expected name closest to `field` in serde's "expected one of `a`, `b`" tail, if close.
fn suggestion(field: &str, tail: &str) -> Option<String> {
    let candidates = tail.split('`').skip(1).step_by(2);
    let (d, best) = candidates.map(|c| (edit_distance(field, c), c)).min()?;
    (d > 0 && d <= (field.chars().count() / 3).max(1)).then(|| best.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The dotted path of the key whose name or value is the narrowest one enclosing `span`.
fn key_at(text: &str, span: Range<usize>) -> Option<String> {
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut best: Option<((usize, std::cmp::Reverse<usize>), String)> = None;
    let mut path = vec![];
    walk_table(root.get_ref(), &mut path, &span, &mut best);
    best.map(|(_, p)| p)
}

type Best = Option<((usize, std::cmp::Reverse<usize>), String)>;

fn walk_table(t: &toml::de::DeTable<'_>, path: &mut Vec<String>, span: &Range<usize>, best: &mut Best) {
    for (k, v) in t.iter() {
        path.push(quote_key(k.get_ref()));
        walk_value(k.span(), v, path, span, best);
        path.pop();
    }
}

fn walk_value(
    key_span: Range<usize>,
    v: &toml::Spanned<toml::de::DeValue<'_>>,
    path: &mut Vec<String>,
    span: &Range<usize>,
    best: &mut Best,
) {
    for s in [key_span, v.span()] {
        if s.start <= span.start && span.end <= s.end {
            let rank = (s.end - s.start, std::cmp::Reverse(path.len()));
            if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                *best = Some((rank, join_path(path)));
            }
        }
    }
    match v.get_ref() {
        toml::de::DeValue::Table(t) => walk_table(t, path, span, best),
        toml::de::DeValue::Array(a) => {
            for (i, el) in a.iter().enumerate() {
                path.push(format!("[{i}]"));
                walk_value(el.span(), el, path, span, best);
                path.pop();
            }
        }
        _ => {}
    }
}

fn join_path(path: &[String]) -> String {
    let mut s = String::new();
    for p in path {
        if !s.is_empty() && !p.starts_with('[') {
            s.push('.');
        }
        s.push_str(p);
    }
    s
}

/// A key as TOML writes it: bare if it can be, else quoted.
fn quote_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Schema walking (generic over whatever MachineConfig and later sections contain).

/// Follows `$ref`s to the definition.
fn deref<'a>(mut s: &'a Json, root: &'a Json) -> &'a Json {
    for _ in 0..32 {
        let Some(r) = s.get("$ref").and_then(Json::as_str) else { break };
        let Some(t) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else { break };
        s = t;
    }
    s
}

/// The definition, with `Option`'s `anyOf [T, null]` unwrapped to `T`.
fn resolve<'a>(s: &'a Json, root: &'a Json) -> &'a Json {
    let s = deref(s, root);
    for alt in ["anyOf", "oneOf"] {
        if let Some(arms) = s.get(alt).and_then(Json::as_array) {
            let non_null: Vec<&Json> =
                arms.iter().filter(|a| deref(a, root).get("type").and_then(Json::as_str) != Some("null")).collect();
            if non_null.len() == 1 && non_null.len() < arms.len() {
                return deref(non_null[0], root);
            }
        }
    }
    s
}

/// True for a schema whose TOML form is a table merged key by key: a struct or a map.
fn is_record(s: &Json) -> bool {
    let object = match s.get("type") {
        Some(Json::String(t)) => t == "object",
        Some(Json::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => false,
    };
    object && s.get("oneOf").is_none() && s.get("anyOf").is_none()
}

/// The schema of `key` inside the record schema `s`.
fn child<'a>(s: &'a Json, key: &str, root: &'a Json) -> Option<&'a Json> {
    let s = resolve(s, root);
    s.get("properties").and_then(|p| p.get(key)).or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}

/// The path of the first key of `t` whose schema is a record (a struct or a map) and whose value is
/// an array (serde would read it; any other wrong type it refuses itself).
fn non_table_record(t: &toml::Table, schema: &Json, root: &Json, path: &mut Vec<String>) -> Option<Vec<String>> {
    for (k, v) in t {
        let Some(sub) = child(schema, k, root) else { continue };
        path.push(k.clone());
        let found = match v {
            toml::Value::Table(inner) => non_table_record(inner, sub, root, path),
            toml::Value::Array(_) if is_record(resolve(sub, root)) => Some(path.clone()),
            _ => None,
        };
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

fn merge(base: &mut toml::Table, over: toml::Table, schema: &Json, root: &Json) {
    for (k, v) in over {
        let sub = child(schema, &k, root);
        match (base.get_mut(&k), v, sub) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o), Some(s)) if is_record(resolve(s, root)) => {
                merge(b, o, s, root)
            }
            (_, v, _) => {
                base.insert(k, v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing.

/// `cfg` as a TOML document with every key present (defaults included), each preceded by
/// `# <its doc comment>` (and, for a value that differs from its default, `# default: …`); keys
/// in the order the schema lists them (sorted by name), tables after the plain keys of their
/// parent, so the output is deterministic. Reading it back (strictly) gives `cfg` again.
///
/// Panics only if a value has no TOML form (an integer above `i64::MAX`), which no value read
/// from TOML can have; the tests print the defaults and every preset.
pub fn to_commented_toml(cfg: &Config) -> String {
    to_commented_toml_with_sources(cfg, &Sources::new())
}

/// [`to_commented_toml`], where each key `sources` names carries the comment of where its value
/// came from (the preset's cited source, a file's comment, a `--set`) and the default it
/// replaced, instead of the default's own doc comment.
pub fn to_commented_toml_with_sources(cfg: &Config, sources: &Sources) -> String {
    commented(cfg, sources).expect("every configuration value has a TOML form")
}

fn commented<T: Serialize + schemars::JsonSchema + 'static>(
    value: &T,
    sources: &Sources,
) -> Result<String, toml::ser::Error> {
    let root = schema_json::<T>();
    let table = toml::Table::try_from(value)?;
    let mut out = String::from("# isolsim configuration: the effective values, defaults included.\n");
    doc_lines(&mut out, &root, &root);
    emit_table(&mut out, &[], &table, &root, &root, sources);
    Ok(out)
}

fn doc_lines(out: &mut String, s: &Json, root: &Json) {
    let desc = s.get("description").or_else(|| resolve(s, root).get("description")).and_then(Json::as_str);
    // A wrapped doc comment is one line; blank lines separate paragraphs.
    for para in desc.unwrap_or("").split("\n\n") {
        let line = para.split_whitespace().collect::<Vec<_>>().join(" ");
        if !line.is_empty() {
            out.push_str(&format!("# {line}\n"));
        }
    }
}

/// Extra comment lines for a plain key: the allowed values of an enum, the default if changed.
fn note_lines(out: &mut String, s: &Json, value: &toml::Value, root: &Json) {
    allowed_lines(out, s, root);
    if let Some(d) = default_of(s)
        && &d != value
    {
        out.push_str(&format!("# default: {d}\n"));
    }
}

/// The key's default value, if the schema gives one and it is not a table.
fn default_of(s: &Json) -> Option<toml::Value> {
    s.get("default").and_then(|d| toml::Value::try_from(d).ok()).filter(|d| !d.is_table())
}

/// `# one of: …` for an enum.
fn allowed_lines(out: &mut String, s: &Json, root: &Json) {
    let r = resolve(s, root);
    let mut allowed: Vec<&Json> =
        r.get("enum").and_then(Json::as_array).map(|v| v.iter().collect()).unwrap_or_default();
    for arm in r.get("oneOf").and_then(Json::as_array).into_iter().flatten() {
        let arm = deref(arm, root);
        allowed.extend(arm.get("const"));
        allowed.extend(arm.get("enum").and_then(Json::as_array).into_iter().flatten());
    }
    let allowed: Vec<String> =
        allowed.into_iter().filter_map(|v| toml::Value::try_from(v).ok()).map(|v| v.to_string()).collect();
    if !allowed.is_empty() {
        out.push_str(&format!("# one of: {}\n", allowed.join(", ")));
    }
}

/// The comment of a value set by a preset, a file or `--set`: that source's own comment (or, if it
/// has none, the key's doc), then where it was set and the default it replaced.
fn source_lines(out: &mut String, src: &Source, s: &Json, value: &toml::Value, root: &Json) {
    if src.comment.is_empty() {
        doc_lines(out, s, root);
    }
    for c in &src.comment {
        out.push_str(&format!("# {c}\n").replace("# \n", "#\n"));
    }
    allowed_lines(out, s, root);
    let mut note = format!("# set by {}", src.origin);
    match default_of(s) {
        Some(d) if &d == value => note.push_str(" (the default's value too)"),
        Some(d) => note.push_str(&format!("; default: {d}")),
        None => {}
    }
    out.push_str(&note);
    out.push('\n');
}

fn is_table_array(v: &toml::Value) -> bool {
    matches!(v, toml::Value::Array(a) if !a.is_empty() && a.iter().all(toml::Value::is_table))
}

fn emit_table(out: &mut String, path: &[String], table: &toml::Table, schema: &Json, root: &Json, sources: &Sources) {
    let r = resolve(schema, root);
    let mut keys: Vec<String> =
        r.get("properties").and_then(Json::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default();
    let mut rest: Vec<&String> = table.keys().filter(|k| !keys.contains(k)).collect();
    rest.sort();
    keys.extend(rest.into_iter().cloned());
    let null = Json::Null;

    // Plain keys first: TOML puts everything after a [header] into that table.
    for k in &keys {
        let s = child(schema, k, root).unwrap_or(&null);
        match table.get(k) {
            Some(v) if v.is_table() || is_table_array(v) => {}
            Some(v) => {
                let mut dotted = path.to_vec();
                dotted.push(quote_key(k));
                match sources.get(&dotted.join(".")) {
                    Some(src) => source_lines(out, src, s, v, root),
                    None => {
                        doc_lines(out, s, root);
                        note_lines(out, s, v, root);
                    }
                }
                out.push_str(&format!("{} = {v}\n", quote_key(k)));
            }
            None if r.get("properties").and_then(|p| p.get(k)).is_some() => {
                doc_lines(out, s, root);
                out.push_str(&format!("# {} is unset\n", quote_key(k)));
            }
            None => {}
        }
    }
    for k in &keys {
        let s = child(schema, k, root).unwrap_or(&null);
        let mut sub = path.to_vec();
        sub.push(quote_key(k));
        match table.get(k) {
            Some(toml::Value::Table(t)) => {
                out.push('\n');
                doc_lines(out, s, root);
                out.push_str(&format!("[{}]\n", sub.join(".")));
                emit_table(out, &sub, t, s, root, sources);
            }
            Some(v @ toml::Value::Array(items)) if is_table_array(v) => {
                let item_schema = resolve(s, root).get("items").unwrap_or(&null);
                out.push('\n');
                doc_lines(out, s, root);
                for item in items.iter().filter_map(toml::Value::as_table) {
                    out.push_str(&format!("[[{}]]\n", sub.join(".")));
                    emit_table(out, &sub, item, item_schema, root, &Sources::new());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! The generic machinery on shapes later sections may use (options, arrays of tables, maps,
    //! enums with data), which `Config` does not have yet.
    use std::collections::BTreeMap;

    use super::*;

    /// Shapes.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields, default)]
    struct Shapes {
        /// A number.
        n: u32,
        /// A float.
        ratio: f64,
        /// Unset by default.
        maybe: Option<u32>,
        /// An optional table.
        inner_opt: Option<Inner>,
        /// A table.
        inner: Inner,
        /// An array of tables.
        sockets: Vec<Inner>,
        /// Numbers.
        list: Vec<u32>,
        /// A map.
        named: BTreeMap<String, u64>,
        /// An enum with data.
        placement: Placement,
    }

    /// Inner.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        /// Cores.
        cores: u32,
        /// Label.
        label: String,
    }

    /// Placement.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Placement {
        /// Packed.
        Packed,
        /// Spread.
        Spread {
            /// Over how many.
            n: u32,
        },
    }

    impl Default for Shapes {
        fn default() -> Self {
            let inner = |cores, label: &str| Inner { cores, label: label.into() };
            Shapes {
                n: 1,
                ratio: 0.5,
                maybe: None,
                inner_opt: None,
                inner: inner(4, "x y"),
                sockets: vec![inner(28, "s0"), inner(28, "s1")],
                list: vec![1, 2],
                named: [("a b".to_string(), 1), ("x".to_string(), 2)].into(),
                placement: Placement::Spread { n: 3 },
            }
        }
    }

    #[test]
    fn every_shape_prints_and_reads_back() {
        let mut v = Shapes::default();
        for _ in 0..2 {
            let text = commented(&v, &Sources::new()).unwrap();
            assert_eq!(strict::<Shapes>("t.toml", &text).unwrap(), v, "{text}");
            assert!(text.contains("# An array of tables.\n[[sockets]]\n# Cores.\n"), "{text}");
            v = Shapes { maybe: Some(5), inner_opt: Some(Inner::default()), placement: Placement::Packed, ..v };
        }
    }

    #[test]
    fn overlay_merges_tables_and_maps_but_replaces_other_values() {
        let base = Shapes::default();
        let v = overlay(&base, "o.toml", "[inner]\ncores = 8\n[named]\nz = 3\n[placement.spread]\nn = 5\n").unwrap();
        assert_eq!(v.inner, Inner { cores: 8, label: "x y".into() });
        assert_eq!(v.named.len(), 3);
        assert_eq!(v.placement, Placement::Spread { n: 5 });
        let v = overlay(&base, "o.toml", "placement = \"packed\"\nsockets = [{ cores = 1 }]\n").unwrap();
        assert_eq!((v.placement, v.sockets.len(), v.inner), (Placement::Packed, 1, base.inner));
    }

    #[test]
    fn errors_inside_arrays_name_the_element() {
        let e = strict::<Shapes>("a.toml", "[[sockets]]\ncores = 1\n[[sockets]]\ncorez = 2\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.toml:4:1: unknown key `sockets[1].corez`, expected `cores` or `label` (did you mean `cores`?)"
        );
        let e = strict::<Shapes>("a.toml", "list = [1, \"2\"]\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("list[1]"));
    }
}
