//! The `ui` container every self-service flow returns: an HTML-form-like description
//! (`action`, `method`, `nodes`, `messages`) that browsers and SDKs render.
//!
//! Field names, key order, omitted-vs-present fields and node ordering mirror Kratos so
//! that existing UIs and SDKs work unchanged; the wire shape is the OpenAPI `uiContainer`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::identity::schema::{IdentitySchema, TraitField};
use crate::text::{self, UiText};

/// Name of the hidden anti-CSRF input.
pub const CSRF_TOKEN_NAME: &str = "csrf_token";
/// Name of the submit button selecting the method (`value` = method id).
pub const METHOD_NODE_NAME: &str = "method";

/// Which authentication method (or the shared `default` part) a node belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Default,
    Password,
    Oidc,
    Profile,
    Link,
    Code,
    Totp,
    LookupSecret,
    Webauthn,
    Passkey,
    IdentifierFirst,
    /// Only emitted by Ory's commercial editions; kept so stored flows still parse.
    Captcha,
    Saml,
    #[serde(rename = "deviceauthn")]
    DeviceAuthn,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Default => "default",
            Group::Password => "password",
            Group::Oidc => "oidc",
            Group::Profile => "profile",
            Group::Link => "link",
            Group::Code => "code",
            Group::Totp => "totp",
            Group::LookupSecret => "lookup_secret",
            Group::Webauthn => "webauthn",
            Group::Passkey => "passkey",
            Group::IdentifierFirst => "identifier_first",
            Group::Captcha => "captcha",
            Group::Saml => "saml",
            Group::DeviceAuthn => "deviceauthn",
        }
    }

    /// The group of a method id (`password`, `oidc`, ...); method ids equal group names.
    pub fn from_method(method: &str) -> Option<Group> {
        serde_json::from_value(Value::String(method.to_owned())).ok()
    }
}

/// `type` of an input node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    Text,
    Password,
    Number,
    Checkbox,
    Hidden,
    Email,
    Tel,
    Submit,
    Button,
    #[serde(rename = "datetime-local")]
    DatetimeLocal,
    Date,
    Url,
}

/// `autocomplete` hint of an input node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Autocomplete {
    #[serde(rename = "email")]
    Email,
    #[serde(rename = "tel")]
    Tel,
    #[serde(rename = "url")]
    Url,
    #[serde(rename = "current-password")]
    CurrentPassword,
    #[serde(rename = "new-password")]
    NewPassword,
    #[serde(rename = "one-time-code")]
    OneTimeCode,
    /// Not sent (see [`identifier_node`]); read back from flows stored before.
    #[serde(rename = "username")]
    Username,
    #[serde(rename = "username webauthn")]
    UsernameWebauthn,
}

/// Kratos omits `value` only when it is nil, so `""` must still be written.
fn value_absent(v: &Option<Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Attributes of an `input` node. Field order is the wire key order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputAttributes {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: InputType,
    #[serde(default, skip_serializing_if = "value_absent")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autocomplete: Option<Autocomplete>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<UiText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxlength: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onclick: Option<String>,
    #[serde(
        default,
        rename = "onclickTrigger",
        skip_serializing_if = "Option::is_none"
    )]
    pub onclick_trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onload: Option<String>,
    #[serde(
        default,
        rename = "onloadTrigger",
        skip_serializing_if = "Option::is_none"
    )]
    pub onload_trigger: Option<String>,
}

