//! Bounds on everything decoded from a client: how deep a JSON document may nest, how many
//! values it may hold, how many fields a form may have and how many dotted segments one form
//! key may name. Every request decoder applies them before anything walks the data, so no
//! recursive walk further in (pruning, echoing values into the UI, hook contexts, schema
//! validation, JSON Patch, serialisation, even `Drop`) can be driven past them by input.
//!
//! The checks here are iterative: a document at the edge of serde_json's own recursion limit
//! is measured without recursion.

use serde_json::Value;

/// Deepest nesting of any decoded document (objects and arrays; a scalar at the top is 0).
/// Kratos users nest traits and metadata a few levels; serde_json itself refuses 128.
pub const MAX_DEPTH: usize = 64;

/// Most values (objects, arrays and scalars, counted alike) in one decoded document. A batch
/// import of 1,000 identities with their credentials stays well under it.
pub const MAX_VALUES: usize = 100_000;

/// Most fields in one form body. A browser form has a handful; checkboxes of an array trait
/// add one each.
pub const MAX_FORM_FIELDS: usize = 1_000;

/// Most `name=value` pairs read from one query string or `Cookie` header set.
pub const MAX_PAIRS: usize = 256;

/// Most operations in one JSON Patch.
pub const MAX_PATCH_OPERATIONS: usize = 1_000;

/// Why a decoded input was refused; the message names the bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("is nested deeper than {MAX_DEPTH} levels")]
    Depth,
    #[error("holds more than {MAX_VALUES} values")]
    Values,
}

/// Checks a document against [`MAX_DEPTH`] and [`MAX_VALUES`] without recursion.
pub fn check(v: &Value) -> Result<(), Exceeded> {
    check_within(v, 0)
}

/// [`check`] for a value that will sit `depth` containers down in a document (the value of a
/// dotted key `a.b.c` sits 3 objects down once the key is expanded).
pub fn check_within(v: &Value, depth: usize) -> Result<(), Exceeded> {
    // (value, its depth); containers push their children one level deeper.
    let mut stack: Vec<(&Value, usize)> = vec![(v, depth)];
    let mut values = 0usize;
    while let Some((v, depth)) = stack.pop() {
        values += 1;
        if values > MAX_VALUES {
            return Err(Exceeded::Values);
        }
        // An empty container at the limit is fine; one with anything inside is not.
        let deeper = depth + 1;
        match v {
            Value::Object(m) if !m.is_empty() => {
                if deeper > MAX_DEPTH {
                    return Err(Exceeded::Depth);
                }
                stack.extend(m.values().map(|c| (c, deeper)));
            }
            Value::Array(a) if !a.is_empty() => {
                if deeper > MAX_DEPTH {
                    return Err(Exceeded::Depth);
                }
                stack.extend(a.iter().map(|c| (c, deeper)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why a JSON document could not be decoded; reads as the end of a sentence whose subject is
/// the document ("The request body …").
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("is not valid JSON: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("{0}")]
    Bounds(#[from] Exceeded),
}

/// Parses a JSON document from a client and checks its bounds. serde_json stops at 128
/// levels while parsing, so nothing deeper is ever built.
pub fn parse_json(bytes: &[u8]) -> Result<Value, JsonError> {
    let v: Value = serde_json::from_slice(bytes)?;
    check(&v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        let mut v = json!("leaf");
        for _ in 0..depth {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn depth_is_counted_in_containers() {
        assert_eq!(check(&json!(1)), Ok(()));
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(check(&nested(MAX_DEPTH + 1)), Err(Exceeded::Depth));
        // An empty container one level past the limit holds nothing deeper.
        let mut v = json!({});
        for _ in 0..MAX_DEPTH {
            v = json!([v]);
        }
        assert_eq!(check(&v), Ok(()));
        assert_eq!(check(&json!([v])), Err(Exceeded::Depth));
    }

    #[test]
    fn values_are_counted() {
        let many = Value::Array(vec![json!(0); MAX_VALUES - 1]);
        assert_eq!(check(&many), Ok(()));
        let too_many = Value::Array(vec![json!(0); MAX_VALUES]);
        assert_eq!(check(&too_many), Err(Exceeded::Values));
    }

    #[test]
    fn parse_refuses_deep_documents_without_recursing() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(matches!(
            parse_json(deep.as_bytes()),
            Err(JsonError::Bounds(Exceeded::Depth))
        ));
        // Past serde_json's own limit the parser refuses before building anything.
        let deeper = "[".repeat(100_000);
        assert!(matches!(
            parse_json(deeper.as_bytes()),
            Err(JsonError::Syntax(_))
        ));
        assert!(parse_json(br#"{"a":[1,2,{"b":null}]}"#).is_ok());
    }
}
