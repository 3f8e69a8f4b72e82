//! A configuration value that cannot be used, with the keys that make it so: every crate's
//! `validate` returns one, so that a reader can point at where the user wrote the key.

use std::fmt;

/// What is wrong with a configuration, and the keys at fault (dotted paths relative to the
/// configuration that was checked), the likeliest culprit first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The keys whose values do not fit, e.g. `["cpus", "isolated"]`.
    pub keys: Vec<String>,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    /// `message`, caused by `keys`.
    pub fn new(keys: &[&str], message: impl Into<String>) -> Invalid {
        Invalid { keys: keys.iter().map(|k| k.to_string()).collect(), message: message.into() }
    }

    /// The same with every key under `prefix` (`tlb` → `machine.tlb`).
    pub fn under(mut self, prefix: &str) -> Invalid {
        for k in &mut self.keys {
            *k = format!("{prefix}.{k}");
        }
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Invalid {}
