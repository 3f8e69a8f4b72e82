//! herd7's C dialect, restricted to the kernel memory model's marked
//! accesses: `READ_ONCE`/`WRITE_ONCE`, acquire/release, `smp_*mb()`,
//! integer locals and `if`, and the atomic read-modify-writes of
//! `atomic_t` and plain locations: `xchg`, `cmpxchg`, `atomic_xchg`,
//! `atomic_cmpxchg`, `atomic_{add,sub,inc,dec}_return`,
//! `atomic_fetch_{add,sub,inc,dec}` (each also `_relaxed`, `_acquire`,
//! `_release`), `atomic_{add,sub,inc,dec}`, `atomic_read{,_acquire}`,
//! `atomic_set{,_release}` and `smp_mb__{before,after}_atomic()`.
//!
//! Protocol files in kernel C ([`parse_kernel_c`]) are read by the same
//! parser with `TokenStream::kernel` set: function definitions at top level,
//! and in their bodies also `while`, `do`/`while`, `for`, `break`,
//! `continue`, `return`, compound assignments, `*`, `<<`, `>>`, `~`, `true`,
//! `false`, the per-CPU accessors (`this_cpu_read/write/ptr`, `per_cpu`,
//! `per_cpu_ptr`), `READ_ONCE`/`WRITE_ONCE` of such locations, the arm64
//! helpers (`isb`, `instr_sync`, `dsb(opt)`, `dmb(opt)`, `__tlbi(vmalle1)`,
//! `local_flush_tlb_all`) and `atomic_fetch_or`, `atomic_fetch_andnot`,
//! `atomic_try_cmpxchg`, `atomic_or`, `atomic_andnot`.
//!
//! Everything else that the kernel's tools/memory-model accepts (locks, RCU,
//! other atomics and bit operations, plain accesses, loops) is recognised
//! and rejected with an "unsupported: ..." error at its position, so a
//! runner can tell "not modelled" from "malformed".

use super::ast::{
    Arch, AtomicOp, AtomicOrder, BinOp, CFence, CFunction, CThread, DomainOpt, Expr, Helper, LitmusTest, Param, Pos,
    Stmt, Threads, Type, UnOp,
};
use super::cond::{SECTION_KEYWORDS, int_value, is_type_word, make_type, parse_constraints, parse_init_block};
use super::lex::Cursor;
use super::lex::{Lexer, Mode, Tok, Token, TokenStream};
use super::parse::{MAX_THREADS, ParseError, too_many_threads};

type Result<T> = std::result::Result<T, ParseError>;

/// Parses a C test whose init block starts at `lex` (the header is done).
pub(crate) fn parse_c(lex: Lexer, name: String) -> Result<LitmusTest> {
    let mut ts = TokenStream::new(lex);
    ts.lex.mode = Mode::Both;
    let init = parse_init_block(&mut ts, Arch::C)?;
    ts.lex.mode = Mode::C;
    let mut threads = vec![];
    loop {
        let t = ts.peek()?;
        match &t.tok {
            Tok::Ident(w) if w.starts_with('P') && ts.peek_nth(1)?.tok.is("(") => {
                if threads.len() == MAX_THREADS {
                    return Err(ts.error(t.pos, too_many_threads()));
                }
                threads.push(parse_thread(&mut ts, threads.len())?);
            }
            Tok::Ident(w) if SECTION_KEYWORDS.contains(&w.as_str()) && !threads.is_empty() => break,
            Tok::Punct("~" | "(") if !threads.is_empty() => break,
            Tok::Eof if !threads.is_empty() => break,
            _ => {
                let n = threads.len();
                let expected = if n == 0 {
                    "the first thread `P0(...)`".to_string()
                } else {
                    format!(
                        "thread `P{n}(...)` or the final condition (`exists`, `~exists`, `forall`, `final`, `locations`, `filter`)"
                    )
                };
                return Err(ts.unexpected(&t, &expected));
            }
        }
    }
    // The constraint section uses `(* *)` comments: switch once past C trivia.
    ts.lex.skip_trivia()?;
    ts.lex.mode = Mode::Ocaml;
    let c = parse_constraints(&mut ts, Arch::C)?;
    Ok(LitmusTest {
        arch: Arch::C,
        name,
        init,
        threads: Threads::C(threads),
        locations: c.locations,
        filter: c.filter,
        condition: c.condition,
    })
}

/// Parses a protocol file in kernel C: function definitions
/// `[static] [inline] type name(params) { body }`, nothing else at top level.
pub(crate) fn parse_kernel_c(path: &str, text: &str) -> Result<Vec<CFunction>> {
    let src: Vec<char> = text.strip_prefix('\u{feff}').unwrap_or(text).chars().collect();
    let mut ts = TokenStream::new(Lexer::new(Cursor::new(&src), Mode::C, path));
    ts.kernel = true;
    let mut functions: Vec<CFunction> = vec![];
    let mut seen: std::collections::BTreeMap<String, Pos> = std::collections::BTreeMap::new();
    loop {
        let t = ts.peek()?;
        if t.tok == Tok::Eof {
            return Ok(functions);
        }
        let f = parse_function(&mut ts)?;
        if let Some(first) = seen.insert(f.name.clone(), f.pos) {
            return Err(
                ts.error(f.pos, format!("function `{}` defined twice (first at {}:{})", f.name, first.line, first.col))
            );
        }
        functions.push(f);
    }
}

/// Words before a function's name that say nothing about what it computes.
const FUNCTION_QUALIFIERS: [&str; 6] = ["static", "inline", "__always_inline", "noinstr", "notrace", "__init"];

