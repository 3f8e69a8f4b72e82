//! Characters and tokens shared by both litmus dialects.
//!
//! A litmus file mixes lexical conventions: OCaml-style `(* *)` comments in
//! the preamble, init block and condition, but C comments in C thread bodies
//! (where `(*p)` is code). So the lexer works on demand from a [`Cursor`] and
//! carries a [`Mode`] the parser switches between sections; lookahead clones
//! the (cheap, `Copy`-like) lexer instead of buffering tokens, which keeps a
//! mode switch coherent at any point.

use super::ast::Pos;
use super::parse::ParseError;

/// Deepest nesting (parentheses, unary operators, blocks) the recursive
/// parsers accept, so hostile input cannot overflow the stack.
pub(crate) const MAX_DEPTH: usize = 100;

/// Builds a [`ParseError`] at `pos`.
pub(crate) fn error(path: &str, pos: Pos, msg: impl Into<String>) -> ParseError {
    ParseError { path: path.to_string(), line: pos.line, col: pos.col, msg: msg.into() }
}

/// Shortens arbitrary source text for an error message.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = s.chars().take(MAX).flat_map(char::escape_debug).collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// A position in the source, as a char index plus its line and column.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    src: &'a [char],
    /// Index of the next char.
    pub i: usize,
    line: usize,
    col: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `src`.
    pub fn new(src: &'a [char]) -> Self {
        Cursor { src, i: 0, line: 1, col: 1 }
    }

    /// Line and column of the next char.
    pub fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    /// The char `k` places ahead, if any.
    pub fn peek_at(&self, k: usize) -> Option<char> {
        self.src.get(self.i + k).copied()
    }

    /// The next char, if any.
    pub fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    /// True if the input continues with `s`.
    pub fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.peek_at(k) == Some(c))
    }

    /// Consumes one char.
    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// Consumes chars while `f` holds, returning them.
    pub fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|&c| f(c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    /// Skips an OCaml comment (nesting) starting at `(*`.
    pub fn skip_ocaml_comment(&mut self, path: &str) -> Result<(), ParseError> {
        let start = self.pos();
        let mut depth = 0usize;
        loop {
            if self.starts_with("(*") {
                depth += 1;
                self.bump();
                self.bump();
            } else if self.starts_with("*)") {
                depth -= 1;
                self.bump();
                self.bump();
                if depth == 0 {
                    return Ok(());
                }
            } else if self.bump().is_none() {
                return Err(error(path, start, "unterminated comment `(*`"));
            }
        }
    }

    /// Reads a `"..."` string (with `\"` and `\\` escapes) starting at `"`.
    pub fn string(&mut self, path: &str) -> Result<String, ParseError> {
        let start = self.pos();
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(error(path, start, "unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    None => return Err(error(path, start, "unterminated string")),
                    Some(c) => s.push(c),
                },
                Some(c) => s.push(c),
            }
        }
    }
}

/// Which comment syntax applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `(* *)`, nesting: preamble, init block, condition section.
    Ocaml,
    /// `//` and `/* */`: C thread bodies.
    C,
    /// Both: the C init block, where neither syntax is ambiguous.
    Both,
}

/// A token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Identifier `[A-Za-z_][A-Za-z0-9_]*`.
    Ident(String),
    /// Unsigned integer literal; the sign is the parser's business.
    Int {
        /// Its value.
        value: u64,
        /// Written in hex (then any 64-bit pattern is allowed).
        hex: bool,
    },
    /// `"..."` string.
    Str(String),
    /// Operator or punctuation.
    Punct(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{}`", excerpt(s)),
            Tok::Int { value, hex: false } => format!("`{value}`"),
            Tok::Int { value, hex: true } => format!("`{value:#x}`"),
            Tok::Str(s) => format!("string \"{}\"", excerpt(s)),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of file".to_string(),
        }
    }

    /// True for this punctuation.
    pub fn is(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(q) if *q == p)
    }

    /// True for this identifier.
    pub fn is_ident(&self, name: &str) -> bool {
        matches!(self, Tok::Ident(s) if s == name)
    }
}

/// A token with where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    /// The token.
    pub tok: Tok,
    /// Its first char.
    pub pos: Pos,
}

/// Operators and punctuation, longest first so that matching is greedy.
/// C operators outside the supported subset are still tokens, so that they
/// are reported as unsupported rather than as stray characters.
const PUNCTS: &[&str] = &[
    "/\\", "\\/", "<<=", ">>=", "=>", "==", "!=", "<>", "<=", ">=", "&&", "||", "<<", ">>", "++", "--", "->", "+=",
    "-=", "*=", "/=", "%=", "&=", "|=", "^=", "(", ")", "{", "}", "[", "]", ";", ",", ":", "=", "!", "<", ">", "&",
    "|", "^", "+", "-", "*", "/", "%", "~", ".", "?",
];

