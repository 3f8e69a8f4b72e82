//! The fuzz targets: each input format, its seed corpus (the project's own files of that format)
//! and the in-process reader a command runs on such a file, with the rule its errors must follow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use isolsim::cpu_model::asm;
use isolsim::workloads::experiment::Experiment;
use isolsim::workloads::kernel::KernelConfig;
use isolsim::workloads::protocol::ProtocolFile;
use isolsim::workloads::system::System;
use isolsim::workloads::verify::check::{Check, CheckConfig};
use isolsim::workloads::verify::replay::{Case, ReplayFile};

use super::mutate::{Corpus, Shape};

/// Files as (name, bytes).
pub type Files = Vec<(String, Vec<u8>)>;

/// What a reader made of one input.
pub enum Verdict {
    /// Read, and usable.
    Accepted,
    /// Refused with this message, positioned as the format's rule says.
    Rejected(String),
    /// Refused with a message that breaks the rule (no position, or one outside the input).
    Unpositioned(String),
    /// What the command wrote is wrong: half an output left by a refusal, or an output that does
    /// not read back.
    BadOutput(String),
}

/// Runs one input through a reader.
pub type Reader = Arc<dyn Fn(&[u8]) -> Verdict + Send + Sync>;

/// One input format.
pub struct Target {
    /// Its name (`FUZZ_TARGETS` selects by it).
    pub name: &'static str,
    /// File extension of its reproducers.
    pub ext: &'static str,
    /// The seed files.
    pub corpus: Corpus,
    /// The reader and its oracle.
    pub run: Reader,
    /// Inputs of the bounded run in `cargo test` (the slower readers take fewer).
    pub bounded: u64,
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files under `dir` (recursively) whose name ends with `suffix`, in name order.
fn files(dir: &Path, suffix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("a directory entry").path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            out.extend(files(&p, suffix));
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push((p.display().to_string(), std::fs::read(&p).expect("a corpus file")));
        }
    }
    out
}

/// `../shared/litmus/` next to the checkout (read in place, never copied), if present.
fn shared_litmus() -> Vec<(String, Vec<u8>)> {
    files(&root().join("..").join("shared").join("litmus"), ".litmus")
}

// ---------------------------------------------------------------------------------------------
// The oracle: where an error must say it is.

/// The 1-based (line, column) an error message gives right after `file`: `FILE:LINE:COL: `.
fn position_after(msg: &str, file: &str) -> Option<(usize, usize)> {
    let rest = msg.strip_prefix(file)?.strip_prefix(':')?;
    let (line, rest) = rest.split_once(':')?;
    let (col, _) = rest.split_once(": ")?;
    let (line, col) = (line.parse().ok()?, col.parse().ok()?);
    (line >= 1 && col >= 1).then_some((line, col))
}

/// True if (line, col) lies in `text`, or just past the end of a line (an error at the end of
/// a line or of the file), columns counted in characters.
fn inside(text: &str, (line, col): (usize, usize)) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    match lines.get(line - 1) {
        Some(l) => col <= l.trim_end_matches('\r').chars().count() + 1 + usize::from(l.ends_with('\r')),
        None => false,
    }
}

/// `msg` is `FILE:LINE:COL: what` for `file`, at a place in `text`.
fn at(msg: &str, file: &str, text: &str) -> bool {
    position_after(msg, file).is_some_and(|p| inside(text, p))
}

fn verdict<T, E: std::fmt::Display>(r: Result<T, E>, rule: impl FnOnce(&str) -> bool) -> Verdict {
    match r {
        Ok(_) => Verdict::Accepted,
        Err(e) => {
            let m = e.to_string();
            if rule(&m) { Verdict::Rejected(m) } else { Verdict::Unpositioned(m) }
        }
    }
}

