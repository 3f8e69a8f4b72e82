//! The state language shared by the dialects: the init block, locations,
//! values, and the `locations` / `filter` / final-condition section.
//!
//! herd7 parses all of these with one grammar (stateParser), so one parser
//! serves C, AArch64 and x86; the only dialect differences are register names,
//! normalised here: AArch64's are case-insensitive and `Wn` aliases `Xn`, and
//! x86's print as herd7 prints them (`EAX`; `rax` for `%eax` in `X86_64`).

use super::ast::{Arch, Atom, Condition, InitItem, Loc, Pos, Prop, Quantifier, Type, Value, element_name};
use super::lex::{Tok, TokenStream};
use super::parse::ParseError;

type Result<T> = std::result::Result<T, ParseError>;

/// Keywords that start the constraint section; the C parser uses them to
/// find where the threads end.
pub(crate) const SECTION_KEYWORDS: &[&str] =
    &["exists", "forall", "final", "locations", "filter", "observed", "cases", "with"];

/// The canonical name of a register: AArch64 `w5`/`W5`/`x5` → `X5`, else as written.
pub(crate) fn normalize_reg(arch: Arch, name: &str) -> String {
    if arch == Arch::AArch64 {
        let upper = name.to_ascii_uppercase();
        if let Some(num) = upper.strip_prefix(['W', 'X'])
            && let Ok(n) = num.parse::<u8>()
            && n <= 30
            && num.bytes().all(|b| b.is_ascii_digit())
        {
            return format!("X{n}");
        }
        if upper == "WZR" || upper == "XZR" {
            return "XZR".to_string();
        }
        if upper == "SP" || upper == "WSP" {
            return "SP".to_string();
        }
    }
    if arch.is_x86() {
        return super::x86parse::herd_reg_name(arch, name);
    }
    name.to_string()
}

/// Words of integer types (besides `int*_t`/`uint*_t`).
const INT_WORDS: &[&str] = &[
    "int", "char", "short", "long", "unsigned", "signed", "size_t", "u8", "u16", "u32", "u64", "s8", "s16", "s32",
    "s64", "__u8", "__u16", "__u32", "__u64", "__s8", "__s16", "__s32", "__s64",
];

/// True for words naming (part of) an integer type.
pub(crate) fn is_int_word(w: &str) -> bool {
    INT_WORDS.contains(&w) || ((w.starts_with("int") || w.starts_with("uint")) && w.ends_with("_t"))
}

/// True for words that can only start a type (used to spot C declarations).
pub(crate) fn is_type_word(w: &str) -> bool {
    is_int_word(w) || w.ends_with("_t") || matches!(w, "const" | "volatile" | "_Atomic" | "void" | "bool" | "_Bool")
}

/// Builds a [`Type`] from its words (qualifiers dropped) and pointer depth.
pub(crate) fn make_type(words: &[String], stars: usize) -> Type {
    let core: Vec<&str> = words.iter().map(String::as_str).filter(|w| !matches!(*w, "const" | "volatile")).collect();
    let mut ty = match core.as_slice() {
        ["ins_t"] => Type::Instr,
        ws if !ws.is_empty() && ws.iter().all(|w| is_int_word(w)) => Type::Int(ws.join(" ")),
        [] => Type::Other(words.join(" ")),
        ws => Type::Other(ws.join(" ")),
    };
    for _ in 0..stars {
        ty = Type::Ptr(Box::new(ty));
    }
    ty
}

/// Converts a literal to `i64`: decimal must fit (with its sign), hex may be
/// any 64-bit pattern.
pub(crate) fn int_value(value: u64, hex: bool, negative: bool) -> Option<i64> {
    if negative {
        0i64.checked_sub_unsigned(value)
    } else if hex {
        Some(value as i64)
    } else {
        i64::try_from(value).ok()
    }
}