impl InputAttributes {
    pub fn new(name: impl Into<String>, kind: InputType) -> Self {
        Self {
            name: name.into(),
            kind,
            value: None,
            required: false,
            autocomplete: None,
            label: None,
            maxlength: None,
            pattern: None,
            disabled: false,
            onclick: None,
            onclick_trigger: None,
            onload: None,
            onload_trigger: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextAttributes {
    pub text: UiText,
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageAttributes {
    pub src: String,
    pub id: String,
    pub width: u64,
    pub height: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorAttributes {
    pub href: String,
    pub title: UiText,
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptAttributes {
    pub src: String,
    #[serde(rename = "async")]
    pub is_async: bool,
    pub referrerpolicy: String,
    pub crossorigin: String,
    pub integrity: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub nonce: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DivisionAttributes {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

/// Node attributes, discriminated on the wire by `node_type` (which Kratos writes last).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "node_type")]
pub enum Attributes {
    #[serde(rename = "input")]
    Input(InputAttributes),
    #[serde(rename = "text")]
    Text(TextAttributes),
    #[serde(rename = "img")]
    Image(ImageAttributes),
    #[serde(rename = "a")]
    Anchor(AnchorAttributes),
    #[serde(rename = "script")]
    Script(ScriptAttributes),
    #[serde(rename = "div")]
    Division(DivisionAttributes),
}

impl Attributes {
    /// The node type, also the `node_type` discriminator.
    pub fn node_type(&self) -> &'static str {
        match self {
            Attributes::Input(_) => "input",
            Attributes::Text(_) => "text",
            Attributes::Image(_) => "img",
            Attributes::Anchor(_) => "a",
            Attributes::Script(_) => "script",
            Attributes::Division(_) => "div",
        }
    }

    /// Inputs are identified by `name`, everything else by `id`.
    pub fn id(&self) -> &str {
        match self {
            Attributes::Input(a) => &a.name,
            Attributes::Text(a) => &a.id,
            Attributes::Image(a) => &a.id,
            Attributes::Anchor(a) => &a.id,
            Attributes::Script(a) => &a.id,
            Attributes::Division(a) => &a.id,
        }
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Serialize the variant, then append the tag, so `node_type` comes last as in Kratos.
        let inner = match self {
            Attributes::Input(a) => serde_json::to_value(a),
            Attributes::Text(a) => serde_json::to_value(a),
            Attributes::Image(a) => serde_json::to_value(a),
            Attributes::Anchor(a) => serde_json::to_value(a),
            Attributes::Script(a) => serde_json::to_value(a),
            Attributes::Division(a) => serde_json::to_value(a),
        }
        .map_err(serde::ser::Error::custom)?;
        let Value::Object(mut map) = inner else {
            return Err(serde::ser::Error::custom(
                "node attributes must be an object",
            ));
        };
        map.insert("node_type".into(), Value::String(self.node_type().into()));
        map.serialize(s)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<UiText>,
}

/// One UI node. `type` is derived from the attributes, so the two can never disagree.
#[derive(Clone, Debug, PartialEq)]
pub struct UiNode {
    pub group: Group,
    pub attributes: Attributes,
    pub messages: Vec<UiText>,
    pub meta: Meta,
}

impl Serialize for UiNode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            group: Group,
            attributes: &'a Attributes,
            messages: &'a [UiText],
            meta: &'a Meta,
        }
        Wire {
            kind: self.attributes.node_type(),
            group: self.group,
            attributes: &self.attributes,
            messages: &self.messages,
            meta: &self.meta,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for UiNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "type")]
            kind: String,
            group: Group,
            attributes: Value,
            #[serde(default)]
            messages: Option<Vec<UiText>>,
            #[serde(default)]
            meta: Option<Meta>,
        }
        let mut w = Wire::deserialize(d)?;
        // Older documents may lack `node_type`; the node's `type` carries the same fact.
        if let Value::Object(attrs) = &mut w.attributes
            && !attrs.contains_key("node_type")
        {
            attrs.insert("node_type".into(), Value::String(w.kind.clone()));
        }
        let attributes: Attributes =
            serde_json::from_value(w.attributes).map_err(serde::de::Error::custom)?;
        Ok(UiNode {
            group: w.group,
            attributes,
            messages: w.messages.unwrap_or_default(),
            meta: w.meta.unwrap_or_default(),
        })
    }
}

impl UiNode {
    /// An input node with no value, not required, not disabled.
    pub fn input(name: impl Into<String>, group: Group, kind: InputType) -> Self {
        Self {
            group,
            attributes: Attributes::Input(InputAttributes::new(name, kind)),
            messages: Vec::new(),
            meta: Meta::default(),
        }
    }

    pub fn text(id: impl Into<String>, text: UiText, group: Group) -> Self {
        Self {
            group,
            attributes: Attributes::Text(TextAttributes {
                text,
                id: id.into(),
            }),
            messages: Vec::new(),
            meta: Meta::default(),
        }
    }

    pub fn id(&self) -> &str {
        self.attributes.id()
    }

    pub fn input_attributes(&self) -> Option<&InputAttributes> {
        match &self.attributes {
            Attributes::Input(a) => Some(a),
            _ => None,
        }
    }

    pub fn input_attributes_mut(&mut self) -> Option<&mut InputAttributes> {
        match &mut self.attributes {
            Attributes::Input(a) => Some(a),
            _ => None,
        }
    }

    /// The node's value: an input's `value`, an image's `src`, an anchor's `href`.
    pub fn value(&self) -> Option<Value> {
        match &self.attributes {
            Attributes::Input(a) => a.value.clone(),
            Attributes::Image(a) => Some(Value::String(a.src.clone())),
            Attributes::Anchor(a) => Some(Value::String(a.href.clone())),
            Attributes::Text(a) => serde_json::to_value(&a.text).ok(),
            Attributes::Script(a) => Some(Value::String(a.src.clone())),
            Attributes::Division(_) => None,
        }
    }

    /// Sets an input's value; other node kinds ignore it.
    pub fn set_value(&mut self, value: Option<Value>) {
        if let Some(a) = self.input_attributes_mut() {
            a.value = value;
        }
    }

    pub fn with_value(mut self, value: impl Into<Value>) -> Self {
        self.set_value(Some(value.into()));
        self
    }

    pub fn required(mut self) -> Self {
        if let Some(a) = self.input_attributes_mut() {
            a.required = true;
        }
        self
    }

    pub fn with_autocomplete(mut self, autocomplete: Autocomplete) -> Self {
        if let Some(a) = self.input_attributes_mut() {
            a.autocomplete = Some(autocomplete);
        }
        self
    }

    pub fn with_label(mut self, label: UiText) -> Self {
        self.meta.label = Some(label);
        self
    }
}

// ---- node builders ----

/// Hidden anti-CSRF input; API flows pass an empty token (Kratos still writes `""`).
pub fn csrf_node(token: &str) -> UiNode {
    UiNode::input(CSRF_TOKEN_NAME, Group::Default, InputType::Hidden)
        .with_value(token)
        .required()
}

/// The `password` input; `autocomplete` is `"new-password"` (registration, settings) or
/// `"current-password"` (login). Other values leave the hint out.
pub fn password_node(autocomplete: &str) -> UiNode {
    let node = UiNode::input("password", Group::Password, InputType::Password)
        .required()
        .with_label(text::label_password());
    match serde_json::from_value(Value::String(autocomplete.to_owned())) {
        Ok(hint) => node.with_autocomplete(hint),
        Err(_) => node,
    }
}

/// The login `identifier` input. Its value is `""` rather than absent (as in Kratos).
/// Current Kratos adds `autocomplete: "username"`, which the published Python SDK (25.4.0)
/// refuses to decode (its enum lacks the value), so the node leaves the hint out, as every SDK
/// release accepts; pages rendering it add the hint themselves.
pub fn identifier_node(label: UiText) -> UiNode {
    UiNode::input("identifier", Group::Default, InputType::Text)
        .with_value("")
        .required()
        .with_label(label)
}

/// The submit button selecting `method` (`name=method`, `value=<method>`), in `group`.
pub fn submit_node(group: Group, method: &str, label: UiText) -> UiNode {
    UiNode::input(METHOD_NODE_NAME, group, InputType::Submit)
        .with_value(method)
        .with_label(label)
}

/// Label of the login identifier: the title of the one trait that serves as an identifier,
/// or the generic "ID" label when there is none or more than one (as Kratos decides).
pub fn identifier_label(schema: &IdentitySchema) -> UiText {
    let candidates: Vec<(String, String)> = schema
        .trait_fields()
        .into_iter()
        .filter(|f| {
            let c = &f.extension.credentials;
            c.password.identifier
                || c.webauthn.identifier
                || c.passkey.display_name
                || c.totp.account_name
                || c.code.identifier
        })
        .filter_map(|f| match f.title {
            Some(t) if !t.is_empty() => Some((t, f.path)),
            _ => None,
        })
        .collect();
    match candidates.as_slice() {
        [(title, path)] => text::label_generated(title, path),
        _ => text::label_id(),
    }
}

/// Input type for a schema field, before `format` refines it (Kratos' `toFormType`).
fn base_input_type(name: &str, json_type: &str) -> InputType {
    match name {
        CSRF_TOKEN_NAME => return InputType::Hidden,
        "password" => return InputType::Password,
        _ => {}
    }
    match json_type {
        "number" | "integer" => InputType::Number,
        "boolean" => InputType::Checkbox,
        _ => InputType::Text,
    }
}

fn node_from_field(f: &TraitField, name: String, group: Group) -> UiNode {
    let short = f.path.strip_prefix("traits.").unwrap_or(&f.path);
    let mut attrs = InputAttributes::new(name.clone(), base_input_type(short, &f.json_type));
    attrs.required = f.required;
    match f.format.as_deref() {
        Some("date-time") => attrs.kind = InputType::DatetimeLocal,
        Some("email") => {
            attrs.kind = InputType::Email;
            attrs.autocomplete = Some(Autocomplete::Email);
        }
        Some("tel") => {
            attrs.kind = InputType::Tel;
            attrs.autocomplete = Some(Autocomplete::Tel);
        }
        Some("date") => attrs.kind = InputType::Date,
        Some("uri") => {
            attrs.kind = InputType::Url;
            attrs.autocomplete = Some(Autocomplete::Url);
        }
        Some("regex") => attrs.kind = InputType::Text,
        _ => {}
    }
    attrs.pattern = f.pattern.clone();
    let label = match &f.title {
        Some(t) if !t.is_empty() => Some(text::label_generated(t, &name)),
        _ => None,
    };
    UiNode {
        group,
        attributes: Attributes::Input(attrs),
        messages: Vec::new(),
        meta: Meta { label },
    }
}

/// One input per trait leaf, named `<prefix>.<path below traits>` (`prefix` is normally
/// `"traits"`; empty means no prefix). Kratos sets neither `maxlength` nor `autocomplete`
/// beyond what the `format` implies, so neither do we.
pub fn nodes_from_schema(schema: &IdentitySchema, group: Group, prefix: &str) -> Vec<UiNode> {
    schema
        .trait_fields()
        .iter()
        .map(|f| {
            let rel = f.path.strip_prefix("traits.").unwrap_or(&f.path);
            let name = if prefix.is_empty() {
                rel.to_owned()
            } else {
                format!("{prefix}.{rel}")
            };
            node_from_field(f, name, group)
        })
        .collect()
}

/// Kratos' `toFormType` for values coming from submitted JSON.
fn input_type_for_value(name: &str, v: &Value) -> InputType {
    match (name, v) {
        (CSRF_TOKEN_NAME, _) => InputType::Hidden,
        ("password", _) => InputType::Password,
        (_, Value::Number(_)) => InputType::Number,
        (_, Value::Bool(_)) => InputType::Checkbox,
        _ => InputType::Text,
    }
}

/// Flattens JSON into dotted leaf paths the way Kratos does when echoing submitted data:
/// object keys containing dots are escaped, arrays contribute their indices.
fn flatten(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, sub) in m {
                path.push(k.replace('.', "\\."));
                flatten(sub, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, sub) in items.iter().enumerate() {
                path.push(i.to_string());
                flatten(sub, path, out);
                path.pop();
            }
        }
        leaf => out.push((path.join("."), leaf.clone())),
    }
}

// ---- sorting ----

/// Node names of other methods that flows order explicitly.
pub mod names {
    pub const WEBAUTHN_REMOVE: &str = "webauthn_remove";
    pub const WEBAUTHN_REGISTER_DISPLAYNAME: &str = "webauthn_register_displayname";
    pub const WEBAUTHN_REGISTER: &str = "webauthn_register";
    pub const TOTP_QR: &str = "totp_qr";
    pub const TOTP_SECRET_KEY: &str = "totp_secret_key";
    pub const TOTP_UNLINK: &str = "totp_unlink";
    pub const TOTP_CODE: &str = "totp_code";
}

/// How to order nodes: first by `groups` (unlisted groups first), then, within a group
/// (default and password count as one here), by the first key that prefixes the node id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SortOptions {
    pub groups: Vec<Group>,
    pub keys: Vec<String>,
}

