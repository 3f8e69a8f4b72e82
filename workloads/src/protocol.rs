//! Protocol files: the part of the kernel a task-isolation protocol is.
//!
//! A protocol is six labels of assembler text (listed in
//! `workloads/protocols/broadcast.S`): the kernel entry and exit hooks
//! (`enter_from_user_mode`, `entry_hook_done`, `exit_to_user_mode`), the
//! sender's side of a kick (`isolation_publish`, `isolation_defer_cpu`) and
//! the IPI callback on a CPU the sender interrupted (`isolation_ipi`, which
//! `isolsim check`'s harness calls).
//! The shipped ones are [`Protocol::file`]; a user's variant is any file
//! that defines the same labels, with a header that says which protocol it
//! varies and, optionally, what it is expected to break:
//!
//! ```text
//! // @base deferred                  the protocol it is a variant of
//! // @expect safety-violation        or isolation-break, both, or none
//! // @why the flag store may wait in the store buffer while ...
//! ```
//!
//! A file whose name ends in `.c` is kernel C instead, with the same header
//! in `//` comments: the litmus C front end compiles it
//! ([`crate::litmus::cgen::compile_protocol`]) to [`ProtocolFile::asm`], which
//! is what the kernel is assembled with, and keeps the C line of each
//! assembler line ([`ProtocolFile::c_line`]) for timelines.
//!
//! A variant need define only the functions it changes
//! ([`FUNCTIONS`]); the others are taken from its base. The base also
//! decides how the rest of the kernel is configured (a deferred or ct-work
//! base defers TLB flushes too). `isolsim fuzz` and `isolsim
//! check` compare what they find with `@expect`.
//!
//! ```
//! use workloads::protocol::{Consequence, ProtocolFile};
//! use workloads::kernel::Protocol;
//!
//! let text = "// @base deferred\n// @expect isolation-break\nenter_from_user_mode:\n        RET\n";
//! let v = ProtocolFile::parse("mine.S", text).unwrap();
//! assert_eq!(v.base, Protocol::Deferred);
//! assert_eq!(v.expect, Some(vec![Consequence::IsolationBreak]));
//! let e = ProtocolFile::parse("bad.S", "// @base sometimes\n").unwrap_err();
//! assert_eq!(e.to_string(), "bad.S:1:10: unknown base protocol `sometimes` (known: broadcast, deferred, ct-work)");
//! ```

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::kernel::{FILES, Protocol};

/// What a broken protocol does to the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consequence {
    /// A CPU in the kernel used stale data, a stale instruction or a stale translation after
    /// the point the protocol promises it is synchronized.
    SafetyViolation,
    /// An IPI reached a CPU that was running isolated user code when the sender decided to
    /// interrupt it (the protocol should have skipped it).
    IsolationBreak,
}

impl Consequence {
    /// The name in `@expect` lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Consequence::SafetyViolation => "safety-violation",
            Consequence::IsolationBreak => "isolation-break",
        }
    }

    fn by_name(s: &str) -> Option<Consequence> {
        [Consequence::SafetyViolation, Consequence::IsolationBreak].into_iter().find(|c| c.name() == s)
    }
}

impl fmt::Display for Consequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A protocol file's text and header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolFile {
    /// Short name for reports: the built-in protocol's name or the file's stem.
    pub name: String,
    /// Where the text came from (for messages).
    pub path: String,
    /// The file's text: assembler, or kernel C for a `.c` file.
    pub text: String,
    /// The assembler text the kernel is built with: `text` itself, or what
    /// the C compiles to.
    pub asm: String,
    /// For a `.c` file, the C line of each line of `asm` (index: line - 1;
    /// 0 for none); empty for assembler.
    pub c_lines: Vec<usize>,
    /// The protocol it is (a variant of).
    pub base: Protocol,
    /// What it is expected to break (`@expect`), if the file says; empty: nothing.
    pub expect: Option<Vec<Consequence>>,
    /// The file's explanation of its expected consequence (`@why` lines, joined).
    pub why: String,
}

