//! Counterexamples saved to disk, to be reproduced anywhere with `isolsim
//! replay FILE`: the protocol's text (not its path), the configuration,
//! and what the engine needs to take the same path again — the transitions
//! of an exhaustive path, or a fuzz run's drawn parameters.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::check::{CheckConfig, Counterexample};
use crate::experiment::{Break, Violation};
use crate::fuzz::FuzzRun;
use crate::protocol::ProtocolFile;

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
        let shown = path.display();
        let text = crate::input::read_text(path).map_err(|e| e.to_string())?;
        let r: ReplayFile =
            serde_json::from_str(&text).map_err(|e| format!("{shown}:{}:{}: {e}", e.line(), e.column()))?;
        if r.format != "isolsim-replay" {
            return Err(format!("{shown}:1:1: not an isolsim replay file (format `{}`)", r.format));
        }
        Ok(r)
    }

    /// The protocol, rebuilt from the saved text.
    pub fn protocol(&self) -> Result<ProtocolFile, String> {
        ProtocolFile::parse(&self.protocol_path, &self.protocol_text).map_err(|e| e.to_string())
    }
}
