//! The litmus front end's entry point: reads the header, skips the
//! preamble, and hands the rest to the C or AArch64 dialect parser.
//!
//! Errors always carry the 1-based line and column (in chars) of the
//! offending token. Constructs that are valid herd7 but outside the subset
//! isolsim models fail with a message starting with "unsupported", so callers
//! can skip such tests rather than report them as broken.

use super::asmparse::parse_asm;
use super::ast::LitmusTest;
use super::cparse::parse_c;
use super::lex::{Cursor, Lexer, Mode, error, excerpt};

/// A syntax error, or a construct outside the supported subset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}:{col}: {msg}")]
pub struct ParseError {
    /// File name, as given to [`parse`].
    pub path: String,
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based, in chars).
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

/// Parses a litmus test. `path` is only used in error messages.
///
/// The header word selects the dialect: `C` (herd7's C as used by the
/// kernel's tools/memory-model) or `AArch64`.
pub fn parse(path: &str, text: &str) -> Result<LitmusTest, ParseError> {
    let src: Vec<char> = text.chars().collect();
    let mut cur = Cursor::new(&src);
    while cur.peek().is_some_and(char::is_whitespace) {
        cur.bump();
    }
    let arch_pos = cur.pos();
    let arch = cur.take_while(|c| !c.is_whitespace());
    if arch.is_empty() {
        return Err(error(path, arch_pos, "empty file: expected a header such as `C NAME` or `AArch64 NAME`"));
    }
    let is_c = match arch.as_str() {
        "C" => true,
        "AArch64" => false,
        _ => return Err(error(path, arch_pos, format!("unsupported architecture `{}`", excerpt(&arch)))),
    };
    let name = parse_name(path, &mut cur, &arch)?;
    skip_preamble(path, &mut cur)?;
    let lex = Lexer::new(cur, Mode::Ocaml, path);
    if is_c { parse_c(lex, name) } else { parse_asm(lex, name) }
}

/// True for chars herd7 allows in test names.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/.-+[]".contains(c)
}

/// The test name after the architecture word, on the same line.
fn parse_name(path: &str, cur: &mut Cursor, arch: &str) -> Result<String, ParseError> {
    while cur.peek().is_some_and(|c| c == ' ' || c == '\t') {
        cur.bump();
    }
    let pos = cur.pos();
    let name = cur.take_while(is_name_char);
    if let Some(c) = cur.peek().filter(|&c| !c.is_whitespace() && c != '"' && c != '(') {
        return Err(error(path, cur.pos(), format!("unexpected character `{}` in the test name", c.escape_debug())));
    }
    if name.is_empty() {
        return Err(error(path, pos, format!("expected a test name after `{arch}`")));
    }
    Ok(name)
}

/// Skips what herd7 allows between the header and the init block's `{`:
/// `(* *)` comments, a doc string, `(texname)`, and `key=value` info lines.
fn skip_preamble(path: &str, cur: &mut Cursor) -> Result<(), ParseError> {
    loop {
        while cur.peek().is_some_and(char::is_whitespace) {
            cur.bump();
        }
        let pos = cur.pos();
        match cur.peek() {
            None => return Err(error(path, pos, "unexpected end of file: expected `{` to start the init block")),
            Some('{') => return Ok(()),
            Some('(') if cur.peek_at(1) == Some('*') => cur.skip_ocaml_comment(path)?,
            Some('(') => {
                // `(texname)` after the test name: skip to `)` on the same line.
                while cur.peek().is_some_and(|c| c != ')' && c != '\n') {
                    cur.bump();
                }
                if cur.peek() != Some(')') {
                    return Err(error(path, pos, "unclosed `(` before the init block"));
                }
                cur.bump();
            }
            Some('"') => {
                cur.string(path)?;
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let word = cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
                while cur.peek().is_some_and(|c| c == ' ' || c == '\t') {
                    cur.bump();
                }
                if cur.peek() != Some('=') {
                    return Err(error(
                        path,
                        pos,
                        format!(
                            "expected `{{` to start the init block (or a `key=value` line), found `{}`",
                            excerpt(&word)
                        ),
                    ));
                }
                while cur.peek().is_some_and(|c| c != '\n') {
                    cur.bump();
                }
            }
            Some(c) => {
                return Err(error(
                    path,
                    pos,
                    format!("expected `{{` to start the init block, found `{}`", c.escape_debug()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dump() {
        for dir in ["/work/shared/litmus/kernel", "/work/shared/litmus/aarch64-ifetch"] {
            let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            for f in files {
                if f.extension().is_none_or(|e| e != "litmus") {
                    continue;
                }
                let text = std::fs::read_to_string(&f).unwrap();
                match parse(f.to_str().unwrap(), &text) {
                    Ok(t) => println!("OK {} {:?}", t.name, t.condition),
                    Err(e) => println!("ERR {e}"),
                }
            }
        }
    }
}