/// A header line the reader does not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{what}", if *.line == 0 { format!("{path}: ") } else { format!("{path}:{line}:{col}: ") })]
pub struct ProtocolFileError {
    /// The file.
    pub path: String,
    /// 1-based line (0: the whole file).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub what: String,
}

impl ProtocolFile {
    /// A shipped protocol.
    pub fn builtin(p: Protocol) -> ProtocolFile {
        let (path, text) = p.file();
        ProtocolFile::parse(path, text).expect("shipped protocol files have valid headers")
    }

    /// A shipped protocol by name, or the file at `name_or_path`.
    pub fn resolve(name_or_path: &str) -> Result<ProtocolFile, ProtocolFileError> {
        match Protocol::by_name(name_or_path) {
            Some(p) => Ok(ProtocolFile::builtin(p)),
            None if !Path::new(name_or_path).exists() => Err(ProtocolFileError {
                path: "--protocol".to_string(),
                line: 0,
                col: 0,
                what: format!(
                    "unknown protocol `{name_or_path}` (known: broadcast, deferred, ct-work, or a protocol file)"
                ),
            }),
            None => ProtocolFile::load(Path::new(name_or_path)),
        }
    }

    /// Reads and parses a variant file.
    pub fn load(path: &Path) -> Result<ProtocolFile, ProtocolFileError> {
        let shown = path.display().to_string();
        let text = crate::input::read_text(path).map_err(|e| {
            let (line, col) = e.pos.unwrap_or((0, 0));
            ProtocolFileError { path: e.path, line, col, what: e.message }
        })?;
        ProtocolFile::parse(&shown, &text)
    }

    /// Parses the header of `text` (directives `@base`, `@expect`, `@why` in
    /// `//` comments); the assembler reads the rest when the kernel loads.
    pub fn parse(path: &str, text: &str) -> Result<ProtocolFile, ProtocolFileError> {
        let err = |line: usize, col: usize, what: String| ProtocolFileError { path: path.to_string(), line, col, what };
        let mut base = None;
        let mut expect = None;
        let mut why: Vec<String> = vec![];
        for (i, l) in text.lines().enumerate() {
            let Some(c) = l.find("//") else { continue };
            let comment = &l[c + 2..];
            let Some(at) = comment.find('@') else { continue };
            if !comment[..at].trim().is_empty() {
                continue; // an @ inside prose
            }
            let rest = &comment[at + 1..];
            let key = rest.split_whitespace().next().unwrap_or("");
            let value_off = c + 2 + at + 1 + key.len();
            let value = l[value_off..].trim();
            let value_col = value_off + (l[value_off..].len() - l[value_off..].trim_start().len()) + 1;
            match key {
                "base" => {
                    if base.is_some() {
                        return Err(err(i + 1, c + 3 + at, "a second @base line".into()));
                    }
                    base = Some(Protocol::by_name(value).ok_or_else(|| {
                        err(
                            i + 1,
                            value_col,
                            format!("unknown base protocol `{value}` (known: broadcast, deferred, ct-work)"),
                        )
                    })?);
                }
                "expect" => {
                    let mut list = vec![];
                    let rest = &l[value_off..];
                    let words = rest.split([' ', ',', '\t']).scan(0, |at, w| {
                        let start = *at;
                        *at += w.len() + 1;
                        Some((start, w))
                    });
                    for (start, w) in words.filter(|(_, w)| !w.is_empty()) {
                        if w == "none" {
                            continue;
                        }
                        let col = value_off + start + 1;
                        let c = Consequence::by_name(w).ok_or_else(|| {
                            err(
                                i + 1,
                                col,
                                format!("unknown consequence `{w}` (known: none, safety-violation, isolation-break)"),
                            )
                        })?;
                        if !list.contains(&c) {
                            list.push(c);
                        }
                    }
                    if value.is_empty() {
                        return Err(err(
                            i + 1,
                            value_col,
                            "@expect needs a value: none, safety-violation, isolation-break".into(),
                        ));
                    }
                    list.sort();
                    expect = Some(list);
                }
                "why" => why.push(value.to_string()),
                _ => {
                    return Err(err(
                        i + 1,
                        c + 3 + at,
                        format!("unknown directive `@{key}` (known: @base, @expect, @why)"),
                    ));
                }
            }
        }
        let base =
            base.ok_or_else(|| err(1, 1, "no `// @base NAME` line: which protocol is this a variant of?".into()))?;
        let name = Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or(path).to_string();
        let (asm, c_lines) = if is_c_file(path) {
            let c = crate::litmus::cgen::compile_protocol(path, text, &kernel_c_env(), &FUNCTIONS)
                .map_err(|e| err(e.line, e.col, e.msg))?;
            (c.asm, c.c_lines)
        } else {
            (text.to_string(), vec![])
        };
        Ok(ProtocolFile {
            name,
            path: path.to_string(),
            text: text.to_string(),
            asm,
            c_lines,
            base,
            expect,
            why: why.join(" "),
        })
    }