/// `type name(params) { body }` at top level.
fn parse_function(ts: &mut TokenStream) -> Result<CFunction> {
    let mut words = vec![];
    let (name, pos) = loop {
        let t = ts.peek()?;
        let Tok::Ident(w) = t.tok.clone() else {
            return Err(ts.unexpected(&t, "a function definition such as `bool isolation_defer_cpu(int cpu, ...)`"));
        };
        ts.next()?;
        if ts.peek()?.tok.is("(") {
            if words.is_empty() {
                return Err(ts.error(t.pos, format!("function `{w}` needs a return type (`void`, `bool`, `int`, ...)")));
            }
            break (w, t.pos);
        }
        if matches!(w.as_str(), "struct" | "union" | "enum" | "typedef" | "extern") {
            return Err(ts.error(t.pos, format!("unsupported: `{w}` at top level (a protocol file holds functions)")));
        }
        words.push(w);
        while ts.eat("*")?.is_some() {
            words.push("*".to_string());
        }
    };
    let type_words: Vec<&String> = words.iter().filter(|w| !FUNCTION_QUALIFIERS.contains(&w.as_str())).collect();
    let returns_value = !(type_words.len() == 1 && type_words[0] == "void");
    ts.expect("(", " after the function name")?;
    let params = parse_params(ts)?;
    if let Some(t) = ts.eat(";")? {
        return Err(ts.error(t.pos, format!("a declaration of `{name}` without a body: define it here")));
    }
    let open = ts.expect("{", " to open the function's body")?;
    ts.enter(open.pos)?;
    let body = parse_block_rest(ts, open.pos);
    ts.leave();
    let (body, end) = body?;
    Ok(CFunction { name, returns_value, params, body, pos, end })
}

/// `P<tid>(params) { body }`.
fn parse_thread(ts: &mut TokenStream, tid: usize) -> Result<CThread> {
    let (name, pos) = ts.expect_ident("a thread")?;
    if name != format!("P{tid}") {
        return Err(
            ts.error(pos, format!("expected thread `P{tid}`, found `{name}` (threads are numbered P0, P1, ...)"))
        );
    }
    ts.expect("(", " after the thread name")?;
    let params = parse_params(ts)?;
    let body = parse_block(ts)?;
    Ok(CThread { tid, params, body, pos })
}

/// A parameter list after its `(`, through its `)`: none, `void`, or parameters by commas.
fn parse_params(ts: &mut TokenStream) -> Result<Vec<Param>> {
    let mut params = vec![];
    if ts.peek()?.tok.is_ident("void") && ts.peek_nth(1)?.tok.is(")") {
        ts.next()?;
    }
    if ts.eat(")")?.is_none() {
        loop {
            params.push(parse_param(ts)?);
            let t = ts.next()?;
            match t.tok {
                Tok::Punct(",") => {}
                Tok::Punct(")") => break,
                _ => return Err(ts.unexpected(&t, "`,` or `)` in the parameter list")),
            }
        }
    }
    Ok(params)
}

/// A parameter `type name`, e.g. `int *x` or `spinlock_t *mylock`.
fn parse_param(ts: &mut TokenStream) -> Result<Param> {
    let start = ts.peek()?;
    let (words, stars) = parse_type_prefix(ts)?;
    if words.is_empty() {
        return Err(ts.unexpected(&start, "a parameter type such as `int *x`"));
    }
    let (name, pos) = ts.expect_ident("a parameter name")?;
    Ok(Param { name, ty: make_type(&words, stars), pos })
}

/// Type words followed by `*`s: every identifier followed by another
/// identifier or a `*` is a type word.
fn parse_type_prefix(ts: &mut TokenStream) -> Result<(Vec<String>, usize)> {
    let mut words = vec![];
    loop {
        let t = ts.peek()?;
        let Tok::Ident(w) = t.tok else { break };
        let after = ts.peek_nth(1)?.tok;
        if !(matches!(after, Tok::Ident(_)) || after.is("*")) {
            break;
        }
        // `struct foo *p`: a location like any other, as long as no field of it is used (`->`
        // and `.` are refused where they appear).
        if matches!(w.as_str(), "union" | "enum") {
            return Err(ts.error(t.pos, format!("unsupported: {w} types")));
        }
        words.push(w);
        ts.next()?;
    }
    let mut stars = 0;
    while !words.is_empty() && ts.eat("*")?.is_some() {
        stars += 1;
    }
    Ok((words, stars))
}

/// `{ stmt* }`.
fn parse_block(ts: &mut TokenStream) -> Result<Vec<Stmt>> {
    let open = ts.expect("{", "")?;
    ts.enter(open.pos)?;
    let body = parse_block_rest(ts, open.pos);
    ts.leave();
    body.map(|b| b.0)
}

/// The statements of a block whose `{` (at `open`) is consumed, and its `}`
/// (with its position).
fn parse_block_rest(ts: &mut TokenStream, open: Pos) -> Result<(Vec<Stmt>, Pos)> {
    let mut body = vec![];
    loop {
        let t = ts.peek()?;
        match t.tok {
            Tok::Punct("}") => {
                ts.next()?;
                return Ok((body, t.pos));
            }
            Tok::Eof => {
                return Err(ts.error(
                    t.pos,
                    format!("unexpected end of file: the `{{` at {}:{} is never closed", open.line, open.col),
                ));
            }
            _ => parse_stmt(ts, &mut body)?,
        }
    }
}

