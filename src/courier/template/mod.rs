//! Courier message templates: the built-in texts, Kratos-compatible overrides, and a Go
//! `text/template` interpreter to render them.
//!
//! Lookup per (type, part), strongest first — the same order as Kratos:
//! 1. a URI under `courier.templates.<type>.<valid|invalid>.…` (file://, base64://, http(s)://
//!    or a plain path);
//! 2. `<courier.template_override_path>/<type>/<valid|invalid>/<file>`, parsed together with
//!    its siblings matching `<file stem>*` so `{{template "…"}}` across files works;
//! 3. the built-in template.
//!
//! Everything is fetched and parsed in [`Templates::load`]; rendering never touches disk or
//! network, and a broken template stops start-up with an error naming its config key or file.
//!
//! Data model: the courier passes a JSON object keyed by Kratos's Go field names (`To`,
//! `RecoveryCode`, `Identity`, …). Kratos renders Go structs, so a model field the courier
//! leaves out is filled with its Go zero value (`""`, `0`, nil map) before rendering. Other
//! lookups follow Go maps: a missing key prints `<no value>` in text parts and nothing in
//! HTML parts (as `html/template` does), and is false in `if`.

mod exec;
mod funcs;
mod parse;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use parse::ParseError;
use parse::Parsed;

use crate::config::{
    Courier, EmailTemplate, HttpClient, MessageTemplates, SmsTemplate, TemplatePair,
};

/// Kratos's message template types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateType {
    RecoveryInvalid,
    RecoveryValid,
    RecoveryCodeInvalid,
    RecoveryCodeValid,
    VerificationInvalid,
    VerificationValid,
    VerificationCodeInvalid,
    VerificationCodeValid,
    LoginCodeValid,
    RegistrationCodeValid,
}

impl TemplateType {
    pub const ALL: [TemplateType; 10] = [
        Self::RecoveryInvalid,
        Self::RecoveryValid,
        Self::RecoveryCodeInvalid,
        Self::RecoveryCodeValid,
        Self::VerificationInvalid,
        Self::VerificationValid,
        Self::VerificationCodeInvalid,
        Self::VerificationCodeValid,
        Self::LoginCodeValid,
        Self::RegistrationCodeValid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecoveryInvalid => "recovery_invalid",
            Self::RecoveryValid => "recovery_valid",
            Self::RecoveryCodeInvalid => "recovery_code_invalid",
            Self::RecoveryCodeValid => "recovery_code_valid",
            Self::VerificationInvalid => "verification_invalid",
            Self::VerificationValid => "verification_valid",
            Self::VerificationCodeInvalid => "verification_code_invalid",
            Self::VerificationCodeValid => "verification_code_valid",
            Self::LoginCodeValid => "login_code_valid",
            Self::RegistrationCodeValid => "registration_code_valid",
        }
    }

    /// The `<group>/<valid|invalid>` directory, which is also the config key path.
    pub fn dir(self) -> &'static str {
        match self {
            Self::RecoveryInvalid => "recovery/invalid",
            Self::RecoveryValid => "recovery/valid",
            Self::RecoveryCodeInvalid => "recovery_code/invalid",
            Self::RecoveryCodeValid => "recovery_code/valid",
            Self::VerificationInvalid => "verification/invalid",
            Self::VerificationValid => "verification/valid",
            Self::VerificationCodeInvalid => "verification_code/invalid",
            Self::VerificationCodeValid => "verification_code/valid",
            Self::LoginCodeValid => "login_code/valid",
            Self::RegistrationCodeValid => "registration_code/valid",
        }
    }

    /// Fields of Kratos's Go model for this type; absent ones render as their zero value.
    fn model_fields(self) -> &'static [&'static str] {
        const COMMON: &[&str] = &["To", "RequestURL", "TransientPayload"];
        match self {
            Self::RecoveryInvalid
            | Self::RecoveryCodeInvalid
            | Self::VerificationInvalid
            | Self::VerificationCodeInvalid => COMMON,
            Self::RecoveryValid => &[
                "To",
                "RequestURL",
                "TransientPayload",
                "Identity",
                "RecoveryURL",
                // Not in Kratos's link models: Gatehouse passes the link's validity too.
                "ExpiresInMinutes",
            ],
            Self::RecoveryCodeValid => &[
                "To",
                "RequestURL",
                "TransientPayload",
                "Identity",
                "RecoveryCode",
                "ExpiresInMinutes",
            ],
            Self::VerificationValid => &[
                "To",
                "RequestURL",
                "TransientPayload",
                "Identity",
                "VerificationURL",
                // Not in Kratos's link models: Gatehouse passes the link's validity too.
                "ExpiresInMinutes",
            ],
            Self::VerificationCodeValid => &[
                "To",
                "RequestURL",
                "TransientPayload",
                "Identity",
                "VerificationURL",
                "VerificationCode",
                "ExpiresInMinutes",
            ],
            Self::LoginCodeValid => &[
                "To",
                "RequestURL",
                "TransientPayload",
                "Identity",
                "LoginCode",
                "ExpiresInMinutes",
            ],
            Self::RegistrationCodeValid => &[
                "To",
                "RequestURL",
                "TransientPayload",
                "Traits",
                "RegistrationCode",
                "ExpiresInMinutes",
            ],
        }
    }
}