/// The text of an input as every reader gets it from a file: UTF-8, or the first bad byte's
/// `file:line:col`.
fn text(name: &str, bytes: &[u8]) -> Result<String, Verdict> {
    isolsim::workloads::input::utf8(name, (1, 1), bytes.to_vec()).map_err(|e| {
        let m = e.to_string();
        let lossy = String::from_utf8_lossy(bytes);
        if at(&m, name, &lossy) { Verdict::Rejected(m) } else { Verdict::Unpositioned(m) }
    })
}

/// A reader of text inputs called `name`: bytes that are not UTF-8 are refused at the first bad
/// one, as every file reader refuses them, and `read` gets the bytes and their text.
fn text_reader(name: &'static str, read: impl Fn(&[u8], &str) -> Verdict + Send + Sync + 'static) -> Reader {
    Arc::new(move |bytes| match text(name, bytes) {
        Ok(t) => read(bytes, &t),
        Err(v) => v,
    })
}

// ---------------------------------------------------------------------------------------------
// The targets.

/// Every target, with its corpus: `generated` holds the files made at test time (replay and
/// results files), by target name.
pub fn all(generated: &[(&str, Files)]) -> Vec<Target> {
    let made = |name: &str| generated.iter().find(|g| g.0 == name).map(|g| g.1.clone()).unwrap_or_default();
    let litmus: Vec<(String, Vec<u8>)> =
        files(&root().join("workloads/litmus"), ".litmus").into_iter().chain(shared_litmus()).collect();
    let (x86, litmus): (Vec<_>, Vec<_>) = litmus.into_iter().partition(|(_, b)| b.starts_with(b"X86"));
    let (aarch64, c): (Vec<_>, Vec<_>) = litmus.into_iter().partition(|(_, b)| b.starts_with(b"AArch64"));
    let assembler: Vec<(String, Vec<u8>)> =
        ["workloads/kernel", "workloads/programs", "workloads/check", "workloads/scenarios"]
            .iter()
            .flat_map(|d| files(&root().join(d), ".S"))
            .collect();
    let config_seeds = {
        let mut f = files(&root().join("presets"), ".toml");
        // `isolsim config`'s output: every key of every section, documented.
        f.push(("defaults.toml".into(), isolsim::config::to_commented_toml(&Default::default()).into_bytes()));
        f
    };
    let mut all = vec![
        Target {
            name: "litmus-c",
            ext: "litmus",
            corpus: Corpus::new(Shape::Text, c),
            run: litmus_reader(),
            bounded: 1000,
        },
        Target {
            name: "litmus-aarch64",
            ext: "litmus",
            corpus: Corpus::new(Shape::Text, aarch64),
            run: litmus_reader(),
            bounded: 1000,
        },
        Target {
            name: "litmus-x86",
            ext: "litmus",
            corpus: Corpus::new(Shape::Text, x86),
            run: litmus_reader(),
            bounded: 500,
        },
        Target { name: "asm", ext: "S", corpus: Corpus::new(Shape::Text, assembler), run: asm_reader(), bounded: 1000 },
        Target {
            name: "protocol",
            ext: "S",
            corpus: Corpus::new(Shape::Text, files(&root().join("workloads/protocols"), ".S")),
            run: protocol_reader("fuzz.S"),
            bounded: 300,
        },
        Target {
            name: "protocol-c",
            ext: "c",
            corpus: Corpus::new(Shape::Text, files(&root().join("workloads/protocols"), ".c")),
            run: protocol_reader("fuzz.c"),
            bounded: 300,
        },
        Target {
            name: "config",
            ext: "toml",
            corpus: Corpus::new(Shape::Toml, config_seeds),
            run: config_reader(),
            bounded: 500,
        },
        Target {
            name: "sweep",
            ext: "toml",
            corpus: Corpus::new(Shape::Toml, files(&root().join("reports"), "sweep.toml")),
            run: sweep_reader(),
            bounded: 200,
        },
        Target {
            name: "scenario",
            ext: "toml",
            corpus: Corpus::new(Shape::Toml, files(&root().join("workloads/scenarios"), ".toml")),
            run: scenario_reader(),
            bounded: 300,
        },
        Target {
            name: "replay",
            ext: "json",
            corpus: Corpus::new(Shape::Json, made("replay")),
            run: replay_reader(),
            bounded: 300,
        },
        Target {
            name: "results",
            ext: "jsonl",
            corpus: Corpus::new(Shape::JsonLines, made("results")),
            run: results_reader(),
            bounded: 300,
        },
        Target {
            name: "merge",
            ext: "jsonl",
            corpus: Corpus::new(Shape::JsonLines, made("results")),
            run: merge_reader(),
            bounded: 300,
        },
        Target {
            name: "report",
            ext: "jsonl",
            corpus: Corpus::new(Shape::JsonLines, made("results")),
            run: report_reader(),
            bounded: 100,
        },
        Target {
            name: "exec-define",
            ext: "txt",
            corpus: Corpus::new(Shape::Text, define_seeds()),
            run: define_reader(),
            bounded: 400,
        },
        Target {
            name: "measured",
            ext: "toml",
            corpus: Corpus::new(Shape::Toml, measured_seeds()),
            run: measured_reader(),
            bounded: 400,
        },
        Target {
            name: "hwloc",
            ext: "xml",
            corpus: Corpus::new(Shape::Text, hwloc_seeds()),
            run: hwloc_reader(),
            bounded: 400,
        },
    ];
    // The formats without a file made for them this time are left out.
    all.retain(|t| !t.corpus.files.is_empty());
    all
}

