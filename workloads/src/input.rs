//! Reading the files a command is given, the one way every reader does it.
//!
//! Only regular files are read (a device, a FIFO or a directory could block or never end), at
//! most [`MAX_TEXT_BYTES`] of them, and text must be UTF-8: the first byte that is not is
//! reported as `file:line:col`. Results files, which grow with the sweep, are read line by line
//! ([`Lines`]), each line at most [`MAX_LINE_BYTES`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The largest text input (litmus and assembler sources, replay files, indexes).
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// The largest TOML input (configurations, sweeps, scenarios). TOML's reader holds every token
/// of a document at once, at tens of bytes each: 16 MiB of short tokens would take gigabytes.
/// The shipped files are a few kilobytes.
pub const MAX_TOML_BYTES: u64 = 1 << 20;

/// The longest line of a results file (a line is one run's report, a few kilobytes).
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// A file that cannot be read: `file:line:col: message`, or `file: message` without a position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {message}", .pos.map_or(String::new(), |(l, c)| format!(":{l}:{c}")))]
pub struct ReadError {
    /// The file as it was named.
    pub path: String,
    /// 1-based line and column (in characters) of the offending byte, when there is one.
    pub pos: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

fn whole(path: &Path, message: String) -> ReadError {
    ReadError { path: path.display().to_string(), pos: None, message }
}

/// Opens `path` for reading if it is a regular file (symbolic links followed) of at most `limit`
/// bytes.
pub fn open(path: &Path, limit: u64) -> Result<File, ReadError> {
    // Checked before opening: opening a FIFO blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(|e| whole(path, format!("cannot read it ({e})")))?;
    check_kind(path, &meta)?;
    let file = File::open(path).map_err(|e| whole(path, format!("cannot read it ({e})")))?;
    // Again on what was opened: the path may have been replaced in between.
    let meta = file.metadata().map_err(|e| whole(path, format!("cannot read it ({e})")))?;
    check_kind(path, &meta)?;
    if meta.len() > limit {
        return Err(too_large(path, limit));
    }
    Ok(file)
}

fn check_kind(path: &Path, meta: &std::fs::Metadata) -> Result<(), ReadError> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() { "a directory" } else { "a device, FIFO or socket" };
    Err(whole(path, format!("cannot read it: {kind}, not a regular file")))
}

fn too_large(path: &Path, limit: u64) -> ReadError {
    whole(path, format!("cannot read it: larger than {} MiB, the most {} may hold", limit >> 20, kind(limit)))
}

/// What holds at most `limit` bytes, for messages.
fn kind(limit: u64) -> &'static str {
    if limit == MAX_TOML_BYTES { "a TOML file" } else { "an input file" }
}

/// Refuses `text` (the file `name`, read or given) if it is longer than `limit`: what a reader
/// that takes text rather than a path checks first.
pub fn at_most(name: &str, text: &str, limit: u64) -> Result<(), ReadError> {
    if text.len() as u64 > limit {
        return Err(ReadError {
            path: name.to_string(),
            pos: None,
            message: format!("larger than {} MiB, the most {} may hold", limit >> 20, kind(limit)),
        });
    }
    Ok(())
}

/// The bytes of the regular file `path`, if there are at most `limit` of them.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open(path, limit)?;
    let mut bytes = vec![];
    // `take` bounds a file that grows while it is read.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| whole(path, format!("cannot read it ({e})")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(path, limit));
    }
    Ok(bytes)
}

/// The text of the regular file `path`: at most [`MAX_TEXT_BYTES`], UTF-8.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    read_text_at_most(path, MAX_TEXT_BYTES)
}

/// The text of the regular file `path`: at most `limit` bytes (e.g. [`MAX_TOML_BYTES`]), UTF-8.
pub fn read_text_at_most(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_bytes(path, limit)?;
    utf8(&path.display().to_string(), (1, 1), bytes)
}

/// `bytes` as text, or where its first byte that is not UTF-8 is, counting from `start` (the
/// line and column of `bytes[0]` in file `name`).
pub fn utf8(name: &str, start: (usize, usize), bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|e| {
        let err = e.utf8_error();
        let bytes = e.as_bytes();
        let good = std::str::from_utf8(&bytes[..err.valid_up_to()]).expect("valid up to here");
        let (mut line, mut col) = start;
        match good.rsplit_once('\n') {
            Some((before, after)) => {
                line += before.matches('\n').count() + 1;
                col = after.chars().count() + 1;
            }
            None => col += good.chars().count(),
        }
        let message = match err.error_len() {
            Some(_) => format!("not UTF-8 text: byte 0x{:02x} is not valid here", bytes[err.valid_up_to()]),
            None => "not UTF-8 text: the file ends inside a character".to_string(),
        };
        ReadError { path: name.to_string(), pos: Some((line, col)), message }
    })
}

/// Where a JSON reader's error is in `text`, as (line, column) from 1 with columns in characters,
/// and what it says without serde_json's own "at line L column C" (which counts the bytes of the
/// line read so far, 0 right after a newline).
pub fn json_error(text: &str, e: &serde_json::Error) -> ((usize, usize), String) {
    let line = e.line().max(1);
    let read = e.column();
    let col = match text.split('\n').nth(line - 1) {
        Some(l) if read > 0 => {
            let mut at = read.min(l.len());
            let whole = l.is_char_boundary(at);
            while !l.is_char_boundary(at) {
                at -= 1;
            }
            // The last byte read is in the character at `col`: that one, or the one cut short.
            let before = l[..at].chars().count();
            if whole { before.max(1) } else { before + 1 }
        }
        _ => 1,
    };
    let mut message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    if message.ends_with(&suffix) {
        message.truncate(message.len() - suffix.len());
    }
    ((line, col), message)
}