impl fmt::Display for TemplateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

/// One renderable piece of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Subject,
    BodyPlaintext,
    BodyHtml,
    SmsBody,
}

impl Part {
    const ALL: [Part; 4] = [
        Self::Subject,
        Self::BodyPlaintext,
        Self::BodyHtml,
        Self::SmsBody,
    ];

    pub fn channel(self) -> Channel {
        match self {
            Self::SmsBody => Channel::Sms,
            _ => Channel::Email,
        }
    }

    /// File name inside a template directory (Kratos's names).
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Subject => "email.subject.gotmpl",
            Self::BodyPlaintext => "email.body.plaintext.gotmpl",
            Self::BodyHtml => "email.body.gotmpl",
            Self::SmsBody => "sms.body.gotmpl",
        }
    }

    /// Kratos parses every file matching `<stem>*` into one set (e.g. for per-locale files).
    fn glob_prefix(self) -> &'static str {
        match self {
            Self::Subject => "email.subject",
            Self::BodyPlaintext => "email.body.plaintext",
            Self::BodyHtml => "email.body",
            Self::SmsBody => "sms.body",
        }
    }

    /// The key below `courier.templates.<type>.<valid|invalid>`.
    fn config_suffix(self) -> &'static str {
        match self {
            Self::Subject => "email.subject",
            Self::BodyPlaintext => "email.body.plaintext",
            Self::BodyHtml => "email.body.html",
            Self::SmsBody => "sms.body.plaintext",
        }
    }

    fn is_html(self) -> bool {
        self == Self::BodyHtml
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_suffix())
    }
}

/// The config key that overrides `part` of `t`, e.g. `courier.templates.recovery_code.valid.email.body.html`.
pub fn config_key(t: TemplateType, part: Part) -> String {
    format!(
        "courier.templates.{}.{}",
        t.dir().replace('/', "."),
        part.config_suffix()
    )
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    /// Plaintext email body, or the SMS text.
    pub body: String,
    pub html: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateOverrides {
    /// `clients.http`, which hosts an `http(s)://` template may name.
    pub http: HttpClient,
    pub override_path: Option<PathBuf>,
    /// (type, channel, part, URI): file://, base64://, http(s):// or a plain path.
    pub entries: Vec<(TemplateType, Channel, Part, String)>,
}

#[derive(thiserror::Error, Debug)]
pub enum TemplateError {
    #[error("courier template {name} is invalid: {source}")]
    Parse { name: String, source: ParseError },
    #[error("courier template {name} could not be loaded from {uri:?}: {reason}")]
    Load {
        name: String,
        uri: String,
        reason: String,
    },
    #[error(
        "courier template {name} has unsupported location {uri:?} (expected file://, base64://, http(s):// or a path)"
    )]
    UnsupportedUri { name: String, uri: String },
    #[error("courier template {name} sets {part} on the {channel:?} channel")]
    ChannelMismatch {
        name: String,
        part: Part,
        channel: Channel,
    },
    #[error("courier.template_override_path {path}: {reason}")]
    OverridePath { path: String, reason: String },
    #[error("courier template {name} failed to render: {reason}")]
    Render { name: String, reason: String },
    #[error("there is no {part} template for {template_type}")]
    Missing {
        template_type: TemplateType,
        part: Part,
    },
}