/// The litmus front end (`isolsim litmus FILE`): parse and compile.
fn litmus_reader() -> Reader {
    const NAME: &str = "fuzz.litmus";
    text_reader(NAME, |_, t| verdict(isolsim::litmus::compile_text(NAME, t), |m| at(m, NAME, t)))
}

/// The cores' assembler, with the loader's layout symbols (and, for half the inputs, the
/// kernel's labels, as a user program sees them).
fn asm_reader() -> Reader {
    const NAME: &str = "fuzz.S";
    let topo = isolsim::cpu_model::machine::MachineConfig::default().topology_for(2);
    let layout = System::with_cpus(&topo, &KernelConfig::default(), 2);
    let mut with_kernel = layout.clone();
    with_kernel.load_kernel().expect("the shipped kernel loads");
    let (layout, with_kernel) = (layout.symbols().clone(), with_kernel.symbols().clone());
    text_reader(NAME, move |bytes, t| {
        let syms = if bytes.len() % 2 == 0 { &with_kernel } else { &layout };
        let r = asm::assemble_with(t, System::USER_TEXT, syms).map_err(|e| format!("{NAME}:{e}"));
        verdict(r, |m| at(m, NAME, t))
    })
}

/// A protocol file, assembler or kernel C by its name's extension: its header, the C compiled,
/// then the kernel assembled with it as `isolsim check` and `isolsim run` assemble it.
fn protocol_reader(name: &'static str) -> Reader {
    let cfg = isolsim::config::Config::default();
    text_reader(name, move |_, t| {
        let p = match ProtocolFile::parse(name, t) {
            Ok(p) => p,
            Err(e) => return verdict(Err::<(), _>(e), |m| at(m, name, t)),
        };
        let rule = |m: &str| at(m, name, t) || whole_file_protocol_error(m, name);
        if let Err(e) = Check::new(CheckConfig::default()).load(&p) {
            return verdict(Err::<(), _>(e), rule);
        }
        verdict(Experiment::build_with_protocol(&cfg.machine, &cfg.kernel, &cfg.run, &p, 1), rule)
    })
}

/// The errors about a protocol file as a whole, which have no line: a label the kernel needs
/// missing with no function of the file to point at.
fn whole_file_protocol_error(m: &str, file: &str) -> bool {
    m.strip_prefix(file)
        .and_then(|r| r.strip_prefix(": no `"))
        .is_some_and(|r| r.contains("` label: the kernel needs it"))
}