    /// For a protocol compiled from C, the C line of each of its instructions in
    /// `code`, where the kernel `files` (ending with this protocol's, as
    /// [`ProtocolFile::kernel_files`] gives them) were assembled as one unit
    /// at `base`: the protocol's line `n` is the unit's line `n` plus the lines
    /// before it. Empty for assembler.
    pub fn c_lines_in(
        &self,
        files: &[(String, String)],
        code: &cpu_model::code::CodeSpace,
        base: memory_model::Addr,
    ) -> std::collections::BTreeMap<memory_model::Addr, usize> {
        let mut out = std::collections::BTreeMap::new();
        if self.c_lines.is_empty() {
            return out;
        }
        // The unit ends every file with a newline (an empty one is one empty line).
        let before: usize = files[..files.len().saturating_sub(1)].iter().map(|(_, t)| t.lines().count().max(1)).sum();
        let Some(kernel) = code.programs().iter().find(|q| q.base == base) else { return out };
        for (i, &line) in kernel.lines.iter().enumerate() {
            if let Some(c) = line.checked_sub(before).and_then(|l| self.c_line(l)) {
                out.insert(kernel.base + i as u64 * cpu_model::isa::Inst::BYTES, c);
            }
        }
        out
    }

    /// The C line an assembler line of [`ProtocolFile::asm`] was compiled
    /// from (`line` from 1), for a `.c` file.
    pub fn c_line(&self, line: usize) -> Option<usize> {
        line.checked_sub(1).and_then(|i| self.c_lines.get(i)).copied().filter(|&l| l > 0)
    }

    /// The functions of the base protocol this file does not define
    /// (blank lines in place of the ones it does, so that messages keep the
    /// base file's line numbers): (name for messages, text); `None` for a
    /// file that defines them all.
    pub fn inherited(&self) -> Option<(String, String)> {
        let defines = |text: &str, f: &str| text.lines().any(|l| label_of(l) == Some(f));
        let missing: Vec<&str> = FUNCTIONS.into_iter().filter(|f| !defines(&self.asm, f)).collect();
        if missing.is_empty() {
            return None;
        }
        let (base_path, base_text) = self.base.file();
        let mut keep = true;
        let mut out = String::new();
        for l in base_text.lines() {
            if let Some(f) = label_of(l).filter(|f| FUNCTIONS.contains(f)) {
                keep = missing.contains(&f);
            }
            if keep {
                out.push_str(l);
            }
            out.push('\n');
        }
        Some((format!("{base_path} (inherited by {}: {})", self.path, missing.join(", ")), out))
    }

    /// What the kernel's other files are followed by: what this file
    /// inherits from its base ([`ProtocolFile::inherited`]), then this file.
    pub fn protocol_files(&self) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = self.inherited().into_iter().collect();
        f.push((self.path.clone(), self.asm.clone()));
        f
    }

    /// The whole kernel with this protocol: [`FILES`], then [`ProtocolFile::protocol_files`].
    pub fn kernel_files(&self) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        f.extend(self.protocol_files());
        f
    }
}

