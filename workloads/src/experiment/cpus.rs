//! Which CPUs are isolated (`run.isolated`): a count, the last CPUs of the run, or a Linux
//! cpulist as written on the kernel command line (`nohz_full=4-7,12-15`).
//!
//! ```
//! use workloads::experiment::IsolatedCpus;
//!
//! let list: IsolatedCpus = "4-7,12-15".parse().unwrap();
//! assert_eq!(list.cpus(16), [4, 5, 6, 7, 12, 13, 14, 15]);
//! assert_eq!(IsolatedCpus::Last(2).cpus(8), [6, 7]);
//! assert_eq!(list.to_string(), "4-7,12-15");
//! assert!("7-4".parse::<IsolatedCpus>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The isolated CPUs of an experiment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IsolatedCpus {
    /// The last `n` CPUs of the run (TOML: an integer).
    Last(usize),
    /// These CPUs, ascending, without repeats (TOML: a cpulist string).
    List(Vec<usize>),
}

impl Default for IsolatedCpus {
    fn default() -> Self {
        IsolatedCpus::Last(2)
    }
}

impl From<usize> for IsolatedCpus {
    fn from(n: usize) -> Self {
        IsolatedCpus::Last(n)
    }
}

impl IsolatedCpus {
    /// How many CPUs are isolated.
    pub fn count(&self) -> usize {
        match self {
            IsolatedCpus::Last(n) => *n,
            IsolatedCpus::List(l) => l.len(),
        }
    }

    /// The isolated CPUs of a run on `cpus` CPUs, ascending (a count larger than `cpus` gives
    /// them all; [`super::ExperimentConfig::validate`] refuses that before a run).
    pub fn cpus(&self, cpus: usize) -> Vec<usize> {
        match self {
            IsolatedCpus::Last(n) => (cpus.saturating_sub(*n)..cpus).collect(),
            IsolatedCpus::List(l) => l.clone(),
        }
    }

    /// The highest CPU the list names (`None` for a count).
    pub fn highest_listed(&self) -> Option<usize> {
        match self {
            IsolatedCpus::Last(_) => None,
            IsolatedCpus::List(l) => l.last().copied(),
        }
    }
}

/// CPU numbers a cpulist may name are below this (the largest machine a topology describes is
/// far smaller).
pub const MAX_LISTED_CPU: usize = 1 << 16;

/// The CPUs of a Linux cpulist, ascending, without repeats (see [`IsolatedCpus::from_str`]).
pub fn parse_cpulist(s: &str) -> Result<Vec<usize>, String> {
    match s.parse::<IsolatedCpus>()? {
        IsolatedCpus::List(l) => Ok(l),
        IsolatedCpus::Last(_) => unreachable!("a string parses as a list"),
    }
}

impl FromStr for IsolatedCpus {
    type Err = String;

    /// A Linux cpulist (`Documentation/admin-guide/kernel-parameters.rst`, "CPU lists"): CPUs and
    /// ranges separated by commas, a range `a-b` with `a ≤ b`, optionally strided `a-b:used/group`
    /// (`0-15:2/4` is 0,1,4,5,8,9,12,13). A leading `nohz_full=` is accepted, so that the kernel's
    /// own parameter can be pasted.
    fn from_str(s: &str) -> Result<Self, String> {
        let body = s.trim().strip_prefix("nohz_full=").unwrap_or(s.trim());
        if body.is_empty() {
            return Err("an empty CPU list".into());
        }
        let num = |t: &str| -> Result<usize, String> {
            let t = t.trim();
            match t.parse::<usize>() {
                Ok(n) if n < MAX_LISTED_CPU => Ok(n),
                Ok(_) => Err(format!("CPU {t} is beyond any machine (at most {})", MAX_LISTED_CPU - 1)),
                Err(_) => Err(format!("`{t}` is not a CPU number")),
            }
        };
        let mut cpus = vec![];
        for item in body.split(',') {
            let (range, stride) = match item.split_once(':') {
                Some((r, st)) => {
                    let (used, group) =
                        st.split_once('/').ok_or_else(|| format!("`{item}`: a stride is used/group"))?;
                    let (used, group) = (num(used)?, num(group)?);
                    if used == 0 || group == 0 || used > group {
                        return Err(format!("`{item}`: a stride needs 0 < used ≤ group"));
                    }
                    (r, Some((used, group)))
                }
                None => (item, None),
            };
            let (a, b) = match range.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None if stride.is_none() => {
                    let c = num(range)?;
                    (c, c)
                }
                None => return Err(format!("`{item}`: a stride applies to a range")),
            };
            if a > b {
                return Err(format!("`{item}`: a range runs from low to high"));
            }
            let (used, group) = stride.unwrap_or((1, 1));
            cpus.extend((a..=b).filter(|c| (c - a) % group < used));
        }
        cpus.sort_unstable();
        cpus.dedup();
        Ok(IsolatedCpus::List(cpus))
    }
}

impl fmt::Display for IsolatedCpus {
    /// A count as its number; a list as a cpulist of ranges (`4-7,12-15`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsolatedCpus::Last(n) => write!(f, "{n}"),
            IsolatedCpus::List(l) => {
                let mut first = true;
                let mut i = 0;
                while i < l.len() {
                    let mut j = i;
                    while j + 1 < l.len() && l[j + 1] == l[j] + 1 {
                        j += 1;
                    }
                    let sep = if first { "" } else { "," };
                    first = false;
                    if i == j {
                        write!(f, "{sep}{}", l[i])?
                    } else {
                        write!(f, "{sep}{}-{}", l[i], l[j])?
                    }
                    i = j + 1;
                }
                Ok(())
            }
        }
    }
}

/// How `run.isolated` is written: an integer or a cpulist string.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // read through serde and schemars only
pub(crate) enum IsolatedRepr {
    /// The last this many CPUs of the run.
    Count(usize),
    /// A Linux cpulist, as for `nohz_full=` ("4-7,12-15").
    List(String),
}

impl Serialize for IsolatedCpus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IsolatedCpus::Last(n) => s.serialize_u64(*n as u64),
            IsolatedCpus::List(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for IsolatedCpus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IsolatedCpus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count of CPUs or a cpulist such as \"4-7,12-15\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IsolatedCpus, E> {
                usize::try_from(v).map(IsolatedCpus::Last).map_err(|_| E::custom(format!("{v} CPUs is too many")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IsolatedCpus, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v}: a count of CPUs is ≥ 0")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IsolatedCpus, E> {
                v.parse().map_err(|e: String| E::custom(format!("cpulist \"{v}\": {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists_parse_as_the_kernel_writes_them() {
        let p = |s: &str| s.parse::<IsolatedCpus>().map(|l| l.cpus(64));
        assert_eq!(p("3").unwrap(), [3]);
        assert_eq!(p("nohz_full=1,3-4").unwrap(), [1, 3, 4]);
        assert_eq!(p("0-15:2/4").unwrap(), [0, 1, 4, 5, 8, 9, 12, 13]);
        assert_eq!(p("5,2-3,3").unwrap(), [2, 3, 5]);
        for bad in ["", "a", "3-", "7-4", "1,,2", "0-7:0/4", "0-7:5/4", "4:1/2", "70000", "-1"] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_list_prints_back_as_it_parses() {
        for s in ["4-7,12-15", "0", "1,3,5", "0-2,4"] {
            let l: IsolatedCpus = s.parse().unwrap();
            assert_eq!(l.to_string(), s);
            assert_eq!(l.to_string().parse::<IsolatedCpus>().unwrap(), l);
        }
    }
}
