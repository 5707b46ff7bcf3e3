//! Lexer and parser for the Go `text/template` subset that courier templates use.
//!
//! Everything that can be rejected without data (syntax, unknown functions, undefined
//! variables, `{{break}}` outside `{{range}}`, calls to undefined templates) is rejected
//! here, so a broken override stops start-up instead of failing each message later.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Number, Value};

use super::funcs;

/// A syntax error with the 1-based line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Dot,
    Field(Vec<String>),
    /// `$name` (or bare `$`) followed by an optional `.a.b` chain.
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(Number),
    LParen,
    /// `)` with the field chain written directly after it, as in `(index .A 0).b`.
    RParen(Vec<String>),
    Pipe,
    Comma,
    Declare,
    Assign,
}

enum Piece {
    Text(String),
    Action { toks: Vec<Tok>, line: usize },
}

// ------------------------------------------------------------------ AST

#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    Nil,
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Clone, Debug)]
pub(crate) struct Cmd {
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    /// `=` rather than `:=`: updates an existing variable instead of declaring one.
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action {
        line: usize,
        pipe: Pipe,
    },
    /// `if` (dot unchanged) or `with` (dot becomes the value), with `else if`/`else with` chains.
    Cond {
        line: usize,
        with: bool,
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Option<Vec<Node>>,
    },
    Range {
        line: usize,
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Option<Vec<Node>>,
    },
    Template {
        line: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// A parsed template plus the named templates (`define`, `block`, sibling files) it can call.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub(crate) root: Vec<Node>,
    pub(crate) defs: HashMap<String, Vec<Node>>,
}

impl Parsed {
    pub fn parse(src: &str) -> Result<Parsed, ParseError> {
        let mut out = Parsed::default();
        out.root = out.parse_into(src)?;
        Ok(out)
    }

    /// Adds another file of the same set (Go's `ParseFS` with a glob): its body becomes a
    /// template named after the file, and its `define`s join the set.
    pub fn add_file(&mut self, file_name: &str, src: &str) -> Result<(), ParseError> {
        let body = self.parse_into(src)?;
        self.defs.insert(file_name.to_owned(), body);
        Ok(())
    }

