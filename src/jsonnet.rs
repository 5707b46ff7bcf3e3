//! Jsonnet evaluation for operator-supplied templates: courier HTTP bodies, web-hook bodies
//! and OpenID Connect claim mappers.
//!
//! Kratos calls such a file as a function of one top-level argument, `ctx`; a file that is not a
//! function is evaluated as is (Go-jsonnet ignores unused top-level arguments too). Imports are
//! refused: templates are single files. The interpreter's state is not `Send`, so async callers
//! go through [`evaluate_blocking`], which runs it on the blocking pool.

use rsjsonnet_lang::arena::Arena;
use rsjsonnet_lang::interner::InternedStr;
use rsjsonnet_lang::program::{
    Callbacks, EvalError, EvalErrorKind, EvalStackTraceItem, ImportError, LoadError, NativeError,
    Program, Thunk, Value,
};
use rsjsonnet_lang::span::{SpanId, SpanManager};

/// Deep templates or runaway recursion stop here instead of exhausting the thread's stack.
const MAX_STACK: usize = 500;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum JsonnetError {
    /// The source does not lex, parse or analyse (a configuration mistake).
    #[error("{name}: does not parse: {detail}")]
    Syntax { name: String, detail: String },
    /// `error "…"` in the template: Kratos uses this to cancel a web hook on purpose.
    #[error("{name}: {message}")]
    Explicit { name: String, message: String },
    /// Any other evaluation failure (wrong types, missing fields, …).
    #[error("{name}: evaluation failed: {detail}")]
    Eval { name: String, detail: String },
}

impl JsonnetError {
    /// The template raised `error "…"` with a message containing `cancel`, which Kratos treats as
    /// "do not send", not as a failure.
    pub fn is_cancel(&self) -> bool {
        matches!(self, JsonnetError::Explicit { message, .. } if message.contains("cancel"))
    }
}

/// Checks that `source` parses, so a broken template is reported at start-up.
pub fn check(name: &str, source: &str) -> Result<(), JsonnetError> {
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    load(&mut program, name, source.as_bytes(), true).map(|_| ())
}

/// Evaluates `source` with `ctx` as its top-level argument and returns the resulting JSON.
pub fn evaluate(
    name: &str,
    source: &str,
    ctx: &serde_json::Value,
) -> Result<serde_json::Value, JsonnetError> {
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    program.set_max_stack(MAX_STACK);
    let mut callbacks = NoImports;
    let root = load(&mut program, name, source.as_bytes(), true)?;
    let eval_err = |program: &Program<'_>, e: EvalError| describe_eval(program, name, source, e);
    let value = program
        .eval_value(&root, &mut callbacks)
        .map_err(|e| eval_err(&program, e))?;
    let value = if value.is_function() {
        // JSON is Jsonnet, so the context goes in as source text: exactly what a TLA code
        // argument is.
        let ctx_text = serde_json::to_vec(ctx).expect("JSON values serialise");
        let ctx_thunk = load(&mut program, "ctx", &ctx_text, false)?;
        let func: Thunk<'_> = program.value_to_thunk(&value);
        let arg: (InternedStr<'_>, Thunk<'_>) = (program.intern_str("ctx"), ctx_thunk.clone());
        // A function whose parameter is not called `ctx` still gets it positionally.
        match program.eval_call(&func, &[], std::slice::from_ref(&arg), &mut callbacks) {
            Ok(v) => v,
            Err(e) if matches!(e.kind, EvalErrorKind::UnknownCallParam { .. }) => program
                .eval_call(&func, &[ctx_thunk], &[], &mut callbacks)
                .map_err(|e| eval_err(&program, e))?,
            Err(e) => return Err(eval_err(&program, e)),
        }
    } else {
        value
    };
    let text = program
        .manifest_json(&value, false)
        .map_err(|e| eval_err(&program, e))?;
    serde_json::from_str(&text).map_err(|e| JsonnetError::Eval {
        name: name.to_owned(),
        detail: format!("result is not JSON: {e}"),
    })
}

