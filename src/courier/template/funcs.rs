//! Template functions (Go's builtins plus the sprig helpers courier templates commonly use)
//! and Go's `fmt` printing rules for JSON values.

use std::cmp::Ordering;
use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Number, Value};

/// `None` is Go's "no value": what a missing map key evaluates to.
pub type V = Option<Value>;

const FUNCS: &[&str] = &[
    // Go text/template builtins
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "html",
    "urlquery",
    "js",
    // sprig subset
    "upper",
    "lower",
    "title",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "default",
    "empty",
    "coalesce",
    "toJson",
    "toString",
    "join",
    "b64enc",
    "b64dec",
    "trunc",
];

pub fn exists(name: &str) -> bool {
    FUNCS.contains(&name)
}

/// Go template truthiness: false, 0, null, no value and empty strings/arrays/maps are false.
pub fn truth(v: &V) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// The Go type a JSON value would decode to, for error messages and `%!verb(type=value)`.
pub fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if is_int(n) => "int",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn is_int(n: &Number) -> bool {
    n.is_i64() || n.is_u64()
}

/// What a text-template action prints.
pub fn print_text(v: &V) -> String {
    match v {
        // A nil interface from a map prints as <no value> in text/template.
        None | Some(Value::Null) => "<no value>".into(),
        Some(x) => sprint(x),
    }
}

/// Go's `%v` for a JSON-decoded value.
pub fn sprint(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(sprint).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", sprint(&m[*k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

fn sprint_v(v: &V) -> String {
    v.as_ref().map_or_else(|| "<nil>".into(), sprint)
}

fn number(n: &Number) -> String {
    if is_int(n) {
        return n.to_string();
    }
    go_float(n.as_f64().unwrap_or(0.0))
}

/// Go's `%v` for float64 (strconv 'g', shortest): exponent form when the decimal exponent is
/// below -4 or at least 6, so 2^30 prints as `1.073741824e+09` exactly as Kratos would.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's {:e} gives the shortest round-trip digits, e.g. "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let frac = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{frac}e{esign}{:02}", &digits[..1], exp.abs());
    }
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{body}")
}

/// Go's `fmt.Sprint`: a space between operands when neither side is a string.
fn go_sprint(args: &[V]) -> String {
    let mut out = String::new();
    let mut prev_string = true;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Some(Value::String(_)));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&sprint_v(a));
        prev_string = is_string;
    }
    out
}

/// The text the escaping builtins (`html`, `urlquery`, `js`) work on.
fn escaper_input(args: &[V], html_mode: bool) -> String {
    if let [Some(Value::String(s))] = args {
        return s.clone();
    }
    if html_mode {
        // html/template skips untyped nils rather than printing them.
        let kept: Vec<V> = args
            .iter()
            .filter(|a| !matches!(a, None | Some(Value::Null)))
            .cloned()
            .collect();
        return go_sprint(&kept);
    }
    let parts: Vec<V> = args
        .iter()
        .map(|a| match a {
            None => Some(Value::String("<no value>".into())),
            other => other.clone(),
        })
        .collect();
    go_sprint(&parts)
}

/// The entities Go's html escaper uses, so output matches Kratos byte for byte.
pub fn escape_html_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `%q`.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn want_args(name: &str, args: &[V], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

/// A string parameter: a missing value is Go's zero string; anything else is a type error.
fn str_arg(v: &V) -> Result<String, String> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "wrong type for value; expected string; got {}",
            go_type(other)
        )),
    }
}

fn int_arg(v: &V) -> Result<i64, String> {
    match v {
        Some(Value::Number(n)) if is_int(n) => {
            n.as_i64().ok_or_else(|| "integer out of range".into())
        }
        Some(other) => Err(format!(
            "wrong type for value; expected int; got {}",
            go_type(other)
        )),
        None => Err("wrong type for value; expected int; got no value".into()),
    }
}

/// sprig's `strval`: strings as they are, everything else through `%v`.
fn strval(v: &V) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        other => sprint_v(other),
    }
}

