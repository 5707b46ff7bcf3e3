//! Identity schemas: loading, meta-rule checks, trait validation and extraction of the
//! `ory.sh/kratos` extension data (identifiers, verifiable and recovery addresses).
//!
//! An identity schema describes the whole identity document `{ "traits": { ... } }`, so
//! traits are validated wrapped in that envelope; that keeps root `$ref`s working.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use base64::Engine as _;

use crate::config::{Config, HttpClient};
use crate::text::{self, UiText};

/// Keyword under which Kratos extension settings live on any property.
pub const EXTENSION_KEYWORD: &str = "ory.sh/kratos";

/// Formats a field with `verification` may declare (identity meta-schema rule).
const VERIFICATION_FORMATS: [&str; 6] =
    ["email", "tel", "date", "time", "date-time", "no-validate"];

/// Guards against `$ref` cycles while walking schemas by hand.
const MAX_DEPTH: usize = 64;

#[derive(thiserror::Error, Debug)]
pub enum SchemaError {
    #[error("identity schema {id:?} ({url}) could not be loaded: {reason}")]
    Fetch {
        id: String,
        url: String,
        reason: String,
    },
    #[error("identity schema {id:?} ({url}) is not valid JSON: {reason}")]
    Parse {
        id: String,
        url: String,
        reason: String,
    },
    #[error("identity schema {id:?} ({url}) is invalid: {reason}")]
    Invalid {
        id: String,
        url: String,
        reason: String,
    },
    #[error(
        "identity schema {id:?} has unsupported location {url:?} (expected file://, base64://, http(s):// or a path)"
    )]
    UnsupportedUrl { id: String, url: String },
    #[error("default identity schema {id:?} is not one of the configured identity schemas")]
    UnknownDefault { id: String },
    /// An HTTP schema that could not be fetched yet; it is retried.
    #[error("identity schema {id:?} is not loaded yet: its location could not be read")]
    NotLoaded { id: String },
}

/// Address channel of an identifier or address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Email,
    Sms,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Email => "email",
            Via::Sms => "sms",
        }
    }
}

