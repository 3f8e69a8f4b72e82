//! herd7's AArch64 dialect: the init block, the thread table, and the
//! constraint section.
//!
//! The table is split on the character level, not tokenised: instruction
//! syntax (`[X1,#8]`, `B.NE`, `.+4`) belongs to the instruction decoder,
//! which gets each instruction's text and position untouched.

use super::ast::{Arch, AsmLine, AsmThread, LitmusTest, Pos, Threads};
use super::cond::{SECTION_KEYWORDS, parse_constraints, parse_init_block};
use super::lex::{Cursor, Lexer, Mode, TokenStream, error, excerpt};
use super::parse::{MAX_THREADS, ParseError, too_many_threads};

type Result<T> = std::result::Result<T, ParseError>;

/// Parses an AArch64 test whose init block starts at `lex` (the header is done).
pub(crate) fn parse_asm(lex: Lexer, name: String) -> Result<LitmusTest> {
    let path = lex.path;
    let mut ts = TokenStream::new(lex);
    let init = parse_init_block(&mut ts, Arch::AArch64)?;
    let (threads, rest) = parse_table(path, ts.lex.cur)?;
    let mut ts = TokenStream::new(Lexer::new(rest, Mode::Ocaml, path));
    let c = parse_constraints(&mut ts, Arch::AArch64)?;
    Ok(LitmusTest {
        arch: Arch::AArch64,
        name,
        init,
        threads: Threads::Asm(threads),
        locations: c.locations,
        filter: c.filter,
        condition: c.condition,
    })
}

/// One raw cell: its chars (comments removed) with their positions.
type Cell = Vec<(char, Pos)>;

/// One table row: where it starts and its cells.
struct Row {
    pos: Pos,
    cells: Vec<Cell>,
}

/// True if a constraint section starts at `cur` (checked at row starts only).
fn at_constraints(cur: &Cursor) -> bool {
    match cur.peek() {
        Some('~') => true,
        Some('(') => cur.peek_at(1) != Some('*'),
        Some(c) if c.is_ascii_alphabetic() => {
            let mut word = String::new();
            let mut k = 0;
            while let Some(c) = cur.peek_at(k).filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                word.push(c);
                k += 1;
            }
            SECTION_KEYWORDS.contains(&word.as_str())
        }
        _ => false,
    }
}

/// Splits the table starting at `cur` into rows of cells, each handed to `row` as soon as it
/// ends (a cell keeps every char's position: only one row's are held at a time), stopping
/// where the constraint section starts. Rows end with `;` and must fit on one line.
fn split_rows<'a>(path: &str, mut cur: Cursor<'a>, mut row: impl FnMut(Row) -> Result<()>) -> Result<Cursor<'a>> {
    let mut cells: Vec<Cell> = vec![];
    let mut cell: Cell = vec![];
    // Start of the current row's first non-blank char or `|`, if any yet.
    let mut row_pos: Option<Pos> = None;
    loop {
        let Some(c) = cur.peek() else {
            if let Some(pos) = row_pos {
                return Err(error(path, pos, "unterminated table row: expected `;` at its end"));
            }
            return Ok(cur);
        };
        if row_pos.is_none() && !c.is_whitespace() && at_constraints(&cur) {
            return Ok(cur);
        }
        if c == '(' && cur.peek_at(1) == Some('*') {
            cur.skip_ocaml_comment(path)?;
            continue;
        }
        let pos = cur.pos();
        cur.bump();
        match c {
            '\n' if row_pos.is_some() => {
                return Err(error(path, pos, "expected `;` at the end of the table row"));
            }
            '|' => {
                row_pos.get_or_insert(pos);
                cells.push(std::mem::take(&mut cell));
            }
            ';' => {
                cells.push(std::mem::take(&mut cell));
                let cells = std::mem::take(&mut cells);
                // A row with no content at all (e.g. a leading `;`) is skipped.
                if let Some(pos) = row_pos.take() {
                    row(Row { pos, cells })?;
                }
            }
            _ => {
                if !c.is_whitespace() {
                    row_pos.get_or_insert(pos);
                }
                cell.push((c, pos));
            }
        }
    }
}

