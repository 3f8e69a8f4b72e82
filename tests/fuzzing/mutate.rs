//! The mutation engine of `tests/fuzz_inputs.rs`: a seeded ChaCha stream turns the project's own
//! input files into hostile variants of the same format.
//!
//! Each input is a corpus file (or an earlier accepted variant of one) with one to eight
//! mutations stacked: byte and bit flips, span deletion, duplication and swaps, lines and chunks
//! spliced from other files of the same format, tokens inserted (the format's own words, brackets,
//! operators, quotes, newlines, bytes that are not UTF-8, boundary numbers), numbers replaced by
//! boundary values, nesting bombs and long repeats.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a format is structured: mutations of its values (not its bytes) reach past its syntax
/// into what the reader checks of the values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Only bytes and lines.
    Text,
    /// A TOML document.
    Toml,
    /// A JSON document.
    Json,
    /// A JSON document per line.
    JsonLines,
}

/// Files of one format: the seeds, every line of them and the words they use.
pub struct Corpus {
    /// (name, bytes) of each seed file.
    pub files: Vec<(String, Vec<u8>)>,
    shape: Shape,
    lines: Vec<Vec<u8>>,
    words: Vec<Vec<u8>>,
}

impl Corpus {
    pub fn new(shape: Shape, files: Vec<(String, Vec<u8>)>) -> Corpus {
        let mut lines = std::collections::BTreeSet::new();
        let mut words = std::collections::BTreeSet::new();
        for (_, bytes) in &files {
            for l in bytes.split(|&b| b == b'\n') {
                lines.insert(l.to_vec());
            }
            for w in bytes.split(|b| !(b.is_ascii_alphanumeric() || b"_.-@$".contains(b))) {
                if !w.is_empty() && w.len() <= 40 {
                    words.insert(w.to_vec());
                }
            }
        }
        // Sets, then vectors: the same corpus gives the same choices whatever the file order.
        Corpus { files, shape, lines: lines.into_iter().collect(), words: words.into_iter().collect() }
    }
}

/// Numbers at the edges of the integer and float types (and just past them).
pub const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "7",
    "64",
    "100",
    "101",
    "255",
    "256",
    "257",
    "1023",
    "1024",
    "1025",
    "4096",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "0x7fffffff",
    "0x80000000",
    "0xffffffff",
    "0x7fffffffffffffff",
    "0x8000000000000000",
    "0xffffffffffffffff",
    "0x10000000000000000",
    "1_000_000",
    "0.0",
    "-0.0",
    "0.5",
    "1e308",
    "1e309",
    "-1e308",
    "1.7976931348623157e308",
    "5e-324",
    "1e-400",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "NaN",
    "Infinity",
];

/// Punctuation, quotes, whitespace and comment markers of the formats fuzzed here.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "[[",
    "]]",
    "<",
    ">",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "`",
    "\\",
    "\\u",
    "\\x",
    "\n",
    "\r\n",
    "\r",
    "\t",
    " ",
    "\u{0}",
    "\u{feff}",
    "\u{200b}",
    "é",
    "\u{10ffff}",
    "#",
    "//",
    "/*",
    "*/",
    "(*",
    "*)",
    ":",
    ",",
    ";",
    "=",
    ".",
    "..",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<<",
    ">>",
    "&",
    "|",
    "^",
    "~",
    "!",
    "&&",
    "||",
    "==",
    "!=",
    "<=",
    ">=",
    "/\\",
    "\\/",
    "=>",
    "->",
    "@",
    "$",
    "#(",
    "[X0]",
    "[X0, #8]!",
    "null",
    "true",
    "false",
    "=\n",
    "[]",
    "{}",
    "\"\"",
    "[a]\n",
    "[[a]]\n",
    "a.b.c = 1\n",
    ":\n",
];

