//! The litmus front end's entry point: reads the header, skips the
//! preamble, and hands the rest to the C, AArch64 or x86 dialect parser.
//!
//! Errors always carry the 1-based line and column (in chars) of the
//! offending token. Constructs that are valid herd7 but outside the subset
//! isolsim models fail with a message starting with "unsupported", so callers
//! can skip such tests rather than report them as broken.

use super::asmparse::parse_asm;
use super::ast::{Arch, LitmusTest};
use super::cparse::parse_c;
use super::lex::{Cursor, Lexer, Mode, error, excerpt};
use super::x86parse::parse_x86;

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

/// Most threads a test may have: one core each, and the machine has at most
/// this many cores.
pub const MAX_THREADS: usize = cpu_model::topology::MAX_CORES;

/// The error at the first thread past [`MAX_THREADS`].
pub(crate) fn too_many_threads() -> String {
    format!("more than {MAX_THREADS} threads: the simulated machine has at most {MAX_THREADS} cores")
}

/// Parses a litmus test. `path` is only used in error messages.
///
/// The header word selects the dialect: `C` (herd7's C as used by the
/// kernel's tools/memory-model) or `AArch64`.
pub fn parse(path: &str, text: &str) -> Result<LitmusTest, ParseError> {
    // A byte-order mark is invisible in editors, so it does not count as a column.
    let src: Vec<char> = text.strip_prefix('\u{feff}').unwrap_or(text).chars().collect();
    let mut cur = Cursor::new(&src);
    while cur.peek().is_some_and(char::is_whitespace) {
        cur.bump();
    }
    let arch_pos = cur.pos();
    let arch = cur.take_while(|c| !c.is_whitespace());
    if arch.is_empty() {
        return Err(error(path, arch_pos, "empty file: expected a header such as `C NAME` or `AArch64 NAME`"));
    }
    let dialect = match arch.as_str() {
        "C" => Arch::C,
        "AArch64" => Arch::AArch64,
        "X86" => Arch::X86,
        "X86_64" => Arch::X86_64,
        _ => return Err(error(path, arch_pos, format!("unsupported architecture `{}`", excerpt(&arch)))),
    };
    let name = parse_name(path, &mut cur, &arch)?;
    skip_preamble(path, &mut cur)?;
    let lex = Lexer::new(cur, Mode::Ocaml, path);
    match dialect {
        Arch::C => parse_c(lex, name),
        Arch::AArch64 => parse_asm(lex, name),
        x86 => parse_x86(lex, name, x86),
    }
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
    use std::path::{Path, PathBuf};

    use super::super::ast::*;
    use super::*;

    const KERNEL: &str = "/work/shared/litmus/kernel";
    const IFETCH: &str = "/work/shared/litmus/aarch64-ifetch";

    /// The `.litmus` files of `dir`, sorted, or `None` (with a note) if the
    /// corpus is not available on this machine.
    fn corpus(dir: &str) -> Option<Vec<PathBuf>> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            println!("note: {dir} not found, skipping");
            return None;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "litmus"))
            .collect();
        files.sort();
        Some(files)
    }

    fn parse_file(path: &Path) -> Result<LitmusTest, ParseError> {
        let text = std::fs::read_to_string(path).unwrap();
        parse(&path.display().to_string(), &text)
    }

    fn load(dir: &str, file: &str) -> Option<LitmusTest> {
        let path = Path::new(dir).join(file);
        if !path.exists() {
            println!("note: {} not found, skipping", path.display());
            return None;
        }
        Some(parse_file(&path).unwrap_or_else(|e| panic!("{e}")))
    }

    fn err(text: &str) -> ParseError {
        parse("t.litmus", text).expect_err("should fail")
    }

    fn at(text: &str) -> (usize, usize, String) {
        let e = err(text);
        (e.line, e.col, e.msg)
    }

    fn pos(line: usize, col: usize) -> Pos {
        Pos { line, col }
    }

    fn reg(tid: usize, name: &str) -> Loc {
        Loc::Reg { tid, name: name.to_string() }
    }

    fn atom(loc: Loc, value: Value, p: Pos) -> Prop {
        Prop::Atom(Atom { loc, value, pos: p })
    }

    fn c_threads(t: &LitmusTest) -> &[CThread] {
        match &t.threads {
            Threads::C(th) => th,
            Threads::Asm(_) => panic!("expected C threads"),
        }
    }

    fn asm_threads(t: &LitmusTest) -> &[AsmThread] {
        match &t.threads {
            Threads::Asm(th) => th,
            Threads::C(_) => panic!("expected AArch64 threads"),
        }
    }

    /// The kernel corpus: `basic` tests parse, the others are rejected as
    /// unsupported at the first unsupported construct.
    #[test]
    fn kernel_corpus() {
        let Some(files) = corpus(KERNEL) else { return };
        let index = std::fs::read_to_string(Path::new(KERNEL).join("INDEX.tsv")).unwrap();
        let mut rows: Vec<(&str, bool)> = vec![];
        for line in index.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            rows.push((cols[0], cols[4] == "yes"));
        }
        assert_eq!(rows.iter().filter(|r| r.1).count(), 24);
        assert_eq!(rows.len(), files.len());
        // Where the non-basic tests must fail.
        let expected_errors = [
            ("MP+polocks.litmus", 23, 2, "unsupported: spin_lock"),
            ("MP+onceassign+derefonce.litmus", 21, 2, "unsupported: rcu_assign_pointer"),
            ("dep+plain.litmus", 19, 2, "unsupported: plain (non-marked) access `*z1`"),
        ];
        for (file, basic) in rows {
            let result = parse_file(&Path::new(KERNEL).join(file));
            if basic {
                let t = result.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(t.arch, Arch::C);
                assert_eq!(format!("{}.litmus", t.name), file);
                assert_eq!(t.condition.quantifier, Quantifier::Exists, "{file}");
            } else {
                let e = result.expect_err(file);
                assert!(e.msg.starts_with("unsupported"), "{e}");
                let &(_, line, col, msg) = expected_errors.iter().find(|x| x.0 == file).expect("known failure");
                assert_eq!((e.line, e.col), (line, col), "{e}");
                assert!(e.msg.starts_with(msg), "{e}");
            }
        }
    }

    #[test]
    fn ifetch_corpus() {
        let Some(files) = corpus(IFETCH) else { return };
        assert_eq!(files.len(), 34);
        for f in files {
            let t = parse_file(&f).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.arch, Arch::AArch64);
            assert_eq!(t.condition.quantifier, Quantifier::Exists);
            for th in asm_threads(&t) {
                assert!(th.lines.iter().any(|l| l.inst.is_some()), "{}: P{} has no code", t.name, th.tid);
            }
        }
    }

    #[test]
    fn sb_poonceonces() {
        let Some(t) = load(KERNEL, "SB+poonceonces.litmus") else { return };
        assert_eq!(t.name, "SB+poonceonces");
        assert_eq!(t.init.len(), 2);
        assert_eq!(
            t.init[0],
            InitItem {
                loc: Loc::Mem("x".into()),
                ty: Some(Type::Int("int".into())),
                value: None,
                pos: pos(12, 2),
                array: None
            }
        );
        let th = c_threads(&t);
        assert_eq!(th.len(), 2);
        let ptr = Type::Ptr(Box::new(Type::Int("int".into())));
        assert_eq!(
            th[0].params,
            vec![
                Param { name: "x".into(), ty: ptr.clone(), pos: pos(16, 9) },
                Param { name: "y".into(), ty: ptr, pos: pos(16, 17) },
            ]
        );
        assert_eq!(th[1].pos, pos(24, 1));
        assert_eq!(
            th[0].body,
            vec![
                Stmt::Decl { name: "r0".into(), ty: Type::Int("int".into()), init: None, pos: pos(18, 2) },
                Stmt::WriteOnce {
                    addr: Expr::Var("x".into(), pos(20, 14)),
                    value: Expr::Int(1, pos(20, 17)),
                    pos: pos(20, 2)
                },
                Stmt::Assign {
                    name: "r0".into(),
                    value: Expr::ReadOnce(Box::new(Expr::Var("y".into(), pos(21, 18))), pos(21, 7)),
                    pos: pos(21, 2)
                },
            ]
        );
        assert_eq!(
            t.condition,
            Condition {
                quantifier: Quantifier::Exists,
                prop: Prop::And(
                    Box::new(atom(reg(0, "r0"), Value::Int(0), pos(32, 9))),
                    Box::new(atom(reg(1, "r0"), Value::Int(0), pos(32, 19)))
                ),
                pos: pos(32, 1),
            }
        );
        assert!(t.locations.is_empty());
        assert!(t.filter.is_none());
    }

    #[test]
    fn lb_ctrl_has_if() {
        let Some(t) = load(KERNEL, "LB+fencembonceonce+ctrlonceonce.litmus") else { return };
        let th = c_threads(&t);
        let Stmt::If { cond, then, els, pos: p } = &th[0].body[2] else { panic!("{:?}", th[0].body) };
        assert_eq!(*cond, Expr::Var("r0".into(), pos(24, 6)));
        assert_eq!(*p, pos(24, 2));
        assert_eq!(
            *then,
            vec![Stmt::WriteOnce {
                addr: Expr::Var("y".into(), pos(25, 15)),
                value: Expr::Int(1, pos(25, 18)),
                pos: pos(25, 3)
            }]
        );
        assert!(els.is_empty());
        assert_eq!(th[1].body[2], Stmt::Fence(CFence::Mb, pos(33, 2)));
    }

    #[test]
    fn locations_and_release_acquire() {
        if let Some(t) = load(KERNEL, "SB+rfionceonce-poonceonces.litmus") {
            assert_eq!(t.locations, vec![reg(0, "r1"), reg(1, "r3"), Loc::Mem("x".into()), Loc::Mem("y".into())]);
        }
        if let Some(t) = load(KERNEL, "MP+pooncerelease+poacquireonce.litmus") {
            let th = c_threads(&t);
            assert!(
                matches!(&th[0].body[1], Stmt::StoreRelease { addr: Expr::Var(y, _), value: Expr::Int(1, _), .. } if y == "flag")
            );
            assert!(
                matches!(&th[1].body[2], Stmt::Assign { value: Expr::LoadAcquire(a, _), .. } if matches!(**a, Expr::Var(ref f, _) if f == "flag"))
            );
        }
    }

    #[test]
    fn ifetch_switch_ctrl() {
        let Some(t) = load(IFETCH, "MP.RF+cachesync+switch-ctrl.litmus") else { return };
        assert_eq!(t.name, "MP.RF+cachesync+switch-ctrl");
        assert_eq!(
            t.init[0],
            InitItem {
                loc: Loc::Mem("x".into()),
                ty: None,
                value: Some(Value::Label { tid: 1, label: "Lend".into() }),
                pos: pos(5, 1),
                array: None,
            }
        );
        assert_eq!(t.init[1].value, Some(Value::Instr("NOP".into())));
        assert_eq!(t.init[3].value, Some(Value::Loc("x".into())));
        let decl = t.init.last().unwrap();
        assert_eq!(
            *decl,
            InitItem {
                loc: reg(1, "X1"),
                ty: Some(Type::Ptr(Box::new(Type::Instr))),
                value: None,
                pos: pos(9, 1),
                array: None
            }
        );
        let th = asm_threads(&t);
        assert_eq!(th.len(), 2);
        let insts = |tid: usize| -> Vec<String> {
            th[tid].lines.iter().filter_map(|l| l.inst.as_ref().map(|i| i.0.clone())).collect()
        };
        assert_eq!(
            insts(0),
            ["STR W0,[X1]", "DC CVAU,X1", "DSB ISH", "IC IVAU,X1", "DSB ISH", "MOV W2,#1", "STR X1,[X3]"]
        );
        assert_eq!(insts(1), ["LDR X1,[X3]", "CMP X1,X11", "B.NE Lend", "B Lold", "MOV W9,#2", "B Lend", "MOV W9,#1"]);
        let p1 = &th[1].lines;
        assert_eq!(p1[2].inst, Some(("B.NE Lend".into(), pos(14, 17))));
        assert_eq!(p1[3], AsmLine { labels: vec![("Lself".into(), pos(15, 16))], inst: None });
        assert_eq!(p1[7].labels, vec![("Lold".into(), pos(19, 16))]);
        assert_eq!(p1[9], AsmLine { labels: vec![("Lend".into(), pos(21, 16))], inst: None });
        assert_eq!(p1.len(), 10);
        assert_eq!(th[0].lines[0].inst, Some(("STR W0,[X1]".into(), pos(12, 2))));
        assert_eq!(t.condition.prop, atom(reg(1, "X9"), Value::Int(1), pos(22, 9)));
    }

    #[test]
    fn ifetch_icc2_labels() {
        let Some(t) = load(IFETCH, "icc2.litmus") else { return };
        assert_eq!(t.init[1].value, Some(Value::Label { tid: 1, label: "mod".into() }));
        let th = asm_threads(&t);
        let labels: Vec<&str> = th[1].lines.iter().flat_map(|l| l.labels.iter().map(|x| x.0.as_str())).collect();
        assert_eq!(labels, ["mod", "end"]);
        assert!(th[0].lines.iter().all(|l| l.labels.is_empty()));
        assert_eq!(th[1].lines[3].labels, vec![("mod".into(), pos(8, 20))]);
        assert_eq!(th[1].lines[4].inst, Some(("B end".into(), pos(9, 21))));
        // `exists` without parentheses.
        assert_eq!(
            t.condition.prop,
            Prop::And(
                Box::new(atom(reg(1, "X2"), Value::Int(1), pos(12, 8))),
                Box::new(atom(reg(1, "X9"), Value::Int(0), pos(12, 18)))
            )
        );
        if let Some(t) = load(IFETCH, "MP.RF+ctrlisb-dc-dsb+ic-dsb-isb.litmus") {
            let l = &asm_threads(&t)[1].lines[2];
            assert_eq!(l.labels, vec![("l1".into(), pos(7, 16))]);
            assert_eq!(l.inst, Some(("ISB".into(), pos(7, 20))));
        }
    }

    const SB: &str = "C SB\n{ x=0; }\nP0(int *x) {\n  WRITE_ONCE(*x, 1);\n}\nexists (x=1)\n";

    #[test]
    fn c_dialect_details() {
        let t = parse(
            "t",
            "C T\n\"doc\"\n(* c (* nested *) *)\nHash=abc\n{ int x; int y=0; int *p=&y; int *q=y; x=1; 0:r0=-1; intptr_t z=0x10; uint64_t w; spinlock_t l }\n\
             P0(int *x, int **p) {\n int r0 = READ_ONCE(*x) ^ 1; intptr_t r1; int *r2;\n r1 = READ_ONCE(*(x + r0 ^ r0));\n\
             if (r0 == 1 && !r1) { smp_rmb(); } else smp_wmb();\n READ_ONCE(*x); ;\n smp_store_release(&x, -r0 + 2);\n\
             r0 = smp_load_acquire(x) | 3 & 4;\n}\nfilter (0:r0=1)\n~ exists (0:r0 != 1 \\/ x<>2 /\\ not [y]==0x3 => 0:r1=-2)\n",
        )
        .unwrap();
        assert_eq!(t.name, "T");
        let vals: Vec<Option<Value>> = t.init.iter().map(|i| i.value.clone()).collect();
        assert_eq!(
            vals,
            [
                None,
                Some(Value::Int(0)),
                Some(Value::Loc("y".into())),
                Some(Value::Loc("y".into())),
                Some(Value::Int(1)),
                Some(Value::Int(-1)),
                Some(Value::Int(16)),
                None,
                None
            ]
        );
        assert_eq!(t.init[2].ty, Some(Type::Ptr(Box::new(Type::Int("int".into())))));
        assert_eq!(t.init[5].loc, reg(0, "r0"));
        assert_eq!(t.init[6].ty, Some(Type::Int("intptr_t".into())));
        assert_eq!(t.init[8].ty, Some(Type::Other("spinlock_t".into())));
        let body = &c_threads(&t)[0].body;
        assert_eq!(c_threads(&t)[0].params[1].ty, Type::Ptr(Box::new(Type::Ptr(Box::new(Type::Int("int".into()))))));
        assert_eq!(body.len(), 8, "{body:#?}");
        // `*(x + r0 ^ r0)`: the address is the whole parenthesised expression,
        // with `+` binding tighter than `^`.
        let Stmt::Assign { value: Expr::ReadOnce(addr, _), .. } = &body[3] else { panic!() };
        let Expr::Binary(BinOp::Xor, l, _, _) = &**addr else { panic!("{addr:?}") };
        assert!(matches!(**l, Expr::Binary(BinOp::Add, _, _, _)));
        let Stmt::If { cond, then, els, .. } = &body[4] else { panic!() };
        assert!(matches!(cond, Expr::Binary(BinOp::LAnd, _, r, _) if matches!(**r, Expr::Unary(UnOp::Not, _, _))));
        assert!(matches!(then[..], [Stmt::Fence(CFence::Rmb, _)]));
        assert!(matches!(els[..], [Stmt::Fence(CFence::Wmb, _)]));
        assert!(matches!(body[5], Stmt::Expr(Expr::ReadOnce(_, _), _)));
        let Stmt::StoreRelease { addr: Expr::AddrOf(x, _), value, .. } = &body[6] else { panic!() };
        assert_eq!(x, "x");
        assert!(matches!(value, Expr::Binary(BinOp::Add, l, _, _) if matches!(**l, Expr::Unary(UnOp::Neg, _, _))));
        // `|` binds looser than `&`.
        let Stmt::Assign { value: Expr::Binary(BinOp::Or, _, r, _), .. } = &body[7] else { panic!() };
        assert!(matches!(**r, Expr::Binary(BinOp::And, _, _, _)));
        assert_eq!(t.filter, Some(atom(reg(0, "r0"), Value::Int(1), pos(14, 9))));
        assert_eq!(t.condition.quantifier, Quantifier::NotExists);
        assert_eq!(t.condition.pos, pos(15, 1));
        // `\/` loosest, then `/\`, then `=>`, then `not`.
        let Prop::Or(a, b) = &t.condition.prop else { panic!("{:?}", t.condition.prop) };
        assert!(matches!(**a, Prop::Not(_)));
        let Prop::And(c, d) = &**b else { panic!() };
        assert_eq!(**c, Prop::Not(Box::new(atom(Loc::Mem("x".into()), Value::Int(2), pos(15, 24)))));
        let Prop::Implies(e, f) = &**d else { panic!() };
        assert!(
            matches!(&**e, Prop::Not(g) if matches!(&**g, Prop::Atom(Atom { loc: Loc::Mem(y), value: Value::Int(3), .. }) if y == "y"))
        );
        assert_eq!(**f, atom(reg(0, "r1"), Value::Int(-2), pos(15, 48)));
    }

    #[test]
    fn line_endings_bom_and_comments() {
        let crlf = format!("\u{feff}{}", SB.replace('\n', "\r\n"));
        let t = parse("t", &crlf).unwrap();
        assert_eq!(t.name, "SB");
        assert_eq!(t.condition.pos, pos(6, 1));
        let t = parse(
            "t",
            "C T (texname)\n{ int x; // line\n /* block */ int y; (* ocaml *) }\nP0(int *x) // who\n{ /* (*p) */ }\nexists (x=0)",
        )
        .unwrap();
        assert_eq!(t.init.len(), 2);
        let asm = "AArch64 A\r\n{ 0:X0=1; }\r\n P0 ;\r\n L: MOV X0,#1 ;\r\nexists (0:X0=1)\r\n";
        let t = parse("t", asm).unwrap();
        assert_eq!(asm_threads(&t)[0].lines[0].inst, Some(("MOV X0,#1".into(), pos(4, 5))));
    }

    #[test]
    fn condition_forms() {
        let cond = |c: &str| parse("t", &format!("C T\n{{}}\nP0(int *x) {{}}\n{c}")).map(|t| t.condition);
        let c = cond("").unwrap();
        assert_eq!((c.quantifier, c.prop), (Quantifier::Forall, Prop::True));
        let c = cond("locations []\n(* x *)").unwrap();
        assert_eq!((c.quantifier, c.prop), (Quantifier::Forall, Prop::True));
        let c = cond("forall (true \\/ false)").unwrap();
        assert_eq!(c.quantifier, Quantifier::Forall);
        assert_eq!(c.prop, Prop::Or(Box::new(Prop::True), Box::new(Prop::False)));
        assert_eq!(cond("final (x=1);").unwrap().quantifier, Quantifier::Exists);
        assert_eq!(cond("~exists\n(x=1\n/\\ 0:r0=x)\n(* why *)").unwrap().quantifier, Quantifier::NotExists);
        assert_eq!(cond("(x=1)").unwrap().quantifier, Quantifier::Exists);
        let c = cond("exists (0:r0=P1:L0 \\/ x=label:\"P2:m\" \\/ x=NOP \\/ 0:r1=instr:\"B L1\")").unwrap();
        let Prop::Or(ab, d) = c.prop else { panic!() };
        let Prop::Or(ab, cc) = *ab else { panic!() };
        let Prop::Or(a, b) = *ab else { panic!() };
        assert!(matches!(*a, Prop::Atom(Atom { value: Value::Label { tid: 1, ref label }, .. }) if label == "L0"));
        assert!(matches!(*b, Prop::Atom(Atom { value: Value::Label { tid: 2, ref label }, .. }) if label == "m"));
        assert!(matches!(*cc, Prop::Atom(Atom { value: Value::Instr(ref i), .. }) if i == "NOP"));
        assert!(matches!(*d, Prop::Atom(Atom { value: Value::Instr(ref i), .. }) if i == "B L1"));
        let e = cond("exists (x=1) junk").unwrap_err();
        assert_eq!((e.line, e.col), (4, 14));
        let e = cond("exists (x=1").unwrap_err();
        assert_eq!((e.line, e.col), (4, 12), "{e}");
        assert!(e.msg.contains("`)`"), "{e}");
    }

    #[test]
    fn threads_past_the_machines_cores_are_refused_where_they_start() {
        let header: Vec<String> = (0..=MAX_THREADS).map(|i| format!("P{i}")).collect();
        let row = vec![" NOP"; MAX_THREADS + 1];
        let text = format!("AArch64 A\n{{}}\n{} ;\n{} ;\nexists (0:X0=0)\n", header.join(" | "), row.join(" |"));
        let col = header[..MAX_THREADS].iter().map(|h| h.len() + 3).sum::<usize>() + 1;
        assert_eq!(at(&text), (3, col, too_many_threads()));
        let c: String = (0..=MAX_THREADS).map(|i| format!("P{i}(int *x) {{ }}\n")).collect();
        assert_eq!(at(&format!("C A\n{{}}\n{c}exists (x=0)\n")), (3 + MAX_THREADS, 1, too_many_threads()));
        // At the limit, both parse.
        let ok = text.replace(&format!(" | P{MAX_THREADS} ;"), " ;").replace(" | NOP ;", " ;");
        assert_eq!(asm_threads(&parse("t", &ok).unwrap()).len(), MAX_THREADS);
    }

    #[test]
    fn aarch64_details() {
        let t = parse(
            "t",
            "AArch64 A\n\"doc\"\nCycle=Rfe PodRR\n{\n uint64_t x; int y=1; [z]=1; w=2; 0:W5=x; 1:x7=instr:\"NOP\"; uint64_t 0:X0; 0:X2=label:\"P1:l1\";\n}\n\
             P0 | P1 ;\n MOV W5,#1 | l1:l2: B l0 ;\n  |  ;\n (* c *) | l0: ;\n\
             locations [1:W3; [x];]\nexists (0:w5=1 /\\ [x]=2 /\\ y=1)\n",
        )
        .unwrap();
        assert_eq!(t.init[0].ty, Some(Type::Int("uint64_t".into())));
        assert_eq!(t.init[2].loc, Loc::Mem("z".into()));
        assert_eq!(t.init[4].loc, reg(0, "X5"));
        assert_eq!(
            t.init[5],
            InitItem {
                loc: reg(1, "X7"),
                ty: None,
                value: Some(Value::Instr("NOP".into())),
                pos: pos(5, 43),
                array: None
            }
        );
        assert_eq!(t.init[6].loc, reg(0, "X0"));
        assert_eq!(t.init[7].value, Some(Value::Label { tid: 1, label: "l1".into() }));
        let th = asm_threads(&t);
        assert_eq!(th[0].lines.len(), 1);
        assert_eq!(th[0].lines[0].inst, Some(("MOV W5,#1".into(), pos(8, 2))));
        assert_eq!(
            th[1].lines,
            vec![
                AsmLine {
                    labels: vec![("l1".into(), pos(8, 14)), ("l2".into(), pos(8, 17))],
                    inst: Some(("B l0".into(), pos(8, 21)))
                },
                AsmLine { labels: vec![("l0".into(), pos(10, 12))], inst: None },
            ]
        );
        assert_eq!(t.locations, vec![reg(1, "X3"), Loc::Mem("x".into())]);
        let Prop::And(a, _) = &t.condition.prop else { panic!() };
        let Prop::And(a, _) = &**a else { panic!() };
        assert_eq!(**a, atom(reg(0, "X5"), Value::Int(1), pos(12, 9)));
    }

    #[test]
    fn herd_forms_casts_struct_pointers_and_where_they_stop() {
        // Accepted: a cast before a value in the init block and in an expression, a pointer to a
        // struct as a parameter and in the init block.
        let t = parse(
            "t",
            "C T\n{ struct node *p = (struct node *)0; int *q = (void *)&x; }\n\
             P0(struct node **p, int *x) {\n  int r0 = (int)READ_ONCE(*x);\n  WRITE_ONCE(*p, (struct node *)0);\n}\n\
             exists (x=0)",
        )
        .unwrap();
        assert_eq!(t.init[0].value, Some(Value::Int(0)));
        assert_eq!(t.init[1].value, Some(Value::Loc("x".into())));
        // Refused, at the place: a struct value, a field, a parenthesis that is not a cast.
        let (line, col, m) = at("C T\n{ struct node n; }\nP0(int *x) { WRITE_ONCE(*x, 1); }\nexists (x=1)");
        assert_eq!((line, col), (2, 3), "{m}");
        assert!(m.starts_with("unsupported: struct types in the init block"), "{m}");
        let (line, col, m) = at("C T\n{}\nP0(struct node *n) {\n  WRITE_ONCE(n->next, 1);\n}\nexists (0:r0=1)");
        assert_eq!((line, col), (4, 14), "{m}");
        let (line, col, m) = at("C T\n{ int *p = (x)0; }\nP0(int *x) { WRITE_ONCE(*x, 1); }\nexists (x=1)");
        assert_eq!((line, col), (2, 12), "{m}");
    }

    #[test]
    fn unsupported_constructs() {
        let body = |b: &str| at(&format!("C T\n{{}}\nP0(int *x, spinlock_t *l) {{\n{b}\n}}\nexists (x=1)"));
        let cases: &[(&str, usize, &str)] = &[
            ("  spin_lock(l);", 3, "unsupported: spin_lock (locks are not modelled)"),
            ("  int r0 = rcu_dereference(*x);", 12, "unsupported: rcu_dereference"),
            ("  synchronize_rcu();", 3, "unsupported: synchronize_rcu"),
            ("  int r = atomic64_xchg(x, 1);", 11, "unsupported: atomic64_xchg"),
            ("  int r0; r0 = atomic_fetch_or(1, x);", 16, "unsupported: atomic_fetch_or"),
            ("  test_and_set_bit(1, x);", 3, "unsupported: test_and_set_bit"),
            ("  int r0 = xchg(x);", 18, "expected `,` between the arguments of `xchg` (it takes 2)"),
            ("  int r0 = atomic_inc(x);", 12, "`atomic_inc` is a statement and has no value"),
            ("  srcu_read_lock(x);", 3, "unsupported: srcu_read_lock"),
            ("  while (1) ;", 3, "unsupported: while loops"),
            ("  for (;;) ;", 3, "unsupported: for loops"),
            ("  goto out;", 3, "unsupported: goto"),
            ("  foo(x);", 3, "unsupported: call to `foo`"),
            ("  int r0 = *x;", 12, "unsupported: plain (non-marked) access `*x`"),
            ("  WRITE_ONCE(*x, READ_ONCE(*x) * 2);", 32, "unsupported: operator `*`"),
            ("  int r0; r0 += 1;", 14, "unsupported: operator `+=`"),
            ("  if (READ_ONCE(*x)) x[1] = 2;", 23, "unsupported: array indexing"),
        ];
        for &(src, col, msg) in cases {
            let (line, c, m) = body(src);
            assert_eq!((line, c), (4, col), "{src}: {m}");
            assert!(m.starts_with(msg), "{src}: {m}");
        }
    }

    #[test]
    fn atomics() {
        let t = parse(
            "t",
            "C A\n{ atomic_t v = ATOMIC_INIT(3); }\nP0(int *x, atomic_t *v) {\n int r0 = xchg_relaxed(x, 1);\n\
             int r1 = cmpxchg(x, r0, 2); r1 = atomic_fetch_sub_acquire(r0, v);\n atomic_inc(v); atomic_sub(2, v);\n\
             smp_mb__before_atomic(); r0 = atomic_read(v); atomic_set_release(v, atomic_dec_return_release(v));\n}\n\
             exists (v=1)",
        )
        .unwrap();
        assert_eq!(t.init[0].value, Some(Value::Int(3)));
        assert_eq!(t.init[0].ty, Some(Type::Other("atomic_t".into())));
        let body = &c_threads(&t)[0].body;
        let atomic = |s: &Stmt| match s {
            Stmt::Decl { init: Some(e), .. } | Stmt::Assign { value: e, .. } => e.clone(),
            other => panic!("{other:?}"),
        };
        let Expr::Atomic { op: AtomicOp::Xchg, order: AtomicOrder::Relaxed, addr, value, expected: None, pos: p } =
            atomic(&body[0])
        else {
            panic!("{:?}", body[0])
        };
        assert_eq!((*addr, *value, p), (Expr::Var("x".into(), pos(4, 24)), Expr::Int(1, pos(4, 27)), pos(4, 11)));
        let Expr::Atomic { op: AtomicOp::Cmpxchg, order: AtomicOrder::Full, expected: Some(e), value, .. } =
            atomic(&body[1])
        else {
            panic!("{:?}", body[1])
        };
        assert_eq!((*e, *value), (Expr::Var("r0".into(), pos(5, 21)), Expr::Int(2, pos(5, 25))));
        let Expr::Atomic { op: AtomicOp::Add { fetch: true }, order: AtomicOrder::Acquire, addr, value, .. } =
            atomic(&body[2])
        else {
            panic!("{:?}", body[2])
        };
        assert_eq!(*addr, Expr::Var("v".into(), pos(5, 63)));
        assert!(matches!(*value, Expr::Unary(UnOp::Neg, ref r, _) if matches!(**r, Expr::Var(ref n, _) if n == "r0")));
        let Stmt::AtomicAdd { value: Expr::Int(1, _), addr: Expr::Var(v, _), .. } = &body[3] else { panic!() };
        assert_eq!(v, "v");
        let Stmt::AtomicAdd { value: Expr::Unary(UnOp::Neg, two, _), .. } = &body[4] else { panic!() };
        assert!(matches!(**two, Expr::Int(2, _)));
        assert!(matches!(body[5], Stmt::Fence(CFence::Mb, _)));
        assert!(matches!(atomic(&body[6]), Expr::ReadOnce(..)));
        let Stmt::StoreRelease { value, .. } = &body[7] else { panic!("{:?}", body[7]) };
        assert!(matches!(
            value,
            Expr::Atomic { op: AtomicOp::Add { fetch: false }, order: AtomicOrder::Release, value, .. }
                if matches!(**value, Expr::Int(-1, _))
        ));
    }

    #[test]
    fn error_positions() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            ("", (1, 1), "empty file"),
            ("   \n  ", (2, 3), "empty file"),
            ("PPC SB\n{}\n", (1, 1), "unsupported architecture `PPC`"),
            ("C\n{}", (1, 2), "expected a test name"),
            ("C SB\nfoo bar\n{}", (2, 1), "expected `{` to start the init block"),
            ("C SB\n(* never closed\n{}", (2, 1), "unterminated comment `(*`"),
            ("C SB\n{ x=1; }\nP0(int *x) {\n  WRITE_ONCE(*x, 1);\n  /* open\n}\n", (5, 3), "unterminated comment `/*`"),
            ("C SB\n{ int x = ; }\n", (2, 11), "expected a value"),
            ("C SB\n{ x=1 y=2 }\n", (2, 7), "expected `;` or `}`"),
            ("C SB\n{ x=1;\n", (3, 1), "unexpected end of file in the init block"),
            ("C SB\n{}\nP0(int *x {\n}\n", (3, 11), "expected `,` or `)`"),
            ("C SB\n{}\nP0(int *x) {\n  WRITE_ONCE(*x, 1;\n}\n", (4, 19), "expected `)`"),
            ("C SB\n{}\nP0(int *x) {\n  WRITE_ONCE(*x, 1);\n", (5, 1), "the `{` at 3:12 is never closed"),
            ("C SB\n{}\nP0(int *x) {}\nP2(int *x) {}\n", (4, 1), "expected thread `P1`, found `P2`"),
            ("C SB\n{}\nP1(int *x) {}\n", (3, 1), "expected thread `P0`, found `P1`"),
            ("C SB\n{}\nP0(int *x) {}\nexits (x=1)\n", (4, 1), "expected thread `P1(...)` or the final condition"),
            ("C SB\n{}\nP0(int *x) {}\nexists (x=1 /\\)\n", (4, 15), "expected a proposition"),
            ("C SB\n{}\nP0(int *x) {}\nexists (x 1)\n", (4, 11), "expected `=` or `!=`"),
            ("C SB\n{}\nP0(int *x) {}\nexists (x=99999999999999999999)\n", (4, 11), "integer literal"),
            ("C SB\n{}\nP0(int *x) {}\nexists (x=9223372036854775808)\n", (4, 11), "integer literal out of range"),
            (
                "AArch64 A\n{}\n P0 | P1 ;\n NOP | NOP ;\n NOP ;\nexists (0:X0=1)\n",
                (5, 2),
                "row has 1 cells, expected 2",
            ),
            ("AArch64 A\n{}\n P0 | P2 ;\n", (3, 7), "expected `P1` in the thread table header, found `P2`"),
            ("AArch64 A\n{}\n P0 ;\n NOP\nexists (0:X0=1)\n", (4, 5), "expected `;` at the end of the table row"),
            ("AArch64 A\n{}\nexists (0:X0=1)\n", (3, 1), "expected the thread table header"),
            ("AArch64 A\n{}\nP0;\nNOP;\nexists (0:X0=1) (* open\n", (5, 17), "unterminated comment"),
            // herd7's virtual-memory and memory-tagging tests: named for what they are.
            ("AArch64 A\n{ [PTE(x)]=(oa:PA(x), valid:0); }\n", (2, 4), "unsupported: `PTE(...)` as a location"),
            ("AArch64 A\n{ PTE(x)=0; }\n", (2, 3), "unsupported: `PTE(...)` as a location"),
            ("AArch64 A\n{ 0:X1=(oa:PA(x), valid:0); }\n", (2, 8), "unsupported: a page-table entry"),
            ("AArch64 A\n{ 0:X1=PTE(x); }\n", (2, 8), "unsupported: `PTE(...)` as a value"),
            ("AArch64 A\n{ 0:X1=x:green; }\n", (2, 8), "unsupported: the tagged location `x:...`"),
            ("AArch64 A\n{}\n P0 | P0.F ;\n NOP | NOP ;\n", (3, 7), "unsupported: the fault-handler thread `P0.F`"),
            // Arrays: declared with a size, values in braces.
            ("AArch64 A\n{ int v[2] = {1,2,3}; }\n", (2, 19), "more values than the 2 elements of `v`"),
            ("AArch64 A\n{ int v[0]; }\n", (2, 9), "`v` needs at least one element"),
            ("AArch64 A\n{ int v[5000]; }\n", (2, 9), "array index 5000 past the 1024 elements"),
            ("AArch64 A\n{ int v[2] = {1 2}; }\n", (2, 17), "`,` or `}` in the values opened at 2:14"),
            ("AArch64 A\n{ 0:X1[2]=1; }\n", (2, 7), "unsupported: arrays of registers or of arrays"),
            ("AArch64 A\n{ x={1,{2}}; }\n", (2, 8), "unsupported: an array of arrays"),
            ("AArch64 A\n{ x={1 2}; }\n", (2, 8), "`,` or `}` in the values opened at 2:5"),
        ];
        for &(src, (line, col), msg) in cases {
            let e = err(src);
            assert_eq!((e.line, e.col), (line, col), "{src:?}: {e}");
            assert!(e.msg.contains(msg), "{src:?}: {e}");
            assert_eq!(e.path, "t.litmus");
        }
        assert_eq!(err(SB.replace("exists", "exists exists").as_str()).col, 8);
        let e = err("C SB\n{}\nP0(int *x) {}\nexists (x=1)\n junk");
        assert_eq!(e.to_string(), "t.litmus:5:2: expected end of file after the final condition, found `junk`");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("C T\n{{}}\nP0(int *x) {{ int r = {}1{}; }}\n", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&deep).msg.contains("nesting"));
        let deep = format!("C T\n{{}}\nP0(int *x) {{ int r = {}1; }}\n", "!".repeat(5000));
        assert!(err(&deep).msg.contains("nesting"));
        let deep = format!("C T\n{{}}\nP0(int *x) {{ {} }}\n", "if (1) ".repeat(5000));
        assert!(err(&deep).msg.contains("nesting"));
        let long = format!("C T\n{{}}\nP0(int *x) {{ int r = 1{}; }}\n", " + 1".repeat(100_000));
        assert!(err(&long).msg.contains("nesting"));
        let deep = format!("{SB}{}", "~".repeat(5000));
        assert!(parse("t", &deep).is_err());
        let long = format!("C T\n{{}}\nP0(int *x) {{}}\nexists (x=1{})\n", " /\\ x=1".repeat(100_000));
        assert!(err(&long).msg.contains("nesting"));
    }

    /// A small deterministic generator, so the fuzz loop needs no extra crate.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn never_panics_on_prefixes_and_mutations() {
        let mut texts: Vec<String> = vec![SB.to_string()];
        for dir in [KERNEL, IFETCH] {
            for f in corpus(dir).unwrap_or_default() {
                texts.push(std::fs::read_to_string(f).unwrap());
            }
        }
        let mut rng = Lcg(0x5eed);
        for text in &texts {
            let chars: Vec<char> = text.chars().collect();
            for n in 0..=chars.len() {
                let prefix: String = chars[..n].iter().collect();
                let _ = parse("t", &prefix);
            }
            for _ in 0..200 {
                let mut m = chars.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let i = (rng.next() as usize) % (m.len() + 1);
                    let c = b"(){}[];:|*=/\\~\"-0x9aP \n"[(rng.next() % 23) as usize] as char;
                    match rng.next() % 3 {
                        0 => m.insert(i, c),
                        1 if i < m.len() => {
                            m.remove(i);
                        }
                        _ if i < m.len() => m[i] = c,
                        _ => {}
                    }
                }
                let _ = parse("t", &m.iter().collect::<String>());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_random_input(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse("t", &String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn never_panics_on_litmus_like_input(s in "(C|AArch64) [A-Z+]{1,5}\n[{}():;|*=/\\\\~\"0-9a-zP \\n_-]{0,200}") {
            let _ = parse("t", &s);
        }
    }
}