#[derive(Debug)]
struct Compiled {
    /// Config key, file path or `builtin:<path>`, for error messages.
    name: String,
    parsed: Parsed,
    html: bool,
}

/// Parsed templates for every (type, part); clones share one map.
#[derive(Clone, Debug)]
pub struct Templates {
    parts: Arc<HashMap<(TemplateType, Part), Arc<Compiled>>>,
}

macro_rules! builtin {
    ($($ty:ident $dir:literal [$($part:ident $file:literal),*]),* $(,)?) => {
        &[$($((TemplateType::$ty, Part::$part, include_str!(concat!("builtin/", $dir, "/", $file)))),*),*]
    };
}

const BUILTIN: &[(TemplateType, Part, &str)] = builtin![
    RecoveryInvalid "recovery/invalid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl"],
    RecoveryValid "recovery/valid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl", SmsBody "sms.body.gotmpl"],
    RecoveryCodeInvalid "recovery_code/invalid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl"],
    RecoveryCodeValid "recovery_code/valid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl", SmsBody "sms.body.gotmpl"],
    VerificationInvalid "verification/invalid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl"],
    VerificationValid "verification/valid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl", SmsBody "sms.body.gotmpl"],
    VerificationCodeInvalid "verification_code/invalid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl"],
    VerificationCodeValid "verification_code/valid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl", SmsBody "sms.body.gotmpl"],
    LoginCodeValid "login_code/valid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl", SmsBody "sms.body.gotmpl"],
    RegistrationCodeValid "registration_code/valid" [Subject "email.subject.gotmpl", BodyPlaintext "email.body.plaintext.gotmpl", BodyHtml "email.body.gotmpl", SmsBody "sms.body.gotmpl"],
];