/// Parses `{ item; item; ... }` (the `{` is next). Ends at the first `}`.
pub(crate) fn parse_init_block(ts: &mut TokenStream, arch: Arch) -> Result<Vec<InitItem>> {
    let open = ts.expect("{", " to start the init block")?;
    let mut items = vec![];
    loop {
        let t = ts.peek()?;
        if t.tok.is("}") {
            ts.next()?;
            return Ok(items);
        }
        if t.tok.is(";") {
            ts.next()?;
            continue;
        }
        if t.tok == Tok::Eof {
            return Err(ts.error(
                t.pos,
                format!("unexpected end of file in the init block opened at {}:{}", open.pos.line, open.pos.col),
            ));
        }
        items.extend(parse_init_item(ts, arch)?);
        let t = ts.peek()?;
        if !t.tok.is(";") && !t.tok.is("}") {
            return Err(ts.unexpected(&t, "`;` or `}` after an init item"));
        }
    }
}

/// Elements an array may have: each is a location of its own.
pub(crate) const MAX_ARRAY: u32 = 1024;

/// One init item: `[type] loc [= value]`; an array's declaration `type v[N] [= {a, b, …}]`
/// (the declaration, then an item per element: `v[0]`, …), or one element's `v[1] = value`.
fn parse_init_item(ts: &mut TokenStream, arch: Arch) -> Result<Vec<InitItem>> {
    let start = ts.peek()?;
    let mut words = vec![];
    loop {
        let t = ts.peek()?;
        let Tok::Ident(w) = &t.tok else { break };
        let after = ts.peek_nth(1)?;
        if matches!(after.tok, Tok::Ident(_) | Tok::Int { .. }) || after.tok.is("*") {
            words.push(w.clone());
            ts.next()?;
        } else {
            break;
        }
    }
    if words.iter().any(|w| w == "union") {
        return Err(ts.error(start.pos, "unsupported: union types in the init block"));
    }
    let mut stars = 0;
    while let Some(t) = ts.eat("*")? {
        if words.is_empty() {
            return Err(ts.error(t.pos, "expected a type before `*`"));
        }
        stars += 1;
    }
    // A pointer to a struct is a word like any pointer; a struct itself has fields.
    if stars == 0 && words.iter().any(|w| w == "struct") {
        return Err(ts.error(start.pos, "unsupported: struct types in the init block (a pointer to one is fine)"));
    }
    let ty = (!words.is_empty()).then(|| make_type(&words, stars));
    let (loc, index) = parse_loc_and_index(ts, arch, "a location or register in the init block")?;
    if let Some(t) = ts.peek().ok().filter(|t| t.tok.is("[")) {
        return Err(ts.error(t.pos, "unsupported: arrays of registers or of arrays"));
    }
    let item = |loc, ty, value| InitItem { loc, ty, value, pos: start.pos, array: None };
    match (index, &loc) {
        (None, _) => {
            let value = if ts.eat("=")?.is_some() { Some(parse_value(ts)?) } else { None };
            Ok(vec![item(loc, ty, value)])
        }
        // `v[1] = 5`: one element.
        (Some((i, _)), Loc::Mem(array)) if ty.is_none() => {
            let value = if ts.eat("=")?.is_some() { Some(parse_value(ts)?) } else { None };
            Ok(vec![item(Loc::Mem(element_name(array, i)), None, value)])
        }
        // `int64_t v[2] = {1, 2}`: the declaration, then each element.
        (Some((len, pos)), Loc::Mem(array)) => {
            if len == 0 {
                return Err(ts.error(pos, format!("`{array}` needs at least one element")));
            }
            let mut values = vec![];
            if ts.eat("=")?.is_some() {
                let open = ts.expect("{", " to start an array's values")?;
                loop {
                    if ts.eat("}")?.is_some() {
                        break;
                    }
                    let t = ts.peek()?;
                    if values.len() == len as usize {
                        return Err(ts.error(t.pos, format!("more values than the {len} elements of `{array}`")));
                    }
                    values.push(parse_value(ts)?);
                    let t = ts.peek()?;
                    if ts.eat(",")?.is_none() && !t.tok.is("}") {
                        return Err(ts.unexpected(
                            &t,
                            &format!("`,` or `}}` in the values opened at {}:{}", open.pos.line, open.pos.col),
                        ));
                    }
                }
            }
            let mut items = vec![InitItem { array: Some(len), ..item(loc.clone(), ty.clone(), None) }];
            let mut values = values.into_iter();
            for i in 0..len {
                items.push(item(Loc::Mem(element_name(array, i)), ty.clone(), values.next()));
            }
            Ok(items)
        }
        (Some(_), Loc::Reg { .. }) => unreachable!("only a memory location takes an index"),
    }
}