impl SortOptions {
    /// Login flows.
    pub fn login() -> Self {
        Self {
            groups: vec![
                Group::Oidc,
                Group::Default,
                Group::IdentifierFirst,
                Group::Webauthn,
                Group::Passkey,
                Group::Code,
                Group::Password,
                Group::Totp,
                Group::LookupSecret,
            ],
            keys: vec![
                CSRF_TOKEN_NAME.into(),
                "identifier".into(),
                "password".into(),
            ],
        }
    }

    /// Registration flows: schema order, with the password right after the first trait.
    pub fn registration(schema: &IdentitySchema) -> Self {
        let schema_keys = schema_keys_in_order(&schema.raw);
        let mut keys = vec![CSRF_TOKEN_NAME.to_owned()];
        let mut rest = schema_keys.into_iter();
        if let Some(first) = rest.next() {
            keys.push(first);
        }
        keys.push("password".into());
        keys.extend(rest);
        keys.extend(
            [
                names::WEBAUTHN_REMOVE,
                names::WEBAUTHN_REGISTER_DISPLAYNAME,
                names::WEBAUTHN_REGISTER,
            ]
            .map(String::from),
        );
        Self {
            groups: vec![
                Group::Oidc,
                Group::Saml,
                Group::Default,
                Group::Webauthn,
                Group::Passkey,
                Group::Code,
                Group::Password,
                Group::Captcha,
                Group::Profile,
            ],
            keys,
        }
    }
}