fn compile(
    name: String,
    src: &str,
    html: bool,
    siblings: &[(String, String)],
) -> Result<Compiled, TemplateError> {
    let wrap = |name: &str, source| TemplateError::Parse {
        name: name.to_owned(),
        source,
    };
    let mut parsed = Parsed::parse(src).map_err(|e| wrap(&name, e))?;
    for (file, text) in siblings {
        parsed
            .add_file(file, text)
            .map_err(|e| wrap(&format!("{name} (with {file})"), e))?;
    }
    parsed.check_references().map_err(|e| wrap(&name, e))?;
    if html {
        parsed.strip_html_comments();
    }
    Ok(Compiled { name, parsed, html })
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Templates {
        static BUILT: OnceLock<Templates> = OnceLock::new();
        BUILT
            .get_or_init(|| {
                let parts = BUILTIN
                    .iter()
                    .map(|&(t, part, src)| {
                        let name = format!("builtin:{}/{}", t.dir(), part.file_name());
                        // The built-ins are covered by tests; failing here is a build defect.
                        let c = compile(name, src, part.is_html(), &[])
                            .expect("built-in courier template parses");
                        ((t, part), Arc::new(c))
                    })
                    .collect();
                Templates {
                    parts: Arc::new(parts),
                }
            })
            .clone()
    }

    /// Built-in templates, overridden by `overrides` (from config). Loads every configured URI
    /// now so a bad one stops start-up with an error naming the config key.
    pub async fn load(overrides: &TemplateOverrides) -> Result<Templates, TemplateError> {
        let mut parts = (*Templates::builtin().parts).clone();
        if let Some(dir) = &overrides.override_path {
            load_dir(dir, &mut parts).await?;
        }
        for (t, channel, part, uri) in &overrides.entries {
            let name = config_key(*t, *part);
            if part.channel() != *channel {
                return Err(TemplateError::ChannelMismatch {
                    name,
                    part: *part,
                    channel: *channel,
                });
            }
            let src = fetch(&name, uri, &overrides.http).await?;
            let c = compile(name, &src, part.is_html(), &[])?;
            parts.insert((*t, *part), Arc::new(c));
        }
        Ok(Templates {
            parts: Arc::new(parts),
        })
    }

    /// Renders the message for `channel`. Email: trimmed subject, plaintext `body`, `html`.
    /// SMS: `body` only.
    pub fn render(
        &self,
        t: TemplateType,
        channel: Channel,
        data: &Value,
    ) -> Result<Rendered, TemplateError> {
        let model = with_model_defaults(t, data);
        match channel {
            Channel::Email => Ok(Rendered {
                // Kratos trims subjects so a trailing newline in the file doesn't reach the header.
                subject: self.exec(t, Part::Subject, &model)?.trim().to_owned(),
                body: self.exec(t, Part::BodyPlaintext, &model)?,
                html: Some(self.exec(t, Part::BodyHtml, &model)?),
            }),
            Channel::Sms => Ok(Rendered {
                subject: String::new(),
                body: self.exec(t, Part::SmsBody, &model)?,
                html: None,
            }),
        }
    }

    /// Whether `t` has a template for `part` (invalid-recipient types have no SMS text).
    pub fn has(&self, t: TemplateType, part: Part) -> bool {
        self.parts.contains_key(&(t, part))
    }

    fn exec(&self, t: TemplateType, part: Part, model: &Value) -> Result<String, TemplateError> {
        let c = self.parts.get(&(t, part)).ok_or(TemplateError::Missing {
            template_type: t,
            part,
        })?;
        exec::execute(&c.parsed, model, c.html).map_err(|reason| TemplateError::Render {
            name: c.name.clone(),
            reason,
        })
    }
}

/// Fills absent model fields with the zero value their Go type has in Kratos.
fn with_model_defaults(t: TemplateType, data: &Value) -> Value {
    let Value::Object(map) = data else {
        return data.clone();
    };
    let mut map = map.clone();
    for &field in t.model_fields() {
        if !map.contains_key(field) {
            let zero = match field {
                "ExpiresInMinutes" => Value::from(0),
                "Identity" | "Traits" | "TransientPayload" => Value::Null,
                _ => Value::String(String::new()),
            };
            map.insert(field.to_owned(), zero);
        }
    }
    Value::Object(map)
}