/// A configuration file (`isolsim config --config FILE`): read strictly, over the defaults and
/// over a preset, and checked.
fn config_reader() -> Reader {
    const NAME: &str = "fuzz.toml";
    text_reader(NAME, |bytes, t| {
        let rule = |m: &str| at(m, NAME, t);
        if let Err(e) = isolsim::config::from_toml_str(NAME, t) {
            return verdict(Err::<(), _>(e), rule);
        }
        let preset = if bytes.len() % 2 == 0 { Some("arm64-server") } else { None };
        verdict(isolsim::config::load_text(preset, NAME, t), rule)
    })
}

/// A sweep file (`isolsim sweep FILE`), with protocol files looked up in workloads/protocols.
fn sweep_reader() -> Reader {
    const NAME: &str = "fuzz.toml";
    let dir = root().join("workloads/protocols");
    text_reader(NAME, move |_, t| verdict(isolsim::sweep::Sweep::parse(NAME, t, &dir), |m| at(m, NAME, t)))
}

/// A scenario (`isolsim exec FILE`), laid out on the default machine, with its program files
/// in workloads/scenarios; errors in a program file are positioned in that file.
fn scenario_reader() -> Reader {
    const NAME: &str = "fuzz.toml";
    let dir = root().join("workloads/scenarios");
    let cfg = isolsim::config::Config::default();
    text_reader(NAME, move |_, t| {
        let rule = |m: &str| scenario_rule(m, NAME, t, &dir);
        let sc = match isolsim::scenario::Scenario::parse(NAME, &dir, t) {
            Ok(s) => s,
            Err(e) => return verdict(Err::<(), _>(e), rule),
        };
        verdict(sc.prepare(&cfg, &[]), rule)
    })
}

/// Where a scenario's errors may be: in the scenario `text` (called `name`), about it as a whole,
/// or at a place in a program file it names (in `dir`).
fn scenario_rule(m: &str, name: &str, text: &str, dir: &Path) -> bool {
    if at(m, name, text) || whole_file_scenario_error(m, name) {
        return true;
    }
    let Some((file, _)) = m.split_once(':') else { return false };
    let path = Path::new(file);
    path.starts_with(dir) && std::fs::read_to_string(path).is_ok_and(|text| at(m, file, &text))
}

/// A scenario's errors about the file as a whole (`file: message`, as documented).
fn whole_file_scenario_error(m: &str, file: &str) -> bool {
    m.strip_prefix(file).and_then(|r| r.strip_prefix(": ")).is_some_and(|r| r.starts_with("no [[cpu]] entry"))
}

/// A replay file (`isolsim replay FILE`): read, its protocol rebuilt, and a check path replayed
/// (a fuzz run's experiment built, not run: its length is the file's to choose). Errors in the
/// saved protocol text are positioned in it, under the path it was saved from.
fn replay_reader() -> Reader {
    const NAME: &str = "fuzz.json";
    text_reader(NAME, |_, t| {
        let f = match ReplayFile::parse(NAME, t) {
            Ok(f) => f,
            Err(e) => return verdict(Err::<(), _>(e), |m| at(m, NAME, t)),
        };
        let in_protocol =
            |m: &str| at(m, &f.protocol_path, &f.protocol_text) || whole_file_protocol_error(m, &f.protocol_path);
        let p = match f.protocol() {
            Ok(p) => p,
            Err(e) => return verdict(Err::<(), _>(e), in_protocol),
        };
        // As `isolsim replay` prints them: a path that does not replay is the file's error.
        let whole = |m: &str| m.starts_with(&format!("{NAME}: ")) || in_protocol(m);
        match &f.case {
            Case::Check { config, counterexample } => {
                let r = Check::new(config.clone()).replay(&p, &counterexample.steps).map(|replayed| {
                    let _ = replayed.cause(counterexample);
                    isolsim::verify::counterexample_text(counterexample, &replayed)
                });
                verdict(r.map_err(|e| replay_error(NAME, &e.to_string())), whole)
            }
            Case::Fuzz { run, .. } | Case::FuzzBreak { run, .. } => {
                verdict(run.experiment(&p).map_err(|e| replay_error(NAME, &e.to_string())), whole)
            }
        }
    })
}

