//! Configuration files: strict reading with `file:line:col` errors, presets, overrides, and the
//! commented printout of `isolsim config`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::temp_file;
use isolsim::Mode;
use isolsim::config::{self, Config, PRESETS};
use serde_json::Value as Json;
use workloads::kernel::{CondWait, TlbScheme};

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).output().expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `isolsim config ARGS`, expecting bad input: exit 2, nothing on stdout; returns stderr.
fn config_error(args: &[&str]) -> String {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    let out = isolsim(&all);
    assert_eq!(out.status.code(), Some(2), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing may be printed on error: {}", text(&out.stdout));
    text(&out.stderr)
}

/// Runs `isolsim config ARGS`, expecting success; returns stdout.
fn config_ok(args: &[&str]) -> String {
    let mut all = vec!["config"];
    all.extend_from_slice(args);
    let out = isolsim(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn unknown_key_in_a_nested_table_names_file_line_and_key() {
    let f = temp_file(
        "unknown.toml",
        "# a comment\n[machine]\nmode = \"tso\"\n\n[machine.core]\nrob_entries = 100\nrob_entrys = 4\n",
    );
    let err = config_error(&["--config", s(&f)]);
    let want = format!("{}:7:1: unknown key `machine.core.rob_entrys`, expected one of `rob_entries`", f.display());
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains("did you mean `rob_entries`?"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // Dotted keys and inline tables are located just as well.
    let e = config::from_toml_str("d.toml", "\n\nmachine.cache.l3_hit = 40\n").unwrap_err();
    assert_eq!((e.pos, e.key.as_deref()), (Some((3, 15)), Some("machine.cache.l3_hit")));
    let e = config::from_toml_str("i.toml", "machine = { core = { robs = 1 } }\n").unwrap_err();
    assert_eq!((e.pos, e.key.as_deref()), (Some((1, 22)), Some("machine.core.robs")));
    // An unknown section.
    let e = config::from_toml_str("s.toml", "[machine]\n[machin.core]\n").unwrap_err();
    assert!(e.to_string().starts_with("s.toml:2:2: unknown key `machin`, expected one of `machine`"), "{e}");
}

#[test]
fn wrong_type_names_file_line_and_key() {
    let f = temp_file("type.toml", "[machine]\njitter = 0\n[machine.cache]\nl1_hit = \"fast\"\n");
    let err = config_error(&["--config", s(&f)]);
    assert_eq!(
        err.trim_end(),
        format!("{}:4:10: wrong type for `machine.cache.l1_hit`: expected u64, found string \"fast\"", f.display())
    );

    let e = config::from_toml_str("t.toml", "[machine]\nmode = \"weak\"\n").unwrap_err();
    assert!(e.to_string().starts_with("t.toml:2:8: invalid value for `machine.mode`: unknown variant `weak`"), "{e}");
    let e = config::from_toml_str("t.toml", "[machine]\ncore = 5\n").unwrap_err();
    assert_eq!(e.to_string(), "t.toml:2:8: wrong type for `machine.core`: expected a table, found integer `5`");
    let e = config::from_toml_str("t.toml", "[machine.core]\nrob_entries = -1\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("machine.core.rob_entries"));
}

#[test]
fn syntax_errors_and_missing_files_are_bad_input() {
    let f = temp_file("syntax.toml", "[machine]\nmode = \n");
    assert!(config_error(&["--config", s(&f)]).starts_with(&format!("{}:2:8: ", f.display())));
    let f = temp_file("dup.toml", "[machine]\njitter = 1\n[machine]\n");
    assert!(config_error(&["--config", s(&f)]).starts_with(&format!("{}:3:2: duplicate key", f.display())));
    let missing = std::env::temp_dir().join("isolsim-config-no-such-file.toml");
    assert!(config_error(&["--config", s(&missing)]).starts_with(&format!("{}: cannot read", missing.display())));
}

#[test]
fn unknown_preset_is_rejected() {
    let err = config_error(&["--preset", "riscv-laptop"]);
    assert!(err.contains("unknown preset `riscv-laptop`"), "{err}");
    for p in PRESETS {
        assert!(err.contains(p), "the message lists the presets: {err}");
    }
    assert!(config::preset("nope").is_err());
}

#[test]
fn override_file_changes_only_its_keys() {
    let f = temp_file("over.toml", "# bigger window\n[machine.core]\nrob_entries = 100\n");
    for preset in PRESETS {
        let printed = config_ok(&["--preset", preset, "--config", s(&f)]);
        let got = config::from_toml_str("stdout", &printed).unwrap();
        let mut want = config::preset(preset).unwrap();
        want.machine.core.rob_entries = 100;
        assert_eq!(got, want, "{preset}");
    }
    // Without a preset the file overrides the defaults.
    let got = config::from_toml_str("stdout", &config_ok(&["--config", s(&f)])).unwrap();
    let mut want = Config::default();
    want.machine.core.rob_entries = 100;
    assert_eq!(got, want);
}

#[test]
fn override_file_is_validated_on_its_own() {
    let f = temp_file("bad-over.toml", "\n\n[machine.core]\nstore_buffer = 3\n");
    let err = config_error(&["--preset", "x86-server", "--config", s(&f)]);
    assert!(err.starts_with(&format!("{}:4:1: unknown key `machine.core.store_buffer`", f.display())), "{err}");
}

#[test]
fn printout_reads_back_to_the_same_config_and_documents_every_key() {
    let mut configs = vec![("default", Config::default())];
    configs.extend(PRESETS.iter().map(|p| (*p, config::preset(p).unwrap())));
    let mut changed = Config::default();
    changed.machine.mode = Mode::Sc;
    changed.machine.jitter = 7;
    configs.push(("changed", changed));
    for (name, cfg) in configs {
        let out = config::to_commented_toml(&cfg);
        assert_eq!(config::from_toml_str(name, &out).unwrap(), cfg, "{name}:\n{out}");
        let lines: Vec<&str> = out.lines().collect();
        let mut keys = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                keys += 1;
                // Above the key: its doc line, then possibly the allowed values and the default.
                let mut j = i;
                while j > 0 && (lines[j - 1].starts_with("# default: ") || lines[j - 1].starts_with("# one of: ")) {
                    j -= 1;
                }
                assert!(j > 0 && lines[j - 1].starts_with("# "), "{name}: `{line}` has no doc comment:\n{out}");
            }
        }
        assert!(keys >= 14, "{name}: every key is printed, defaults included:\n{out}");
    }
    // A changed value says what the default was.
    let mut cfg = Config::default();
    let d = cfg.machine.core.rob_entries;
    cfg.machine.core.rob_entries = d + 1;
    let out = config::to_commented_toml(&cfg);
    assert!(out.contains(&format!("# default: {d}\nrob_entries = {}\n", d + 1)), "{out}");
    assert!(!out.contains(&format!("# default: {}\n", cfg.machine.core.store_buffer_entries)), "unchanged: no note");
}

#[test]
fn printing_is_deterministic() {
    let a = config_ok(&["--preset", "arm64-server"]);
    let b = config_ok(&["--preset", "arm64-server"]);
    assert_eq!(a, b);
    let (cfg, sources) = config::load_with_sources(Some("arm64-server"), None, &[]).unwrap();
    assert_eq!(a, config::to_commented_toml_with_sources(&cfg, &sources));
    assert_eq!(config_ok(&[]), config::to_commented_toml(&Config::default()));
}

/// The comment block above `key = ` in a printout (the `# ` lines right above it), if printed.
fn comment_above(out: &str, key: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = out.lines().collect();
    let i = lines.iter().position(|l| l.starts_with(&format!("{key} = ")))?;
    let mut block: Vec<String> =
        lines[..i].iter().rev().take_while(|l| l.starts_with('#')).map(|l| l.to_string()).collect();
    block.reverse();
    Some(block)
}

/// Every value the preset sets carries the preset's own comment (its cited source) and says where
/// it was set and what default it replaced; not the default's rationale. Values a file or `--set`
/// changes say so too; values left at their default keep the default's doc.
#[test]
fn each_printed_value_carries_the_comment_of_where_it_came_from() {
    for preset in PRESETS {
        let out = config_ok(&["--preset", preset]);
        let text = std::fs::read_to_string(common::root().join(format!("presets/{preset}.toml"))).unwrap();
        let defaults = config_ok(&[]);
        let mut checked = 0;
        let mut table = String::new();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some(t) = line.strip_prefix('[') {
                table = t.trim_end_matches(']').to_string();
                continue;
            }
            let Some((key, _)) = line.split_once(" = ") else { continue };
            if line.starts_with('#') {
                continue;
            }
            let own: Vec<String> =
                lines[..i].iter().rev().take_while(|l| l.starts_with('#')).map(|l| l.to_string()).collect();
            // Keys are printed once per table; find this table's section of the printout.
            let section = out.split(&format!("\n[{table}]\n")).nth(1).unwrap_or_else(|| panic!("no [{table}]"));
            let section = section.split("\n[").next().unwrap();
            let block =
                comment_above(&format!("\n{section}"), key).unwrap_or_else(|| panic!("{table}.{key} not printed"));
            for c in own.iter().rev() {
                assert!(
                    block.contains(c),
                    "{preset}: {table}.{key}: the preset's `{c}` is not above it:\n{}",
                    block.join("\n")
                );
            }
            let note = block.last().unwrap();
            assert!(note.starts_with(&format!("# set by presets/{preset}.toml")), "{preset}: {table}.{key}: {note}");
            // The default's doc is not printed over the preset's value (unless it is the same).
            let default_section =
                defaults.split(&format!("\n[{table}]\n")).nth(1).unwrap().split("\n[").next().unwrap();
            let default_doc = comment_above(&format!("\n{default_section}"), key).unwrap();
            for d in default_doc.iter().filter(|d| !d.starts_with("# one of:") && !own.contains(d)) {
                assert!(!block.contains(d), "{preset}: {table}.{key}: the default's `{d}` is above the preset's value");
            }
            checked += 1;
        }
        assert!(checked >= 20, "{preset}: {checked} keys");
    }
    // The complaint that led here: arm64-server's cluster_socket_latency.
    let out = config_ok(&["--preset", "arm64-server"]);
    let block = comment_above(&out, "cluster_socket_latency").unwrap().join("\n");
    assert!(block.contains("core <-> ring stop") && block.contains("default: 40"), "{block}");
    assert!(
        !block.contains("Cluster ↔ its socket: 40 cycles"),
        "the default's rationale over the preset's value:\n{block}"
    );
    // A --set and a file say so; an untouched key keeps the default's doc.
    let f = temp_file("over.toml", "[machine.core]\n# Measured on our box.\nrob_entries = 77\n");
    let out = config_ok(&["--preset", "x86-server", "--config", s(&f), "--set", "run.cpus=16"]);
    let block = comment_above(&out, "rob_entries").unwrap().join("\n");
    assert!(
        block.contains("# Measured on our box.") && block.contains(&format!("# set by {}", f.display())),
        "{block}"
    );
    let block = comment_above(&out, "cpus").unwrap().join("\n");
    assert!(block.contains("# set by --set run.cpus=16; default: 8"), "{block}");
    let block = comment_above(&out, "store_jitter").unwrap().join("\n");
    assert!(!block.contains("set by"), "{block}");
}

#[test]
fn presets_load_and_differ_where_they_should() {
    assert_eq!(PRESETS, ["arm64-server", "x86-server"]);
    let arm = config::preset("arm64-server").unwrap().machine;
    let x86 = config::preset("x86-server").unwrap().machine;
    assert_eq!((arm.mode, x86.mode), (Mode::Arm, Mode::Tso));
    assert_eq!(x86.core.store_buffer_entries, 56);
    assert_eq!((x86.cache.l1_hit, x86.cache.l2_hit), (4, 12));
    assert_eq!((arm.core.rob_entries, x86.core.rob_entries), (180, 224));
    assert_ne!(arm.core.mispredict_penalty, x86.core.mispredict_penalty);
    // Each kernel waits for another CPU's store as its architecture's smp_cond_load_acquire()
    // does, and flushes kernel TLB entries its way.
    let (arm, x86) = (config::preset("arm64-server").unwrap().kernel, config::preset("x86-server").unwrap().kernel);
    assert_eq!((arm.cond_wait, x86.cond_wait), (CondWait::Wfe, CondWait::Spin));
    assert_eq!((arm.tlb_scheme, x86.tlb_scheme), (TlbScheme::Broadcast, TlbScheme::Ipi));
}

#[test]
fn preset_files_set_every_value_with_a_source_comment() {
    for p in PRESETS {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets").join(format!("{p}.toml"));
        let body = std::fs::read_to_string(&path).unwrap();
        assert_eq!(config::from_toml_str(s(&path), &body).unwrap(), config::preset(p).unwrap());
        let lines: Vec<&str> = body.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(i > 0 && lines[i - 1].starts_with("# "), "{p}: `{line}` has no source comment");
            }
        }
    }
}