/// A location as [`parse_loc`] reads it, and the index after it if it is an array's element
/// (`v[1]`) or size (`int v[2]`), with the index's position.
fn parse_loc_and_index(ts: &mut TokenStream, arch: Arch, what: &str) -> Result<(Loc, Option<(u32, Pos)>)> {
    let loc = parse_plain_loc(ts, arch, what)?;
    if !matches!(loc, Loc::Mem(_)) || !ts.peek()?.tok.is("[") {
        return Ok((loc, None));
    }
    ts.next()?;
    let t = ts.next()?;
    let Tok::Int { value, .. } = t.tok else {
        return Err(ts.unexpected(&t, "an array index (a number) after `[`"));
    };
    let index = u32::try_from(value).ok().filter(|&i| i < MAX_ARRAY).ok_or_else(|| {
        ts.error(t.pos, format!("array index {value} past the {MAX_ARRAY} elements an array may have"))
    })?;
    ts.expect("]", " to close the array index")?;
    Ok((loc, Some((index, t.pos))))
}

/// A location: `0:r0` (register of thread 0), `x` or `[x]` (memory), `v[1]` (an array's element,
/// named as [`element_name`] names it).
pub(crate) fn parse_loc(ts: &mut TokenStream, arch: Arch, what: &str) -> Result<Loc> {
    match parse_loc_and_index(ts, arch, what)? {
        (Loc::Mem(array), Some((i, _))) => Ok(Loc::Mem(element_name(&array, i))),
        (loc, _) => Ok(loc),
    }
}

/// A location without an array index: `0:r0`, `x` or `[x]`.
fn parse_plain_loc(ts: &mut TokenStream, arch: Arch, what: &str) -> Result<Loc> {
    let t = ts.peek()?;
    match t.tok {
        Tok::Int { value, .. } if ts.peek_nth(1)?.tok.is(":") => {
            ts.next()?;
            ts.next()?;
            let tid = usize::try_from(value).map_err(|_| ts.error(t.pos, "thread number too large"))?;
            let (name, _) = ts.expect_ident("a register name after `:`")?;
            Ok(Loc::Reg { tid, name: normalize_reg(arch, &name) })
        }
        Tok::Punct("[") => {
            ts.next()?;
            let (name, pos) = ts.expect_ident("a location name inside `[...]`")?;
            if ts.peek()?.tok.is("(") {
                return Err(ts.error(pos, applied(&name, "a location")));
            }
            ts.expect("]", " to close `[`")?;
            Ok(Loc::Mem(name))
        }
        Tok::Ident(name) => {
            ts.next()?;
            if ts.peek()?.tok.is("(") {
                return Err(ts.error(t.pos, applied(&name, "a location")));
            }
            Ok(Loc::Mem(name))
        }
        _ => Err(ts.unexpected(&t, what)),
    }
}

/// Why `name(...)` as `what` (a location, a value) is refused: herd7's virtual-memory functions
/// (`PTE(x)`, `PA(x)`, `TTD(x)`) are named as such.
fn applied(name: &str, what: &str) -> String {
    if matches!(name, "PTE" | "PA" | "TTD" | "AF" | "DB" | "DBM") {
        virtual_memory(&format!("`{name}(...)` as {what}"))
    } else {
        format!("unsupported: `{name}(...)` as {what}")
    }
}

/// Why herd7's virtual-memory syntax (`PTE(x)`, `PA(x)`, `(oa:PA(x), valid:0)`, fault-handler
/// threads) is refused: `what` is the construct.
pub(crate) fn virtual_memory(what: &str) -> String {
    format!("unsupported: {what} (herd7's virtual-memory tests, -variant vmsa: a litmus test here has no page tables)")
}