/// `isolsim replay`'s form of an error found while replaying: a positioned one as it is, any
/// other after the file's name.
fn replay_error(file: &str, m: &str) -> String {
    let positioned =
        m.split_once(':').is_some_and(|(_, r)| r.split(':').next().is_some_and(|l| l.parse::<usize>().is_ok()));
    if positioned { m.to_string() } else { format!("{file}: {m}") }
}

/// A results file (`isolsim report`, `isolsim merge`): every line checked, then the numbering.
fn results_reader() -> Reader {
    const NAME: &str = "fuzz.jsonl";
    Arc::new(|bytes| {
        let lossy = String::from_utf8_lossy(bytes);
        verdict(isolsim::sweep::read_records_from(NAME, bytes), |m| at(m, NAME, &lossy))
    })
}

/// A fresh directory for one input's files, removed when dropped.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("fuzz-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a scratch directory")
}

/// `isolsim merge A B --out OUT` of the input cut in two at a line (`--allow-missing` for inputs
/// of odd length): a refusal is positioned in a part (or is about the parts as a whole) and
/// writes nothing; an output written reads back as a results file holding every unit merged.
fn merge_reader() -> Reader {
    Arc::new(|bytes| {
        let dir = scratch();
        let cut = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1)
            .nth(bytes.len() % 3)
            .unwrap_or(0);
        let parts = [(dir.path().join("a.jsonl"), &bytes[..cut]), (dir.path().join("b.jsonl"), &bytes[cut..])];
        for (p, b) in &parts {
            std::fs::write(p, b).expect("a part is written");
        }
        let out = dir.path().join("out.jsonl");
        let allow_missing = bytes.len() % 2 == 1;
        let paths: Vec<PathBuf> = parts.iter().map(|(p, _)| p.clone()).collect();
        match isolsim::sweep::merge(&paths, &out, allow_missing) {
            Err(e) => {
                let m = e.to_string();
                if out.exists() {
                    return Verdict::BadOutput(format!("refused ({m}), yet {} was written", out.display()));
                }
                let positioned = m.starts_with("merge: ")
                    || parts.iter().any(|(p, b)| at(&m, &p.display().to_string(), &String::from_utf8_lossy(b)));
                if positioned { Verdict::Rejected(m) } else { Verdict::Unpositioned(m) }
            }
            Ok(summary) if !summary.missing.is_empty() && !allow_missing => {
                if out.exists() {
                    Verdict::BadOutput(format!("units missing, yet {} was written", out.display()))
                } else {
                    Verdict::Accepted
                }
            }
            Ok(summary) => match isolsim::sweep::read_records(&out) {
                Ok(r) if r.len() == summary.lines => Verdict::Accepted,
                Ok(r) => Verdict::BadOutput(format!("merged {} lines, the output holds {}", summary.lines, r.len())),
                Err(e) => Verdict::BadOutput(format!("the merged output does not read back: {e}")),
            },
        }
    })
}