/// The unsupported-feature message for a kernel primitive, if `name` is one.
fn unsupported_primitive(name: &str) -> Option<String> {
    let why = if name.starts_with("spin_") || name.starts_with("raw_spin_") || name.starts_with("mutex_") {
        " (locks are not modelled)"
    } else if name.starts_with("rcu_")
        || name.starts_with("srcu_")
        || name.starts_with("synchronize_")
        || name.starts_with("call_rcu")
        || name == "rcu_barrier"
    {
        " (RCU is not modelled)"
    } else if name.starts_with("xchg")
        || name.starts_with("cmpxchg")
        || name.starts_with("atomic_")
        || name.starts_with("atomic64_")
        || name.starts_with("atomic_long_")
        || name.starts_with("smp_mb__")
        || name.starts_with("__atomic")
        || name.starts_with("test_and_")
        || name.ends_with("_bit")
    {
        " (only xchg, cmpxchg and atomic add/sub/inc/dec with their orderings are modelled)"
    } else if matches!(name, "smp_store_mb" | "smp_cond_load_acquire" | "smp_cond_load_relaxed" | "barrier") {
        ""
    } else {
        return None;
    };
    Some(format!("unsupported: {name}{why}"))
}

/// The message for a C keyword outside the subset, if `w` is one.
fn unsupported_keyword(w: &str) -> Option<&'static str> {
    Some(match w {
        "while" => "unsupported: while loops",
        "for" => "unsupported: for loops",
        "do" => "unsupported: do-while loops",
        "goto" => "unsupported: goto",
        "switch" | "case" | "default" => "unsupported: switch statements",
        "return" => "unsupported: return",
        "break" | "continue" => "unsupported: break/continue",
        "struct" | "union" | "enum" => "unsupported: struct/union/enum types",
        "sizeof" => "unsupported: sizeof",
        "static" | "extern" | "typedef" => "unsupported: storage-class specifiers",
        _ => return None,
    })
}

/// The "plain access" error for a `*` at `star`.
fn plain_access(ts: &TokenStream, star: &Token) -> ParseError {
    let what = match ts.peek_nth(1).map(|t| t.tok) {
        Ok(Tok::Ident(name)) => format!("`*{name}`"),
        _ => "`*...`".to_string(),
    };
    ts.error(star.pos, format!("unsupported: plain (non-marked) access {what}"))
}

/// One statement, appended to `out` (a declaration may declare several names,
/// a nested block is flattened: locals are function-scoped for our purposes).
fn parse_stmt(ts: &mut TokenStream, out: &mut Vec<Stmt>) -> Result<()> {
    let t = ts.peek()?;
    let pos = t.pos;
    let name = match &t.tok {
        Tok::Punct(";") => {
            ts.next()?;
            return Ok(());
        }
        Tok::Punct("{") => {
            let mut block = parse_block(ts)?;
            out.append(&mut block);
            return Ok(());
        }
        Tok::Ident(w) => w.clone(),
        _ => {
            let e = parse_expr(ts)?;
            ts.expect(";", " after the expression")?;
            out.push(Stmt::Expr(e, pos));
            return Ok(());
        }
    };
    if ts.kernel && parse_kernel_stmt(ts, &name, pos, out)? {
        return Ok(());
    }
    if let Some(msg) = unsupported_keyword(&name) {
        return Err(ts.error(pos, msg));
    }
    let after = ts.peek_nth(1)?;
    match name.as_str() {
        "if" => {
            ts.next()?;
            ts.expect("(", " after `if`")?;
            let cond = parse_expr(ts)?;
            ts.expect(")", " after the `if` condition")?;
            let then = parse_branch(ts, pos)?;
            let els = if ts.peek()?.tok.is_ident("else") {
                ts.next()?;
                parse_branch(ts, pos)?
            } else {
                vec![]
            };
            out.push(Stmt::If { cond, then, els, pos });
        }
        "else" => return Err(ts.error(pos, "`else` without `if`")),
        "WRITE_ONCE" => {
            ts.next()?;
            ts.expect("(", " after `WRITE_ONCE`")?;
            let addr = if ts.kernel { parse_lvalue(ts, "`WRITE_ONCE`")? } else { parse_deref(ts, "WRITE_ONCE")? };
            ts.expect(",", " between the arguments of `WRITE_ONCE`")?;
            let value = parse_expr(ts)?;
            ts.expect(")", " after the arguments of `WRITE_ONCE`")?;
            ts.expect(";", " after `WRITE_ONCE(...)`")?;
            out.push(Stmt::WriteOnce { addr, value, pos });
        }
        "smp_store_release" => {
            ts.next()?;
            ts.expect("(", " after `smp_store_release`")?;
            let addr = parse_expr(ts)?;
            ts.expect(",", " between the arguments of `smp_store_release`")?;
            let value = parse_expr(ts)?;
            ts.expect(")", " after the arguments of `smp_store_release`")?;
            ts.expect(";", " after `smp_store_release(...)`")?;
            out.push(Stmt::StoreRelease { addr, value, pos });
        }
        "smp_mb" | "smp_rmb" | "smp_wmb" | "smp_mb__before_atomic" | "smp_mb__after_atomic" => {
            ts.next()?;
            ts.expect("(", &format!(" after `{name}`"))?;
            ts.expect(")", &format!(" (`{name}` takes no arguments)"))?;
            ts.expect(";", &format!(" after `{name}()`"))?;
            let fence = match name.as_str() {
                "smp_rmb" => CFence::Rmb,
                "smp_wmb" => CFence::Wmb,
                _ => CFence::Mb,
            };
            out.push(Stmt::Fence(fence, pos));
        }
        "atomic_add" | "atomic_sub" | "atomic_inc" | "atomic_dec" => {
            ts.next()?;
            let (value, addr) = parse_add_args(ts, &name, pos)?;
            ts.expect(";", &format!(" after `{name}(...)`"))?;
            out.push(Stmt::AtomicAdd { addr, value, pos });
        }
        "atomic_set" | "atomic_set_release" => {
            ts.next()?;
            ts.expect("(", &format!(" after `{name}`"))?;
            let mut args = parse_args(ts, &name, 2)?.into_iter();
            let (addr, value) = (args.next().expect("two"), args.next().expect("two"));
            ts.expect(";", &format!(" after `{name}(...)`"))?;
            out.push(if name == "atomic_set" {
                Stmt::WriteOnce { addr, value, pos }
            } else {
                Stmt::StoreRelease { addr, value, pos }
            });
        }
        _ if after.tok.is("=") => {
            ts.next()?;
            ts.next()?;
            let value = parse_expr(ts)?;
            ts.expect(";", " after the assignment")?;
            out.push(Stmt::Assign { name, value, pos });
        }
        _ if matches!(after.tok, Tok::Punct("+=" | "-=" | "*=" | "/=" | "%=" | "&=" | "|=" | "^=" | "++" | "--")) => {
            return Err(ts.error(after.pos, format!("unsupported: operator {}", after.tok.describe())));
        }
        _ if is_type_word(&name) || matches!(after.tok, Tok::Ident(_)) => parse_decl(ts, out)?,
        _ => {
            let e = parse_expr(ts)?;
            ts.expect(";", " after the expression")?;
            out.push(Stmt::Expr(e, pos));
        }
    }
    Ok(())
}

