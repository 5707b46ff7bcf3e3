//! Executes a parsed template against JSON data with Go `text/template` semantics.
//!
//! Values are `Option<Value>`: `None` is Go's "no value" (a missing map key), which prints
//! as `<no value>` in text output and as nothing in HTML output, like `html/template`.

use serde_json::Value;

use super::funcs::{self, V};
use super::parse::{Arg, Node, Parsed, Pipe};

/// Deep `{{template}}` recursion is almost certainly a loop; stop it instead of the stack.
const MAX_DEPTH: usize = 100;

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'t> {
    set: &'t Parsed,
    html: bool,
    out: String,
    vars: Vec<(String, V)>,
    depth: usize,
    line: usize,
}

/// Renders `set` with `data` as dot. `html` escapes every interpolated value (never the
/// template's own text), which is what `html/template` does in element content.
pub fn execute(set: &Parsed, data: &Value, html: bool) -> Result<String, String> {
    let dot = Some(data.clone());
    let mut ex = Exec {
        set,
        html,
        out: String::new(),
        vars: vec![("$".into(), dot.clone())],
        depth: 0,
        line: 1,
    };
    ex.walk(&dot, &set.root)
        .map_err(|e| format!("line {}: {e}", ex.line))?;
    Ok(ex.out)
}

impl Exec<'_> {
    fn walk(&mut self, dot: &V, nodes: &[Node]) -> Result<Flow, String> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action { line, pipe } => {
                    self.line = *line;
                    let v = self.pipe(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.emit(&v, pipe);
                    }
                }
                Node::Cond {
                    line,
                    with,
                    branches,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let mut chosen = None;
                    for (pipe, body) in branches {
                        self.line = *line;
                        let v = self.pipe(dot, pipe)?;
                        if funcs::truth(&v) {
                            chosen = Some((v, body));
                            break;
                        }
                    }
                    let flow = match chosen {
                        Some((v, body)) if *with => self.walk(&v, body)?,
                        Some((_, body)) => self.walk(dot, body)?,
                        None => match otherwise {
                            Some(body) => self.walk(dot, body)?,
                            None => Flow::Normal,
                        },
                    };
                    self.vars.truncate(mark);
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    line,
                    pipe,
                    body,
                    otherwise,
                } => {
                    self.line = *line;
                    self.range(dot, pipe, body, otherwise.as_deref())?;
                }
                Node::Template { line, name, pipe } => {
                    self.line = *line;
                    let v = match pipe {
                        Some(p) => self.pipe(dot, p)?,
                        None => None,
                    };
                    let body = self
                        .set
                        .defs
                        .get(name)
                        .ok_or_else(|| format!("no such template {name:?}"))?;
                    if self.depth >= MAX_DEPTH {
                        return Err(format!(
                            "template {name:?} nests deeper than {MAX_DEPTH} levels"
                        ));
                    }
                    let saved = std::mem::replace(&mut self.vars, vec![("$".into(), v.clone())]);
                    self.depth += 1;
                    let r = self.walk(&v, body);
                    self.depth -= 1;
                    self.vars = saved;
                    r?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        dot: &V,
        pipe: &Pipe,
        body: &[Node],
        otherwise: Option<&[Node]>,
    ) -> Result<(), String> {
        let v = self.eval_cmds(dot, pipe)?;
        let items: Vec<(Value, V)> = match &v {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), Some(e.clone())))
                .collect(),
            Some(Value::Object(m)) => {
                // Go visits map keys in sorted order.
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| (Value::String(k.clone()), m.get(k).cloned()))
                    .collect()
            }
            Some(Value::Number(n)) if n.as_u64().is_some() || n.as_i64().is_some() => {
                if pipe.decl.len() > 1 {
                    return Err("can't use two variables when ranging over an integer".into());
                }
                let n = n.as_i64().unwrap_or(i64::MAX).max(0);
                (0..n)
                    .map(|i| (Value::from(i), Some(Value::from(i))))
                    .collect()
            }
            Some(other) => {
                return Err(format!("range can't iterate over {}", funcs::sprint(other)));
            }
        };
        if items.is_empty() {
            if let Some(body) = otherwise {
                self.walk(dot, body)?;
            }
            return Ok(());
        }
        for (key, elem) in items {
            let mark = self.vars.len();
            match pipe.decl.as_slice() {
                [] => {}
                [one] => self.vars.push((one.clone(), elem.clone())),
                [k, e, ..] => {
                    self.vars.push((k.clone(), Some(key)));
                    self.vars.push((e.clone(), elem.clone()));
                }
            }
            let flow = self.walk(&elem, body)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        Ok(())
    }

    fn emit(&mut self, v: &V, pipe: &Pipe) {
        if !self.html {
            self.out.push_str(&funcs::print_text(v));
            return;
        }
        // html/template does not escape twice when the pipeline already ends in `html`.
        let already_escaped = pipe
            .cmds
            .last()
            .is_some_and(|c| matches!(&c.args[0], Arg::Func(f) if f == "html"));
        let s = match v {
            None | Some(Value::Null) => String::new(),
            Some(x) => funcs::sprint(x),
        };
        if already_escaped {
            self.out.push_str(&s);
        } else {
            funcs::escape_html_into(&mut self.out, &s);
        }
    }

    /// Evaluates a pipeline and performs its variable declaration or assignment.
    fn pipe(&mut self, dot: &V, pipe: &Pipe) -> Result<V, String> {
        let v = self.eval_cmds(dot, pipe)?;
        if let Some(name) = pipe.decl.first() {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, dot: &V, pipe: &Pipe) -> Result<V, String> {
        let mut last: Option<V> = None;
        for cmd in &pipe.cmds {
            let v = match &cmd.args[0] {
                Arg::Func(name) => self.call(dot, name, &cmd.args[1..], last.take())?,
                single => self.arg(dot, single)?,
            };
            last = Some(v);
        }
        Ok(last.flatten())
    }

    fn call(&mut self, dot: &V, name: &str, args: &[Arg], piped: Option<V>) -> Result<V, String> {
        // and/or stop evaluating at the deciding operand (Go 1.18+).
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(piped.is_some());
            if total == 0 {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            let want = name == "or";
            let mut last = None;
            for a in args {
                let v = self.arg(dot, a)?;
                if funcs::truth(&v) == want {
                    return Ok(v);
                }
                last = v;
            }
            if let Some(p) = piped {
                return Ok(p);
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        if let Some(p) = piped {
            vals.push(p);
        }
        funcs::call(name, vals, self.html).map_err(|e| format!("error calling {name}: {e}"))
    }

    fn arg(&mut self, dot: &V, arg: &Arg) -> Result<V, String> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Field(chain) => fields(dot, chain),
            Arg::Var(name, chain) => {
                let (_, v) = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| format!("undefined variable {name:?}"))?;
                fields(v, chain)
            }
            Arg::Lit(v) => Ok(Some(v.clone())),
            Arg::Nil => Ok(Some(Value::Null)),
            Arg::Func(name) => self.call(dot, name, &[], None),
            Arg::Sub(pipe, chain) => {
                let v = self.eval_cmds(dot, pipe)?;
                fields(&v, chain)
            }
        }
    }
}

/// Walks `.a.b.c`: map keys index objects; a missing key or a null yields "no value", and
/// so does any step after it (Go does not fail there); a field on a scalar is an error.
fn fields(v: &V, chain: &[String]) -> Result<V, String> {
    let mut cur = v.as_ref();
    for name in chain {
        cur = match cur {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => m.get(name),
            Some(other) => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    funcs::go_type(other)
                ));
            }
        };
    }
    Ok(cur.cloned())
}