/// `isolsim report FILE --out DIR`: figures and summary drawn from a results file; a refusal is
/// positioned in the file (or is about it as a whole) and leaves no summary; every file said to
/// be written is there.
fn report_reader() -> Reader {
    Arc::new(|bytes| {
        let dir = scratch();
        let results = dir.path().join("r.jsonl");
        std::fs::write(&results, bytes).expect("the results file is written");
        let out = dir.path().join("out");
        let name = results.display().to_string();
        match isolsim::report::render(&results, &out, &[]) {
            Err(e) => {
                let m = e.to_string();
                if out.join("summary.md").exists() {
                    return Verdict::BadOutput(format!("refused ({m}), yet a summary was written"));
                }
                let whole = m == format!("{name}: holds no result line");
                if whole || at(&m, &name, &String::from_utf8_lossy(bytes)) {
                    Verdict::Rejected(m)
                } else {
                    Verdict::Unpositioned(m)
                }
            }
            Ok(files) => match files.iter().find(|f| !f.is_file()) {
                Some(f) => Verdict::BadOutput(format!("{} is said to be written and is not there", f.display())),
                None => Verdict::Accepted,
            },
        }
    })
}

/// The scenario `exec --define` runs against.
const DEFINE_SCENARIO: &str = "workloads/scenarios/tlb-flush.toml";

/// Values `--define` is given: the right-hand sides of the shipped scenarios' `[defines]` and
/// their data sizes, and the assembler's immediates of the shipped programs.
fn define_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = std::collections::BTreeSet::new();
    for (name, bytes) in files(&root().join("workloads/scenarios"), ".toml") {
        let t: toml::Table = toml::from_str(&String::from_utf8_lossy(&bytes)).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(toml::Value::Table(d)) = t.get("defines") {
            seeds.extend(d.values().map(|v| match v {
                toml::Value::String(s) => s.clone(),
                v => v.to_string(),
            }));
        }
        if let Some(toml::Value::Array(data)) = t.get("data") {
            seeds.extend(data.iter().filter_map(|d| d.get("bytes")).filter_map(|v| v.as_str().map(str::to_string)));
        }
    }
    for (_, bytes) in files(&root().join("workloads/programs"), ".S") {
        for l in String::from_utf8_lossy(&bytes).lines() {
            // `.equ NAME, EXPR` and `#EXPR` immediates.
            if let Some(rest) = l.trim().strip_prefix(".equ") {
                seeds.extend(rest.split_once(',').map(|(_, e)| e.split("//").next().unwrap_or("").trim().to_string()));
            }
            if let Some((_, imm)) = l.split_once('#') {
                seeds.insert(imm.split("//").next().unwrap_or("").trim().to_string());
            }
        }
    }
    seeds.retain(|s| !s.is_empty());
    seeds.into_iter().enumerate().map(|(i, s)| (format!("define-{i}"), s.into_bytes())).collect()
}

/// `isolsim exec tlb-flush.toml --define NAME=INPUT` (NAME one of its defines, by the input's
/// length): an error in the value names it with a column inside it; any other is the scenario's.
fn define_reader() -> Reader {
    const NAME: &str = "fuzz.toml";
    let dir = root().join("workloads/scenarios");
    let text = std::fs::read_to_string(root().join(DEFINE_SCENARIO)).expect("the scenario");
    let sc = isolsim::scenario::Scenario::parse(NAME, &dir, &text).expect("the shipped scenario parses");
    let names = ["FLUSH_DELAY", "USER_LOOPS", "LOOP_WORK"];
    let cfg = isolsim::config::Config::default();
    Arc::new(move |bytes| {
        // A command-line argument is text: the shell gives bytes, clap refuses what is not UTF-8.
        let Ok(value) = std::str::from_utf8(bytes) else { return Verdict::Rejected("not UTF-8".into()) };
        let name = names[bytes.len() % names.len()];
        let in_value = |m: &str| {
            let Some(rest) = m.strip_prefix(&format!("{NAME}: --define {name}={value}: column ")) else { return false };
            let col: Option<usize> = rest.split_once(": ").and_then(|(c, _)| c.parse().ok());
            col.is_some_and(|c| c >= 1 && c <= value.chars().count() + 1)
        };
        let r = sc.prepare(&cfg, &[(name.to_string(), value.to_string())]);
        verdict(r, |m| in_value(m) || scenario_rule(m, NAME, &text, &dir))
    })
}