/// The cell's text without surrounding whitespace.
fn trim(cell: &[(char, Pos)]) -> &[(char, Pos)] {
    let start = cell.iter().position(|(c, _)| !c.is_whitespace()).unwrap_or(cell.len());
    let end = cell.iter().rposition(|(c, _)| !c.is_whitespace()).map_or(start, |e| e + 1);
    &cell[start..end]
}

fn text(cell: &[(char, Pos)]) -> String {
    cell.iter().map(|(c, _)| c).collect()
}

fn is_label_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'
}

/// Splits `l1: l2: INSTR` into labels and the instruction text, keeping positions.
fn parse_cell(cell: &[(char, Pos)]) -> AsmLine {
    let mut rest = trim(cell);
    let mut labels = vec![];
    loop {
        let n = rest.iter().take_while(|(c, _)| is_label_char(*c)).count();
        if n == 0 || !is_label_start(rest[0].0) {
            break;
        }
        let after = trim(&rest[n..]);
        let Some(((':', _), tail)) = after.split_first() else { break };
        labels.push((text(&rest[..n]), rest[0].1));
        rest = trim(tail);
    }
    let inst = rest.first().map(|&(_, pos)| (text(rest), pos));
    AsmLine { labels, inst }
}

/// Parses the thread table at `cur`: returns the threads and where the
/// constraint section starts.
pub(crate) fn parse_table<'a>(path: &str, cur: Cursor<'a>) -> Result<(Vec<AsmThread>, Cursor<'a>)> {
    // None until the header row is read.
    let mut threads: Option<Vec<AsmThread>> = None;
    let rest = split_rows(path, cur, |row| {
        let Some(threads) = &mut threads else {
            threads = Some(header(path, &row)?);
            return Ok(());
        };
        if row.cells.len() != threads.len() {
            return Err(error(path, row.pos, format!("row has {} cells, expected {}", row.cells.len(), threads.len())));
        }
        for (thread, cell) in threads.iter_mut().zip(&row.cells) {
            let line = parse_cell(cell);
            if !line.labels.is_empty() || line.inst.is_some() {
                thread.lines.push(line);
            }
        }
        Ok(())
    })?;
    let Some(threads) = threads else {
        let mut lex = Lexer::new(rest, Mode::Ocaml, path);
        lex.skip_trivia()?;
        return Err(error(path, lex.cur.pos(), "expected the thread table header `P0 | P1 | ... ;`"));
    };
    Ok((threads, rest))
}

/// The threads the table's header row `P0 | P1 | ... ;` names.
fn header(path: &str, header: &Row) -> Result<Vec<AsmThread>> {
    let mut threads = vec![];
    for (tid, cell) in header.cells.iter().enumerate() {
        let t = trim(cell);
        if tid == MAX_THREADS {
            return Err(error(path, t.first().map_or(header.pos, |&(_, p)| p), too_many_threads()));
        }
        let handler = text(t);
        if handler
            .strip_prefix('P')
            .and_then(|h| h.strip_suffix(".F"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            let pos = t.first().map_or(header.pos, |&(_, p)| p);
            return Err(error(
                path,
                pos,
                super::cond::virtual_memory(&format!("the fault-handler thread `{handler}`")),
            ));
        }
        if text(t) != format!("P{tid}") {
            let pos = t.first().map_or(header.pos, |&(_, p)| p);
            let found = if t.is_empty() { "an empty cell".to_string() } else { format!("`{}`", excerpt(&text(t))) };
            return Err(error(path, pos, format!("expected `P{tid}` in the thread table header, found {found}")));
        }
        threads.push(AsmThread { tid, lines: vec![] });
    }
    Ok(threads)
}