/// The five functions a protocol file provides (`entry_hook_done` is a label
/// inside `enter_from_user_mode`). A variant may define only some of them;
/// the others come from its base.
pub const FUNCTIONS: [&str; 5] =
    ["enter_from_user_mode", "exit_to_user_mode", "isolation_publish", "isolation_defer_cpu", "isolation_ipi"];

/// Whether `path` names a protocol file in kernel C (by its extension).
pub fn is_c_file(path: &str) -> bool {
    Path::new(path).extension().is_some_and(|e| e == "c")
}

/// The per-CPU variables kernel C names, by the kernel's names, with the
/// symbols of their offsets in the per-CPU area (entry.S).
pub const PER_CPU_VARIABLES: [(&str, &str); 4] = [
    ("ll_isol_flags", "PCPU_ISOL_FLAGS"),
    ("context", "PCPU_CONTEXT"),
    ("isol_wanted", "PCPU_ISOL_WANTED"),
    ("nohz_full", "PCPU_NOHZ_FULL"),
];

/// Symbols the loader defines for every kernel ([`crate::system::System`]) that
/// protocol C may name.
const LOADER_CONSTANTS: [&str; 4] = ["NR_CPUS", "PERCPU_BASE", "PERCPU_SHIFT", "PERCPU_SIZE"];

/// What kernel C may name: the constants the kernel's files define with
/// `.equ`, the loader's and the kernel configuration's symbols
/// (`TLB_SCHEME`), and the per-CPU variables.
pub fn kernel_c_env() -> crate::litmus::cgen::KernelEnv {
    let mut constants: std::collections::BTreeSet<String> = FILES
        .iter()
        .flat_map(|(_, t)| t.lines())
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix(".equ")?.trim_start();
            let name = rest.split(',').next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect();
    constants.extend(LOADER_CONSTANTS.iter().map(|s| s.to_string()));
    constants.extend(crate::kernel::KernelConfig::default().symbols().iter().map(|(n, _)| n.to_string()));
    crate::litmus::cgen::KernelEnv {
        constants,
        per_cpu: PER_CPU_VARIABLES.iter().map(|(v, o)| (v.to_string(), o.to_string())).collect(),
        percpu_base: "PERCPU_BASE".to_string(),
        percpu_shift: "PERCPU_SHIFT".to_string(),
    }
}

/// The label a line defines, if any (`name:` first on the line).
pub(crate) fn label_of(line: &str) -> Option<&str> {
    let code = line.split("//").next().unwrap_or("").trim_start();
    let (name, _) = code.split_once(':')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_protocols_are_safe_and_only_broadcast_breaks_isolation() {
        for p in Protocol::ALL {
            let f = ProtocolFile::builtin(p);
            let expect: &[Consequence] = if p == Protocol::Broadcast { &[Consequence::IsolationBreak] } else { &[] };
            assert_eq!((f.base, f.expect.as_deref(), f.name.as_str()), (p, Some(expect), p.name()));
            assert_eq!(f.inherited(), None, "a shipped protocol defines every function");
        }
    }

    #[test]
    fn header_errors_name_line_and_column() {
        let e = ProtocolFile::parse("v.S", "// @base deferred\n// @expect safety-violation stale\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "v.S:2:29: unknown consequence `stale` (known: none, safety-violation, isolation-break)"
        );
        let e = ProtocolFile::parse("v.S", "// @base deferred\n   // @frob x\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 7));
        let e = ProtocolFile::parse("v.S", "enter_from_user_mode:\n").unwrap_err();
        assert!(e.to_string().starts_with("v.S:1:1: no `// @base NAME` line"));
        let ok = ProtocolFile::parse(
            "v.S",
            "// @base ct-work\n// @expect isolation-break, safety-violation\n// mail me @ home\n",
        )
        .unwrap();
        assert_eq!(ok.expect, Some(vec![Consequence::SafetyViolation, Consequence::IsolationBreak]));
    }
}