/// `calibrate --measured` files: every key, plain and banded.
fn measured_seeds() -> Vec<(String, Vec<u8>)> {
    let all = "name = \"mine\"\nsource = \"ipi_benchmark\"\n[ipi]\nunicast_round_trip_ns = 1450\n\
               unicast_delivery_ns = 900\nbroadcast_ns = { value = 25000, accept = [20000, 30000] }\n[entry]\n\
               getpid_ns = 770\npenalty_ns = 570\n[mprotect]\ncall_us = 3.0\nsibling_slowdown_percent = 25.6\n\
               [osnoise]\nipi_noise_us = 4.5\ntlb_flush_noise_us = { value = 1.2, accept = [0.5, 2.0] }\n";
    let few = "[osnoise]\nipi_noise_us = 4.5\n[entry]\npenalty_ns = { value = 300, accept = [3, 570] }\n";
    vec![("all.toml".into(), all.as_bytes().to_vec()), ("few.toml".into(), few.as_bytes().to_vec())]
}

/// The `--measured` reader (parsing and checking; the simulated side is the calibration's).
fn measured_reader() -> Reader {
    const NAME: &str = "fuzz.toml";
    text_reader(NAME, |_, t| verdict(isolsim::calibrate::measured::parse(NAME, t), |m| at(m, NAME, t)))
}

/// hwloc XML in the shapes lstopo writes: 2.x (typed caches, Groups, a DTD line) and 1.x
/// (`Socket`, `Cache` with a depth).
fn hwloc_seeds() -> Vec<(String, Vec<u8>)> {
    let mut two = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n\
         <topology version=\"2.0\">\n<object type=\"Machine\" os_index=\"0\">\n",
    );
    for p in 0..2 {
        two += &format!("<object type=\"Package\" os_index=\"{p}\"><object type=\"L3Cache\" depth=\"3\">\n");
        for g in 0..2 {
            two += "<object type=\"Group\"><object type=\"L2Cache\" depth=\"2\">\n";
            for c in 0..2 {
                let n = 4 * p + 2 * g + c;
                two += &format!(
                    "<object type=\"Core\" os_index=\"{n}\"><object type=\"PU\" os_index=\"{n}\"/></object>\n"
                );
            }
            two += "</object></object>\n";
        }
        two += "</object></object>\n";
    }
    two += "</object>\n</topology>\n";
    let mut one = String::from("<?xml version=\"1.0\"?>\n<topology>\n<object type=\"Machine\">\n");
    for p in 0..2 {
        one += &format!("<object type=\"Socket\" os_index=\"{p}\"><object type=\"Cache\" depth=\"3\">\n");
        for c in 0..2 {
            let n = 2 * p + c;
            one += &format!(
                "<object type=\"Core\" os_index=\"{c}\"><object type=\"PU\" os_index=\"{n}\"/>\
                 <object type=\"PU\" os_index=\"{}\"/></object>\n",
                n + 4
            );
        }
        one += "</object></object>\n";
    }
    one += "</object>\n</topology>\n";
    vec![("two.xml".into(), two.into_bytes()), ("one.xml".into(), one.into_bytes())]
}

/// `topology --import FILE.xml`. A syntax error is positioned; a machine the regular shape
/// cannot describe is a property of the whole file, named but not positioned.
fn hwloc_reader() -> Reader {
    text_reader("fuzz.xml", |bytes, _| {
        let d = tempfile::tempdir().expect("a temporary directory");
        let path = d.path().join("fuzz.xml");
        std::fs::write(&path, bytes).expect("written");
        let name = path.display().to_string();
        let text = String::from_utf8_lossy(bytes).into_owned();
        verdict(isolsim::topology::import::import(&path), |m| {
            m.starts_with(&format!("{name}: ")) || (m.contains(": not hwloc XML") && at(m, &name, &text))
        })
    })
}
