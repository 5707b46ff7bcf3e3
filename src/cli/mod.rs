//! The operator's verbs beside `serve`, as Kratos's command line has them: `identities
//! import|list|get|delete|validate` against a running server's admin API ([`identities`],
//! through [`admin_client`]), `cleanup sql` on the database ([`cleanup`]), and `jsonnet
//! lint|format` on template files ([`jsonnet`]). `main.rs` holds only the clap wiring; these
//! functions print their results on standard output, their per-item errors and progress on
//! standard error, and return the process's exit code.

pub mod admin_client;
pub mod cleanup;
pub mod identities;
pub mod jsonnet;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kratos's `--format` values (`ory/x/cmdx`), `table` being the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    #[value(name = "json-pretty")]
    JsonPretty,
    Yaml,
}

/// How a verb prints its result: `--format`, or only ids with `-q/--quiet`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Output {
    pub format: Format,
    pub quiet: bool,
}

/// Something printable as one row of a table, or as a JSON value.
pub trait Row {
    fn header() -> &'static [&'static str];
    fn columns(&self) -> Vec<String>;
    fn id(&self) -> String;
    fn value(&self) -> Value;
}

impl Output {
    /// Prints `rows`: one value (not a list) when `single` and there is exactly one, as
    /// Kratos's `PrintRow`; `extra` are trailing table rows (a next-page token).
    pub fn print<R: Row>(&self, rows: &[R], single: bool, extra: &[[String; 2]]) {
        let mut out = std::io::stdout().lock();
        if self.quiet {
            for r in rows {
                let _ = writeln!(out, "{}", r.id());
            }
            return;
        }
        let value = if single && rows.len() == 1 {
            rows[0].value()
        } else {
            Value::Array(rows.iter().map(Row::value).collect())
        };
        let text = match self.format {
            Format::Json => serde_json::to_string(&value).expect("JSON values serialise"),
            Format::JsonPretty => {
                serde_json::to_string_pretty(&value).expect("JSON values serialise")
            }
            Format::Yaml => serde_saphyr::to_string(&value)
                .unwrap_or_else(|e| format!("# could not write YAML: {e}")),
            Format::Table => {
                let mut lines: Vec<Vec<String>> =
                    vec![R::header().iter().map(|h| (*h).to_owned()).collect()];
                lines.extend(rows.iter().map(Row::columns));
                if !extra.is_empty() {
                    lines.push(Vec::new());
                    lines.extend(extra.iter().map(|e| e.to_vec()));
                }
                table(&lines)
            }
        };
        let _ = writeln!(out, "{}", text.trim_end());
    }
}

/// Columns padded to their widest cell, two spaces apart (a row shorter than the header
/// leaves the rest empty).
pub fn table(lines: &[Vec<String>]) -> String {
    let cols = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0; cols];
    for l in lines {
        // A two-cell trailer row (a label and a token) does not widen the data columns.
        if l.len() < cols && l.len() <= 2 {
            continue;
        }
        for (i, c) in l.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for l in lines {
        let mut line = String::new();
        for (i, c) in l.iter().enumerate() {
            if i + 1 < l.len() {
                let pad = width[i].saturating_sub(c.chars().count());
                line.push_str(c);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A one-line progress report on standard error, redrawn in place (`\r`) at most a few times a
/// second, and only when standard error is a terminal: logs and pipes get the summary alone.
pub struct Progress {
    on: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    pub fn update(&mut self, line: impl FnOnce() -> String) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        self.drawn = true;
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{}", line());
        let _ = e.flush();
    }

    /// Leaves the line (if one was drawn) so that what follows starts on a fresh one.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_and_leave_trailers_alone() {
        let t = table(&[
            vec!["ID".into(), "NAME".into(), "X".into()],
            vec!["1".into(), "alpha".into(), "y".into()],
            vec![],
            vec!["NEXT PAGE TOKEN".into(), "abc".into()],
        ]);
        assert_eq!(t, "ID  NAME   X\n1   alpha  y\n\nNEXT PAGE TOKEN  abc\n");
    }
}
