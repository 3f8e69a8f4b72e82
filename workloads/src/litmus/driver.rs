//! Running litmus files end to end: read, parse, compile, run, report.
//!
//! Each file is handled on its own: a file with an error is reported as
//! `file:line:col: message` and the others still run.

use std::path::{Path, PathBuf};

use super::compile::{Compiled, compile};
use super::parse::parse;
use super::report::{Report, report};
use super::run::{RunFailure, RunOptions, run_test};
use memory_model::Mode;

/// Bad input: a file that cannot be read, parsed or compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// File.
    pub path: String,
    /// Line (1-based; 0 when the file could not be read).
    pub line: usize,
    /// Column (1-based; 0 when the file could not be read).
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.msg)
        } else {
            write!(f, "{}:{}:{}: {}", self.path, self.line, self.col, self.msg)
        }
    }
}

impl std::error::Error for InputError {}

/// What became of one file.
#[derive(Debug)]
pub enum LitmusOutcome {
    /// The test ran.
    Done(Box<Report>),
    /// The file is malformed or uses something outside the supported subset.
    BadInput(InputError),
    /// The simulation failed (deadlock, run-away loop).
    Failed {
        /// The file.
        file: PathBuf,
        /// What happened.
        error: RunFailure,
    },
}

/// Reads, parses and compiles a litmus file.
pub fn load(path: &Path) -> Result<Compiled, InputError> {
    let name = path.display().to_string();
    let text = crate::input::read_text(path).map_err(|e| {
        let (line, col) = e.pos.unwrap_or((0, 0));
        InputError { path: e.path, line, col, msg: e.message }
    })?;
    compile_text(&name, &text)
}

/// Parses and compiles litmus source `text` (named `name` in errors).
pub fn compile_text(name: &str, text: &str) -> Result<Compiled, InputError> {
    let test = parse(name, text).map_err(|e| InputError { path: e.path, line: e.line, col: e.col, msg: e.msg })?;
    compile(&test).map_err(|e| InputError { path: name.to_string(), line: e.pos.line, col: e.pos.col, msg: e.msg })
}

/// Runs every file in order, calling `each` with its outcome as soon as it is known.
pub fn run_files(files: &[PathBuf], opts: &RunOptions, mut each: impl FnMut(LitmusOutcome)) {
    for f in files {
        let outcome = match load(f) {
            Err(e) => LitmusOutcome::BadInput(e),
            // An x86 test under `arm`: the x86 model chosen for it, or refused.
            Ok(c) if c.arch.is_x86() && opts.machine.mode == Mode::Arm && opts.x86_model.is_none() => {
                LitmusOutcome::BadInput(InputError {
                    path: f.display().to_string(),
                    line: 1,
                    col: 1,
                    msg: "an x86 test runs under the x86 models: --model tso (or sc)".into(),
                })
            }
            Ok(c) => {
                let mut o = std::borrow::Cow::Borrowed(opts);
                if let (true, Mode::Arm, Some(mode)) = (c.arch.is_x86(), opts.machine.mode, opts.x86_model) {
                    o.to_mut().machine.mode = mode;
                }
                match run_test(&c, &o) {
                    Ok(r) => LitmusOutcome::Done(Box::new(report(&c, &r))),
                    Err(error) => LitmusOutcome::Failed { file: f.clone(), error },
                }
            }
        };
        each(outcome);
    }
}
