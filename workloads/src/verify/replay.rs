//! Counterexamples saved to disk, to be reproduced anywhere with `isolsim
//! replay FILE`: the protocol's text (not its path), the configuration,
//! and what the engine needs to take the same path again — the transitions
//! of an exhaustive path, or a fuzz run's drawn parameters.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::experiment::{Break, Violation};
use crate::protocol::ProtocolFile;
use crate::verify::check::{CheckConfig, Counterexample};
use crate::verify::fuzz::FuzzRun;

/// A saved counterexample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayFile {
    /// Always `isolsim-replay`.
    pub format: String,
    /// The isolsim version that wrote it.
    pub version: String,
    /// Where the protocol file was when it was found.
    pub protocol_path: String,
    /// Its text.
    pub protocol_text: String,
    /// What to replay.
    #[serde(flatten)]
    pub case: Case,
}

/// What a replay file replays, by the engine that found it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum Case {
    /// A path of `isolsim check`.
    Check {
        /// The exploration's configuration.
        config: CheckConfig,
        /// The path.
        counterexample: Counterexample,
    },
    /// A (minimized) run of `isolsim fuzz`.
    Fuzz {
        /// The run's parameters.
        run: Box<FuzzRun>,
        /// The violation it ends in.
        violation: Violation,
    },
    /// A run of `isolsim fuzz` with an isolation break (not minimized: the run goes on after a
    /// break, so the break's evidence is what is replayed).
    #[serde(rename = "fuzz-isolation-break")]
    FuzzBreak {
        /// The run's parameters.
        run: Box<FuzzRun>,
        /// Its first interrupt of a CPU running user code (`None` if the run's breaks are
        /// broadcast TLB invalidations).
        evidence: Option<Break>,
    },
}

impl ReplayFile {
    /// A replay file for protocol `p`.
    pub fn new(p: &ProtocolFile, case: Case) -> ReplayFile {
        ReplayFile {
            format: "isolsim-replay".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol_path: p.path.clone(),
            protocol_text: p.text.clone(),
            case,
        }
    }

    /// Reads one; `file:line:col: what` on bad input.
    pub fn load(path: &Path) -> Result<ReplayFile, String> {
        let text = crate::input::read_text(path).map_err(|e| e.to_string())?;
        ReplayFile::parse(&path.display().to_string(), &text)
    }

    /// Reads one from its text, named `shown` in errors.
    pub fn parse(shown: &str, text: &str) -> Result<ReplayFile, String> {
        let r: ReplayFile = serde_json::from_str(text).map_err(|e| {
            let ((line, col), what) = crate::input::json_error(text, &e);
            format!("{shown}:{line}:{col}: {what}")
        })?;
        if r.format != "isolsim-replay" {
            return Err(format!("{shown}:1:1: not an isolsim replay file (format `{}`)", r.format));
        }
        // The CPU a check's counterexample happens to is one of the check's: the path's analysis
        // indexes by it.
        if let Case::Check { config, counterexample } = &r.case
            && counterexample.cpu >= config.cpus
        {
            let (line, col) = key_with_value(text, "cpu", &counterexample.cpu.to_string()).unwrap_or((1, 1));
            return Err(format!(
                "{shown}:{line}:{col}: the counterexample's cpu = {} is not one of the check's {} CPUs",
                counterexample.cpu, config.cpus
            ));
        }
        Ok(r)
    }

    /// The protocol, rebuilt from the saved text.
    pub fn protocol(&self) -> Result<ProtocolFile, String> {
        ProtocolFile::parse(&self.protocol_path, &self.protocol_text).map_err(|e| e.to_string())
    }
}

/// Where JSON `text` sets `"key": value` (value as written), as (line, column) from 1.
fn key_with_value(text: &str, key: &str, value: &str) -> Option<(usize, usize)> {
    let quoted = format!("\"{key}\"");
    text.match_indices(&quoted).find_map(|(at, _)| {
        let rest = text[at + quoted.len()..].trim_start().strip_prefix(':')?.trim_start();
        let after = rest.strip_prefix(value)?;
        (!after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.')).then(|| {
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            (line, before[before.rfind('\n').map_or(0, |n| n + 1)..].chars().count() + 1)
        })
    })
}