/// Evaluates `source` with each `(name, value)` of `ext` as an external variable
/// (`std.extVar(name)`), as Kratos runs OpenID Connect claim mappers. The result is the
/// file's value; a file that is a function is an error.
pub fn evaluate_ext(
    name: &str,
    source: &str,
    ext: &[(&str, &serde_json::Value)],
) -> Result<serde_json::Value, JsonnetError> {
    let arena = Arena::new();
    let mut program = Program::new(&arena);
    program.set_max_stack(MAX_STACK);
    let mut callbacks = NoImports;
    for (var, value) in ext {
        // JSON is Jsonnet: the value goes in as source text, as a code external variable.
        let text = serde_json::to_vec(value).expect("JSON values serialise");
        let thunk = load(&mut program, var, &text, false)?;
        let interned = program.intern_str(var);
        program.add_ext_var(interned, &thunk);
    }
    let root = load(&mut program, name, source.as_bytes(), true)?;
    let value = program
        .eval_value(&root, &mut callbacks)
        .map_err(|e| describe_eval(&program, name, source, e))?;
    let text = program
        .manifest_json(&value, false)
        .map_err(|e| describe_eval(&program, name, source, e))?;
    serde_json::from_str(&text).map_err(|e| JsonnetError::Eval {
        name: name.to_owned(),
        detail: format!("result is not JSON: {e}"),
    })
}

/// [`evaluate_ext`] on the blocking pool, for async callers.
pub async fn evaluate_ext_blocking(
    name: String,
    source: std::sync::Arc<str>,
    ext: Vec<(String, serde_json::Value)>,
) -> Result<serde_json::Value, JsonnetError> {
    let n = name.clone();
    tokio::task::spawn_blocking(move || {
        let vars: Vec<(&str, &serde_json::Value)> =
            ext.iter().map(|(k, v)| (k.as_str(), v)).collect();
        evaluate_ext(&name, &source, &vars)
    })
    .await
    .unwrap_or_else(|_| {
        Err(JsonnetError::Eval {
            name: n,
            detail: "the evaluator panicked".into(),
        })
    })
}

/// [`evaluate`] on the blocking pool, for async callers.
pub async fn evaluate_blocking(
    name: String,
    source: std::sync::Arc<str>,
    ctx: serde_json::Value,
) -> Result<serde_json::Value, JsonnetError> {
    let n = name.clone();
    tokio::task::spawn_blocking(move || evaluate(&name, &source, &ctx))
        .await
        .unwrap_or_else(|_| {
            Err(JsonnetError::Eval {
                name: n,
                detail: "the evaluator panicked".into(),
            })
        })
}

fn load<'p>(
    program: &mut Program<'p>,
    name: &str,
    source: &[u8],
    with_stdlib: bool,
) -> Result<Thunk<'p>, JsonnetError> {
    let (span_ctx, _) = program
        .span_manager_mut()
        .insert_source_context(source.len());
    program
        .load_source(span_ctx, source, with_stdlib, name)
        .map_err(|e| {
            let span = match &e {
                LoadError::Parse(rsjsonnet_lang::parser::ParseError::Expected { span, .. }) => {
                    Some(*span)
                }
                _ => None,
            };
            let at = span
                .map(|s| position(program.span_manager(), source, s))
                .unwrap_or_default();
            JsonnetError::Syntax {
                name: name.to_owned(),
                detail: format!("{at}{}", short_debug(&e)),
            }
        })
}

fn describe_eval(program: &Program<'_>, name: &str, source: &str, e: EvalError) -> JsonnetError {
    let span = e.stack_trace.iter().find_map(|item| match item {
        EvalStackTraceItem::Expr { span } => Some(*span),
        _ => None,
    });
    match e.kind {
        EvalErrorKind::ExplicitError { message, .. } => JsonnetError::Explicit {
            name: name.to_owned(),
            message,
        },
        kind => {
            let at = span
                .map(|s| position(program.span_manager(), source.as_bytes(), s))
                .unwrap_or_default();
            JsonnetError::Eval {
                name: name.to_owned(),
                detail: format!("{at}{}", short_debug(&kind)),
            }
        }
    }
}