impl SortOptions {
    /// Settings flows: the identity's schema order within Kratos's settings group order.
    pub fn settings(schema: &IdentitySchema) -> Self {
        let mut keys = vec![CSRF_TOKEN_NAME.to_owned()];
        keys.extend(schema_keys_in_order(&schema.raw));
        keys.extend(
            [
                names::WEBAUTHN_REMOVE,
                names::WEBAUTHN_REGISTER_DISPLAYNAME,
                names::WEBAUTHN_REGISTER,
                names::TOTP_QR,
                names::TOTP_SECRET_KEY,
                names::TOTP_UNLINK,
                names::TOTP_CODE,
            ]
            .map(String::from),
        );
        Self {
            groups: vec![
                Group::Default,
                Group::Profile,
                Group::Password,
                Group::Oidc,
                Group::LookupSecret,
                Group::Webauthn,
                Group::Passkey,
                Group::Totp,
            ],
            keys,
        }
    }
}

/// Dotted paths of every non-object property, in document order, read from the raw schema
/// without resolving `$ref`s (Kratos does the same, so referenced fields sort last).
pub fn schema_keys_in_order(raw: &Value) -> Vec<String> {
    fn walk(v: &Value, parents: &mut Vec<String>, out: &mut Vec<String>) {
        if v.get("type").and_then(Value::as_str) == Some("object") {
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    parents.push(k.replace('.', "\\."));
                    walk(sub, parents, out);
                    parents.pop();
                }
            }
        } else {
            out.push(parents.join("."));
        }
    }
    let mut out = Vec::new();
    walk(raw, &mut Vec::new(), &mut out);
    out
}

/// Go's `%v` rendering of a value, used by Kratos as the final tie-breaker.
fn go_value_string(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

struct SortKey {
    group: Group,
    position: usize,
    value: String,
}

fn comparable_groups(a: Group, b: Group) -> bool {
    a == b
        || matches!(
            (a, b),
            (Group::Default, Group::Password) | (Group::Password, Group::Default)
        )
}

/// Kratos' within-group comparison. It is not a total order (different groups compare
/// equal unless default/password), so the result depends on the exact algorithm; see
/// [`go_stable_sort`].
fn less(a: &SortKey, b: &SortKey) -> bool {
    if !comparable_groups(a.group, b.group) {
        return false;
    }
    match a.position.cmp(&b.position) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => a.value < b.value,
    }
}

