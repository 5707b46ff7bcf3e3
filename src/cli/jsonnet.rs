//! `jsonnet lint` and `jsonnet format` for the operator's templates, on the interpreter the
//! server runs them with (`rsjsonnet-lang`, see [`crate::jsonnet`]).
//!
//! Lint reports what the interpreter refuses before evaluating: lexical and syntax errors and
//! its static analysis (unknown variables, `self` outside an object, repeated names, …), each
//! as `file:line:column: message`.
//!
//! Format works on the token stream, so it cannot change what a file means: every token's
//! text is kept byte for byte (strings, text blocks and comments included) and only the
//! whitespace between tokens is rewritten. Lines stay where the author broke them; runs of
//! spaces become one, a comma is followed by a space, blank lines collapse to one, trailing
//! whitespace goes, and each line is indented two spaces per open bracket, two more when it
//! continues an expression (the code line before it does not end with `,`, `;` or an opening
//! bracket). The layout depends on the tokens and line breaks alone, not on the input's
//! indentation, so formatting the result again changes nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rsjsonnet_lang::arena::Arena;
use rsjsonnet_lang::interner::StrInterner;
use rsjsonnet_lang::lexer::{LexError, Lexer};
use rsjsonnet_lang::parser::ParseError;
use rsjsonnet_lang::program::{AnalyzeError, LoadError, Program};
use rsjsonnet_lang::span::{SpanId, SpanManager};
use rsjsonnet_lang::token::{STokenKind, TokenKind};

/// One problem in a file, located by line and column (both from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