/// Byte sequences that are not UTF-8: a lone continuation byte, a cut-short character, an
/// overlong encoding, a surrogate, a code point past U+10FFFF.
const NOT_UTF8: &[&[u8]] =
    &[b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xfe\xfe"];

/// Openers (and their closers) a nesting bomb repeats.
const NESTS: &[(&str, &str)] = &[
    ("(", ")"),
    ("[", "]"),
    ("{", "}"),
    ("[[", "]]"),
    ("-", ""),
    ("~", ""),
    ("!", ""),
    ("+", ""),
    ("(-", ")"),
    ("[a.", "]"),
    ("a = [", "]"),
    ("a = {b = ", "}"),
    ("{\"a\":", "}"),
    ("(* ", " *)"),
    ("if (r0 == 1) { ", "}"),
];

/// Turns corpus files into mutated inputs, reproducibly from its seed.
pub struct Mutator {
    rng: ChaCha8Rng,
    /// The longest input made (bombs and repeats are cut here).
    pub max_len: usize,
}

impl Mutator {
    pub fn new(seed: u64, stream: &str) -> Mutator {
        // One stream per target: adding a target does not change another's inputs.
        let mut key = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in stream.bytes() {
            key = (key ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Mutator { rng: ChaCha8Rng::seed_from_u64(key), max_len: 1 << 20 }
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.rng.random_range(0..n) }
    }

    fn chance(&mut self, one_in: u32) -> bool {
        self.rng.random_range(0..one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A span length: mostly short, sometimes up to `max`.
    fn span_len(&mut self, max: usize) -> usize {
        if max == 0 {
            return 0;
        }
        let n = match self.below(4) {
            0 => 1,
            1 => 1 + self.below(8),
            2 => 1 + self.below(64),
            _ => 1 + self.below(max),
        };
        n.min(max)
    }

    /// A random position in `data`, on a character boundary three times in four (so that text
    /// mutations mostly keep the text UTF-8 and reach past the decoder).
    fn pos(&mut self, data: &[u8]) -> usize {
        let mut p = self.below(data.len() + 1);
        if !self.chance(4) {
            while p < data.len() && (data[p] & 0xc0) == 0x80 {
                p += 1;
            }
        }
        p
    }

    /// Positions of the starts of lines in `data` (0 and after each newline).
    fn line_starts(data: &[u8]) -> Vec<usize> {
        std::iter::once(0).chain(data.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1)).collect()
    }

    /// The next input: `base` with one to eight mutations drawn from `corpus`.
    pub fn mutate(&mut self, corpus: &Corpus, base: &[u8]) -> Vec<u8> {
        let mut data = base.to_vec();
        let mut n = 1;
        while n < 8 && self.chance(2) {
            n += 1;
        }
        for _ in 0..n {
            self.once(corpus, &mut data);
            data.truncate(self.max_len);
        }
        data
    }

    fn insert(&mut self, data: &mut Vec<u8>, bytes: &[u8]) {
        let at = self.pos(data);
        data.splice(at..at, bytes.iter().copied());
    }

    fn once(&mut self, corpus: &Corpus, data: &mut Vec<u8>) {
        if corpus.shape != Shape::Text && self.chance(4) {
            let changed = match corpus.shape {
                Shape::Toml => self.toml_value(corpus, data),
                Shape::Json => self.json_document(corpus, data, true),
                Shape::JsonLines => {
                    let starts = Self::line_starts(data);
                    let i = self.below(starts.len());
                    let end = starts.get(i + 1).map_or(data.len(), |e| e - 1);
                    let mut line = data[starts[i]..end].to_vec();
                    let changed = self.json_document(corpus, &mut line, false);
                    data.splice(starts[i]..end, line);
                    changed
                }
                Shape::Text => false,
            };
            if changed {
                return;
            }
        }
        match self.below(20) {
            // A bit flip, or a byte set to a random value.
            0 if !data.is_empty() => {
                let i = self.below(data.len());
                data[i] ^= 1 << self.below(8);
            }
            1 if !data.is_empty() => {
                let i = self.below(data.len());
                data[i] = self.rng.random();
            }
            // An ASCII character replaced by punctuation or a digit.
            2 if !data.is_empty() => {
                let i = self.below(data.len());
                data[i] = *self.pick(b"()[]{}<>\"'`\\:;,.=+-*/%&|^~!#@$_0123456789 \t\nxXwW");
            }
            // Span deletion.
            3 | 4 if !data.is_empty() => {
                let at = self.below(data.len());
                let len = self.span_len(data.len() - at);
                data.drain(at..at + len);
            }
            // Span duplication, elsewhere or in place.
            5 if !data.is_empty() => {
                let at = self.below(data.len());
                let len = self.span_len(data.len() - at);
                let span = data[at..at + len].to_vec();
                self.insert(data, &span);
            }
            // Two spans swapped.
            6 if data.len() >= 2 => {
                let a = self.below(data.len() - 1);
                let alen = self.span_len((data.len() - a) / 2).max(1);
                let b = a + alen + self.below(data.len() - a - alen + 1);
                let blen = self.span_len(data.len() - b);
                if blen > 0 {
                    let (first, second) = (data[a..a + alen].to_vec(), data[b..b + blen].to_vec());
                    data.splice(b..b + blen, first);
                    data.splice(a..a + alen, second);
                }
            }
            // A line of another file of the format, inserted or in place of a line.
            7 | 8 => {
                let line = self.pick(&corpus.lines).clone();
                let starts = Self::line_starts(data);
                let at = *self.pick(&starts);
                let mut with_nl = line;
                with_nl.push(b'\n');
                if self.chance(2) {
                    let end = data[at..].iter().position(|&b| b == b'\n').map_or(data.len(), |e| at + e + 1);
                    data.splice(at..end, with_nl);
                } else {
                    data.splice(at..at, with_nl);
                }
            }
            // Lines of this input deleted, duplicated or swapped.
            9 => {
                let starts = Self::line_starts(data);
                let i = self.below(starts.len());
                let end = starts.get(i + 1).copied().unwrap_or(data.len());
                let line = data[starts[i]..end].to_vec();
                match self.below(3) {
                    0 => {
                        data.drain(starts[i]..end);
                    }
                    1 => {
                        data.splice(starts[i]..starts[i], line);
                    }
                    _ => {
                        // Moved: out of its place, into another line's.
                        data.drain(starts[i]..end);
                        let starts = Self::line_starts(data);
                        let at = *self.pick(&starts);
                        data.splice(at..at, line);
                    }
                }
            }
            // A chunk of another file of the format.
            10 => {
                let (_, other) = self.pick(&corpus.files);
                let other = other.clone();
                if !other.is_empty() {
                    let from = self.below(other.len());
                    let len = self.span_len(other.len() - from);
                    let chunk = other[from..from + len].to_vec();
                    if self.chance(2) && !data.is_empty() {
                        let at = self.below(data.len());
                        let end = (at + self.span_len(data.len() - at)).min(data.len());
                        data.splice(at..end, chunk);
                    } else {
                        self.insert(data, &chunk);
                    }
                }
            }
            // A word of the format, a token, a number.
            11 | 12 => {
                let w = self.pick(&corpus.words).clone();
                self.insert(data, &w);
            }
            13 => {
                let t = self.pick(TOKENS).as_bytes().to_vec();
                self.insert(data, &t);
            }
            14 => {
                let t = self.pick(NUMBERS).as_bytes().to_vec();
                self.insert(data, &t);
            }
            // A number of the input replaced by a boundary number.
            15 | 16 => self.replace_number(data),
            // Bytes that are not UTF-8.
            17 => {
                let t = self.pick(NOT_UTF8).to_vec();
                self.insert(data, &t);
            }
            // A nesting bomb: deep enough to find a recursion without a depth limit.
            18 => {
                let (open, close) = *self.pick(NESTS);
                let depth = *self.pick(&[64, 101, 129, 300, 1_000, 10_000, 100_000]);
                let inner = if self.chance(2) { "1".to_string() } else { String::new() };
                let mut bomb = open.repeat(depth);
                bomb.push_str(&inner);
                if !self.chance(4) {
                    bomb.push_str(&close.repeat(depth));
                }
                self.insert(data, bomb.as_bytes());
            }
            // A long repeat of a short span of the input (or of a line).
            19 if !data.is_empty() => {
                let at = self.below(data.len());
                let len = self.span_len((data.len() - at).min(80)).max(1);
                let span = data[at..at + len].to_vec();
                let times = *self.pick(&[16, 256, 4_096, 65_536]);
                let times = times.min(self.max_len / len);
                let bytes = span.repeat(times);
                self.insert(data, &bytes);
            }
            _ => {
                let t = self.pick(TOKENS).as_bytes().to_vec();
                self.insert(data, &t);
            }
        }
    }

    /// Replaces a decimal or hexadecimal number (with its sign) by one of [`NUMBERS`], or by its
    /// neighbour, double or negation.
    fn replace_number(&mut self, data: &mut Vec<u8>) {
        let starts: Vec<usize> = (0..data.len())
            .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_alphanumeric()))
            .collect();
        if starts.is_empty() {
            let t = self.pick(NUMBERS).as_bytes().to_vec();
            self.insert(data, &t);
            return;
        }
        let mut start = *self.pick(&starts);
        let mut end = start;
        while end < data.len() && (data[end].is_ascii_alphanumeric() || data[end] == b'_' || data[end] == b'.') {
            end += 1;
        }
        if start > 0 && data[start - 1] == b'-' {
            start -= 1;
        }
        let old = String::from_utf8_lossy(&data[start..end]).into_owned();
        let new = match (self.below(4), old.replace('_', "").parse::<i128>()) {
            (0, Ok(v)) => (v + 1).to_string(),
            (1, Ok(v)) => (v.saturating_mul(2) - 1).to_string(),
            (2, Ok(v)) => (-v).to_string(),
            _ => self.pick(NUMBERS).to_string(),
        };
        data.splice(start..end, new.into_bytes());
    }

    /// A value to put in place of another: a boundary number, an odd string, an empty or
    /// doubled container, a word of the format, or another part of the same document.
    fn json_value(&mut self, corpus: &Corpus, old: &Json, root: &Json) -> Json {
        match self.below(10) {
            0..=2 => {
                let n = *self.pick(NUMBERS);
                let n = n.replace('_', "");
                if let Ok(v) = n.parse::<u64>() {
                    Json::from(v)
                } else if let Ok(v) = n.parse::<i64>() {
                    Json::from(v)
                } else {
                    match n.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                        Some(f) => Json::Number(f),
                        None => Json::String(n),
                    }
                }
            }
            3 => {
                let w: &Vec<u8> = self.pick(&corpus.words);
                Json::String(String::from_utf8_lossy(w).into_owned())
            }
            4 => {
                Json::String(self.pick(&["", " ", "\u{0}", "é", "NaN", "-inf", "x".repeat(4096).as_str()]).to_string())
            }
            5 => self
                .pick(&[
                    Json::Null,
                    Json::Bool(true),
                    Json::Bool(false),
                    Json::Array(vec![]),
                    Json::Object(Default::default()),
                ])
                .clone(),
            6 => Json::Array(vec![old.clone(), old.clone()]),
            7 => {
                let mut paths = vec![];
                json_paths(root, String::new(), &mut paths);
                let p: &String = self.pick(&paths);
                root.pointer(p).cloned().unwrap_or(Json::Null)
            }
            _ => match old {
                Json::Array(a) if !a.is_empty() => {
                    let mut a = a.clone();
                    let i = self.below(a.len());
                    if self.chance(2) {
                        a.remove(i);
                    } else {
                        let dup = a[i].clone();
                        a.insert(i, dup);
                    }
                    Json::Array(a)
                }
                Json::Object(o) if !o.is_empty() => {
                    let mut o = o.clone();
                    let k = o.keys().nth(self.below(o.len())).cloned().expect("a key");
                    if self.chance(2) {
                        o.remove(&k);
                    } else {
                        o.insert(format!("{k}_"), Json::Null);
                    }
                    Json::Object(o)
                }
                Json::Number(n) => Json::from(n.as_i64().map_or(-1, |v| v.wrapping_neg().wrapping_sub(1))),
                _ => Json::Null,
            },
        }
    }

    /// Replaces one value of the JSON document in `data` (pretty-printed, or on one line);
    /// false if `data` is not JSON.
    fn json_document(&mut self, corpus: &Corpus, data: &mut Vec<u8>, pretty: bool) -> bool {
        let Ok(mut root) = serde_json::from_slice::<Json>(data) else { return false };
        let mut paths = vec![];
        json_paths(&root, String::new(), &mut paths);
        let path = self.pick(&paths).clone();
        let old = root.pointer(&path).cloned().unwrap_or(Json::Null);
        let new = self.json_value(corpus, &old, &root);
        match root.pointer_mut(&path) {
            Some(slot) => *slot = new,
            None => return false,
        }
        let text = if pretty { serde_json::to_vec_pretty(&root) } else { serde_json::to_vec(&root) };
        *data = text.expect("JSON values serialise");
        true
    }

    /// Replaces one value of the TOML document in `data` (which comes out without comments);
    /// false if `data` is not TOML or the result cannot be written as TOML.
    fn toml_value(&mut self, corpus: &Corpus, data: &mut Vec<u8>) -> bool {
        let Some(mut root) = std::str::from_utf8(data).ok().and_then(|t| t.parse::<toml::Table>().ok()) else {
            return false;
        };
        let mut paths = vec![];
        toml_paths(&toml::Value::Table(root.clone()), &mut vec![], &mut paths);
        paths.retain(|p| !p.is_empty());
        if paths.is_empty() {
            return false;
        }
        let path = self.pick(&paths).clone();
        let new = match self.below(8) {
            0..=2 => {
                let n = self.pick(NUMBERS).replace('_', "");
                match (n.parse::<i64>(), n.parse::<f64>()) {
                    (Ok(v), _) => toml::Value::Integer(v),
                    (_, Ok(f)) => toml::Value::Float(f),
                    _ => toml::Value::String(n),
                }
            }
            3 => {
                let w: &Vec<u8> = self.pick(&corpus.words);
                toml::Value::String(String::from_utf8_lossy(w).into_owned())
            }
            4 => toml::Value::Boolean(self.chance(2)),
            5 => toml::Value::Array(vec![]),
            6 => {
                let old = toml_get(&root, &path).cloned().unwrap_or(toml::Value::Boolean(false));
                toml::Value::Array(vec![old.clone(), old])
            }
            _ => {
                // Another value of the document, in this one's place.
                let other = self.pick(&paths).clone();
                toml_get(&root, &other).cloned().unwrap_or(toml::Value::Integer(0))
            }
        };
        if !toml_set(&mut root, &path, new) {
            return false;
        }
        match toml::to_string(&root) {
            Ok(t) => {
                *data = t.into_bytes();
                true
            }
            Err(_) => false,
        }
    }

    /// One of `n` items, each as likely.
    pub fn choose(&mut self, n: usize) -> usize {
        self.below(n)
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u32) -> bool {
        self.chance(n)
    }
}