async fn load_dir(
    dir: &Path,
    parts: &mut HashMap<(TemplateType, Part), Arc<Compiled>>,
) -> Result<(), TemplateError> {
    let dir_err = |reason: String| TemplateError::OverridePath {
        path: dir.display().to_string(),
        reason,
    };
    match tokio::fs::metadata(dir).await {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(dir_err("not a directory".into())),
        // Kratos silently falls back to the built-ins when the directory is missing.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %dir.display(), "courier.template_override_path does not exist; using built-in templates");
            return Ok(());
        }
        Err(e) => return Err(dir_err(e.to_string())),
    }
    for t in TemplateType::ALL {
        let sub = dir.join(t.dir());
        let mut names = Vec::new();
        match tokio::fs::read_dir(&sub).await {
            Ok(mut rd) => {
                while let Some(entry) = rd
                    .next_entry()
                    .await
                    .map_err(|e| dir_err(format!("{}: {e}", sub.display())))?
                {
                    if let Some(n) = entry.file_name().to_str() {
                        names.push(n.to_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(dir_err(format!("{}: {e}", sub.display()))),
        }
        names.sort();
        for part in Part::ALL {
            if !names.iter().any(|n| n == part.file_name()) {
                continue;
            }
            let main = sub.join(part.file_name());
            let read = |p: PathBuf| async move {
                tokio::fs::read_to_string(&p)
                    .await
                    .map_err(|e| TemplateError::Load {
                        name: p.display().to_string(),
                        uri: p.display().to_string(),
                        reason: e.to_string(),
                    })
            };
            let src = read(main.clone()).await?;
            let mut siblings = Vec::new();
            for n in names
                .iter()
                .filter(|n| n.starts_with(part.glob_prefix()) && *n != part.file_name())
            {
                siblings.push((n.clone(), read(sub.join(n)).await?));
            }
            let c = compile(main.display().to_string(), &src, part.is_html(), &siblings)?;
            parts.insert((t, part), Arc::new(c));
        }
    }
    Ok(())
}

pub(crate) async fn fetch(
    name: &str,
    uri: &str,
    http: &HttpClient,
) -> Result<String, TemplateError> {
    crate::uri::read(uri, http).await.map_err(|e| match e {
        crate::uri::UriError::Unsupported => TemplateError::UnsupportedUri {
            name: name.to_owned(),
            uri: uri.to_owned(),
        },
        crate::uri::UriError::Read(reason) => TemplateError::Load {
            name: name.to_owned(),
            uri: uri.to_owned(),
            reason,
        },
    })
}

/// Collects the template URIs and override directory from `courier.*` config.
pub fn overrides_from_config(cfg: &Courier) -> TemplateOverrides {
    use TemplateType as T;
    let mut entries = Vec::new();
    let t = &cfg.templates;
    pair(
        &mut entries,
        t.recovery.as_ref(),
        T::RecoveryInvalid,
        T::RecoveryValid,
    );
    pair(
        &mut entries,
        t.recovery_code.as_ref(),
        T::RecoveryCodeInvalid,
        T::RecoveryCodeValid,
    );
    pair(
        &mut entries,
        t.verification.as_ref(),
        T::VerificationInvalid,
        T::VerificationValid,
    );
    pair(
        &mut entries,
        t.verification_code.as_ref(),
        T::VerificationCodeInvalid,
        T::VerificationCodeValid,
    );
    messages(
        &mut entries,
        t.login_code.as_ref().and_then(|v| v.valid.as_ref()),
        T::LoginCodeValid,
    );
    messages(
        &mut entries,
        t.registration_code.as_ref().and_then(|v| v.valid.as_ref()),
        T::RegistrationCodeValid,
    );
    // `verifiable_address_changed` has no template type in this courier yet, so it is not read.
    TemplateOverrides {
        http: HttpClient::default(),
        override_path: cfg
            .template_override_path
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        entries,
    }
}

type Entries = Vec<(TemplateType, Channel, Part, String)>;

fn pair(out: &mut Entries, p: Option<&TemplatePair>, invalid: TemplateType, valid: TemplateType) {
    let Some(p) = p else { return };
    email(
        out,
        p.invalid.as_ref().and_then(|i| i.email.as_ref()),
        invalid,
    );
    messages(out, p.valid.as_ref(), valid);
}

fn messages(out: &mut Entries, m: Option<&MessageTemplates>, t: TemplateType) {
    let Some(m) = m else { return };
    email(out, m.email.as_ref(), t);
    sms(out, m.sms.as_ref(), t);
}

fn push(out: &mut Entries, t: TemplateType, part: Part, uri: Option<&String>) {
    if let Some(uri) = uri.filter(|u| !u.is_empty()) {
        out.push((t, part.channel(), part, uri.clone()));
    }
}

fn email(out: &mut Entries, e: Option<&EmailTemplate>, t: TemplateType) {
    let Some(e) = e else { return };
    push(out, t, Part::Subject, e.subject.as_ref());
    push(out, t, Part::BodyPlaintext, e.body.plaintext.as_ref());
    push(out, t, Part::BodyHtml, e.body.html.as_ref());
}

fn sms(out: &mut Entries, s: Option<&SmsTemplate>, t: TemplateType) {
    let Some(s) = s else { return };
    push(out, t, Part::SmsBody, s.body.plaintext.as_ref());
}

#[cfg(test)]
mod tests;