    /// Every `{{template "x"}}` must name a template in the set.
    pub fn check_references(&self) -> Result<(), ParseError> {
        fn walk(nodes: &[Node], defs: &HashMap<String, Vec<Node>>) -> Result<(), ParseError> {
            for n in nodes {
                match n {
                    Node::Template { line, name, .. } if !defs.contains_key(name) => {
                        return err(*line, format!("no such template {name:?}"));
                    }
                    Node::Cond {
                        branches,
                        otherwise,
                        ..
                    } => {
                        for (_, b) in branches {
                            walk(b, defs)?;
                        }
                        walk(otherwise.as_deref().unwrap_or(&[]), defs)?;
                    }
                    Node::Range {
                        body, otherwise, ..
                    } => {
                        walk(body, defs)?;
                        walk(otherwise.as_deref().unwrap_or(&[]), defs)?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        walk(&self.root, &self.defs)?;
        for body in self.defs.values() {
            walk(body, &self.defs)?;
        }
        Ok(())
    }

    /// html/template drops HTML comments from the template's own text; do the same so
    /// overrides produce the bytes Kratos would send. Comments spanning an action stay.
    pub fn strip_html_comments(&mut self) {
        fn strip(nodes: &mut [Node]) {
            for n in nodes {
                match n {
                    Node::Text(t) => {
                        while let Some(start) = t.find("<!--") {
                            let Some(len) = t[start + 4..].find("-->") else {
                                break;
                            };
                            t.replace_range(start..start + 4 + len + 3, "");
                        }
                    }
                    Node::Cond {
                        branches,
                        otherwise,
                        ..
                    } => {
                        for (_, b) in branches {
                            strip(b);
                        }
                        strip(otherwise.as_deref_mut().unwrap_or(&mut []));
                    }
                    Node::Range {
                        body, otherwise, ..
                    } => {
                        strip(body);
                        strip(otherwise.as_deref_mut().unwrap_or(&mut []));
                    }
                    _ => {}
                }
            }
        }
        strip(&mut self.root);
        for body in self.defs.values_mut() {
            strip(body);
        }
    }

    fn parse_into(&mut self, src: &str) -> Result<Vec<Node>, ParseError> {
        let pieces = split(src)?;
        let mut p = Parser {
            pieces: pieces.into_iter().collect(),
            vars: vec!["$".into()],
            range_depth: 0,
            defs: &mut self.defs,
            last_line: 1,
        };
        let (nodes, stop) = p.list(true)?;
        match stop {
            Stop::Eof => Ok(nodes),
            Stop::End(line) => err(line, "unexpected {{end}}"),
            Stop::Else(line, _) => err(line, "unexpected {{else}}"),
        }
    }
}

// ------------------------------------------------------------------ lexer

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits source into literal text and tokenised actions, applying `{{-`/`-}}` trimming
/// and dropping comments.
fn split(src: &str) -> Result<Vec<Piece>, ParseError> {
    let b = src.as_bytes();
    let mut pieces = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    let mut trim_next = false;
    loop {
        let Some(off) = src[pos..].find("{{") else {
            push_text(&mut pieces, &src[pos..], trim_next, false);
            return Ok(pieces);
        };
        let start = pos + off;
        // Go only treats "{{-" as a trim marker when whitespace follows, so "{{-3}}" stays a number.
        let trim_left =
            b.get(start + 2) == Some(&b'-') && b.get(start + 3).is_some_and(|&c| is_ws(c));
        push_text(&mut pieces, &src[pos..start], trim_next, trim_left);
        line += src[pos..start].matches('\n').count();
        let inner = start + 2 + if trim_left { 2 } else { 0 };
        if trim_left && b[start + 3] == b'\n' {
            line += 1;
        }
        if src[inner..].starts_with("/*") {
            let Some(close) = src[inner + 2..].find("*/") else {
                return err(line, "unclosed comment");
            };
            let after = inner + 2 + close + 2;
            line += src[inner..after].matches('\n').count();
            if src[after..].starts_with("}}") {
                pos = after + 2;
                trim_next = false;
            } else if b.get(after).is_some_and(|&c| is_ws(c)) && src[after + 1..].starts_with("-}}")
            {
                pos = after + 4;
                trim_next = true;
            } else {
                return err(line, "comment ends before closing delimiter");
            }
            continue;
        }
        let action_line = line;
        let (toks, end, trim_right) = lex_action(src, inner, &mut line)?;
        pieces.push(Piece::Action {
            toks,
            line: action_line,
        });
        pos = end;
        trim_next = trim_right;
    }
}

fn push_text(pieces: &mut Vec<Piece>, text: &str, trim_start: bool, trim_end: bool) {
    let ws: &[char] = &[' ', '\t', '\r', '\n'];
    let mut t = text;
    if trim_start {
        t = t.trim_start_matches(ws);
    }
    if trim_end {
        t = t.trim_end_matches(ws);
    }
    if !t.is_empty() {
        pieces.push(Piece::Text(t.to_owned()));
    }
}

fn lex_chain(src: &str, i: &mut usize) -> Vec<String> {
    let b = src.as_bytes();
    let mut chain = Vec::new();
    while b.get(*i) == Some(&b'.') && b.get(*i + 1).is_some_and(|&c| is_ident_start(c)) {
        let s = *i + 1;
        let mut e = s;
        while b.get(e).is_some_and(|&c| is_ident(c)) {
            e += 1;
        }
        chain.push(src[s..e].to_owned());
        *i = e;
    }
    chain
}

/// Tokenises one action starting at `i`; returns the tokens, the index after `}}`, and
/// whether the action ended with a `-}}` trim marker.
fn lex_action(
    src: &str,
    mut i: usize,
    line: &mut usize,
) -> Result<(Vec<Tok>, usize, bool), ParseError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    loop {
        let Some(&c) = b.get(i) else {
            return err(*line, "unclosed action");
        };
        match c {
            b'}' if b.get(i + 1) == Some(&b'}') => return Ok((toks, i + 2, false)),
            c if is_ws(c) => {
                if c == b'\n' {
                    *line += 1;
                }
                if src[i + 1..].starts_with("-}}") {
                    return Ok((toks, i + 4, true));
                }
                i += 1;
            }
            b'"' => {
                let mut out = String::new();
                let mut j = i + 1;
                loop {
                    let Some(ch) = src[j..].chars().next() else {
                        return err(*line, "unterminated quoted string");
                    };
                    match ch {
                        '"' => break,
                        '\n' => return err(*line, "unterminated quoted string"),
                        '\\' => {
                            let (decoded, used) = unescape(&src[j..]).ok_or(ParseError {
                                line: *line,
                                message: "invalid escape in string".into(),
                            })?;
                            out.push(decoded);
                            j += used;
                        }
                        _ => {
                            out.push(ch);
                            j += ch.len_utf8();
                        }
                    }
                }
                toks.push(Tok::Str(out));
                i = j + 1;
            }
            b'`' => {
                let Some(close) = src[i + 1..].find('`') else {
                    return err(*line, "unterminated raw quoted string");
                };
                let s = &src[i + 1..i + 1 + close];
                *line += s.matches('\n').count();
                toks.push(Tok::Str(s.to_owned()));
                i += close + 2;
            }
            b'\'' => {
                // A character constant is a number in Go templates.
                let rest = &src[i + 1..];
                let (ch, used) = if rest.starts_with('\\') {
                    unescape(rest).ok_or(ParseError {
                        line: *line,
                        message: "invalid character constant".into(),
                    })?
                } else {
                    let ch = rest.chars().next().ok_or(ParseError {
                        line: *line,
                        message: "unterminated character constant".into(),
                    })?;
                    (ch, ch.len_utf8())
                };
                if rest.as_bytes().get(used) != Some(&b'\'') {
                    return err(*line, "unterminated character constant");
                }
                toks.push(Tok::Num(Number::from(u32::from(ch))));
                i += used + 2;
            }
            b'.' if b.get(i + 1).is_some_and(|&c| is_ident_start(c)) => {
                let chain = lex_chain(src, &mut i);
                toks.push(Tok::Field(chain));
            }
            b'.' if !b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                toks.push(Tok::Dot);
                i += 1;
            }
            b'$' => {
                let s = i;
                i += 1;
                while b.get(i).is_some_and(|&c| is_ident(c)) {
                    i += 1;
                }
                let name = src[s..i].to_owned();
                let chain = lex_chain(src, &mut i);
                toks.push(Tok::Var(name, chain));
            }
            b'(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                i += 1;
                let chain = lex_chain(src, &mut i);
                toks.push(Tok::RParen(chain));
            }
            b'|' => {
                if b.get(i + 1) == Some(&b'|') {
                    return err(*line, "unexpected \"||\" (use the or function)");
                }
                toks.push(Tok::Pipe);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            b'=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            b'-' | b'+' | b'.' | b'0'..=b'9' => {
                let s = i;
                if c == b'-' || c == b'+' {
                    i += 1;
                }
                let hex = src[i..].starts_with("0x") || src[i..].starts_with("0X");
                if hex {
                    i += 2;
                }
                while let Some(&d) = b.get(i) {
                    let exp_sign =
                        !hex && (d == b'-' || d == b'+') && matches!(b[i - 1], b'e' | b'E');
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let text = &src[s..i];
                toks.push(Tok::Num(parse_number(text).ok_or(ParseError {
                    line: *line,
                    message: format!("bad number syntax: {text:?}"),
                })?));
            }
            c if is_ident_start(c) => {
                let s = i;
                while b.get(i).is_some_and(|&c| is_ident(c)) {
                    i += 1;
                }
                toks.push(Tok::Ident(src[s..i].to_owned()));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return err(*line, format!("unexpected {ch:?} in action"));
            }
        }
    }
}

/// Decodes one backslash escape at the start of `s`; returns the char and bytes consumed.
fn unescape(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    let simple = match *b.get(1)? {
        b'n' => Some('\n'),
        b't' => Some('\t'),
        b'r' => Some('\r'),
        b'a' => Some('\x07'),
        b'b' => Some('\x08'),
        b'f' => Some('\x0c'),
        b'v' => Some('\x0b'),
        b'\\' => Some('\\'),
        b'"' => Some('"'),
        b'\'' => Some('\''),
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, 2));
    }
    let digits = match b[1] {
        b'x' => 2,
        b'u' => 4,
        b'U' => 8,
        _ => return None,
    };
    let hex = s.get(2..2 + digits)?;
    let code = u32::from_str_radix(hex, 16).ok()?;
    Some((char::from_u32(code)?, 2 + digits))
}

fn parse_number(text: &str) -> Option<Number> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.as_bytes().first()? {
        b'-' => (true, &clean[1..]),
        b'+' => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = i64::from_str_radix(hex, 16).ok()?;
        return Some(Number::from(if neg { -v } else { v }));
    }
    if !body.contains(['.', 'e', 'E']) {
        if let Ok(v) = clean.parse::<i64>() {
            return Some(Number::from(v));
        }
        if let Ok(v) = clean.parse::<u64>() {
            return Some(Number::from(v));
        }
    }
    Number::from_f64(clean.parse::<f64>().ok()?)
}

