//! Traits as every method that signs people up or changes a profile reads them: from the
//! submission, against the identity schema, with each violation on its node.

use serde_json::Value;

use crate::identity::schema::{Extracted, IdentitySchema};
use crate::selfservice::flow::request::{Submission, prune_nulls};
use crate::selfservice::ui::UiContainer;
use crate::text;

/// `#/traits/name/first` → `traits.name.first`; array items point at the array's node.
pub fn node_name(pointer: &str) -> Option<String> {
    let path = pointer.trim_start_matches('#').trim_start_matches('/');
    if path.is_empty() {
        return None;
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| p.parse::<usize>().is_err())
        .collect();
    Some(parts.join("."))
}

/// The submitted traits (read against `schema`, nulls pruned), echoed into `ui`; `None` when
/// they are no object.
pub fn read_traits(
    schema: &IdentitySchema,
    sub: &Submission,
    ui: &mut UiContainer,
) -> Option<Value> {
    let mut traits = sub
        .traits(schema)
        .unwrap_or_else(|| Value::Object(Default::default()));
    prune_nulls(&mut traits);
    if !traits.is_object() {
        ui.add_message(text::validation_generic("traits must be an object"));
        return None;
    }
    ui.set_values_from_traits(&traits);
    Some(traits)
}

/// Validates traits against the schema, putting each violation on its node.
pub fn validate_traits(
    schema: &IdentitySchema,
    ui: &mut UiContainer,
    traits: &Value,
) -> Option<Extracted> {
    match schema.validate_traits(traits) {
        Ok(x) => Some(x),
        Err(msgs) => {
            for m in msgs {
                match node_name(&m.instance_ptr) {
                    Some(name) => ui.add_node_message(&name, m.message),
                    None => ui.add_message(m.message),
                }
            }
            None
        }
    }
}