// ---- extension configuration (shape of identity_extension.schema.json) ----

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtensionConfig {
    pub credentials: CredentialsExtension,
    pub verification: ViaExtension,
    pub recovery: ViaExtension,
    pub organizations: OrganizationsExtension,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CredentialsExtension {
    pub password: IdentifierFlag,
    pub webauthn: IdentifierFlag,
    pub passkey: PasskeyExtension,
    pub totp: TotpExtension,
    pub code: CodeExtension,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentifierFlag {
    pub identifier: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasskeyExtension {
    pub display_name: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TotpExtension {
    pub account_name: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodeExtension {
    pub identifier: bool,
    pub via: Option<Via>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViaExtension {
    pub via: Option<Via>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationsExtension {
    pub matcher: Option<String>,
}

impl ExtensionConfig {
    fn from_schema(schema: &Map<String, Value>) -> Option<Self> {
        // Shapes were checked at load, so a parse failure cannot happen for loaded schemas.
        schema
            .get(EXTENSION_KEYWORD)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

// ---- public result types ----

/// A validation message located at a Kratos-style instance pointer (`#/traits/email`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldMessage {
    pub instance_ptr: String,
    pub message: UiText,
}

/// Extension data collected from valid traits; all values normalised.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extracted {
    pub password_identifiers: Vec<String>,
    pub code_identifiers: Vec<(String, Via)>,
    pub webauthn_identifiers: Vec<String>,
    pub passkey_display_name: Option<String>,
    pub totp_account_name: Option<String>,
    pub verifiable: Vec<(Via, String)>,
    pub recovery: Vec<(Via, String)>,
}

/// A leaf trait field, in schema order, for building UI nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraitField {
    /// Dotted form name, e.g. `traits.name.first`.
    pub path: String,
    /// `string`, `number`, `integer`, `boolean` or `array`.
    pub json_type: String,
    /// Element type for arrays of scalars.
    pub item_type: Option<String>,
    pub format: Option<String>,
    /// Listed in the parent object's `required`.
    pub required: bool,
    pub title: Option<String>,
    pub pattern: Option<String>,
    /// The field's extension settings (for arrays, the items' when the array has none).
    pub extension: ExtensionConfig,
}

// ---- normalisation ----

/// Normalises an identifier the way Kratos does before storing or looking it up.
///
/// * `Some(Email)`: trimmed and lower-cased (Kratos lower-cases the whole address).
/// * `Some(Sms)`: E.164 (`+` and digits) when it looks like a phone number, else trimmed.
/// * `None`: phone numbers become E.164, everything else is trimmed and lower-cased
///   (Kratos' "graceful" normalisation used for password/webauthn identifiers).
///
/// Kratos parses phone numbers with libphonenumber (no default region, so a leading `+`
/// is required) and checks per-country validity; we approximate with [`normalize_phone`].
pub fn normalize_identifier(value: &str, via: Option<Via>) -> String {
    match via {
        Some(Via::Email) => value.trim().to_lowercase(),
        Some(Via::Sms) => normalize_phone(value).unwrap_or_else(|| value.trim().to_owned()),
        None => normalize_phone(value).unwrap_or_else(|| value.trim().to_lowercase()),
    }
}

/// Approximate libphonenumber E.164 parsing: a leading `+`, then 7..=15 digits (first not
/// 0) optionally separated by spaces, dashes, dots, slashes or parentheses. Per-country
/// length/prefix rules are not checked.
pub fn normalize_phone(value: &str) -> Option<String> {
    let rest = value.trim().strip_prefix('+')?;
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    let ok = (7..=15).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

/// The `tel` format: the jsonschema crate does not know it.
fn is_phone(value: &str) -> bool {
    normalize_phone(value).is_some()
}

/// Email check shared with the validator's `format: email` so both agree.
fn is_email(value: &str) -> bool {
    static CHECK: OnceLock<jsonschema::Validator> = OnceLock::new();
    CHECK
        .get_or_init(|| {
            jsonschema::options()
                .should_validate_formats(true)
                .build(&json!({"type": "string", "format": "email"}))
                .expect("static email schema compiles")
        })
        .is_valid(&json!(value))
}

// ---- schema ----

pub struct IdentitySchema {
    pub id: String,
    pub url: String,
    /// The document as loaded; served by `GET /schemas/{id}`.
    pub raw: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for IdentitySchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySchema")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl IdentitySchema {
    /// Checks the identity meta rules and compiles `raw`.
    pub fn new(id: &str, url: &str, raw: Value) -> Result<Self, SchemaError> {
        let invalid = |reason: String| SchemaError::Invalid {
            id: id.to_owned(),
            url: url.to_owned(),
            reason,
        };
        check_meta(&raw).map_err(invalid)?;
        let validator = compile(&raw, url).map_err(invalid)?;
        Ok(Self {
            id: id.to_owned(),
            url: url.to_owned(),
            raw,
            validator,
        })
    }

    /// Validates traits; on success returns the extension data, else every message.
    pub fn validate_traits(&self, traits: &Value) -> Result<Extracted, Vec<FieldMessage>> {
        let doc = json!({ "traits": traits });
        let mut messages = Vec::new();
        for err in self.validator.iter_errors(&doc) {
            translate_error(&err, &mut messages);
        }
        let mut walker = Walker {
            root: &self.raw,
            out: Extracted::default(),
            errors: Vec::new(),
        };
        walker.walk(&self.raw, &doc, "", 0);
        for m in walker.errors {
            // Extension checks can repeat a keyword failure on the same node.
            if !messages.contains(&m) {
                messages.push(m);
            }
        }
        if messages.is_empty() {
            Ok(walker.out)
        } else {
            Err(messages)
        }
    }

    /// Leaf fields of `properties.traits`, in schema order.
    pub fn trait_fields(&self) -> Vec<TraitField> {
        let mut out = Vec::new();
        if let Some(traits) = self.raw.pointer("/properties/traits") {
            collect_fields(&self.raw, traits, "traits", false, &mut out, 0);
        }
        out
    }
}

fn compile(raw: &Value, url: &str) -> Result<jsonschema::Validator, String> {
    let mut opts = jsonschema::options()
        // Kratos (draft-07) asserts formats.
        .should_validate_formats(true)
        .with_format("tel", is_phone)
        .with_format("no-validate", |_: &str| true)
        .with_format("noformat", |_: &str| true);
    if raw.get("$schema").is_none() {
        // Kratos' validator defaults to draft-07.
        opts = opts.with_draft(jsonschema::Draft::Draft7);
    }
    if let Some(path) = crate::uri::file_path(url)
        && let Ok(abs) = std::path::absolute(path)
        && let Ok(base) = url::Url::from_file_path(abs)
    {
        // Lets relative file `$ref`s resolve next to the schema file.
        opts = opts.with_base_uri(base.to_string());
    }
    opts.build(raw)
        .map_err(|e| format!("not a valid JSON schema: {e}"))
}

// ---- meta rules ----

/// Expected shape of an extension value.
enum Shape {
    Bool,
    Enum(&'static [&'static str]),
    Object(&'static [(&'static str, Shape)]),
}

const VIA: Shape = Shape::Enum(&["email", "sms"]);

static EXTENSION_SHAPE: Shape = Shape::Object(&[
    (
        "credentials",
        Shape::Object(&[
            ("password", Shape::Object(&[("identifier", Shape::Bool)])),
            ("webauthn", Shape::Object(&[("identifier", Shape::Bool)])),
            ("passkey", Shape::Object(&[("display_name", Shape::Bool)])),
            ("totp", Shape::Object(&[("account_name", Shape::Bool)])),
            (
                "code",
                Shape::Object(&[("identifier", Shape::Bool), ("via", VIA)]),
            ),
        ]),
    ),
    ("verification", Shape::Object(&[("via", VIA)])),
    ("recovery", Shape::Object(&[("via", VIA)])),
    (
        "organizations",
        Shape::Object(&[("matcher", Shape::Enum(&["email_domain"]))]),
    ),
]);

fn check_shape(v: &Value, shape: &Shape, path: &str) -> Result<(), String> {
    match shape {
        Shape::Bool if v.is_boolean() => Ok(()),
        Shape::Bool => Err(format!("{path} must be a boolean")),
        Shape::Enum(opts) if v.as_str().is_some_and(|s| opts.contains(&s)) => Ok(()),
        Shape::Enum(opts) => Err(format!(
            "{path} must be one of {}, got {v}",
            opts.join(", ")
        )),
        Shape::Object(fields) => {
            let obj = v
                .as_object()
                .ok_or_else(|| format!("{path} must be an object"))?;
            for (k, sub) in obj {
                let (_, shape) = fields
                    .iter()
                    .find(|(name, _)| name == k)
                    .ok_or_else(|| format!("{path} has unknown setting {k:?}"))?;
                check_shape(sub, shape, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
    }
}

/// Rules of Kratos' identity meta-schema, checked by hand for precise messages.
fn check_meta(raw: &Value) -> Result<(), String> {
    let root = raw.as_object().ok_or("the schema must be a JSON object")?;
    let traits = root
        .get("properties")
        .and_then(Value::as_object)
        .and_then(|p| p.get("traits"))
        .ok_or("the schema must define properties.traits")?;
    let traits = traits
        .as_object()
        .ok_or("properties.traits must be an object schema")?;
    if let Some(t) = traits.get("type")
        && t != "object"
    {
        return Err(format!(
            "properties.traits.type must be \"object\", got {t}"
        ));
    }
    let props = traits
        .get("properties")
        .ok_or("properties.traits must define properties")?
        .as_object()
        .ok_or("properties.traits.properties must be an object")?;
    if props.is_empty() {
        return Err("properties.traits.properties must define at least one trait".into());
    }
    for (name, field) in props {
        let path = format!("properties.traits.properties.{name}");
        let field = field
            .as_object()
            .ok_or_else(|| format!("{path} must be an object"))?;
        let has_verification = field
            .get(EXTENSION_KEYWORD)
            .and_then(Value::as_object)
            .is_some_and(|e| e.contains_key("verification"));
        if has_verification
            && let Some(format) = field.get("format")
            && !format
                .as_str()
                .is_some_and(|f| VERIFICATION_FORMATS.contains(&f))
        {
            return Err(format!(
                "{path} uses verification, so its format must be one of {}, got {format}",
                VERIFICATION_FORMATS.join(", ")
            ));
        }
    }
    check_extensions(raw, "")
}

/// Checks every extension object anywhere in the document (the meta-schema applies the
/// extension shape recursively).
fn check_extensions(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Object(obj) => {
            for (k, sub) in obj {
                let sub_path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k == EXTENSION_KEYWORD {
                    check_shape(sub, &EXTENSION_SHAPE, &sub_path)?;
                } else if !matches!(k.as_str(), "enum" | "const" | "default" | "examples") {
                    // Those keywords hold data, not schemas.
                    check_extensions(sub, &sub_path)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, sub)| check_extensions(sub, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

// ---- error translation (mirrors Kratos ui/container translateValidationError) ----

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn json_type_name(v: &Value) -> &'static str {
    // Kratos' validator reports every number as "number".
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn translate_error(err: &jsonschema::ValidationError<'_>, out: &mut Vec<FieldMessage>) {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};

    let base = err.instance_path().as_str();
    let inst: &Value = err.instance();
    let num = |v: &Value| v.as_f64().unwrap_or(-1.0);
    let str_len = || inst.as_str().map_or(0, |s| s.chars().count() as u64);
    let arr_len = || inst.as_array().map_or(0, |a| a.len() as u64);
    let mut ptr = format!("#{base}");

    let message = match err.kind() {
        K::Required { property } => {
            // Kratos puts "required" on the missing property's own node.
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            ptr = format!("#{base}/{}", escape_pointer(&name));
            text::validation_required(&name)
        }
        K::MinLength { limit } => text::validation_min_length(*limit, str_len()),
        K::MaxLength { limit } => text::validation_max_length(*limit, str_len()),
        K::Pattern { pattern } => text::validation_invalid_format(pattern),
        K::Minimum { limit } => text::validation_minimum(num(limit), num(inst)),
        K::ExclusiveMinimum { limit } => text::validation_exclusive_minimum(num(limit), num(inst)),
        K::Maximum { limit } => text::validation_maximum(num(limit), num(inst)),
        K::ExclusiveMaximum { limit } => text::validation_exclusive_maximum(num(limit), num(inst)),
        K::MultipleOf { multiple_of } => text::validation_multiple_of(*multiple_of, num(inst)),
        K::MaxItems { limit } => text::validation_max_items(*limit, arr_len()),
        K::MinItems { limit } => text::validation_min_items(*limit, arr_len()),
        K::UniqueItems => {
            let (a, b) = first_duplicate(inst).unwrap_or((0, 0));
            text::validation_unique_items(a as u64, b as u64)
        }
        K::Type { kind } => {
            let allowed: Vec<&str> = match kind {
                TypeKind::Single(t) => vec![t.as_str()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.as_str()).collect(),
            };
            text::validation_wrong_type(&allowed, json_type_name(inst))
        }
        K::Constant { expected_value } => text::validation_const(&expected_value.to_string()),
        K::Format { format } => {
            let value = inst
                .as_str()
                .map_or_else(|| inst.to_string(), str::to_owned);
            match format.as_str() {
                "email" => text::validation_email(&value),
                "tel" => text::validation_phone(&value),
                other => text::validation_generic(&format!("{value:?} is not valid {other:?}")),
            }
        }
        K::AnyOf { context } | K::OneOfNotValid { context } => {
            // Kratos reports the causes of a failed combinator, not the combinator itself.
            let before = out.len();
            for e in context.iter().flatten() {
                translate_error(e, out);
            }
            if out.len() > before {
                return;
            }
            text::validation_generic(&err.to_string())
        }
        _ => text::validation_generic(&err.to_string()),
    };
    out.push(FieldMessage {
        instance_ptr: ptr,
        message,
    });
}

fn first_duplicate(v: &Value) -> Option<(usize, usize)> {
    let items = v.as_array()?;
    for (i, a) in items.iter().enumerate() {
        if let Some(j) = items[i + 1..].iter().position(|b| b == a) {
            return Some((i, i + 1 + j));
        }
    }
    None
}

// ---- schema walking ----

/// Resolves a `$ref` inside the same document (`#`, `#/definitions/..`, `#/$defs/..`, or
/// the document's own `$id` followed by a fragment). Remote refs are not followed.
fn resolve_ref<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let (base, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    if !base.is_empty() && root.get("$id").and_then(Value::as_str) != Some(base) {
        tracing::debug!(
            reference,
            "not following non-local $ref while walking identity schema"
        );
        return None;
    }
    if fragment.is_empty() {
        Some(root)
    } else {
        root.pointer(fragment)
    }
}

/// Follows `$ref` chains to the effective schema object.
fn deref<'a>(root: &'a Value, mut schema: &'a Value) -> Option<&'a Map<String, Value>> {
    for _ in 0..MAX_DEPTH {
        let obj = schema.as_object()?;
        match obj.get("$ref").and_then(Value::as_str) {
            Some(r) => schema = resolve_ref(root, r)?,
            None => return Some(obj),
        }
    }
    None
}

fn schema_type(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_owned),
        _ if obj.contains_key("properties") => Some("object".into()),
        _ => None,
    }
}

fn collect_fields(
    root: &Value,
    schema: &Value,
    path: &str,
    required: bool,
    out: &mut Vec<TraitField>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(obj) = deref(root, schema) else {
        return;
    };
    let str_field =
        |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    // Untyped fields carry arbitrary JSON; Kratos renders no node for them.
    let Some(json_type) = schema_type(obj) else {
        return;
    };
    let mut extension = ExtensionConfig::from_schema(obj).unwrap_or_default();
    let mut item_type = None;
    match json_type.as_str() {
        "object" => {
            let req: Vec<&str> = obj
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    collect_fields(
                        root,
                        sub,
                        &format!("{path}.{k}"),
                        req.contains(&k.as_str()),
                        out,
                        depth + 1,
                    );
                }
            }
            return;
        }
        "array" => {
            let items = obj.get("items").and_then(|i| deref(root, i));
            let it = items.and_then(schema_type);
            // Arrays of objects are free-form JSON in Kratos' UI; skip them too.
            if matches!(it.as_deref(), Some("object" | "array")) {
                return;
            }
            if obj.get(EXTENSION_KEYWORD).is_none()
                && let Some(ext) = items.and_then(ExtensionConfig::from_schema)
            {
                extension = ext;
            }
            item_type = it;
        }
        _ => {}
    }
    out.push(TraitField {
        path: path.to_owned(),
        json_type,
        item_type,
        format: str_field(obj, "format"),
        required,
        title: str_field(obj, "title"),
        pattern: str_field(obj, "pattern"),
        extension,
    });
}

/// Walks the raw schema alongside the instance and applies extension settings, like
/// Kratos' extension runners do during validation.
struct Walker<'a> {
    root: &'a Value,
    out: Extracted,
    errors: Vec<FieldMessage>,
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

impl<'a> Walker<'a> {
    fn walk(&mut self, schema: &'a Value, inst: &Value, ptr: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(obj) = schema.as_object() else {
            return;
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            // Draft-07: keywords next to `$ref` are ignored.
            if let Some(target) = resolve_ref(self.root, r) {
                self.walk(target, inst, ptr, depth + 1);
            }
            return;
        }
        if let Some(ext) = ExtensionConfig::from_schema(obj) {
            self.apply(&ext, obj, inst, ptr);
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.walk(sub, inst, ptr, depth + 1);
            }
        }
        match inst {
            Value::Object(fields) => {
                if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                    for (k, sub) in props {
                        if let Some(v) = fields.get(k) {
                            self.walk(sub, v, &format!("{ptr}/{}", escape_pointer(k)), depth + 1);
                        }
                    }
                }
            }
            Value::Array(items) => match obj.get("items") {
                Some(Value::Array(tuple)) => {
                    for (i, (sub, v)) in tuple.iter().zip(items).enumerate() {
                        self.walk(sub, v, &format!("{ptr}/{i}"), depth + 1);
                    }
                }
                Some(sub) => {
                    for (i, v) in items.iter().enumerate() {
                        self.walk(sub, v, &format!("{ptr}/{i}"), depth + 1);
                    }
                }
                None => {}
            },
            _ => {}
        }
    }

    fn error(&mut self, ptr: &str, message: UiText) {
        self.errors.push(FieldMessage {
            instance_ptr: format!("#{ptr}"),
            message,
        });
    }

    fn apply(
        &mut self,
        ext: &ExtensionConfig,
        schema: &Map<String, Value>,
        inst: &Value,
        ptr: &str,
    ) {
        let value = match inst {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            // Extensions only make sense on scalar values.
            _ => return,
        };
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        let creds = &ext.credentials;
        if creds.password.identifier {
            push_unique(
                &mut self.out.password_identifiers,
                normalize_identifier(&value, None),
            );
        }
        if creds.webauthn.identifier {
            push_unique(
                &mut self.out.webauthn_identifiers,
                normalize_identifier(&value, None),
            );
        }
        if creds.passkey.display_name && self.out.passkey_display_name.is_none() {
            self.out.passkey_display_name = Some(value.clone());
        }
        if creds.totp.account_name && self.out.totp_account_name.is_none() {
            self.out.totp_account_name = Some(value.clone());
        }
        if creds.code.identifier {
            self.apply_code(creds.code.via, format, &value, ptr);
        }
        if let Some(via) = ext.verification.via
            && let Some(address) = self.address(via, format, &value, ptr)
        {
            push_unique(&mut self.out.verifiable, (via, address));
        }
        if let Some(via) = ext.recovery.via
            && let Some(address) = self.address(via, format, &value, ptr)
        {
            push_unique(&mut self.out.recovery, (via, address));
        }
    }

    fn apply_code(&mut self, via: Option<Via>, format: &str, value: &str, ptr: &str) {
        let normalized = match via {
            None => {
                // Kratos requires an explicit channel for code identifiers.
                self.error(
                    ptr,
                    text::validation_generic("credentials.code.via must be one of email, sms"),
                );
                return;
            }
            // A non-email format (e.g. no-validate) leaves gating to `pattern`; Kratos then
            // normalises gracefully so the stored value matches login look-ups.
            Some(Via::Email) if !format.is_empty() && format != "email" => {
                normalize_identifier(value, None)
            }
            Some(Via::Email) => normalize_identifier(value, Some(Via::Email)),
            Some(Via::Sms) => match normalize_phone(value) {
                Some(n) => n,
                None => {
                    self.error(
                        ptr,
                        text::validation_generic("the provided number is not a valid phone number"),
                    );
                    return;
                }
            },
        };
        let via = via.unwrap_or(Via::Email);
        push_unique(&mut self.out.code_identifiers, (normalized, via));
        // Kratos keeps code addresses sorted by address, then channel.
        self.out
            .code_identifiers
            .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.as_str().cmp(b.1.as_str())));
    }

    /// Verification/recovery address: Kratos checks email syntax when no format is set
    /// and demands a format for SMS; emails are lower-cased, other values only trimmed.
    fn address(&mut self, via: Via, format: &str, value: &str, ptr: &str) -> Option<String> {
        let format = if format.is_empty() {
            match via {
                Via::Email if !is_email(value) => {
                    self.error(ptr, text::validation_email(value));
                    return None;
                }
                Via::Email => "email",
                Via::Sms => {
                    self.error(
                        ptr,
                        text::validation_generic(
                            "a format is required when verification or recovery is enabled; set \"format\" to \"no-validate\" to skip validation on purpose",
                        ),
                    );
                    return None;
                }
            }
        } else {
            format
        };
        Some(if format == "email" {
            value.trim().to_lowercase()
        } else {
            value.trim().to_owned()
        })
    }
}

// ---- loading ----

async fn fetch(id: &str, url: &str, http: &HttpClient) -> Result<String, SchemaError> {
    crate::uri::read(url, http).await.map_err(|e| match e {
        crate::uri::UriError::Unsupported => SchemaError::UnsupportedUrl {
            id: id.to_owned(),
            url: url.to_owned(),
        },
        crate::uri::UriError::Read(reason) => SchemaError::Fetch {
            id: id.to_owned(),
            url: url.to_owned(),
            reason,
        },
    })
}

/// The identity schema shipped in `config/`, compiled in so the no-config start works from any
/// working directory.
pub const DEFAULT_IDENTITY_SCHEMA: &str = include_str!("../../config/identity.default.schema.json");

/// Schema entries from config; the built-in default URL resolves to the compiled-in schema.
pub fn entries(cfg: &Config) -> Vec<(String, String)> {
    cfg.identity
        .schemas
        .iter()
        .map(|s| {
            let url = if s.url == crate::config::DEFAULT_SCHEMA_URL
                && !std::path::Path::new("config/identity.default.schema.json").exists()
            {
                format!(
                    "base64://{}",
                    base64::engine::general_purpose::STANDARD.encode(DEFAULT_IDENTITY_SCHEMA)
                )
            } else {
                s.url.clone()
            };
            (s.id.clone(), url)
        })
        .collect()
}

/// Reads, parses and compiles one schema.
async fn load_one(
    id: &str,
    url: &str,
    http: &HttpClient,
) -> Result<Arc<IdentitySchema>, SchemaError> {
    let body = fetch(id, url, http).await?;
    let raw: Value = serde_json::from_str(&body).map_err(|e| SchemaError::Parse {
        id: id.to_owned(),
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(IdentitySchema::new(id, url, raw)?))
}

/// A schema served over HTTP may come up after Gatehouse does; files and inline schemas are
/// there or not.
fn is_remote(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// One configured schema, loaded now or later.
#[derive(Debug)]
struct Entry {
    id: String,
    url: String,
    loaded: OnceLock<Arc<IdentitySchema>>,
}

/// The configured identity schemas, in config order. A schema served over HTTP that cannot be
/// fetched at start-up is loaded later (`load_pending`, from the readiness check and the
/// configuration watcher), as Kratos loads schemas when first needed; until then the node
/// reports not-ready and whatever needs that schema answers 503.
#[derive(Debug)]
pub struct SchemaRegistry {
    entries: Vec<Entry>,
    default_index: usize,
    /// `clients.http`, for the pending schemas fetched later.
    http: HttpClient,
}

impl SchemaRegistry {
    /// Loads `(id, url)` entries from `identity.schemas`; `default_id` must be among them. An id
    /// configured twice keeps its first entry, as Kratos does, and the later one is reported.
    /// A file or inline schema that cannot be loaded is an error; an HTTP one is left pending.
    pub async fn load(
        entries: &[(String, String)],
        default_id: &str,
        http: &HttpClient,
    ) -> Result<Self, SchemaError> {
        let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
        for (id, url) in entries {
            if out.iter().any(|e| &e.id == id) {
                tracing::warn!(schema.id = %id, "identity schema id configured more than once; the first entry is used");
                continue;
            }
            let entry = Entry {
                id: id.clone(),
                url: url.clone(),
                loaded: OnceLock::new(),
            };
            match load_one(id, url, http).await {
                Ok(schema) => {
                    let _ = entry.loaded.set(schema);
                }
                Err(e @ SchemaError::Fetch { .. }) if is_remote(url) => {
                    tracing::warn!(error = %e, "identity schema not loaded yet; retrying until it is");
                }
                Err(e) => return Err(e),
            }
            out.push(entry);
        }
        let mut reg = Self::from_entries(out, default_id)?;
        reg.http = http.clone();
        Ok(reg)
    }

    /// Builds a registry from already-loaded schemas.
    pub fn from_schemas(
        schemas: Vec<Arc<IdentitySchema>>,
        default_id: &str,
    ) -> Result<Self, SchemaError> {
        let entries = schemas
            .into_iter()
            .map(|s| Entry {
                id: s.id.clone(),
                url: s.url.clone(),
                loaded: OnceLock::from(s),
            })
            .collect();
        Self::from_entries(entries, default_id)
    }

    fn from_entries(entries: Vec<Entry>, default_id: &str) -> Result<Self, SchemaError> {
        let default_index = entries
            .iter()
            .position(|e| e.id == default_id)
            .ok_or_else(|| SchemaError::UnknownDefault {
                id: default_id.to_owned(),
            })?;
        Ok(Self {
            entries,
            default_index,
            http: HttpClient::default(),
        })
    }

    fn loaded(entry: &Entry) -> Result<Arc<IdentitySchema>, SchemaError> {
        entry
            .loaded
            .get()
            .cloned()
            .ok_or_else(|| SchemaError::NotLoaded {
                id: entry.id.clone(),
            })
    }

    /// The schema `id`: `None` when no such schema is configured, an error while it is pending.
    pub fn get(&self, id: &str) -> Result<Option<Arc<IdentitySchema>>, SchemaError> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map(Self::loaded)
            .transpose()
    }

    pub fn default_schema(&self) -> Result<Arc<IdentitySchema>, SchemaError> {
        Self::loaded(&self.entries[self.default_index])
    }

    /// Every schema, in config order; an error while any is pending.
    pub fn list(&self) -> Result<Vec<Arc<IdentitySchema>>, SchemaError> {
        self.entries.iter().map(Self::loaded).collect()
    }

    /// Ids of the schemas not loaded yet.
    pub fn pending(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.loaded.get().is_none())
            .map(|e| e.id.as_str())
            .collect()
    }

    /// Tries once more to load every pending schema; the first that still fails is the error.
    pub async fn load_pending(&self) -> Result<(), SchemaError> {
        let mut first = None;
        for e in self.entries.iter().filter(|e| e.loaded.get().is_none()) {
            match load_one(&e.id, &e.url, &self.http).await {
                Ok(schema) => {
                    let _ = e.loaded.set(schema);
                    tracing::info!(schema.id = %e.id, "identity schema loaded");
                }
                Err(err) => {
                    first.get_or_insert(err);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn email_name_schema() -> Value {
        json!({
            "$id": "https://example.test/person.json",
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "traits": {
                    "type": "object",
                    "properties": {
                        "email": {
                            "type": "string",
                            "format": "email",
                            "title": "E-Mail",
                            "minLength": 3,
                            "maxLength": 40,
                            "ory.sh/kratos": {
                                "credentials": {
                                    "password": {"identifier": true},
                                    "webauthn": {"identifier": true},
                                    "passkey": {"display_name": true},
                                    "totp": {"account_name": true},
                                    "code": {"identifier": true, "via": "email"}
                                },
                                "verification": {"via": "email"},
                                "recovery": {"via": "email"}
                            }
                        },
                        "name": {
                            "type": "object",
                            "required": ["last"],
                            "properties": {
                                "first": {"type": "string", "title": "First name"},
                                "last": {"type": "string", "title": "Last name", "pattern": "^[A-Z]"}
                            }
                        },
                        "age": {"type": "integer", "minimum": 18}
                    },
                    "required": ["email"],
                    "additionalProperties": false
                }
            }
        })
    }

    fn phone_schema() -> Value {
        json!({
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {
                "phone": {
                    "type": "string",
                    "format": "tel",
                    "ory.sh/kratos": {
                        "credentials": {"password": {"identifier": true}, "code": {"identifier": true, "via": "sms"}},
                        "verification": {"via": "sms"}
                    }
                }
            }, "required": ["phone"]}}
        })
    }

    fn multi_schema() -> Value {
        json!({
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {
                "email": {"type": "string", "format": "email",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
                "username": {"type": "string", "minLength": 2,
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}
            }, "required": ["email", "username"]}}
        })
    }

    fn emails_array_schema() -> Value {
        json!({
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {
                "emails": {
                    "type": "array",
                    "uniqueItems": true,
                    "maxItems": 3,
                    "items": {"type": "string", "format": "email",
                        "ory.sh/kratos": {
                            "credentials": {"password": {"identifier": true}},
                            "verification": {"via": "email"}
                        }}
                }
            }}}
        })
    }

    fn ref_schema() -> Value {
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {
                "email": {"type": "string", "format": "email", "title": "Work email",
                    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}},
                                      "recovery": {"via": "email"}}},
                "traits": {"type": "object", "properties": {
                    "email": {"$ref": "#/definitions/email"},
                    "nick": {"type": "string"}
                }, "required": ["email"]}
            },
            "type": "object",
            "properties": {"traits": {"$ref": "#/definitions/traits", "properties": {"email": {}}}}
        })
    }

    fn schema(raw: Value) -> IdentitySchema {
        IdentitySchema::new("test", "base64://", raw).unwrap()
    }

    fn ids_at(msgs: &[FieldMessage]) -> Vec<(String, u64)> {
        msgs.iter()
            .map(|m| (m.instance_ptr.clone(), m.message.id))
            .collect()
    }

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::STANDARD.encode(v.to_string())
    }

    #[tokio::test]
    async fn loads_base64_std_and_url_safe() {
        let raw = email_name_schema();
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string());
        let entries = vec![
            ("a".to_owned(), format!("base64://{}", b64(&raw))),
            ("b".to_owned(), format!("base64://{url_safe}")),
        ];
        let reg = SchemaRegistry::load(&entries, "b", &HttpClient::default())
            .await
            .unwrap();
        assert_eq!(reg.default_schema().unwrap().id, "b");
        assert_eq!(reg.get("a").unwrap().unwrap().raw, raw);
        assert_eq!(
            reg.list()
                .unwrap()
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(reg.get("c").unwrap().is_none());
    }

    #[tokio::test]
    async fn loads_file_url_and_plain_path() {
        let path =
            std::env::temp_dir().join(format!("gatehouse-schema-{}.json", std::process::id()));
        std::fs::write(&path, phone_schema().to_string()).unwrap();
        let p = path.to_str().unwrap().to_owned();
        let entries = vec![
            ("f".to_owned(), format!("file://{p}")),
            ("p".to_owned(), p.clone()),
        ];
        let reg = SchemaRegistry::load(&entries, "f", &HttpClient::default())
            .await
            .unwrap();
        assert_eq!(reg.get("p").unwrap().unwrap().raw, phone_schema());
        std::fs::remove_file(&path).unwrap();

        let err = SchemaRegistry::load(
            &[("m".into(), "file:///definitely/missing.json".into())],
            "m",
            &HttpClient::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, SchemaError::Fetch { ref id, .. } if id == "m"),
            "{err}"
        );
    }

    /// Answers one HTTP request on `listener` with `body`.
    async fn serve_once(listener: tokio::net::TcpListener, body: String) {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
    }

    #[tokio::test]
    async fn loads_over_http() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve_once(listener, multi_schema().to_string()));
        let entries = vec![(
            "h".to_owned(),
            format!("http://{addr}/identity.schema.json"),
        )];
        let reg = SchemaRegistry::load(&entries, "h", &HttpClient::default())
            .await
            .unwrap();
        assert_eq!(reg.default_schema().unwrap().raw, multi_schema());
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_http_schema_that_is_down_at_start_is_loaded_later() {
        // A port that was free a moment ago: nothing answers there yet.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let entries = vec![
            (
                "h".to_owned(),
                format!("http://{addr}/identity.schema.json"),
            ),
            ("b".to_owned(), format!("base64://{}", b64(&phone_schema()))),
        ];
        let reg = SchemaRegistry::load(&entries, "h", &HttpClient::default())
            .await
            .unwrap();
        assert_eq!(reg.pending(), ["h"]);
        assert!(matches!(
            reg.default_schema(),
            Err(SchemaError::NotLoaded { ref id }) if id == "h"
        ));
        assert!(
            reg.get("b").unwrap().is_some(),
            "the others serve meanwhile"
        );
        assert!(reg.list().is_err());
        assert!(reg.load_pending().await.is_err(), "still down");

        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let server = tokio::spawn(serve_once(listener, multi_schema().to_string()));
        reg.load_pending().await.unwrap();
        server.await.unwrap();
        assert!(reg.pending().is_empty());
        assert_eq!(reg.default_schema().unwrap().raw, multi_schema());
    }

    #[tokio::test]
    async fn rejects_bad_default_and_schemes_and_keeps_the_first_duplicate() {
        let url = format!("base64://{}", b64(&multi_schema()));
        let err = SchemaRegistry::load(
            &[("a".into(), url.clone())],
            "default",
            &HttpClient::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SchemaError::UnknownDefault { ref id } if id == "default"));
        // Kratos takes the first entry of an id configured twice; the second is not even read.
        let reg = SchemaRegistry::load(
            &[
                ("a".into(), url.clone()),
                ("a".into(), "ftp://host/s.json".into()),
            ],
            "a",
            &HttpClient::default(),
        )
        .await
        .unwrap();
        assert_eq!(reg.default_schema().unwrap().raw, multi_schema());
        let err = SchemaRegistry::load(
            &[("x".into(), "ftp://host/s.json".into())],
            "x",
            &HttpClient::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SchemaError::UnsupportedUrl { .. }));
        let err = SchemaRegistry::load(
            &[("j".into(), format!("base64://{}", b64(&json!("{"))))],
            "j",
            &HttpClient::default(),
        )
        .await;
        assert!(err.is_err());
        let bad_json = base64::engine::general_purpose::STANDARD.encode("{not json");
        let err = SchemaRegistry::load(
            &[("j".into(), format!("base64://{bad_json}"))],
            "j",
            &HttpClient::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SchemaError::Parse { .. }), "{err}");
    }

    fn meta_error(raw: Value) -> String {
        let err = IdentitySchema::new("meta", "base64://x", raw).unwrap_err();
        assert!(matches!(err, SchemaError::Invalid { .. }));
        let s = err.to_string();
        assert!(s.contains("\"meta\""), "{s}");
        s
    }

    #[test]
    fn meta_rules() {
        assert!(meta_error(json!({"type": "object"})).contains("properties.traits"));
        let no_props = json!({"properties": {"traits": {"type": "object"}}});
        assert!(meta_error(no_props).contains("must define properties"));
        let empty = json!({"properties": {"traits": {"type": "object", "properties": {}}}});
        assert!(meta_error(empty).contains("at least one"));
        let wrong_type =
            json!({"properties": {"traits": {"type": "string", "properties": {"a": {}}}}});
        assert!(meta_error(wrong_type).contains("traits.type"));
        let verify_fmt = json!({"properties": {"traits": {"properties": {"e": {
            "type": "string", "format": "uri", "ory.sh/kratos": {"verification": {"via": "email"}}}}}}});
        assert!(meta_error(verify_fmt).contains("format must be one of"));
        let bad_bool = json!({"properties": {"traits": {"properties": {"e": {
            "type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": "yes"}}}}}}}});
        assert!(meta_error(bad_bool).contains("credentials.password.identifier must be a boolean"));
        let bad_via = json!({"properties": {"traits": {"properties": {"o": {"type": "object", "properties": {
            "e": {"type": "string", "ory.sh/kratos": {"recovery": {"via": "pigeon"}}}}}}}}});
        assert!(meta_error(bad_via).contains("recovery.via must be one of email, sms"));
        let unknown = json!({"properties": {"traits": {"properties": {"e": {
            "type": "string", "ory.sh/kratos": {"credential": {}}}}}}});
        assert!(meta_error(unknown).contains("unknown setting \"credential\""));
        let not_schema = json!({"properties": {"traits": {"properties": {"e": {"type": 5}}}}});
        assert!(meta_error(not_schema).contains("not a valid JSON schema"));
        // Allowed formats with verification pass.
        schema(json!({"properties": {"traits": {"properties": {"p": {
            "type": "string", "format": "no-validate", "ory.sh/kratos": {"verification": {"via": "sms"}}}}}}}));
    }

    #[test]
    fn valid_traits_extract_normalised_data() {
        let s = schema(email_name_schema());
        let ex = s
            .validate_traits(
                &json!({"email": "Foo@Example.COM", "name": {"last": "Doe"}, "age": 30}),
            )
            .unwrap();
        assert_eq!(ex.password_identifiers, ["foo@example.com"]);
        assert_eq!(ex.webauthn_identifiers, ["foo@example.com"]);
        assert_eq!(
            ex.code_identifiers,
            [("foo@example.com".to_owned(), Via::Email)]
        );
        assert_eq!(ex.verifiable, [(Via::Email, "foo@example.com".to_owned())]);
        assert_eq!(ex.recovery, [(Via::Email, "foo@example.com".to_owned())]);
        assert_eq!(ex.passkey_display_name.as_deref(), Some("Foo@Example.COM"));
        assert_eq!(ex.totp_account_name.as_deref(), Some("Foo@Example.COM"));
    }

    #[test]
    fn phone_schema_normalises_and_validates() {
        let s = schema(phone_schema());
        let ex = s
            .validate_traits(&json!({"phone": "+49 (176) 123-45678"}))
            .unwrap();
        assert_eq!(ex.password_identifiers, ["+4917612345678"]);
        assert_eq!(
            ex.code_identifiers,
            [("+4917612345678".to_owned(), Via::Sms)]
        );
        // Kratos only trims verification addresses that are not emails.
        assert_eq!(
            ex.verifiable,
            [(Via::Sms, "+49 (176) 123-45678".to_owned())]
        );
        let errs = s.validate_traits(&json!({"phone": "12ab"})).unwrap_err();
        let first = &errs[0];
        assert_eq!(first.instance_ptr, "#/traits/phone");
        assert_eq!(first.message.id, 4000041);
        assert_eq!(first.message.context, Some(json!({"value": "12ab"})));
        assert!(first.message.text.contains("phone"));
    }

    #[test]
    fn multi_identifier_schema() {
        let s = schema(multi_schema());
        let ex = s
            .validate_traits(&json!({"email": "A@B.de", "username": "JohnDoe"}))
            .unwrap();
        assert_eq!(ex.password_identifiers, ["a@b.de", "johndoe"]);
        let errs = s.validate_traits(&json!({"username": "x"})).unwrap_err();
        let got = ids_at(&errs);
        assert!(got.contains(&("#/traits/email".into(), 4000002)), "{got:?}");
        assert!(
            got.contains(&("#/traits/username".into(), 4000003)),
            "{got:?}"
        );
    }

    #[test]
    fn array_of_emails() {
        let s = schema(emails_array_schema());
        let ex = s
            .validate_traits(&json!({"emails": ["One@X.io", "two@x.io"]}))
            .unwrap();
        assert_eq!(ex.password_identifiers, ["one@x.io", "two@x.io"]);
        assert_eq!(
            ex.verifiable,
            [
                (Via::Email, "one@x.io".to_owned()),
                (Via::Email, "two@x.io".to_owned())
            ]
        );
        let errs = s
            .validate_traits(&json!({"emails": ["a@x.io", "nope", "a@x.io", "b@x.io"]}))
            .unwrap_err();
        let got = ids_at(&errs);
        assert!(
            got.contains(&("#/traits/emails/1".into(), 4000040)),
            "{got:?}"
        );
        assert!(
            got.contains(&("#/traits/emails".into(), 4000023)),
            "{got:?}"
        );
        let unique = errs.iter().find(|m| m.message.id == 4000025).unwrap();
        assert_eq!(
            unique.message.context,
            Some(json!({"index_a": 0, "index_b": 2}))
        );
    }

    #[test]
    fn ref_definitions_schema() {
        let s = schema(ref_schema());
        let ex = s
            .validate_traits(&json!({"email": "Ref@Example.org"}))
            .unwrap();
        assert_eq!(ex.password_identifiers, ["ref@example.org"]);
        assert_eq!(ex.recovery, [(Via::Email, "ref@example.org".to_owned())]);
        let errs = s.validate_traits(&json!({"nick": "n"})).unwrap_err();
        assert_eq!(ids_at(&errs), [("#/traits/email".to_owned(), 4000002)]);
        let fields = s.trait_fields();
        let paths: Vec<_> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["traits.email", "traits.nick"]);
        assert_eq!(fields[0].title.as_deref(), Some("Work email"));
        assert!(fields[0].required && !fields[1].required);
        assert_eq!(fields[0].extension.recovery.via, Some(Via::Email));
    }

    #[test]
    fn required_message_shape() {
        let s = schema(email_name_schema());
        let errs = s
            .validate_traits(&json!({"name": {"last": "Doe"}}))
            .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].instance_ptr, "#/traits/email");
        assert_eq!(errs[0].message.id, text::ids::VALIDATION_REQUIRED);
        assert_eq!(errs[0].message.context, Some(json!({"property": "email"})));
    }

    #[test]
    fn length_format_type_and_multiple_errors() {
        let s = schema(email_name_schema());
        let errs = s.validate_traits(&json!({"email": "a@"})).unwrap_err();
        let short = errs.iter().find(|m| m.message.id == 4000003).unwrap();
        assert_eq!(short.instance_ptr, "#/traits/email");
        assert_eq!(
            short.message.context,
            Some(json!({"min_length": 3, "actual_length": 2}))
        );
        let bad = errs.iter().find(|m| m.message.id == 4000040).unwrap();
        assert_eq!(bad.message.context, Some(json!({"value": "a@"})));

        let errs = s.validate_traits(&json!({"email": 42})).unwrap_err();
        let wrong = errs.iter().find(|m| m.message.id == 4000026).unwrap();
        assert_eq!(wrong.instance_ptr, "#/traits/email");
        assert_eq!(
            wrong.message.context,
            Some(json!({"allowed_types": ["string"], "actual_type": "number"}))
        );

        let errs = s
            .validate_traits(
                &json!({"email": "not-an-email", "name": {"last": "doe"}, "age": 12, "extra": 1}),
            )
            .unwrap_err();
        let got = ids_at(&errs);
        assert!(got.contains(&("#/traits/email".into(), 4000040)), "{got:?}");
        assert!(
            got.contains(&("#/traits/name/last".into(), 4000004)),
            "{got:?}"
        );
        assert!(got.contains(&("#/traits/age".into(), 4000018)), "{got:?}");
        assert!(got.contains(&("#/traits".into(), 4000001)), "{got:?}");
        let min = errs.iter().find(|m| m.message.id == 4000018).unwrap();
        assert_eq!(
            min.message.context,
            Some(json!({"minimum": 18, "actual": 12}))
        );
        // Nested required.
        let errs = s
            .validate_traits(&json!({"email": "a@b.co", "name": {}}))
            .unwrap_err();
        assert_eq!(ids_at(&errs), [("#/traits/name/last".to_owned(), 4000002)]);
        // Too long.
        let long = format!("{}@example.com", "a".repeat(40));
        let errs = s.validate_traits(&json!({ "email": long })).unwrap_err();
        assert!(ids_at(&errs).contains(&("#/traits/email".into(), 4000017)));
    }

    #[test]
    fn sms_verification_without_format_is_rejected() {
        let s = schema(json!({"properties": {"traits": {"properties": {"p": {
            "type": "string", "ory.sh/kratos": {"verification": {"via": "sms"}}}}}}}));
        let errs = s
            .validate_traits(&json!({"p": "+4917612345678"}))
            .unwrap_err();
        assert_eq!(ids_at(&errs), [("#/traits/p".to_owned(), 4000001)]);
        let no_via = schema(json!({"properties": {"traits": {"properties": {"c": {
            "type": "string", "ory.sh/kratos": {"credentials": {"code": {"identifier": true}}}}}}}}));
        assert!(no_via.validate_traits(&json!({"c": "a@b.co"})).is_err());
    }

    #[test]
    fn trait_fields_order_and_flags() {
        let s = schema(email_name_schema());
        let fields = s.trait_fields();
        let paths: Vec<_> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "traits.email",
                "traits.name.first",
                "traits.name.last",
                "traits.age"
            ]
        );
        let email = &fields[0];
        assert_eq!(email.json_type, "string");
        assert_eq!(email.format.as_deref(), Some("email"));
        assert_eq!(email.title.as_deref(), Some("E-Mail"));
        assert!(email.required);
        assert!(email.extension.credentials.password.identifier);
        assert_eq!(email.extension.credentials.code.via, Some(Via::Email));
        assert!(!fields[1].required && fields[2].required);
        assert_eq!(fields[2].pattern.as_deref(), Some("^[A-Z]"));
        assert_eq!(fields[3].json_type, "integer");

        let arr = schema(emails_array_schema()).trait_fields();
        assert_eq!(arr.len(), 1);
        assert_eq!(arr[0].json_type, "array");
        assert_eq!(arr[0].item_type.as_deref(), Some("string"));
        assert!(arr[0].extension.credentials.password.identifier);
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize_identifier(" Foo@Example.COM ", Some(Via::Email)),
            "foo@example.com"
        );
        assert_eq!(
            normalize_identifier("+1 (415) 555-2671", Some(Via::Sms)),
            "+14155552671"
        );
        assert_eq!(
            normalize_identifier("0170 1234", Some(Via::Sms)),
            "0170 1234"
        );
        assert_eq!(normalize_identifier(" UserName ", None), "username");
        assert_eq!(
            normalize_identifier("+44 20 7946 0958", None),
            "+442079460958"
        );
        assert!(normalize_phone("+0123456789").is_none());
        assert!(normalize_phone("+12").is_none());
        assert!(normalize_phone("+1234567890123456").is_none());
    }
}