/// `line L: ` for a span, counted in the template's own text.
fn position(spans: &SpanManager, source: &[u8], span: SpanId) -> String {
    let (_, start, _) = spans.get_span(span);
    let start = start.min(source.len());
    let line = source[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    format!("line {line}: ")
}

/// The error's debug form without the interpreter's internal span handles.
fn short_debug(e: &impl std::fmt::Debug) -> String {
    let text = format!("{e:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("SpanId(") {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        rest = rest.find(')').map(|j| &rest[j + 1..]).unwrap_or("");
        out.push('…');
    }
    out.push_str(rest);
    out
}

struct NoImports;

impl<'p> Callbacks<'p> for NoImports {
    fn import(
        &mut self,
        _: &mut Program<'p>,
        _: SpanId,
        _: &str,
    ) -> Result<Thunk<'p>, ImportError> {
        Err(ImportError)
    }
    fn import_str(
        &mut self,
        _: &mut Program<'p>,
        _: SpanId,
        _: &str,
    ) -> Result<String, ImportError> {
        Err(ImportError)
    }
    fn import_bin(
        &mut self,
        _: &mut Program<'p>,
        _: SpanId,
        _: &str,
    ) -> Result<Vec<u8>, ImportError> {
        Err(ImportError)
    }
    fn trace(&mut self, _: &mut Program<'p>, message: &str, _: &[EvalStackTraceItem]) {
        // Operators debug templates with std.trace; the message is theirs, not user data.
        tracing::debug!(target: "jsonnet", "{message}");
    }
    fn native_call(
        &mut self,
        _: &mut Program<'p>,
        _: InternedStr<'p>,
        _: &[Value<'p>],
    ) -> Result<Value<'p>, NativeError> {
        Err(NativeError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn external_variables_feed_a_claims_mapper() {
        let mapper = r#"
            local claims = std.extVar('claims');
            { identity: { traits: { email: claims.email, [if 'name' in claims then 'name']: claims.name } } }
        "#;
        let claims = json!({"sub": "1", "email": "a@example.test"});
        let out = evaluate_ext("mapper", mapper, &[("claims", &claims)]).unwrap();
        assert_eq!(
            out,
            json!({"identity": {"traits": {"email": "a@example.test"}}})
        );
        // An unknown variable is an evaluation error, not a panic.
        let e = evaluate_ext("mapper", "std.extVar('nope')", &[]).unwrap_err();
        assert!(matches!(e, JsonnetError::Eval { .. }), "{e:?}");
    }

    #[test]
    fn calls_the_template_with_ctx() {
        let src = r#"function(ctx) { to: ctx.recipient, body: std.asciiUpper(ctx.template_data.code), n: std.length(ctx.list) }"#;
        let out = evaluate(
            "body.jsonnet",
            src,
            &json!({"recipient": "+15550100", "template_data": {"code": "ab12"}, "list": [1, 2]}),
        )
        .unwrap();
        assert_eq!(out, json!({"to": "+15550100", "body": "AB12", "n": 2}));
    }

    #[test]
    fn other_parameter_names_and_plain_values_work() {
        let out = evaluate("a", "function(c) { x: c.a }", &json!({"a": 1})).unwrap();
        assert_eq!(out, json!({"x": 1}));
        let out = evaluate("b", "{ fixed: true }", &json!({"a": 1})).unwrap();
        assert_eq!(out, json!({"fixed": true}));
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let err = evaluate("hook.jsonnet", "function(ctx) {\n  a: ,\n}", &json!({})).unwrap_err();
        assert!(matches!(err, JsonnetError::Syntax { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("hook.jsonnet: does not parse: line 2"),
            "{text}"
        );
        assert!(check("hook.jsonnet", "function(ctx) {").is_err());
        assert!(check("hook.jsonnet", "function(ctx) {}").is_ok());
    }

    #[test]
    fn explicit_errors_and_cancel() {
        let err = evaluate(
            "h",
            r#"function(ctx) if ctx.x then error "cancel" else {}"#,
            &json!({"x": true}),
        )
        .unwrap_err();
        assert!(err.is_cancel());
        let err = evaluate("h", "function(ctx) ctx.missing.field", &json!({})).unwrap_err();
        assert!(matches!(err, JsonnetError::Eval { .. }), "{err:?}");
        assert!(!err.is_cancel());
    }

    #[test]
    fn imports_are_refused_and_recursion_is_bounded() {
        assert!(evaluate("h", "import '/etc/passwd'", &json!({})).is_err());
        assert!(evaluate("h", "local f(x) = f(x + 1); f(0)", &json!({})).is_err());
    }
}