/// The statements only kernel C has (loops, `return`, per-CPU writes, the
/// arm64 helpers, compound assignments), if `name` at `pos` starts one:
/// parsed into `out`, and true.
fn parse_kernel_stmt(ts: &mut TokenStream, name: &str, pos: Pos, out: &mut Vec<Stmt>) -> Result<bool> {
    let after = ts.peek_nth(1)?;
    match name {
        "while" => {
            ts.next()?;
            ts.expect("(", " after `while`")?;
            let cond = parse_expr(ts)?;
            ts.expect(")", " after the `while` condition")?;
            let body = parse_branch(ts, pos)?;
            out.push(Stmt::Loop { cond: Some(cond), body, step: vec![], do_while: false, pos });
        }
        "do" => {
            ts.next()?;
            let body = parse_branch(ts, pos)?;
            let w = ts.peek()?;
            if !w.tok.is_ident("while") {
                return Err(ts.unexpected(&w, "`while (...)` after the body of `do`"));
            }
            ts.next()?;
            ts.expect("(", " after `while`")?;
            let cond = parse_expr(ts)?;
            ts.expect(")", " after the `while` condition")?;
            ts.expect(";", " after `do ... while (...)`")?;
            out.push(Stmt::Loop { cond: Some(cond), body, step: vec![], do_while: true, pos });
        }
        "for" => {
            ts.next()?;
            ts.expect("(", " after `for`")?;
            if ts.eat(";")?.is_none() {
                parse_stmt(ts, out)?;
            }
            let cond = if ts.peek()?.tok.is(";") { None } else { Some(parse_expr(ts)?) };
            ts.expect(";", " after the `for` condition")?;
            let mut step = vec![];
            if !ts.peek()?.tok.is(")") {
                step.push(parse_simple_assign(ts)?);
            }
            ts.expect(")", " after the `for` step")?;
            let body = parse_branch(ts, pos)?;
            out.push(Stmt::Loop { cond, body, step, do_while: false, pos });
        }
        "break" | "continue" => {
            ts.next()?;
            ts.expect(";", &format!(" after `{name}`"))?;
            out.push(if name == "break" { Stmt::Break(pos) } else { Stmt::Continue(pos) });
        }
        "return" => {
            ts.next()?;
            let value = if ts.peek()?.tok.is(";") { None } else { Some(parse_expr(ts)?) };
            ts.expect(";", " after the `return`")?;
            out.push(Stmt::Return(value, pos));
        }
        "this_cpu_write" => {
            ts.next()?;
            ts.expect("(", " after `this_cpu_write`")?;
            let (var, vpos) = ts.expect_ident("a per-CPU variable")?;
            ts.expect(",", " between the arguments of `this_cpu_write`")?;
            let value = parse_expr(ts)?;
            ts.expect(")", " after the arguments of `this_cpu_write`")?;
            ts.expect(";", " after `this_cpu_write(...)`")?;
            out.push(Stmt::WriteOnce { addr: Expr::PerCpu { var, cpu: None, pos: vpos }, value, pos });
        }
        "per_cpu" if after.tok.is("(") => {
            // `per_cpu(var, cpu) = v;`
            let addr = parse_lvalue(ts, "an assignment")?;
            ts.expect("=", " after `per_cpu(...)` (a per-CPU variable is written by `=` or `WRITE_ONCE`)")?;
            let value = parse_expr(ts)?;
            ts.expect(";", " after the assignment")?;
            out.push(Stmt::WriteOnce { addr, value, pos });
        }
        "isb" | "instr_sync" | "local_flush_tlb_all" => {
            ts.next()?;
            ts.expect("(", &format!(" after `{name}`"))?;
            ts.expect(")", &format!(" (`{name}` takes no arguments)"))?;
            ts.expect(";", &format!(" after `{name}()`"))?;
            let h = if name == "local_flush_tlb_all" { Helper::LocalFlushTlbAll } else { Helper::Isb };
            out.push(Stmt::Helper(h, pos));
        }
        "dsb" | "dmb" | "__tlbi" => {
            ts.next()?;
            ts.expect("(", &format!(" after `{name}`"))?;
            let (opt, opos) = ts.expect_ident("a barrier option such as `ish`")?;
            let h = if name == "__tlbi" {
                if opt != "vmalle1" {
                    return Err(
                        ts.error(opos, format!("unsupported: __tlbi({opt}) (only vmalle1, this CPU's whole TLB)"))
                    );
                }
                Helper::TlbiVmalle1
            } else {
                let o = DomainOpt::by_name(&opt).ok_or_else(|| {
                    ts.error(opos, format!("unknown barrier option `{opt}` (known: ish, ishld, ishst, nsh, sy)"))
                })?;
                if name == "dsb" { Helper::Dsb(o) } else { Helper::Dmb(o) }
            };
            ts.expect(")", &format!(" after the argument of `{name}`"))?;
            ts.expect(";", &format!(" after `{name}(...)`"))?;
            out.push(Stmt::Helper(h, pos));
        }
        "atomic_or" | "atomic_andnot" => {
            // Relaxed, no result: the value is dropped.
            ts.next()?;
            ts.expect("(", &format!(" after `{name}`"))?;
            let mut args = parse_args(ts, name, 2)?.into_iter();
            let (value, addr) = (args.next().expect("two"), args.next().expect("two"));
            ts.expect(";", &format!(" after `{name}(...)`"))?;
            let op = if name == "atomic_or" { AtomicOp::FetchOr } else { AtomicOp::FetchAndnot };
            let e = Expr::Atomic {
                op,
                order: AtomicOrder::Relaxed,
                addr: Box::new(addr),
                value: Box::new(value),
                expected: None,
                pos,
            };
            out.push(Stmt::Expr(e, pos));
        }
        _ if matches!(after.tok, Tok::Punct("+=" | "-=" | "*=" | "&=" | "|=" | "^=" | "++" | "--" | "<<=" | ">>=")) => {
            out.push(parse_simple_assign(ts)?);
            ts.expect(";", " after the assignment")?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// `name = e`, `name op= e`, `name++`, `name--` (no `;`): a `for` step or a
/// statement of kernel C.
fn parse_simple_assign(ts: &mut TokenStream) -> Result<Stmt> {
    let (name, pos) = ts.expect_ident("an assignment such as `i++`")?;
    let t = ts.next()?;
    let var = Expr::Var(name.clone(), pos);
    let op = match t.tok {
        Tok::Punct("=") => return Ok(Stmt::Assign { name, value: parse_expr(ts)?, pos }),
        Tok::Punct("++") => return Ok(Stmt::Assign { name, value: bin(BinOp::Add, var, Expr::Int(1, t.pos)), pos }),
        Tok::Punct("--") => return Ok(Stmt::Assign { name, value: bin(BinOp::Sub, var, Expr::Int(1, t.pos)), pos }),
        Tok::Punct("+=") => BinOp::Add,
        Tok::Punct("-=") => BinOp::Sub,
        Tok::Punct("*=") => BinOp::Mul,
        Tok::Punct("&=") => BinOp::And,
        Tok::Punct("|=") => BinOp::Or,
        Tok::Punct("^=") => BinOp::Xor,
        Tok::Punct("<<=") => BinOp::Shl,
        Tok::Punct(">>=") => BinOp::Shr,
        _ => return Err(ts.unexpected(&t, "`=`, a compound assignment or `++`/`--`")),
    };
    let rhs = parse_expr(ts)?;
    Ok(Stmt::Assign { name, value: bin(op, var, rhs), pos })
}

fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let pos = a.pos();
    Expr::Binary(op, Box::new(a), Box::new(b), pos)
}

/// A per-CPU variable as a location (kernel C): `per_cpu(var, cpu)`, or
/// `*p`; returns its address. `what` names the use, for errors.
fn parse_lvalue(ts: &mut TokenStream, what: &str) -> Result<Expr> {
    let t = ts.peek()?;
    if t.tok.is("*") {
        ts.next()?;
        return parse_unary(ts);
    }
    if t.tok.is_ident("per_cpu") && ts.peek_nth(1)?.tok.is("(") {
        ts.next()?;
        return parse_per_cpu(ts, "per_cpu", true);
    }
    Err(ts.unexpected(&t, &format!("`*pointer` or `per_cpu(var, cpu)` as the location of {what}")))
}

/// The arguments of `per_cpu(var, cpu)`, `this_cpu_read(var)` (`plain`) or
/// `per_cpu_ptr(&var, cpu)`, `this_cpu_ptr(&var)`, after the name; the
/// variable's address.
fn parse_per_cpu(ts: &mut TokenStream, name: &str, plain: bool) -> Result<Expr> {
    ts.expect("(", &format!(" after `{name}`"))?;
    if !plain {
        ts.expect("&", &format!(" (the first argument of `{name}` is `&variable`)"))?;
    }
    let (var, vpos) = ts.expect_ident("a per-CPU variable")?;
    let cpu = if name == "this_cpu_ptr" || name == "this_cpu_read" {
        None
    } else {
        ts.expect(",", &format!(" between the arguments of `{name}`"))?;
        Some(Box::new(parse_expr(ts)?))
    };
    ts.expect(")", &format!(" after the arguments of `{name}`"))?;
    Ok(Expr::PerCpu { var, cpu, pos: vpos })
}

/// The body of an `if` or `else`: one statement or a block.
fn parse_branch(ts: &mut TokenStream, pos: Pos) -> Result<Vec<Stmt>> {
    ts.enter(pos)?;
    let mut out = vec![];
    let r = parse_stmt(ts, &mut out);
    ts.leave();
    r.map(|()| out)
}

/// `type name [= e] {, [*]name [= e]} ;`
fn parse_decl(ts: &mut TokenStream, out: &mut Vec<Stmt>) -> Result<()> {
    let start = ts.peek()?;
    let (words, mut stars) = parse_type_prefix(ts)?;
    if words.is_empty() {
        return Err(ts.unexpected(&start, "a declaration `type name;`"));
    }
    // The first declarator is positioned at the type, later ones at their name.
    let mut decl_pos = Some(start.pos);
    loop {
        let (name, name_pos) = ts.expect_ident("a variable name")?;
        let pos = decl_pos.take().unwrap_or(name_pos);
        if let Some(t) = ts.eat("[")? {
            return Err(ts.error(t.pos, "unsupported: arrays"));
        }
        let init = if ts.eat("=")?.is_some() { Some(parse_expr(ts)?) } else { None };
        let ty: Type = make_type(&words, stars);
        out.push(Stmt::Decl { name, ty, init, pos });
        let t = ts.next()?;
        match t.tok {
            Tok::Punct(";") => return Ok(()),
            Tok::Punct(",") => {
                stars = 0;
                while ts.eat("*")?.is_some() {
                    stars += 1;
                }
            }
            _ => return Err(ts.unexpected(&t, "`;` or `,` after the declaration")),
        }
    }
}

/// `*e` as the first argument of `READ_ONCE`/`WRITE_ONCE`: returns `e`, the
/// address. `*x` takes just `x`; `*(e)` the parenthesised expression.
fn parse_deref(ts: &mut TokenStream, what: &str) -> Result<Expr> {
    let t = ts.peek()?;
    if !t.tok.is("*") {
        return Err(ts.unexpected(&t, &format!("`*` (the first argument of `{what}` must be `*pointer`)")));
    }
    ts.next()?;
    parse_unary(ts)
}

/// Binding power of a supported binary operator (higher binds tighter).
fn binop(tok: &Tok) -> Option<(BinOp, u8)> {
    let Tok::Punct(p) = tok else { return None };
    Some(match *p {
        "||" => (BinOp::LOr, 1),
        "&&" => (BinOp::LAnd, 2),
        "|" => (BinOp::Or, 3),
        "^" => (BinOp::Xor, 4),
        "&" => (BinOp::And, 5),
        "==" => (BinOp::Eq, 6),
        "!=" => (BinOp::Ne, 6),
        "<" => (BinOp::Lt, 7),
        ">" => (BinOp::Gt, 7),
        "<=" => (BinOp::Le, 7),
        ">=" => (BinOp::Ge, 7),
        "<<" => (BinOp::Shl, 8),
        ">>" => (BinOp::Shr, 8),
        "+" => (BinOp::Add, 9),
        "-" => (BinOp::Sub, 9),
        "*" => (BinOp::Mul, 10),
        _ => return None,
    })
}

/// A full expression.
fn parse_expr(ts: &mut TokenStream) -> Result<Expr> {
    parse_binary(ts, 1)
}

/// Precedence climbing over [`binop`]; C operators outside the subset are
/// reported where they appear.
fn parse_binary(ts: &mut TokenStream, min: u8) -> Result<Expr> {
    let mut lhs = parse_unary(ts)?;
    // Each operator nests the tree one level deeper; count it against the
    // nesting limit so long chains cannot build trees too deep to drop.
    // (Errors abort the whole parse, so only the success path must leave.)
    let mut entered = 0;
    let result = loop {
        let t = ts.peek()?;
        let kernel_op = ts.kernel && matches!(t.tok, Tok::Punct("*" | "<<" | ">>"));
        if let Tok::Punct(p @ ("*" | "/" | "%" | "<<" | ">>" | "?" | "=")) = t.tok
            && !kernel_op
        {
            let msg = match p {
                "*" | "/" | "%" => {
                    format!("unsupported: operator `{p}` (multiplication and division are not modelled)")
                }
                "?" => "unsupported: conditional operator `?:`".to_string(),
                "=" => "unsupported: assignment inside an expression".to_string(),
                _ => format!("unsupported: operator `{p}`"),
            };
            return Err(ts.error(t.pos, msg));
        }
        let Some((op, prec)) = binop(&t.tok) else { break lhs };
        if prec < min {
            break lhs;
        }
        ts.next()?;
        ts.enter(t.pos)?;
        entered += 1;
        let rhs = parse_binary(ts, prec + 1)?;
        let pos = lhs.pos();
        lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs), pos);
    };
    for _ in 0..entered {
        ts.leave();
    }
    Ok(result)
}