fn compare(a: &V, b: &V) -> Result<Ordering, String> {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return Ok(x.cmp(&y));
            }
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).ok_or_else(|| "cannot compare NaN".into())
        }
        (Some(Value::String(x)), Some(Value::String(y))) => Ok(x.cmp(y)),
        (Some(x), Some(y)) if std::mem::discriminant(x) == std::mem::discriminant(y) => {
            Err(format!("invalid type for comparison: {}", go_type(x)))
        }
        _ => Err("incompatible types for comparison".into()),
    }
}

fn equal(a: &V, b: &V) -> Result<bool, String> {
    let null = |v: &V| matches!(v, None | Some(Value::Null));
    if null(a) || null(b) {
        return Ok(null(a) && null(b));
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => Ok(x == y),
        (Some(Value::Array(_) | Value::Object(_)), _)
        | (_, Some(Value::Array(_) | Value::Object(_))) => Err("non-comparable type".into()),
        _ => compare(a, b).map(|o| o == Ordering::Equal),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

pub fn call(name: &str, args: Vec<V>, html_mode: bool) -> Result<V, String> {
    let s = |v: String| Ok(Some(Value::String(v)));
    let b = |v: bool| Ok(Some(Value::Bool(v)));
    match name {
        "not" => {
            want_args(name, &args, 1)?;
            b(!truth(&args[0]))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for other in &args[1..] {
                if equal(&args[0], other)? {
                    return b(true);
                }
            }
            b(false)
        }
        "ne" => {
            want_args(name, &args, 2)?;
            b(!equal(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want_args(name, &args, 2)?;
            let o = compare(&args[0], &args[1])?;
            b(match name {
                "lt" => o == Ordering::Less,
                "le" => o != Ordering::Greater,
                "gt" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
        "len" => {
            want_args(name, &args, 1)?;
            let n = match &args[0] {
                Some(Value::String(x)) => x.len(),
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(m)) => m.len(),
                Some(other) if !other.is_null() => {
                    return Err(format!("len of type {}", go_type(other)));
                }
                _ => return Err("len of nil pointer".into()),
            };
            Ok(Some(Value::from(n)))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut cur = first.clone();
            for k in keys {
                cur = match (cur, k) {
                    (None | Some(Value::Null), _) => return Err("index of untyped nil".into()),
                    (Some(Value::Object(mut m)), Some(Value::String(key))) => m.shift_remove(key),
                    (Some(Value::Array(a)), Some(Value::Number(n))) => {
                        let i = n
                            .as_u64()
                            .ok_or_else(|| format!("cannot index slice with {n}"))?;
                        let len = a.len();
                        Some(
                            a.into_iter()
                                .nth(usize::try_from(i).unwrap_or(usize::MAX))
                                .ok_or_else(|| format!("index out of range: {i} (length {len})"))?,
                        )
                    }
                    (Some(c), k) => {
                        return Err(format!(
                            "can't index item of type {} with {}",
                            go_type(&c),
                            k.as_ref().map_or("<nil>", go_type)
                        ));
                    }
                };
            }
            Ok(cur)
        }
        "print" => s(go_sprint(&args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(sprint_v).collect();
            s(format!("{}\n", parts.join(" ")))
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            s(sprintf(&str_arg(fmt)?, rest))
        }
        "html" => {
            let mut out = String::new();
            escape_html_into(&mut out, &escaper_input(&args, html_mode));
            s(out)
        }
        "urlquery" => s(query_escape(&escaper_input(&args, html_mode))),
        "js" => s(js_escape(&escaper_input(&args, html_mode))),
        "upper" | "lower" | "title" | "trim" | "b64enc" | "b64dec" => {
            want_args(name, &args, 1)?;
            let v = str_arg(&args[0])?;
            match name {
                "upper" => s(v.to_uppercase()),
                "lower" => s(v.to_lowercase()),
                "title" => s(title(&v)),
                "trim" => s(v.trim().to_owned()),
                "b64enc" => s(base64::engine::general_purpose::STANDARD.encode(v)),
                _ => match base64::engine::general_purpose::STANDARD.decode(v.trim()) {
                    Ok(bytes) => s(String::from_utf8_lossy(&bytes).into_owned()),
                    // sprig returns the error text instead of failing.
                    Err(e) => s(e.to_string()),
                },
            }
        }
        "trimPrefix" | "trimSuffix" | "contains" | "hasPrefix" | "hasSuffix" => {
            want_args(name, &args, 2)?;
            // sprig takes the subject last so it composes with pipes.
            let (needle, hay) = (str_arg(&args[0])?, str_arg(&args[1])?);
            match name {
                "trimPrefix" => s(hay.strip_prefix(&needle).unwrap_or(&hay).to_owned()),
                "trimSuffix" => s(hay.strip_suffix(&needle).unwrap_or(&hay).to_owned()),
                "contains" => b(hay.contains(&needle)),
                "hasPrefix" => b(hay.starts_with(&needle)),
                _ => b(hay.ends_with(&needle)),
            }
        }
        "replace" => {
            want_args(name, &args, 3)?;
            let (old, new, hay) = (str_arg(&args[0])?, str_arg(&args[1])?, str_arg(&args[2])?);
            s(hay.replace(&old, &new))
        }
        "quote" | "squote" => {
            let parts: Vec<String> = args
                .iter()
                .filter(|a| a.is_some())
                .map(|a| {
                    if name == "quote" {
                        go_quote(&strval(a))
                    } else {
                        format!("'{}'", strval(a))
                    }
                })
                .collect();
            s(parts.join(" "))
        }
        "default" => {
            // sprig: `default DEFAULT GIVEN`; GIVEN usually arrives through a pipe.
            let Some((fallback, given)) = args.split_first() else {
                return Err("wrong number of args for default: want at least 1 got 0".into());
            };
            match given.first() {
                Some(g) if truth(g) => Ok(g.clone()),
                _ => Ok(fallback.clone()),
            }
        }
        "empty" => {
            want_args(name, &args, 1)?;
            b(!truth(&args[0]))
        }
        "coalesce" => Ok(args.into_iter().find(truth).flatten()),
        "toJson" => {
            want_args(name, &args, 1)?;
            s(args[0]
                .as_ref()
                .map_or_else(|| "null".into(), Value::to_string))
        }
        "toString" => {
            want_args(name, &args, 1)?;
            s(strval(&args[0]))
        }
        "join" => {
            want_args(name, &args, 2)?;
            let sep = str_arg(&args[0])?;
            let parts: Vec<String> = match &args[1] {
                Some(Value::Array(a)) => a.iter().map(|x| strval(&Some(x.clone()))).collect(),
                other => vec![strval(other)],
            };
            s(parts.join(&sep))
        }
        "trunc" => {
            want_args(name, &args, 2)?;
            let n = int_arg(&args[0])?;
            let v = str_arg(&args[1])?;
            let count = v.chars().count();
            // sprig: a negative length keeps the end of the string.
            let out: String = if n >= 0 {
                v.chars()
                    .take(usize::try_from(n).unwrap_or(usize::MAX))
                    .collect()
            } else {
                let keep = usize::try_from(n.unsigned_abs())
                    .unwrap_or(usize::MAX)
                    .min(count);
                v.chars().skip(count - keep).collect()
            };
            s(out)
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: %v %s %q %d %f %F %e %g %x %X %t %c %%,
/// with flags `-+0 #`, width and precision. Mismatches print Go's `%!verb(type=value)`.
pub fn sprintf(format: &str, args: &[V]) -> String {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut next = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let (mut minus, mut plus, mut zero) = (false, false, false);
        while let Some(&c) = chars.get(i) {
            match c {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' | '#' => {}
                _ => break,
            }
            i += 1;
        }
        let mut width = 0usize;
        while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
            width = width * 10 + d as usize;
            i += 1;
        }
        let mut prec = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut p = 0usize;
            while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                p = p * 10 + d as usize;
                i += 1;
            }
            prec = Some(p);
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let (text, numeric) = format_one(verb, arg, prec, plus);
        let len = text.chars().count();
        if len >= width {
            out.push_str(&text);
        } else if minus {
            out.push_str(&text);
            out.push_str(&" ".repeat(width - len));
        } else if zero && numeric {
            let (sign, digits) = match text.strip_prefix(['-', '+']) {
                Some(rest) => (&text[..1], rest),
                None => ("", text.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(width - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(width - len));
            out.push_str(&text);
        }
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| match a {
                None | Some(Value::Null) => "<nil>".into(),
                Some(x) => format!("{}={}", go_type(x), sprint(x)),
            })
            .collect();
        let _ = write!(out, "%!(EXTRA {})", extra.join(", "));
    }
    out
}

/// One formatted operand and whether zero padding applies to it.
fn format_one(verb: char, arg: &V, prec: Option<usize>, plus: bool) -> (String, bool) {
    let bad = || match arg {
        None | Some(Value::Null) => format!("%!{verb}(<nil>)"),
        Some(x) => format!("%!{verb}({}={})", go_type(x), sprint(x)),
    };
    let signed = |s: String, positive: bool| if plus && positive { format!("+{s}") } else { s };
    match (verb, arg) {
        ('v', Some(Value::Number(n))) => (
            signed(number(n), n.as_f64().is_some_and(|f| f >= 0.0)),
            true,
        ),
        ('v', v) => (sprint_v(v), false),
        ('s', Some(Value::String(x))) => (
            match prec {
                Some(p) => x.chars().take(p).collect(),
                None => x.clone(),
            },
            false,
        ),
        ('s', Some(x @ (Value::Array(_) | Value::Object(_)))) => (sprint(x), false),
        ('q', Some(Value::String(x))) => (go_quote(x), false),
        ('d', Some(Value::Number(n))) if is_int(n) => (
            signed(n.to_string(), n.as_i64().is_none_or(|i| i >= 0)),
            true,
        ),
        ('f' | 'F' | 'e' | 'g', Some(Value::Number(n))) if !is_int(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            let text = match verb {
                'e' => go_exp(f, prec.unwrap_or(6)),
                'g' => match prec {
                    None => go_float(f),
                    Some(_) => format!("{f}"),
                },
                _ => format!("{f:.*}", prec.unwrap_or(6)),
            };
            (signed(text, f >= 0.0), true)
        }
        ('x' | 'X', Some(Value::Number(n))) if is_int(n) => {
            let text = match n.as_i64() {
                Some(i) if i < 0 => format!("-{:x}", i.unsigned_abs()),
                _ => format!("{:x}", n.as_u64().unwrap_or(0)),
            };
            (
                if verb == 'X' {
                    text.to_uppercase()
                } else {
                    text
                },
                true,
            )
        }
        ('x' | 'X', Some(Value::String(x))) => {
            let mut text = String::new();
            for byte in x.as_bytes() {
                let _ = if verb == 'X' {
                    write!(text, "{byte:02X}")
                } else {
                    write!(text, "{byte:02x}")
                };
            }
            (text, false)
        }
        ('t', Some(Value::Bool(x))) => (x.to_string(), false),
        ('c', Some(Value::Number(n))) if is_int(n) => (
            n.as_u64()
                .and_then(|u| u32::try_from(u).ok())
                .and_then(char::from_u32)
                .map_or_else(|| "\u{FFFD}".into(), String::from),
            false,
        ),
        _ => (bad(), false),
    }
}

/// Go's `%e`: mantissa with `prec` decimals and an exponent of at least two digits.
fn go_exp(f: f64, prec: usize) -> String {
    let sci = format!("{f:.prec$e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{esign}{:02}", exp.abs())
}