/// Go's `sort.Stable` (insertion sort over blocks of 20, then in-place SymMerge),
/// reproduced step for step: with Kratos' non-transitive comparator any other stable
/// algorithm can yield a different, equally "valid", order.
fn go_stable_sort<T>(v: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    fn insertion<T>(v: &mut [T], a: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && less(&v[j], &v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
    }
    fn swap_range<T>(v: &mut [T], a: usize, b: usize, n: usize) {
        for i in 0..n {
            v.swap(a + i, b + i);
        }
    }
    fn rotate<T>(v: &mut [T], a: usize, m: usize, b: usize) {
        let mut i = m - a;
        let mut j = b - m;
        while i != j {
            if i > j {
                swap_range(v, m - i, m, j);
                i -= j;
            } else {
                swap_range(v, m - i, m + j - i, i);
                j -= i;
            }
        }
        swap_range(v, m - i, m, i);
    }
    fn sym_merge<T>(v: &mut [T], a: usize, m: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
        if m - a == 1 {
            let (mut i, mut j) = (m, b);
            while i < j {
                let h = (i + j) / 2;
                if less(&v[h], &v[a]) {
                    i = h + 1;
                } else {
                    j = h;
                }
            }
            for k in a..i.saturating_sub(1) {
                v.swap(k, k + 1);
            }
            return;
        }
        if b - m == 1 {
            let (mut i, mut j) = (a, m);
            while i < j {
                let h = (i + j) / 2;
                if !less(&v[m], &v[h]) {
                    i = h + 1;
                } else {
                    j = h;
                }
            }
            let mut k = m;
            while k > i {
                v.swap(k, k - 1);
                k -= 1;
            }
            return;
        }
        let mid = (a + b) / 2;
        let n = mid + m;
        let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
        let p = n - 1;
        while start < r {
            let c = (start + r) / 2;
            if !less(&v[p - c], &v[c]) {
                start = c + 1;
            } else {
                r = c;
            }
        }
        let end = n - start;
        if start < m && m < end {
            rotate(v, start, m, end);
        }
        if a < start && start < mid {
            sym_merge(v, a, start, mid, less);
        }
        if mid < end && end < b {
            sym_merge(v, mid, end, b, less);
        }
    }

    let n = v.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion(v, a, b, less);
        a = b;
        b += block;
    }
    insertion(v, a, n, less);
    while block < n {
        a = 0;
        b = 2 * block;
        while b <= n {
            sym_merge(v, a, a + block, b, less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(v, a, m, n, less);
        }
        block *= 2;
    }
}

// ---- container ----

/// The flow's form. `messages` is omitted from JSON when empty, node `messages` never are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UiContainer {
    pub action: String,
    pub method: String,
    pub nodes: Vec<UiNode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<UiText>,
}

impl UiContainer {
    pub fn new(action: String, method: &str) -> Self {
        Self {
            action,
            method: method.to_owned(),
            nodes: Vec::new(),
            messages: Vec::new(),
        }
    }

    pub fn find(&self, id: &str) -> Option<&UiNode> {
        self.nodes.iter().find(|n| n.id() == id)
    }

    pub fn find_mut(&mut self, id: &str) -> Option<&mut UiNode> {
        self.nodes.iter_mut().find(|n| n.id() == id)
    }

    /// Replaces the first node with the same id in place, else appends.
    pub fn upsert(&mut self, node: UiNode) {
        match self.nodes.iter_mut().find(|n| n.id() == node.id()) {
            Some(slot) => *slot = node,
            None => self.nodes.push(node),
        }
    }

    pub fn append(&mut self, node: UiNode) {
        self.nodes.push(node);
    }

    pub fn extend(&mut self, nodes: impl IntoIterator<Item = UiNode>) {
        self.nodes.extend(nodes);
    }

    /// Removes every node with one of these ids.
    pub fn remove(&mut self, ids: &[&str]) {
        self.nodes.retain(|n| !ids.contains(&n.id()));
    }

    /// Sets an input's value; false when no node has that name.
    pub fn set_value(&mut self, name: &str, value: Value) -> bool {
        match self.find_mut(name) {
            Some(n) => {
                n.set_value(Some(value));
                true
            }
            None => false,
        }
    }

    /// Adds a flow-level message.
    pub fn add_message(&mut self, message: UiText) {
        self.messages.push(message);
    }

    /// Attaches a message to the node `name`. An empty name means the flow itself. Like
    /// Kratos, a message for a node that does not exist creates a bare text input holding
    /// it, so the message is still shown next to a (new) field of that name.
    pub fn add_node_message(&mut self, name: &str, message: UiText) {
        if name.trim().is_empty() {
            self.messages.push(message);
            return;
        }
        match self.find_mut(name) {
            Some(n) => n.messages.push(message),
            None => {
                let mut n = UiNode::input(name, Group::Default, InputType::Text);
                n.messages.push(message);
                self.nodes.push(n);
            }
        }
    }