/// Prefix operators `!`, `-`, `&x`; `*` here is a plain access.
fn parse_unary(ts: &mut TokenStream) -> Result<Expr> {
    let t = ts.peek()?;
    match t.tok {
        Tok::Punct("!" | "-") => {
            ts.next()?;
            // Fold `-<literal>` so that i64::MIN is expressible.
            if t.tok.is("-")
                && let Tok::Int { value, hex } = ts.peek()?.tok
            {
                ts.next()?;
                let v = int_value(value, hex, true).ok_or_else(|| ts.error(t.pos, "integer literal out of range"))?;
                return parse_postfix(ts, Expr::Int(v, t.pos));
            }
            let op = if t.tok.is("!") { UnOp::Not } else { UnOp::Neg };
            ts.enter(t.pos)?;
            let e = parse_unary(ts);
            ts.leave();
            Ok(Expr::Unary(op, Box::new(e?), t.pos))
        }
        Tok::Punct("~") if ts.kernel => {
            ts.next()?;
            ts.enter(t.pos)?;
            let e = parse_unary(ts);
            ts.leave();
            Ok(Expr::Unary(UnOp::BitNot, Box::new(e?), t.pos))
        }
        Tok::Punct("&") if ts.kernel && ts.peek_nth(1)?.tok.is_ident("per_cpu") => {
            ts.next()?;
            parse_lvalue(ts, "`&`")
        }
        Tok::Punct("&") => {
            ts.next()?;
            let (name, _) = ts.expect_ident("a location name after `&`")?;
            parse_postfix(ts, Expr::AddrOf(name, t.pos))
        }
        Tok::Punct("*") => Err(plain_access(ts, &t)),
        Tok::Punct("~" | "++" | "--") => Err(ts.error(t.pos, format!("unsupported: operator {}", t.tok.describe()))),
        _ => parse_primary(ts),
    }
}