/// Produces tokens on demand in the current [`Mode`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lexer<'a> {
    /// Where the next token (or trivia) starts.
    pub cur: Cursor<'a>,
    /// Comment syntax in force.
    pub mode: Mode,
    /// File name for errors.
    pub path: &'a str,
}

impl<'a> Lexer<'a> {
    /// A lexer at `cur`.
    pub fn new(cur: Cursor<'a>, mode: Mode, path: &'a str) -> Self {
        Lexer { cur, mode, path }
    }

    /// Skips whitespace and comments of the current mode.
    pub fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            match self.cur.peek() {
                Some(c) if c.is_whitespace() => {
                    self.cur.bump();
                }
                Some('(') if self.mode != Mode::C && self.cur.peek_at(1) == Some('*') => {
                    self.cur.skip_ocaml_comment(self.path)?;
                }
                Some('/') if self.mode != Mode::Ocaml && self.cur.peek_at(1) == Some('/') => {
                    while self.cur.peek().is_some_and(|c| c != '\n') {
                        self.cur.bump();
                    }
                }
                Some('/') if self.mode != Mode::Ocaml && self.cur.peek_at(1) == Some('*') => {
                    let start = self.cur.pos();
                    self.cur.bump();
                    self.cur.bump();
                    loop {
                        if self.cur.starts_with("*/") {
                            self.cur.bump();
                            self.cur.bump();
                            break;
                        }
                        if self.cur.bump().is_none() {
                            return Err(error(self.path, start, "unterminated comment `/*`"));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Reads the next token.
    pub fn next_token(&mut self) -> Result<Token, ParseError> {
        self.skip_trivia()?;
        let pos = self.cur.pos();
        let Some(c) = self.cur.peek() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            Tok::Ident(self.cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_'))
        } else if c.is_ascii_digit() {
            self.number(pos)?
        } else if c == '"' {
            Tok::Str(self.cur.string(self.path)?)
        } else if let Some(p) = PUNCTS.iter().find(|p| self.cur.starts_with(p)) {
            for _ in 0..p.len() {
                self.cur.bump();
            }
            Tok::Punct(p)
        } else {
            return Err(error(self.path, pos, format!("unexpected character `{}`", c.escape_debug())));
        };
        Ok(Token { tok, pos })
    }

    /// Decimal or `0x` hex literal, at most 64 bits.
    fn number(&mut self, pos: Pos) -> Result<Tok, ParseError> {
        let hex = self.cur.peek() == Some('0') && matches!(self.cur.peek_at(1), Some('x' | 'X'));
        let (digits, radix) = if hex {
            self.cur.bump();
            self.cur.bump();
            (self.cur.take_while(|c| c.is_ascii_hexdigit()), 16)
        } else {
            (self.cur.take_while(|c| c.is_ascii_digit()), 10)
        };
        // C's integer suffixes (`1UL`) change no bits here: every value is a 64-bit register.
        if self.mode == Mode::C && !digits.is_empty() {
            while matches!(self.cur.peek(), Some('u' | 'U' | 'l' | 'L')) {
                self.cur.bump();
            }
        }
        if digits.is_empty() || self.cur.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            let rest = self.cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
            let text = format!("{}{digits}{rest}", if hex { "0x" } else { "" });
            return Err(error(self.path, pos, format!("malformed number `{}`", excerpt(&text))));
        }
        let value = u64::from_str_radix(&digits, radix)
            .map_err(|_| error(self.path, pos, format!("integer literal `{}` is too large", excerpt(&digits))))?;
        Ok(Tok::Int { value, hex })
    }
}

/// A token-level parser base: lookahead, expectations, nesting depth.
pub(crate) struct TokenStream<'a> {
    /// The lexer, positioned after the last consumed token.
    pub lex: Lexer<'a>,
    depth: usize,
    /// Kernel C (a protocol file) rather than a litmus test's threads: loops,
    /// `return`, per-CPU accessors, shifts and the arm64 helpers are accepted.
    pub kernel: bool,
}

impl<'a> TokenStream<'a> {
    /// A stream reading from `lex`.
    pub fn new(lex: Lexer<'a>) -> Self {
        TokenStream { lex, depth: 0, kernel: false }
    }

    /// An error at `pos`.
    pub fn error(&self, pos: Pos, msg: impl Into<String>) -> ParseError {
        error(self.lex.path, pos, msg)
    }

    /// "expected X, found Y" at `tok`.
    pub fn unexpected(&self, tok: &Token, expected: &str) -> ParseError {
        self.error(tok.pos, format!("expected {expected}, found {}", tok.tok.describe()))
    }

    /// The `n`th token ahead (0 = next), without consuming anything.
    pub fn peek_nth(&self, n: usize) -> Result<Token, ParseError> {
        let mut lex = self.lex;
        let mut tok = lex.next_token()?;
        for _ in 0..n {
            if tok.tok == Tok::Eof {
                break;
            }
            tok = lex.next_token()?;
        }
        Ok(tok)
    }

    /// The next token, without consuming it.
    pub fn peek(&self) -> Result<Token, ParseError> {
        self.peek_nth(0)
    }

    /// Consumes the next token.
    pub fn next(&mut self) -> Result<Token, ParseError> {
        self.lex.next_token()
    }

    /// Consumes the next token if it is punctuation `p`.
    pub fn eat(&mut self, p: &str) -> Result<Option<Token>, ParseError> {
        let t = self.peek()?;
        Ok(if t.tok.is(p) { Some(self.next()?) } else { None })
    }

    /// Consumes punctuation `p` or fails with "expected `p`` + context".
    pub fn expect(&mut self, p: &str, context: &str) -> Result<Token, ParseError> {
        let t = self.peek()?;
        if t.tok.is(p) { self.next() } else { Err(self.unexpected(&t, &format!("`{p}`{context}"))) }
    }

    /// Consumes an identifier or fails with "expected `what`".
    pub fn expect_ident(&mut self, what: &str) -> Result<(String, Pos), ParseError> {
        let t = self.peek()?;
        match t.tok {
            Tok::Ident(s) => {
                self.next()?;
                Ok((s, t.pos))
            }
            _ => Err(self.unexpected(&t, what)),
        }
    }

    /// Enters one nesting level at `pos`; fails when nesting is absurdly deep.
    pub fn enter(&mut self, pos: Pos) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(pos, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a nesting level entered with [`TokenStream::enter`].
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str, mode: Mode) -> Result<Vec<(Tok, Pos)>, ParseError> {
        let src: Vec<char> = text.chars().collect();
        let mut lex = Lexer::new(Cursor::new(&src), mode, "t");
        let mut out = vec![];
        loop {
            let t = lex.next_token()?;
            if t.tok == Tok::Eof {
                return Ok(out);
            }
            out.push((t.tok, t.pos));
        }
    }

    #[test]
    fn comments_depend_on_mode() {
        let ocaml = toks("a (* b (* c *) d *) e", Mode::Ocaml).unwrap();
        assert_eq!(ocaml.len(), 2);
        assert_eq!(ocaml[1], (Tok::Ident("e".into()), Pos { line: 1, col: 21 }));
        let c = toks("(*p) // x\n/* y\n */ z", Mode::C).unwrap();
        let kinds: Vec<Tok> = c.into_iter().map(|t| t.0).collect();
        assert_eq!(
            kinds,
            vec![Tok::Punct("("), Tok::Punct("*"), Tok::Ident("p".into()), Tok::Punct(")"), Tok::Ident("z".into())]
        );
    }

    #[test]
    fn operators_numbers_and_errors() {
        let t = toks("x/\\y\\/0x1F<>-3", Mode::Ocaml).unwrap();
        assert_eq!(t[1].0, Tok::Punct("/\\"));
        assert_eq!(t[3].0, Tok::Punct("\\/"));
        assert_eq!(t[4].0, Tok::Int { value: 31, hex: true });
        assert_eq!(t[5].0, Tok::Punct("<>"));
        let e = toks("a\n  (* open", Mode::Ocaml).unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
        let e = toks("1 /* open", Mode::C).unwrap_err();
        assert_eq!((e.line, e.col), (1, 3));
        let e = toks("99999999999999999999999", Mode::C).unwrap_err();
        assert!(e.msg.contains("too large"), "{e}");
        let e = toks(" 12ab", Mode::C).unwrap_err();
        assert_eq!((e.col, e.msg.as_str()), (2, "malformed number `12ab`"));
        let e = toks("x @", Mode::C).unwrap_err();
        assert_eq!(e.col, 3);
        let e = toks("\"abc", Mode::C).unwrap_err();
        assert_eq!(e.msg, "unterminated string");
    }
}