/// One line of a file read by [`Lines`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Its 1-based number.
    pub number: usize,
    /// Its bytes, without the newline.
    pub bytes: Vec<u8>,
    /// False for a last line without its newline (a writer killed while writing it).
    pub complete: bool,
    /// The byte offset just past it (and its newline).
    pub end: u64,
}

/// The lines of a regular file (or of any reader, [`Lines::from_reader`]), one at a time, each at
/// most [`MAX_LINE_BYTES`].
pub struct Lines<R = BufReader<File>> {
    name: String,
    reader: R,
    number: usize,
    end: u64,
}

impl Lines {
    /// Opens `path` (a regular file, of any length).
    pub fn open(path: &Path) -> Result<Lines, ReadError> {
        let file = open(path, u64::MAX)?;
        Ok(Lines::from_reader(&path.display().to_string(), BufReader::new(file)))
    }
}

impl<R: BufRead> Lines<R> {
    /// The lines `reader` gives, named `name` in errors (text held in memory, say).
    pub fn from_reader(name: &str, reader: R) -> Lines<R> {
        Lines { name: name.to_string(), reader, number: 0, end: 0 }
    }

    /// The next line, `None` at the end of the file.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Line>, ReadError> {
        let mut bytes = vec![];
        let n = (&mut self.reader).take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut bytes).map_err(|e| ReadError {
            path: self.name.clone(),
            pos: None,
            message: format!("cannot read it ({e})"),
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        self.end += n as u64;
        let complete = bytes.last() == Some(&b'\n');
        if complete {
            bytes.pop();
        }
        if bytes.len() as u64 > MAX_LINE_BYTES {
            return Err(ReadError {
                path: self.name.clone(),
                pos: Some((self.number, 1)),
                message: format!("this line is longer than {} MiB, the most a line may hold", MAX_LINE_BYTES >> 20),
            });
        }
        Ok(Some(Line { number: self.number, bytes, complete, end: self.end }))
    }

    /// The text of `line` (read from this file), or where its first byte that is not UTF-8 is.
    pub fn text(&self, line: Line) -> Result<String, ReadError> {
        utf8(&self.name, (line.number, 1), line.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_byte_is_positioned_in_characters() {
        let e = utf8("f", (1, 1), b"ab\ncd\xc3\xa9e\xff".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "f:2:5: not UTF-8 text: byte 0xff is not valid here");
        let e = utf8("f", (7, 1), b"x\xe2\x82".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "f:7:2: not UTF-8 text: the file ends inside a character");
        assert_eq!(utf8("f", (1, 1), "é\n".into()).unwrap(), "é\n");
    }

    #[test]
    fn json_errors_are_positioned_in_characters_from_one() {
        let pos = |text: &str| {
            let e = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
            json_error(text, &e)
        };
        // serde_json says column 0 for a control character just after a newline in a string.
        assert_eq!(
            pos("{\n\"a\": \"x\ny\"}"),
            ((3, 1), "control character (\\u0000-\\u001F) found while parsing a string".into())
        );
        // Columns count characters: "é" is two bytes.
        let ((line, col), m) = pos("{\"é\": tru}");
        assert_eq!((line, col, m.as_str()), (1, 10, "expected ident"), "at the closing brace, byte 11");
        assert_eq!(pos("").0, (1, 1));
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let d = std::env::temp_dir();
        let e = read_text(&d).unwrap_err();
        assert!(e.message.contains("a directory, not a regular file"), "{e}");
        let f = d.join(format!("isolsim-input-test-{}", std::process::id()));
        std::fs::write(&f, vec![b'x'; 100]).unwrap();
        assert_eq!(read_bytes(&f, 100).unwrap().len(), 100);
        assert!(read_bytes(&f, 99).unwrap_err().message.contains("larger than"));
        std::fs::remove_file(&f).unwrap();
        if Path::new("/dev/zero").exists() {
            let e = read_text(Path::new("/dev/zero")).unwrap_err();
            assert_eq!(e.to_string(), "/dev/zero: cannot read it: a device, FIFO or socket, not a regular file");
        }
    }

    #[test]
    fn lines_come_one_at_a_time_with_a_cut_short_last_one_marked() {
        let f = std::env::temp_dir().join(format!("isolsim-lines-test-{}", std::process::id()));
        std::fs::write(&f, b"a\nb\xff\nc").unwrap();
        let mut lines = Lines::open(&f).unwrap();
        let a = lines.next().unwrap().unwrap();
        assert_eq!((a.number, a.complete, a.end), (1, true, 2));
        assert_eq!(lines.text(a).unwrap(), "a");
        let b = lines.next().unwrap().unwrap();
        assert_eq!(lines.text(b).unwrap_err().pos, Some((2, 2)));
        let c = lines.next().unwrap().unwrap();
        assert_eq!((c.bytes.as_slice(), c.complete, c.end), (&b"c"[..], false, 6));
        assert_eq!(lines.next().unwrap(), None);
        std::fs::remove_file(&f).unwrap();
    }
}