/// Literals, variables, `(e)`, `READ_ONCE(*e)`, `smp_load_acquire(e)`.
fn parse_primary(ts: &mut TokenStream) -> Result<Expr> {
    let t = ts.next()?;
    let pos = t.pos;
    let e = match t.tok {
        Tok::Int { value, hex } => {
            Expr::Int(int_value(value, hex, false).ok_or_else(|| ts.error(pos, "integer literal out of range"))?, pos)
        }
        Tok::Punct("(") if cast_follows(ts)? => {
            // `(int *)e`, `(void *)0`: a cast changes no bits here (every value is a 64-bit
            // register, every location a word), so it is read and dropped.
            skip_cast(ts, pos)?;
            ts.enter(pos)?;
            let e = parse_unary(ts);
            ts.leave();
            return e;
        }
        Tok::Punct("(") => {
            ts.enter(pos)?;
            let e = parse_expr(ts);
            ts.leave();
            let e = e?;
            ts.expect(")", &format!(" to close the `(` at {}:{}", pos.line, pos.col))?;
            e
        }
        Tok::Ident(name) => {
            if let Some(msg) = unsupported_keyword(&name) {
                return Err(ts.error(pos, msg));
            }
            if !ts.peek()?.tok.is("(") {
                if ts.kernel && (name == "true" || name == "false") {
                    return parse_postfix(ts, Expr::Int((name == "true") as i64, pos));
                }
                return parse_postfix(ts, Expr::Var(name, pos));
            }
            // Each call is a nesting level, as a parenthesis is: `cmpxchg(cmpxchg(…` as deep as
            // the stack used to overflow is refused at the level past the limit.
            ts.enter(pos)?;
            let call = parse_call(ts, &name, pos);
            ts.leave();
            call?
        }
        _ => return Err(ts.unexpected(&t, "an expression")),
    };
    parse_postfix(ts, e)
}