    /// Clears flow-level and node messages.
    pub fn reset_messages(&mut self) {
        self.messages.clear();
        for n in &mut self.nodes {
            n.messages.clear();
        }
    }

    /// Clears value and messages of the named nodes (e.g. `password` after a failed login).
    pub fn reset_nodes(&mut self, ids: &[&str]) {
        for n in self.nodes.iter_mut().filter(|n| ids.contains(&n.id())) {
            n.messages.clear();
            n.set_value(None);
        }
    }

    /// Drops the value of every password input so a submitted password is never echoed.
    pub fn strip_passwords(&mut self) {
        for n in &mut self.nodes {
            if let Some(a) = n.input_attributes_mut()
                && a.kind == InputType::Password
            {
                a.value = None;
            }
        }
    }

    /// Echoes submitted traits into `traits.*` nodes (moving them to the default group);
    /// leaves without a node get a new input typed from the value, as Kratos does.
    pub fn set_values_from_traits(&mut self, traits: &Value) {
        self.set_values_from_json(traits, "traits", Group::Default);
    }

    /// Generic form of [`Self::set_values_from_traits`] for any prefix and group.
    pub fn set_values_from_json(&mut self, data: &Value, prefix: &str, group: Group) {
        if !data.is_object() {
            return;
        }
        let mut leaves = Vec::new();
        flatten(data, &mut Vec::new(), &mut leaves);
        for (path, value) in leaves {
            let name = if prefix.is_empty() {
                path
            } else {
                format!("{prefix}.{path}")
            };
            match self.find_mut(&name) {
                Some(n) => {
                    n.set_value(Some(value));
                    n.group = group;
                }
                None => {
                    let kind = input_type_for_value(&name, &value);
                    self.nodes
                        .push(UiNode::input(name, group, kind).with_value(value));
                }
            }
        }
    }

    /// Sets (or replaces) the CSRF node.
    pub fn update_csrf(&mut self, token: &str) {
        self.upsert(csrf_node(token));
    }