fn locate(spans: &SpanManager, source: &[u8], span: SpanId) -> (usize, usize) {
    let (_, start, _) = spans.get_span(span);
    let before = &source[..start.min(source.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The interpreter's error type names as words: `UnfinishedString` → `unfinished string`.
fn words(debug: &str) -> String {
    let name: String = debug.chars().take_while(|c| c.is_alphanumeric()).collect();
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn lex_error(e: &LexError) -> (SpanId, String) {
    use LexError::*;
    let span = match e {
        InvalidChar { span, .. }
        | InvalidUtf8 { span, .. }
        | UnfinishedMultilineComment { span }
        | LeadingZeroInNumber { span }
        | MissingFracDigits { span }
        | MissingExpDigits { span }
        | MissingDigitAfterUnderscore { span }
        | ExpOverflow { span }
        | InvalidEscapeInString { span, .. }
        | IncompleteUnicodeEscape { span }
        | InvalidUtf16EscapeSequence { span, .. }
        | UnfinishedString { span }
        | MissingLineBreakAfterTextBlockStart { span }
        | MissingWhitespaceTextBlockStart { span }
        | InvalidTextBlockTermination { span } => *span,
    };
    let message = match e {
        InvalidChar { chr, .. } => format!("invalid character {chr:?}"),
        InvalidEscapeInString { chr, .. } => format!("invalid escape \\{chr} in string"),
        other => words(&format!("{other:?}")),
    };
    (span, message)
}

fn parse_error(e: &ParseError) -> (SpanId, String) {
    let ParseError::Expected {
        span,
        expected,
        instead,
    } = e;
    let expected: Vec<String> = expected.iter().map(|t| format!("{t:?}")).collect();
    (
        *span,
        format!(
            "syntax error: expected {}, found {instead:?}",
            expected.join(" or ")
        ),
    )
}

fn analyze_error(e: &AnalyzeError) -> (SpanId, String) {
    use AnalyzeError::*;
    match e {
        UnknownVariable { span, name } => (*span, format!("unknown variable {name:?}")),
        SelfOutsideObject { self_span } => (*self_span, "self outside an object".into()),
        SuperOutsideObject { super_span } => (*super_span, "super outside an object".into()),
        DollarOutsideObject { dollar_span } => (*dollar_span, "$ outside an object".into()),
        RepeatedLocalName {
            repeated_span,
            name,
            ..
        } => (*repeated_span, format!("local {name:?} is defined twice")),
        RepeatedFieldName {
            repeated_span,
            name,
            ..
        } => (*repeated_span, format!("field {name:?} is defined twice")),
        RepeatedParamName {
            repeated_span,
            name,
            ..
        } => (*repeated_span, format!("parameter {name:?} is named twice")),
        PositionalArgAfterNamed { arg_span } => {
            (*arg_span, "positional argument after a named one".into())
        }
        TextBlockAsImportPath { span } => (*span, "a text block as an import path".into()),
        ComputedImportPath { span } => (*span, "a computed import path".into()),
    }
}

/// The interpreter's first objection to `source`, and whether it is a syntax error (lexing or
/// parsing) rather than an analysis one.
fn diagnose(name: &str, source: &[u8]) -> Option<(bool, Diagnostic)> {
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    let (ctx, _) = program
        .span_manager_mut()
        .insert_source_context(source.len());
    let err = program.load_source(ctx, source, true, name).err()?;
    let (syntax, (span, message)) = match &err {
        LoadError::Lex(e) => (true, lex_error(e)),
        LoadError::Parse(e) => (true, parse_error(e)),
        LoadError::Analyze(e) => (false, analyze_error(e)),
    };
    let (line, column) = locate(program.span_manager(), source, span);
    Some((
        syntax,
        Diagnostic {
            line,
            column,
            message,
        },
    ))
}

/// What the interpreter refuses in `source` before evaluating it (none: the file is clean).
pub fn lint(name: &str, source: &[u8]) -> Option<Diagnostic> {
    diagnose(name, source).map(|(_, d)| d)
}

/// One token's text and what it is, for the formatter.
struct Piece<'s> {
    text: &'s str,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    Comma,
    Semicolon,
    Comment,
    Other,
}

/// A source line: its pieces, spaces between them marked.
struct Line<'s> {
    /// Whether a blank line comes before it.
    blank_before: bool,
    pieces: Vec<(bool, Piece<'s>)>,
}

/// The file formatted, or the reason it cannot be (it does not lex or parse).
pub fn format(name: &str, source: &str) -> Result<String, Diagnostic> {
    // Analysis problems (an unknown variable) do not stop formatting; broken syntax does.
    if let Some((true, d)) = diagnose(name, source.as_bytes()) {
        return Err(d);
    }
    let arena = Arena::new();
    let ast_arena = Arena::new();
    let interner = StrInterner::new();
    let mut spans = SpanManager::new();
    let (ctx, _) = spans.insert_source_context(source.len());
    let lexed = Lexer::new(
        &arena,
        &ast_arena,
        &interner,
        &mut spans,
        ctx,
        source.as_bytes(),
    )
    .lex_to_eof(true);
    let tokens = match lexed {
        Ok(t) => t,
        Err(e) => {
            let (span, message) = lex_error(&e);
            let (line, column) = locate(&spans, source.as_bytes(), span);
            return Err(Diagnostic {
                line,
                column,
                message,
            });
        }
    };
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut newlines = 0usize;
    let mut space = false;
    let mut first = true;
    for t in &tokens {
        let (_, start, end) = spans.get_span(t.span);
        let mut text = &source[start..end];
        let kind = match t.kind {
            TokenKind::EndOfFile => break,
            TokenKind::Whitespace => {
                let n = text.matches('\n').count();
                newlines += n;
                space = n == 0;
                continue;
            }
            TokenKind::Simple(STokenKind::LeftBrace)
            | TokenKind::Simple(STokenKind::LeftBracket)
            | TokenKind::Simple(STokenKind::LeftParen) => Kind::Open,
            TokenKind::Simple(STokenKind::RightBrace)
            | TokenKind::Simple(STokenKind::RightBracket)
            | TokenKind::Simple(STokenKind::RightParen) => Kind::Close,
            TokenKind::Simple(STokenKind::Comma) => Kind::Comma,
            TokenKind::Simple(STokenKind::Semicolon) => Kind::Semicolon,
            TokenKind::Comment => Kind::Comment,
            _ => Kind::Other,
        };
        // A line comment carries its own line break.
        let ends_line = t.kind == TokenKind::Comment && text.ends_with('\n');
        if ends_line {
            text = text.trim_end_matches(['\n', '\r']);
        }
        if first || newlines > 0 {
            lines.push(Line {
                blank_before: !first && newlines > 1,
                pieces: Vec::new(),
            });
            first = false;
        } else if let Some(last) = lines.last().and_then(|l| l.pieces.last())
            && last.1.kind == Kind::Comma
            && kind != Kind::Close
        {
            space = true;
        }
        let line = lines.last_mut().expect("a line was started");
        line.pieces.push((space, Piece { text, kind }));
        space = false;
        newlines = usize::from(ends_line);
    }
    Ok(render(&lines))
}

/// Lays the lines out: each open bracket indents the lines inside it two spaces past the
/// line that opened it, and a line that continues an expression goes two further.
fn render(lines: &[Line<'_>]) -> String {
    // Per open bracket, the indent of the line that opened it.
    let mut stack: Vec<usize> = Vec::new();
    // Whether the last code line (comments aside) left an expression open.
    let mut continues = false;
    let mut out = String::new();
    for line in lines {
        let starts_closed = line.pieces.first().is_some_and(|p| p.1.kind == Kind::Close);
        let indent = match stack.last() {
            Some(&opener) if starts_closed => opener,
            Some(&opener) => opener + 2 + if continues { 2 } else { 0 },
            None if continues && !starts_closed => 2,
            None => 0,
        };
        if line.blank_before && !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&" ".repeat(indent));
        for (i, (space, p)) in line.pieces.iter().enumerate() {
            if *space && i > 0 {
                out.push(' ');
            }
            out.push_str(p.text);
            match p.kind {
                Kind::Open => stack.push(indent),
                Kind::Close => {
                    stack.pop();
                }
                _ => {}
            }
        }
        out.push('\n');
        if let Some(last) = line.pieces.iter().rev().find(|p| p.1.kind != Kind::Comment) {
            continues = !matches!(last.1.kind, Kind::Comma | Kind::Semicolon | Kind::Open);
        }
    }
    out
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("could not read the file: {e}"))
}

/// `jsonnet lint`: every file; prints `file:line:column: message` per problem and fails when
/// there is any.
pub fn lint_files(paths: &[PathBuf]) -> ExitCode {
    let mut bad = 0;
    for p in paths {
        let name = p.display().to_string();
        match read(p) {
            Err(e) => {
                eprintln!("{name}: {e}");
                bad += 1;
            }
            Ok(src) => {
                if let Some(d) = lint(&name, src.as_bytes()) {
                    eprintln!("{name}:{d}");
                    bad += 1;
                }
            }
        }
    }
    if bad > 0 {
        eprintln!("Linter found issues in {bad} of {} file(s).", paths.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `jsonnet format`: prints each file formatted, or with `write` rewrites the files that
/// change; fails (and leaves the file alone) when one does not parse.
pub fn format_files(paths: &[PathBuf], write: bool) -> ExitCode {
    let mut bad = 0;
    for p in paths {
        let name = p.display().to_string();
        let formatted = read(p).and_then(|src| {
            format(&name, &src)
                .map(|f| (f != src, f))
                .map_err(|d| d.to_string())
        });
        match formatted {
            Err(e) => {
                eprintln!("{name}:{e}");
                bad += 1;
            }
            Ok((changed, text)) if write => {
                if changed && let Err(e) = std::fs::write(p, &text) {
                    eprintln!("{name}: could not write the file: {e}");
                    bad += 1;
                }
            }
            Ok((_, text)) => print!("{text}"),
        }
    }
    if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MESSY: &str = "// A web hook body.\nfunction(ctx)   {\n\n\n      identity_id:ctx.identity.id,\n   emails: [ctx.identity.traits.email,'x',],\n  nested:\n        { a: 1 },   # trailing\n  text: |||\n    keep   this\n      as is\n  |||,\n    cond: if ctx.x then\n            1\n          else\n            2,\n}   \n\n";

    #[test]
    fn format_is_idempotent_and_keeps_the_meaning() {
        let once = format("t", MESSY).unwrap();
        assert_eq!(format("t", &once).unwrap(), once, "{once}");
        let ctx = json!({"identity": {"id": "i", "traits": {"email": "e"}}, "x": true});
        assert_eq!(
            crate::jsonnet::evaluate("t", MESSY, &ctx).unwrap(),
            crate::jsonnet::evaluate("t", &once, &ctx).unwrap()
        );
        assert!(
            once.starts_with(
                "// A web hook body.\nfunction(ctx) {\n\n  identity_id:ctx.identity.id,\n"
            ),
            "{once}"
        );
        assert!(
            once.contains("\n  emails: [ctx.identity.traits.email, 'x',],\n"),
            "{once}"
        );
        assert!(
            once.contains("\n  nested:\n    { a: 1 }, # trailing\n"),
            "{once}"
        );
        assert!(once.contains("    keep   this\n      as is\n"), "{once}");
        assert!(
            once.contains("\n  cond: if ctx.x then\n    1\n    else\n    2,\n}\n"),
            "{once}"
        );
        assert!(once.ends_with("}\n"));
        // Four-space input comes out the same as two-space input.
        let four = "{\n    a: [\n        1,\n    ],\n}\n";
        assert_eq!(format("t", four).unwrap(), "{\n  a: [\n    1,\n  ],\n}\n");
    }

    #[test]
    fn lint_locates_problems() {
        assert_eq!(lint("t", b"{ a: 1 }"), None);
        let d = lint("t", b"{\n  a: 1,\n  b: ,\n}").unwrap();
        assert_eq!((d.line, d.column), (3, 6), "{d}");
        assert!(d.message.starts_with("syntax error"), "{d}");
        let d = lint("t", b"local a = 1;\n{ b: nope }").unwrap();
        assert_eq!((d.line, d.column), (2, 6), "{d}");
        assert_eq!(d.message, "unknown variable \"nope\"");
        let d = lint("t", b"{ a: 'open }").unwrap();
        assert!(d.message.contains("unfinished string"), "{d}");
        assert!(format("t", "{ a: ").is_err());
    }
}