/// Parses `P1:L0`'s or `1:L0`'s thread part into a number.
fn label_tid(s: &str) -> Option<usize> {
    let digits = s.strip_prefix('P').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A value: integer, location (`x`, `&x`), label (`P1:L0`, `label:"P1:L0"`),
/// instruction (`NOP`, `instr:"B L1"`), or `ATOMIC_INIT(value)`.
pub(crate) fn parse_value(ts: &mut TokenStream) -> Result<Value> {
    // `(int *)0`, `(void *)&x`: the cast changes nothing a value holds (read in a loop: a value
    // may carry any number of them).
    while let Some(open) = ts.peek().ok().filter(|t| t.tok.is("(")) {
        ts.next()?;
        if matches!(ts.peek()?.tok, Tok::Ident(_)) && ts.peek_nth(1)?.tok.is(":") {
            return Err(ts.error(open.pos, virtual_memory("a page-table entry `(oa:..., valid:...)` as a value")));
        }
        if !super::cparse::cast_follows(ts)? {
            return Err(ts.unexpected(&open, "a value (number, location, label or instruction)"));
        }
        super::cparse::skip_cast(ts, open.pos)?;
    }
    let t = ts.next()?;
    let colon_next = ts.peek()?.tok.is(":");
    match t.tok {
        Tok::Punct("-") => {
            let n = ts.next()?;
            match n.tok {
                Tok::Int { value, hex } => int_value(value, hex, true)
                    .map(Value::Int)
                    .ok_or_else(|| ts.error(t.pos, "integer literal out of range")),
                _ => Err(ts.unexpected(&n, "a number after `-`")),
            }
        }
        Tok::Int { value, .. } if colon_next => {
            ts.next()?;
            let (label, _) = ts.expect_ident("a label name after `:`")?;
            let tid = usize::try_from(value).map_err(|_| ts.error(t.pos, "thread number too large"))?;
            Ok(Value::Label { tid, label })
        }
        Tok::Int { value, hex } => {
            int_value(value, hex, false).map(Value::Int).ok_or_else(|| ts.error(t.pos, "integer literal out of range"))
        }
        Tok::Punct("&") => {
            let (name, _) = ts.expect_ident("a location name after `&`")?;
            Ok(Value::Loc(name))
        }
        // `v={1,2}`: a whole array's value, one value per element.
        Tok::Punct("{") => {
            let mut values = vec![];
            loop {
                let v = ts.peek()?;
                if v.tok.is("{") {
                    return Err(ts.error(v.pos, "unsupported: an array of arrays"));
                }
                if values.len() == MAX_ARRAY as usize {
                    return Err(ts.error(v.pos, format!("more than {MAX_ARRAY} values in `{{...}}`")));
                }
                values.push(parse_value(ts)?);
                let sep = ts.next()?;
                match sep.tok {
                    Tok::Punct(",") => {}
                    Tok::Punct("}") => return Ok(Value::Array(values)),
                    _ => {
                        return Err(ts.unexpected(
                            &sep,
                            &format!("`,` or `}}` in the values opened at {}:{}", t.pos.line, t.pos.col),
                        ));
                    }
                }
            }
        }
        Tok::Ident(w) if w == "instr" && colon_next => {
            ts.next()?;
            let s = ts.next()?;
            match s.tok {
                Tok::Str(text) => Ok(Value::Instr(text.trim().to_string())),
                _ => Err(ts.unexpected(&s, "a quoted instruction after `instr:`")),
            }
        }
        Tok::Ident(w) if w == "label" && colon_next => {
            ts.next()?;
            let s = ts.next()?;
            let Tok::Str(text) = &s.tok else {
                return Err(ts.unexpected(&s, "a quoted label such as \"P1:L0\" after `label:`"));
            };
            let parsed = text.split_once(':').and_then(|(p, l)| {
                let l = l.trim();
                let ok = !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                Some(Value::Label { tid: label_tid(p.trim())?, label: l.to_string() }).filter(|_| ok)
            });
            parsed.ok_or_else(|| ts.error(s.pos, format!("malformed label \"{text}\", expected \"P<n>:<label>\"")))
        }
        Tok::Ident(w) if colon_next && label_tid(&w).is_some() && w.starts_with('P') => {
            ts.next()?;
            let (label, _) = ts.expect_ident("a label name after `:`")?;
            Ok(Value::Label { tid: label_tid(&w).unwrap_or(0), label })
        }
        Tok::Ident(w) if w == "NOP" => Ok(Value::Instr(w)),
        // `atomic_t x = ATOMIC_INIT(v);`
        Tok::Ident(w) if w == "ATOMIC_INIT" && ts.peek()?.tok.is("(") => {
            ts.next()?;
            let v = parse_value(ts)?;
            ts.expect(")", " after the value of `ATOMIC_INIT`")?;
            Ok(v)
        }
        Tok::Ident(w) if ts.peek()?.tok.is("(") => Err(ts.error(t.pos, applied(&w, "a value"))),
        // `x:green`: a location with a memory tag (herd7's -variant mte).
        Tok::Ident(w) if colon_next => Err(ts.error(
            t.pos,
            format!("unsupported: the tagged location `{w}:...` (herd7's memory-tagging tests, -variant mte)"),
        )),
        Tok::Ident(w) => Ok(Value::Loc(w)),
        _ => Err(ts.unexpected(&t, "a value (number, location, label or instruction)")),
    }
}

/// What follows the threads: `locations`, `filter` and the final condition.
pub(crate) struct Constraints {
    /// `locations [...]` items, in order.
    pub locations: Vec<Loc>,
    /// `filter` proposition.
    pub filter: Option<Prop>,
    /// Final condition (`forall (true)` when absent).
    pub condition: Condition,
}

/// Parses the constraint section up to end of file.
pub(crate) fn parse_constraints(ts: &mut TokenStream, arch: Arch) -> Result<Constraints> {
    let mut locations = vec![];
    let mut filter = None;
    loop {
        let t = ts.peek()?;
        if t.tok.is_ident("locations") {
            ts.next()?;
            ts.expect("[", " after `locations`")?;
            loop {
                if ts.eat("]")?.is_some() {
                    break;
                }
                locations.push(parse_loc(ts, arch, "a location in `locations [...]`")?);
                let t = ts.peek()?;
                if ts.eat(";")?.is_none() && !t.tok.is("]") {
                    return Err(ts.unexpected(&t, "`;` or `]` in `locations [...]`"));
                }
            }
        } else if t.tok.is_ident("filter") {
            ts.next()?;
            if filter.is_some() {
                return Err(ts.error(t.pos, "more than one `filter`"));
            }
            filter = Some(parse_prop(ts, arch)?);
        } else {
            break;
        }
    }
    let t = ts.peek()?;
    let quantifier = match &t.tok {
        Tok::Eof => {
            let condition = Condition { quantifier: Quantifier::Forall, prop: Prop::True, pos: t.pos };
            return Ok(Constraints { locations, filter, condition });
        }
        Tok::Ident(w) if w == "exists" || w == "final" => {
            ts.next()?;
            Quantifier::Exists
        }
        Tok::Ident(w) if w == "forall" => {
            ts.next()?;
            Quantifier::Forall
        }
        Tok::Punct("~") if ts.peek_nth(1)?.tok.is_ident("exists") => {
            ts.next()?;
            ts.next()?;
            Quantifier::NotExists
        }
        // A bare proposition means `exists`.
        Tok::Punct("(" | "~") => Quantifier::Exists,
        Tok::Ident(w) if matches!(w.as_str(), "observed" | "cases" | "with") => {
            return Err(ts.error(t.pos, format!("unsupported: `{w}` conditions")));
        }
        _ => {
            return Err(ts.unexpected(
                &t,
                "the final condition (`exists`, `~exists`, `forall`, `final`) or `locations`/`filter`",
            ));
        }
    };
    let prop = parse_prop(ts, arch)?;
    ts.eat(";")?;
    let end = ts.peek()?;
    if end.tok != Tok::Eof {
        return Err(ts.unexpected(&end, "end of file after the final condition"));
    }
    Ok(Constraints { locations, filter, condition: Condition { quantifier, prop, pos: t.pos } })
}

/// `\/` (loosest, left associative).
pub(crate) fn parse_prop(ts: &mut TokenStream, arch: Arch) -> Result<Prop> {
    let mut lhs = parse_and(ts, arch)?;
    let mut entered = 0;
    while let Some(t) = ts.eat("\\/")? {
        // Chains nest the tree: count them against the nesting limit.
        ts.enter(t.pos)?;
        entered += 1;
        let rhs = parse_and(ts, arch)?;
        lhs = Prop::Or(Box::new(lhs), Box::new(rhs));
    }
    (0..entered).for_each(|_| ts.leave());
    Ok(lhs)
}

/// `/\` (left associative).
fn parse_and(ts: &mut TokenStream, arch: Arch) -> Result<Prop> {
    let mut lhs = parse_implies(ts, arch)?;
    let mut entered = 0;
    while let Some(t) = ts.eat("/\\")? {
        ts.enter(t.pos)?;
        entered += 1;
        let rhs = parse_implies(ts, arch)?;
        lhs = Prop::And(Box::new(lhs), Box::new(rhs));
    }
    (0..entered).for_each(|_| ts.leave());
    Ok(lhs)
}

/// `=>` (right associative, binds tighter than `/\` as in herd's grammar).
fn parse_implies(ts: &mut TokenStream, arch: Arch) -> Result<Prop> {
    let lhs = parse_not(ts, arch)?;
    if let Some(t) = ts.eat("=>")? {
        ts.enter(t.pos)?;
        let rhs = parse_implies(ts, arch);
        ts.leave();
        return Ok(Prop::Implies(Box::new(lhs), Box::new(rhs?)));
    }
    Ok(lhs)
}

/// `~p`, `not p`, or a primary.
fn parse_not(ts: &mut TokenStream, arch: Arch) -> Result<Prop> {
    let t = ts.peek()?;
    if t.tok.is("~") || t.tok.is_ident("not") {
        ts.next()?;
        ts.enter(t.pos)?;
        let p = parse_not(ts, arch);
        ts.leave();
        return Ok(Prop::Not(Box::new(p?)));
    }
    parse_primary(ts, arch)
}

/// `true`, `false`, `(p)`, or an atom `loc = value` / `loc != value`.
fn parse_primary(ts: &mut TokenStream, arch: Arch) -> Result<Prop> {
    let t = ts.peek()?;
    match &t.tok {
        Tok::Punct("(") => {
            ts.next()?;
            ts.enter(t.pos)?;
            let p = parse_prop(ts, arch);
            ts.leave();
            let p = p?;
            ts.expect(")", &format!(" to close the `(` at {}:{}", t.pos.line, t.pos.col))?;
            Ok(p)
        }
        Tok::Ident(w) if w == "true" => {
            ts.next()?;
            Ok(Prop::True)
        }
        Tok::Ident(w) if w == "false" => {
            ts.next()?;
            Ok(Prop::False)
        }
        Tok::Ident(w) if ts.peek_nth(1)?.tok.is("(") => Err(ts.error(t.pos, format!("unsupported: `{w}(...)` atoms"))),
        _ => {
            let loc = parse_loc(ts, arch, "a proposition")?;
            if let Some(b) = ts.eat("[")? {
                return Err(ts.error(b.pos, "unsupported: arrays"));
            }
            let op = ts.next()?;
            let negate = match op.tok {
                Tok::Punct("=" | "==") => false,
                Tok::Punct("!=" | "<>") => true,
                _ => return Err(ts.unexpected(&op, "`=` or `!=` after a location")),
            };
            let value = parse_value(ts)?;
            let atom = Prop::Atom(Atom { loc, value, pos: t.pos });
            Ok(if negate { Prop::Not(Box::new(atom)) } else { atom })
        }
    }
}