/// Every struct in the schema (today's sections and any added later) denies unknown keys,
/// needs no key, and documents each field: what the strict reader and the printout rely on.
#[test]
fn every_section_is_strict_defaulted_and_documented() {
    let schema = serde_json::to_value(config::schema()).unwrap();
    let mut structs = vec![("Config".to_string(), &schema)];
    if let Some(defs) = schema.get("$defs").and_then(Json::as_object) {
        structs.extend(defs.iter().map(|(k, v)| (k.clone(), v)));
    }
    let mut checked = 0;
    for (name, def) in structs {
        let Some(props) = def.get("properties").and_then(Json::as_object) else { continue };
        checked += 1;
        assert_eq!(def.get("additionalProperties"), Some(&Json::Bool(false)), "{name}: deny_unknown_fields");
        let required = def.get("required").and_then(Json::as_array).map_or(0, Vec::len);
        assert_eq!(required, 0, "{name}: every field needs a default (#[serde(default)])");
        for (field, p) in props {
            let doc = p.get("description").and_then(Json::as_str).unwrap_or("");
            assert!(!doc.trim().is_empty(), "{name}.{field} has no doc comment");
        }
    }
    assert!(checked >= 4, "Config, MachineConfig, CoreConfig, CacheConfig at least");
}

#[test]
fn a_configuration_run_would_reject_is_rejected_at_the_key_by_config_too() {
    // The input: a latency `isolsim config` accepted and `isolsim run` then refused
    // without a position. Both now run the one validation and point at the value.
    let f = temp_file("latency.toml", "[machine.topology]\ncore_cluster_latency = 9223372036854775807\n");
    let e = config_error(&["--config", s(&f)]);
    let expected = format!(
        "{}:2:24: invalid value for `machine.topology.core_cluster_latency`: topology: `core_cluster_latency` is \
         9223372036854775807 cycles, more than 4294967295\n",
        f.display()
    );
    assert_eq!(e, expected);
    let run = isolsim(&["run", "--config", s(&f)]);
    assert_eq!((run.status.code(), text(&run.stderr)), (Some(2), expected));

    // Values that only fail together: the key the user wrote is the one shown.
    let f = temp_file("cpus.toml", "[run]\ncpus = 0\n");
    let e = config_error(&["--config", s(&f)]);
    assert!(e.starts_with(&format!("{}:2:8: invalid value for `run.cpus`: 4 housekeeping", f.display())), "{e}");
    // The run against the machine: checked for `run` (and sweep points), not for `config`, whose
    // configuration may be for `exec`, which lays out its own CPUs.
    let args = ["--preset", "x86-server", "--set", "machine.topology.sockets=1"];
    let run = isolsim(&[&["run"], &args[..]].concat());
    let e = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{e}");
    assert!(
        e.starts_with("--set machine.topology.sockets=1: invalid value for `machine.topology.sockets`: cpus = 36"),
        "{e}"
    );
    config_ok(&args);
    let e = config_error(&["--set", "run.activity.vmalloc_per_s=nan"]);
    assert!(e.contains("invalid value for `run.activity.vmalloc_per_s`: vmalloc_per_s = NaN"), "{e}");
    // TLB ways beyond what a TLB holds (Tlb::new asserted it).
    let e = config_error(&["--set", "machine.tlb.ways=70000", "--set", "machine.tlb.entries=70000"]);
    assert!(e.starts_with("--set machine.tlb.ways=70000: invalid value for `machine.tlb.ways`"), "{e}");
}