    /// Orders nodes as Kratos does (`Nodes.SortBySchema`): a group pass, then a stable
    /// pass by key position with `method` always last and the value as tie-breaker.
    ///
    /// Go's group pass uses `sort.Slice`, which is only stable up to 12 nodes; we always
    /// sort stably, so orders can differ from Kratos only for larger forms with full ties.
    pub fn sort_nodes(&mut self, opts: &SortOptions) {
        let group_rank = |g: Group| -> isize {
            opts.groups
                .iter()
                .position(|x| *x == g)
                .map_or(-1, |p| p as isize)
        };
        if !opts.groups.is_empty() {
            self.nodes.sort_by_key(|n| group_rank(n.group));
        }
        let count = self.nodes.len();
        let mut keyed: Vec<(SortKey, UiNode)> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(|n| {
                let id = n.id();
                let position = if id == METHOD_NODE_NAME {
                    count + opts.keys.len() + 1
                } else {
                    opts.keys
                        .iter()
                        .position(|k| id.starts_with(k.as_str()))
                        .unwrap_or(opts.keys.len())
                };
                let key = SortKey {
                    group: n.group,
                    position,
                    value: go_value_string(&n.value()),
                };
                (key, n)
            })
            .collect();
        go_stable_sort(&mut keyed, &|a, b| less(&a.0, &b.0));
        self.nodes = keyed.into_iter().map(|(_, n)| n).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(raw: Value) -> IdentitySchema {
        IdentitySchema::new("default", "file:///test.schema.json", raw).unwrap()
    }

    fn person_schema() -> IdentitySchema {
        schema(json!({
            "$id": "https://example.com/person.schema.json",
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Person",
            "type": "object",
            "properties": {
                "traits": {
                    "type": "object",
                    "properties": {
                        "email": {
                            "type": "string",
                            "format": "email",
                            "title": "E-Mail",
                            "ory.sh/kratos": {
                                "credentials": {"password": {"identifier": true}}
                            }
                        },
                        "name": {
                            "type": "object",
                            "properties": {
                                "first": {"type": "string", "title": "First name"},
                                "last": {"type": "string", "title": "Last name"}
                            }
                        }
                    },
                    "required": ["email"]
                }
            }
        }))
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/ui/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Compares pretty JSON text so key order is checked too.
    fn assert_json_eq(actual: &impl Serialize, expected: &str) {
        let expected: Value = serde_json::from_str(expected).unwrap();
        assert_eq!(
            serde_json::to_string_pretty(actual).unwrap(),
            serde_json::to_string_pretty(&expected).unwrap()
        );
    }

    fn names(c: &UiContainer) -> Vec<&str> {
        c.nodes.iter().map(UiNode::id).collect()
    }

    fn registration_container(s: &IdentitySchema) -> UiContainer {
        let mut c = UiContainer::new(
            "https://auth.example.com/self-service/registration?flow=x".into(),
            "POST",
        );
        c.extend(nodes_from_schema(s, Group::Default, "traits"));
        c.update_csrf("");
        c.upsert(password_node("new-password"));
        c.append(submit_node(
            Group::Password,
            "password",
            text::registration(),
        ));
        c.sort_nodes(&SortOptions::registration(s));
        c
    }

    #[test]
    fn password_registration_matches_fixture() {
        let c = registration_container(&person_schema());
        assert_json_eq(&c.nodes, &fixture("registration_password.json"));
        assert_eq!(
            names(&c),
            [
                "csrf_token",
                "traits.email",
                "password",
                "traits.name.first",
                "traits.name.last",
                "method"
            ]
        );
    }

    #[test]
    fn password_login_matches_fixture() {
        let s = person_schema();
        let mut c = UiContainer::new(
            "https://auth.example.com/self-service/login?flow=x".into(),
            "POST",
        );
        // Insertion order of the password strategy; sorting must fix it up.
        c.append(identifier_node(identifier_label(&s)));
        c.update_csrf("");
        c.upsert(password_node("current-password"));
        c.append(submit_node(
            Group::Password,
            "password",
            text::login_password(),
        ));
        c.sort_nodes(&SortOptions::login());
        assert_json_eq(&c.nodes, &fixture("login_password.json"));
        assert_eq!(
            names(&c),
            ["csrf_token", "identifier", "password", "method"]
        );
    }

    /// Same input and expectation as Kratos' registration `TestSortNodes` case 1: the
    /// password lands between the first and second trait despite its different group.
    #[test]
    fn registration_sort_interleaves_password_like_kratos() {
        let s = schema(json!({
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {
                "username": {"type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
                "foobar": {"type": "string"}
            }}}
        }));
        let mut c = UiContainer::new(String::new(), "POST");
        c.append(UiNode::input("traits.foobar", Group::Default, InputType::Text).required());
        c.append(UiNode::input("traits.username", Group::Default, InputType::Text).required());
        c.append(csrf_node("tok"));
        c.append(password_node("new-password"));
        c.append(submit_node(
            Group::Password,
            "password",
            text::registration(),
        ));
        c.sort_nodes(&SortOptions::registration(&s));
        assert_eq!(
            names(&c),
            [
                "csrf_token",
                "traits.username",
                "password",
                "traits.foobar",
                "method"
            ]
        );
    }

    #[test]
    fn groups_order_and_method_last() {
        let mut c = UiContainer::new(String::new(), "POST");
        c.append(submit_node(
            Group::Password,
            "password",
            text::login_password(),
        ));
        c.append(password_node("current-password"));
        c.append(UiNode::input("provider", Group::Oidc, InputType::Submit).with_value("google"));
        c.append(UiNode::input("provider", Group::Oidc, InputType::Submit).with_value("github"));
        c.append(identifier_node(text::label_id()));
        c.append(csrf_node(""));
        c.sort_nodes(&SortOptions::login());
        let got: Vec<(Group, &str)> = c.nodes.iter().map(|n| (n.group, n.id())).collect();
        assert_eq!(
            got,
            [
                (Group::Oidc, "provider"),
                (Group::Oidc, "provider"),
                (Group::Default, "csrf_token"),
                (Group::Default, "identifier"),
                (Group::Password, "password"),
                (Group::Password, "method"),
            ]
        );
        // Ties on position are broken by value: github before google.
        assert_eq!(c.nodes[0].value(), Some(json!("github")));
    }

    #[test]
    fn stable_sort_matches_std_for_total_orders() {
        // On a proper order the Go algorithm must agree with any stable sort, including
        // the merge phase (> 20 elements).
        let mut v: Vec<(u32, usize)> = (0..137).map(|i| ((i * 7919 % 13) as u32, i)).collect();
        let mut expected = v.clone();
        expected.sort_by_key(|x| x.0);
        go_stable_sort(&mut v, &|a, b| a.0 < b.0);
        assert_eq!(v, expected);
    }

    #[test]
    fn schema_types_formats_and_labels() {
        let s = schema(json!({
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {
                "when": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "site": {"type": "string", "format": "uri"},
                "phone": {"type": "string", "format": "tel", "title": "Phone"},
                "age": {"type": "integer"},
                "score": {"type": "number"},
                "tos": {"type": "boolean"},
                "code": {"type": "string", "pattern": "^[a-z]+$"},
                "tags": {"type": "array", "items": {"type": "string"}}
            }, "required": ["tos"]}}
        }));
        let nodes = nodes_from_schema(&s, Group::Profile, "traits");
        let v = serde_json::to_value(&nodes).unwrap();
        let kinds: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["attributes"]["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "datetime-local",
                "date",
                "url",
                "tel",
                "number",
                "number",
                "checkbox",
                "text",
                "text"
            ]
        );
        assert_eq!(v[2]["attributes"]["autocomplete"], "url");
        assert_eq!(v[3]["attributes"]["autocomplete"], "tel");
        assert_eq!(
            v[3]["meta"]["label"],
            json!({"id": 1070002, "text": "Phone", "type": "info", "context": {"title": "Phone", "name": "traits.phone"}})
        );
        assert_eq!(v[6]["attributes"]["required"], true);
        assert_eq!(v[6]["group"], "profile");
        assert!(v[5]["attributes"].get("required").is_none());
        assert_eq!(v[7]["attributes"]["pattern"], "^[a-z]+$");
        assert_eq!(v[0]["meta"], json!({}));
        assert!(v[0]["attributes"].get("value").is_none());
    }

    #[test]
    fn identifier_label_rules() {
        assert_eq!(identifier_label(&person_schema()).id, 1070002);
        let two = schema(json!({
            "type": "object",
            "properties": {"traits": {"type": "object", "properties": {
                "email": {"type": "string", "title": "Email", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
                "username": {"type": "string", "title": "Username", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}
            }}}
        }));
        assert_eq!(identifier_label(&two), text::label_id());
    }

    #[test]
    fn serialization_details() {
        let mut c = UiContainer::new("https://a/b".into(), "POST");
        c.append(csrf_node(""));
        let v = serde_json::to_value(&c).unwrap();
        // Container messages omitted when empty; node messages and meta always present.
        assert!(v.get("messages").is_none());
        assert_eq!(v["nodes"][0]["messages"], json!([]));
        assert_eq!(v["nodes"][0]["meta"], json!({}));
        // An empty CSRF token is still written; `disabled` is always written.
        assert_eq!(v["nodes"][0]["attributes"]["value"], "");
        assert_eq!(v["nodes"][0]["attributes"]["disabled"], false);
        let keys: Vec<&String> = v["nodes"][0]["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(
            keys,
            ["name", "type", "value", "required", "disabled", "node_type"]
        );

        c.add_message(text::login());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["messages"][0]["id"], 1010001);

        let img = UiNode {
            group: Group::Totp,
            attributes: Attributes::Image(ImageAttributes {
                src: "data:image/png;base64,AA".into(),
                id: "totp_qr".into(),
                width: 256,
                height: 256,
            }),
            messages: vec![],
            meta: Meta::default(),
        };
        let v = serde_json::to_value(&img).unwrap();
        assert_eq!(v["type"], "img");
        let keys: Vec<&String> = v["attributes"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["src", "id", "width", "height", "node_type"]);
        let t = UiNode::text("lookup_secret_codes", text::label_id(), Group::LookupSecret);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["type"], "text");
        assert_eq!(v["attributes"]["node_type"], "text");
    }

    #[test]
    fn round_trips_through_json() {
        let c = registration_container(&person_schema());
        let text = serde_json::to_string(&c).unwrap();
        let back: UiContainer = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        // Documents without `node_type` still parse, using the node `type`.
        let n: UiNode = serde_json::from_value(json!({
            "type": "input", "group": "default",
            "attributes": {"name": "x", "type": "text", "disabled": false},
            "messages": [], "meta": {}
        }))
        .unwrap();
        assert_eq!(n.id(), "x");
    }

    #[test]
    fn mutation_helpers() {
        let s = person_schema();
        let mut c = registration_container(&s);
        c.set_values_from_traits(&json!({"email": "a@b.c", "name": {"first": "A"}, "extra": 3}));
        assert_eq!(
            c.find("traits.email").unwrap().value(),
            Some(json!("a@b.c"))
        );
        assert_eq!(
            c.find("traits.name.first").unwrap().value(),
            Some(json!("A"))
        );
        let extra = c.find("traits.extra").unwrap();
        assert_eq!(extra.input_attributes().unwrap().kind, InputType::Number);

        assert!(c.set_value("password", json!("hunter22")));
        c.strip_passwords();
        assert_eq!(c.find("password").unwrap().value(), None);
        assert!(!c.set_value("nope", json!(1)));

        c.add_node_message("traits.email", text::validation_email("a@b"));
        c.add_node_message("", text::login());
        c.add_node_message("ghost", text::validation_required("ghost"));
        assert_eq!(c.find("traits.email").unwrap().messages.len(), 1);
        assert_eq!(c.messages.len(), 1);
        let ghost = c.find("ghost").unwrap();
        assert_eq!((ghost.group, ghost.messages.len()), (Group::Default, 1));
        c.reset_messages();
        assert!(c.messages.is_empty() && c.nodes.iter().all(|n| n.messages.is_empty()));

        c.update_csrf("fresh");
        assert_eq!(c.nodes.iter().filter(|n| n.id() == "csrf_token").count(), 1);
        assert_eq!(c.find("csrf_token").unwrap().value(), Some(json!("fresh")));
        c.reset_nodes(&["traits.email"]);
        assert_eq!(c.find("traits.email").unwrap().value(), None);
    }

    #[test]
    fn group_names() {
        assert_eq!(
            serde_json::to_value(Group::LookupSecret).unwrap(),
            "lookup_secret"
        );
        assert_eq!(
            serde_json::to_value(Group::IdentifierFirst).unwrap(),
            "identifier_first"
        );
        assert_eq!(Group::from_method("webauthn"), Some(Group::Webauthn));
        assert_eq!(Group::DeviceAuthn.as_str(), "deviceauthn");
    }

    #[test]
    fn schema_keys_follow_document_order() {
        assert_eq!(
            schema_keys_in_order(&person_schema().raw),
            ["traits.email", "traits.name.first", "traits.name.last"]
        );
    }
}