/// After a `(`: does a cast's type follow (`int *)`, `void *)`, `struct foo *)`, `unsigned
/// long)`)? Its first word must be a type keyword or `struct`, so `(x)` stays an expression.
pub(crate) fn cast_follows(ts: &mut TokenStream) -> Result<bool> {
    let Tok::Ident(first) = ts.peek()?.tok else { return Ok(false) };
    if !(is_type_word(&first) || first == "struct") {
        return Ok(false);
    }
    let mut k = 1;
    loop {
        let t = ts.peek_nth(k)?.tok;
        match t {
            Tok::Ident(_) => k += 1,
            _ if t.is("*") => k += 1,
            _ => return Ok(t.is(")")),
        }
    }
}

/// Reads a cast's type and its `)` (the `(` at `open` already read; [`cast_follows`] said so).
pub(crate) fn skip_cast(ts: &mut TokenStream, open: Pos) -> Result<()> {
    while matches!(ts.peek()?.tok, Tok::Ident(_)) || ts.peek()?.tok.is("*") {
        ts.next()?;
    }
    ts.expect(")", &format!(" to close the cast at {}:{}", open.line, open.col))?;
    Ok(())
}

/// The call `name(…)` at `pos`, its `(` next: the reads and value-returning atomics.
fn parse_call(ts: &mut TokenStream, name: &str, pos: Pos) -> Result<Expr> {
    Ok(match name {
        "READ_ONCE" if ts.kernel => {
            ts.next()?;
            let addr = parse_lvalue(ts, "`READ_ONCE`")?;
            ts.expect(")", " after the argument of `READ_ONCE`")?;
            Expr::ReadOnce(Box::new(addr), pos)
        }
        "this_cpu_read" | "per_cpu" if ts.kernel => Expr::ReadOnce(Box::new(parse_per_cpu(ts, name, true)?), pos),
        "this_cpu_ptr" | "per_cpu_ptr" if ts.kernel => parse_per_cpu(ts, name, false)?,
        "READ_ONCE" => {
            ts.next()?;
            let addr = parse_deref(ts, "READ_ONCE")?;
            ts.expect(")", " after the argument of `READ_ONCE`")?;
            Expr::ReadOnce(Box::new(addr), pos)
        }
        "smp_load_acquire" => {
            ts.next()?;
            let addr = parse_expr(ts)?;
            ts.expect(")", " after the argument of `smp_load_acquire`")?;
            Expr::LoadAcquire(Box::new(addr), pos)
        }
        "atomic_read" | "atomic_read_acquire" => {
            ts.next()?;
            let addr = Box::new(parse_expr(ts)?);
            ts.expect(")", &format!(" after the argument of `{name}`"))?;
            if name == "atomic_read" { Expr::ReadOnce(addr, pos) } else { Expr::LoadAcquire(addr, pos) }
        }
        "WRITE_ONCE"
        | "smp_store_release"
        | "smp_mb"
        | "smp_rmb"
        | "smp_wmb"
        | "atomic_add"
        | "atomic_sub"
        | "atomic_inc"
        | "atomic_dec"
        | "atomic_set"
        | "atomic_set_release"
        | "smp_mb__before_atomic"
        | "smp_mb__after_atomic" => {
            return Err(ts.error(pos, format!("`{name}` is a statement and has no value")));
        }
        _ if atomic_rmw(name, ts.kernel).is_some() => parse_atomic(ts, name, pos)?,
        _ if ts.kernel && unsupported_primitive(name).is_none() => {
            // Another function of the file, inlined by the compiler (which knows the file's functions).
            ts.next()?;
            let mut args = vec![];
            if ts.eat(")")?.is_none() {
                loop {
                    args.push(parse_expr(ts)?);
                    let t = ts.next()?;
                    match t.tok {
                        Tok::Punct(",") => {}
                        Tok::Punct(")") => break,
                        _ => return Err(ts.unexpected(&t, &format!("`,` or `)` in the arguments of `{name}`"))),
                    }
                }
            }
            Expr::Call { name: name.to_string(), args, pos }
        }
        _ => {
            let msg = unsupported_primitive(name).unwrap_or_else(|| format!("unsupported: call to `{name}`"));
            return Err(ts.error(pos, msg));
        }
    })
}