// ------------------------------------------------------------------ parser

enum Stop {
    Eof,
    End(usize),
    Else(usize, Vec<Tok>),
}

struct Parser<'d> {
    pieces: std::collections::VecDeque<Piece>,
    /// Variables in scope, innermost last; Go rejects undefined ones at parse time.
    vars: Vec<String>,
    range_depth: usize,
    defs: &'d mut HashMap<String, Vec<Node>>,
    last_line: usize,
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

impl Parser<'_> {
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.pop_front() {
            let (toks, line) = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action { toks, line } => (toks, line),
            };
            self.last_line = line;
            let keyword = match toks.first() {
                None => return err(line, "missing value for command"),
                Some(Tok::Ident(k)) if KEYWORDS.contains(&k.as_str()) => k.clone(),
                Some(_) => {
                    let pipe = self.pipe(&toks, line, 1)?;
                    nodes.push(Node::Action { line, pipe });
                    continue;
                }
            };
            let rest = &toks[1..];
            match keyword.as_str() {
                "end" => {
                    if !rest.is_empty() {
                        return err(line, "unexpected tokens after {{end}}");
                    }
                    return Ok((nodes, Stop::End(line)));
                }
                "else" => return Ok((nodes, Stop::Else(line, rest.to_vec()))),
                "if" | "with" => nodes.push(self.cond(keyword == "with", rest, line)?),
                "range" => nodes.push(self.range(rest, line)?),
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return err(line, format!("{{{{{keyword}}}}} outside {{{{range}}}}"));
                    }
                    if !rest.is_empty() {
                        return err(line, format!("unexpected tokens after {{{{{keyword}}}}}"));
                    }
                    nodes.push(if keyword == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" => {
                    if !top {
                        return err(line, "{{define}} is only allowed at the top level");
                    }
                    let [Tok::Str(name)] = rest else {
                        return err(line, "{{define}} needs exactly one quoted template name");
                    };
                    let body = self.sub_template(line, "define")?;
                    self.defs.insert(name.clone(), body);
                }
                "template" | "block" => {
                    let Some(Tok::Str(name)) = rest.first() else {
                        return err(
                            line,
                            format!("{{{{{keyword}}}}} needs a quoted template name"),
                        );
                    };
                    let pipe = if rest.len() > 1 {
                        Some(self.pipe(&rest[1..], line, 0)?)
                    } else {
                        None
                    };
                    if keyword == "block" {
                        let body = self.sub_template(line, "block")?;
                        self.defs.insert(name.clone(), body);
                    }
                    nodes.push(Node::Template {
                        line,
                        name: name.clone(),
                        pipe,
                    });
                }
                _ => unreachable!("all keywords handled"),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// Body of a `define`/`block`: its own variable scope, no enclosing range.
    fn sub_template(&mut self, line: usize, what: &str) -> Result<Vec<Node>, ParseError> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let depth = std::mem::replace(&mut self.range_depth, 0);
        let (body, stop) = self.list(false)?;
        self.vars = vars;
        self.range_depth = depth;
        match stop {
            Stop::End(_) => Ok(body),
            Stop::Else(l, _) => err(l, format!("unexpected {{{{else}}}} in {{{{{what}}}}}")),
            Stop::Eof => err(line, format!("missing {{{{end}}}} for {{{{{what}}}}}")),
        }
    }

    fn cond(&mut self, with: bool, toks: &[Tok], line: usize) -> Result<Node, ParseError> {
        let kw = if with { "with" } else { "if" };
        let mark = self.vars.len();
        let mut branches = Vec::new();
        let mut pipe = self.pipe(toks, line, 1)?;
        loop {
            let (body, stop) = self.list(false)?;
            branches.push((pipe, body));
            match stop {
                Stop::End(_) => break,
                Stop::Eof => {
                    return err(line, format!("missing {{{{end}}}} for {{{{{kw}}}}}"));
                }
                Stop::Else(l, rest) if rest.is_empty() => {
                    let (body, stop) = self.list(false)?;
                    self.vars.truncate(mark);
                    return match stop {
                        Stop::End(_) => Ok(Node::Cond {
                            line,
                            with,
                            branches,
                            otherwise: Some(body),
                        }),
                        Stop::Else(l2, _) => err(
                            l2,
                            format!("{{{{else}}}} after {{{{else}}}} in {{{{{kw}}}}}"),
                        ),
                        Stop::Eof => err(l, format!("missing {{{{end}}}} for {{{{{kw}}}}}")),
                    };
                }
                Stop::Else(l, rest) => match rest.first() {
                    Some(Tok::Ident(k)) if k == kw => pipe = self.pipe(&rest[1..], l, 1)?,
                    _ => {
                        return err(
                            l,
                            format!("unexpected tokens after {{{{else}}}} in {{{{{kw}}}}}"),
                        );
                    }
                },
            }
        }
        self.vars.truncate(mark);
        Ok(Node::Cond {
            line,
            with,
            branches,
            otherwise: None,
        })
    }

    fn range(&mut self, toks: &[Tok], line: usize) -> Result<Node, ParseError> {
        let mark = self.vars.len();
        let pipe = self.pipe(toks, line, 2)?;
        self.range_depth += 1;
        let (body, stop) = self.list(false)?;
        self.range_depth -= 1;
        let otherwise = match stop {
            Stop::End(_) => None,
            Stop::Eof => return err(line, "missing {{end}} for {{range}}"),
            Stop::Else(l, rest) => {
                if !rest.is_empty() {
                    return err(l, "unexpected tokens after {{else}} in {{range}}");
                }
                match self.list(false)? {
                    (b, Stop::End(_)) => Some(b),
                    (_, Stop::Else(l2, _)) => {
                        return err(l2, "{{else}} after {{else}} in {{range}}");
                    }
                    (_, Stop::Eof) => return err(line, "missing {{end}} for {{range}}"),
                }
            }
        };
        self.vars.truncate(mark);
        Ok(Node::Range {
            line,
            pipe,
            body,
            otherwise,
        })
    }

    /// A full pipeline, with an optional leading declaration of up to `max_decl` variables.
    fn pipe(&mut self, toks: &[Tok], line: usize, max_decl: usize) -> Result<Pipe, ParseError> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut i = 0;
        loop {
            match (toks.get(i), toks.get(i + 1)) {
                (Some(Tok::Var(name, chain)), Some(Tok::Declare | Tok::Assign | Tok::Comma))
                    if chain.is_empty() =>
                {
                    decl.push(name.clone());
                    if toks[i + 1] == Tok::Comma {
                        i += 2;
                        continue;
                    }
                    assign = toks[i + 1] == Tok::Assign;
                    i += 2;
                    break;
                }
                _ if !decl.is_empty() => return err(line, "malformed variable declaration"),
                _ => break,
            }
        }
        if decl.len() > max_decl {
            return err(line, "too many declarations in command");
        }
        if assign {
            for d in &decl {
                if !self.vars.contains(d) {
                    return err(line, format!("undefined variable {d:?}"));
                }
            }
        }
        let cmds = self.cmds(&toks[i..], &mut 0, line, false)?;
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn cmds(
        &self,
        toks: &[Tok],
        i: &mut usize,
        line: usize,
        in_paren: bool,
    ) -> Result<Vec<Cmd>, ParseError> {
        let mut cmds = Vec::new();
        loop {
            let cmd = self.cmd(toks, i, line)?;
            if cmds.is_empty() {
                if matches!(cmd.args[0], Arg::Nil) {
                    return err(line, "nil is not a command");
                }
            } else if !matches!(cmd.args[0], Arg::Func(_)) {
                return err(
                    line,
                    format!(
                        "non executable command in pipeline stage {}",
                        cmds.len() + 1
                    ),
                );
            }
            if cmd.args.len() > 1 && !matches!(cmd.args[0], Arg::Func(_)) {
                return err(line, "can't give argument to non-function");
            }
            cmds.push(cmd);
            match toks.get(*i) {
                Some(Tok::Pipe) => *i += 1,
                Some(Tok::RParen(_)) if in_paren => return Ok(cmds),
                None if !in_paren => return Ok(cmds),
                None => return err(line, "unclosed left paren"),
                Some(t) => return err(line, format!("unexpected {t:?} in command")),
            }
        }
    }

    fn cmd(&self, toks: &[Tok], i: &mut usize, line: usize) -> Result<Cmd, ParseError> {
        let mut args = Vec::new();
        while let Some(t) = toks.get(*i) {
            let arg = match t {
                Tok::Pipe | Tok::RParen(_) => break,
                Tok::LParen => {
                    *i += 1;
                    let cmds = self.cmds(toks, i, line, true)?;
                    let Some(Tok::RParen(chain)) = toks.get(*i) else {
                        return err(line, "unclosed left paren");
                    };
                    Arg::Sub(
                        Box::new(Pipe {
                            decl: Vec::new(),
                            assign: false,
                            cmds,
                        }),
                        chain.clone(),
                    )
                }
                Tok::Dot => Arg::Dot,
                Tok::Field(c) => Arg::Field(c.clone()),
                Tok::Var(name, c) => {
                    if !self.vars.contains(name) {
                        return err(line, format!("undefined variable {name:?}"));
                    }
                    Arg::Var(name.clone(), c.clone())
                }
                Tok::Str(s) => Arg::Lit(Value::String(s.clone())),
                Tok::Num(n) => Arg::Lit(Value::Number(n.clone())),
                Tok::Ident(id) => match id.as_str() {
                    "true" => Arg::Lit(Value::Bool(true)),
                    "false" => Arg::Lit(Value::Bool(false)),
                    "nil" => Arg::Nil,
                    f if funcs::exists(f) => Arg::Func(f.to_owned()),
                    f => return err(line, format!("function {f:?} not defined")),
                },
                Tok::Comma | Tok::Declare | Tok::Assign => {
                    return err(line, format!("unexpected {t:?} in operand"));
                }
            };
            args.push(arg);
            *i += 1;
        }
        if args.is_empty() {
            return err(line, "missing value for command");
        }
        Ok(Cmd { args })
    }
}