use serde_json::Value as Json;

/// JSON pointers to every value of `v`, `v` itself first.
fn json_paths(v: &Json, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Json::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                json_paths(x, format!("{at}/{i}"), out);
            }
        }
        Json::Object(o) => {
            for (k, x) in o {
                json_paths(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ => {}
    }
}

/// A step into a TOML value: a key of a table or an index of an array.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Paths to every value under `v`.
fn toml_paths(v: &toml::Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                at.push(Step::Key(k.clone()));
                toml_paths(x, at, out);
                at.pop();
            }
        }
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(Step::Index(i));
                toml_paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn toml_step<'a>(v: &'a toml::Value, s: &Step) -> Option<&'a toml::Value> {
    match (v, s) {
        (toml::Value::Table(t), Step::Key(k)) => t.get(k),
        (toml::Value::Array(a), Step::Index(i)) => a.get(*i),
        _ => None,
    }
}

fn toml_get<'a>(root: &'a toml::Table, path: &[Step]) -> Option<&'a toml::Value> {
    let (first, rest) = path.split_first()?;
    let Step::Key(k) = first else { return None };
    rest.iter().try_fold(root.get(k)?, toml_step)
}

fn toml_set(root: &mut toml::Table, path: &[Step], new: toml::Value) -> bool {
    let Some((Step::Key(k), rest)) = path.split_first() else { return false };
    let mut v = match root.get_mut(k) {
        Some(v) => v,
        None => return false,
    };
    for s in rest {
        v = match (v, s) {
            (toml::Value::Table(t), Step::Key(k)) => match t.get_mut(k) {
                Some(x) => x,
                None => return false,
            },
            (toml::Value::Array(a), Step::Index(i)) => match a.get_mut(*i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    *v = new;
    true
}