/// The value-returning atomic read-modify-writes: operation and ordering
/// (`kernel`: with those only protocol files use).
fn atomic_rmw(name: &str, kernel: bool) -> Option<(AtomicOp, AtomicOrder)> {
    let (base, order) = match name.rsplit_once('_') {
        Some((b, "relaxed")) => (b, AtomicOrder::Relaxed),
        Some((b, "acquire")) => (b, AtomicOrder::Acquire),
        Some((b, "release")) => (b, AtomicOrder::Release),
        _ => (name, AtomicOrder::Full),
    };
    let op = match base {
        "xchg" | "atomic_xchg" => AtomicOp::Xchg,
        "cmpxchg" | "atomic_cmpxchg" => AtomicOp::Cmpxchg,
        "atomic_add_return" | "atomic_sub_return" | "atomic_inc_return" | "atomic_dec_return" => {
            AtomicOp::Add { fetch: false }
        }
        "atomic_fetch_add" | "atomic_fetch_sub" | "atomic_fetch_inc" | "atomic_fetch_dec" => {
            AtomicOp::Add { fetch: true }
        }
        "atomic_fetch_or" if kernel => AtomicOp::FetchOr,
        "atomic_fetch_andnot" if kernel => AtomicOp::FetchAndnot,
        "atomic_try_cmpxchg" if kernel => AtomicOp::TryCmpxchg,
        _ => return None,
    };
    Some((op, order))
}

/// `n` comma-separated arguments and the closing `)` (the `(` is consumed).
fn parse_args(ts: &mut TokenStream, name: &str, n: usize) -> Result<Vec<Expr>> {
    let mut args = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            ts.expect(",", &format!(" between the arguments of `{name}` (it takes {n})"))?;
        }
        args.push(parse_expr(ts)?);
    }
    ts.expect(")", &format!(" after the arguments of `{name}` (it takes {n})"))?;
    Ok(args)
}

/// The operand and address of an add-like call (`atomic_add(v, p)`,
/// `atomic_inc(p)`, ...), after its name; the operand is negated for sub
/// and the constant 1 or -1 for inc and dec.
fn parse_add_args(ts: &mut TokenStream, name: &str, pos: Pos) -> Result<(Expr, Expr)> {
    ts.expect("(", &format!(" after `{name}`"))?;
    let kind = name.strip_prefix("atomic_").unwrap_or(name);
    let kind = kind.split('_').find(|w| matches!(*w, "add" | "sub" | "inc" | "dec")).unwrap_or(kind);
    match kind {
        "inc" | "dec" => {
            let addr = parse_args(ts, name, 1)?.remove(0);
            Ok((Expr::Int(if kind == "inc" { 1 } else { -1 }, pos), addr))
        }
        _ => {
            let mut args = parse_args(ts, name, 2)?.into_iter();
            let (value, addr) = (args.next().expect("two"), args.next().expect("two"));
            let value = if kind == "sub" { Expr::Unary(UnOp::Neg, Box::new(value), pos) } else { value };
            Ok((value, addr))
        }
    }
}

/// The arguments of the value-returning atomic `name` (its `(` is next).
fn parse_atomic(ts: &mut TokenStream, name: &str, pos: Pos) -> Result<Expr> {
    let (op, order) = atomic_rmw(name, ts.kernel).expect("an atomic read-modify-write");
    let (addr, value, expected) = match op {
        AtomicOp::Xchg => {
            ts.expect("(", &format!(" after `{name}`"))?;
            let mut args = parse_args(ts, name, 2)?.into_iter();
            (args.next().expect("two"), args.next().expect("two"), None)
        }
        AtomicOp::Cmpxchg | AtomicOp::TryCmpxchg => {
            ts.expect("(", &format!(" after `{name}`"))?;
            let mut args = parse_args(ts, name, 3)?.into_iter();
            let addr = args.next().expect("three");
            let expected = args.next().expect("three");
            (addr, args.next().expect("three"), Some(Box::new(expected)))
        }
        AtomicOp::Add { .. } => {
            let (value, addr) = parse_add_args(ts, name, pos)?;
            (addr, value, None)
        }
        AtomicOp::FetchOr | AtomicOp::FetchAndnot => {
            ts.expect("(", &format!(" after `{name}`"))?;
            let mut args = parse_args(ts, name, 2)?.into_iter();
            let value = args.next().expect("two");
            (args.next().expect("two"), value, None)
        }
    };
    Ok(Expr::Atomic { op, order, addr: Box::new(addr), value: Box::new(value), expected, pos })
}

/// Rejects postfix forms outside the subset (`x[i]`, `p->f`, `x++`, calls
/// through expressions).
fn parse_postfix(ts: &mut TokenStream, e: Expr) -> Result<Expr> {
    let t = ts.peek()?;
    let msg = match t.tok {
        Tok::Punct("[") => "unsupported: array indexing",
        Tok::Punct("->" | ".") => "unsupported: struct member access",
        Tok::Punct("++" | "--") => "unsupported: increment/decrement",
        Tok::Punct("(") => "unsupported: call through an expression",
        _ => return Ok(e),
    };
    Err(ts.error(t.pos, msg))
}
