//! Identities: the model, its Kratos JSON shape, and the admin operations (in `service`).

pub mod credential_type;
pub mod schema;
pub mod service;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use credential_type::CredentialType;

use crate::cipher::Cipher;
use crate::store::StoreError;
use crate::store::id::DbId;
use crate::store::models::*;

/// `active` or `inactive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Active,
    Inactive,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Inactive => "inactive",
        }
    }
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "active" => Some(State::Active),
            "inactive" => Some(State::Inactive),
            _ => None,
        }
    }
}

/// One credential as the admin API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Credential {
    #[serde(skip)]
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: CredentialType,
    pub identifiers: Vec<String>,
    /// Secret material; blanked unless the caller asked for it with `include_credential`.
    pub config: Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VerifiableAddress {
    pub id: Uuid,
    pub value: String,
    pub verified: bool,
    pub via: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecoveryAddress {
    pub id: Uuid,
    pub value: String,
    pub via: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Identity {
    pub id: Uuid,
    pub schema_id: String,
    pub state: State,
    pub state_changed_at: Option<DateTime<Utc>>,
    pub traits: Value,
    pub metadata_public: Option<Value>,
    pub metadata_admin: Option<Value>,
    pub external_id: Option<String>,
    pub organization_id: Option<Uuid>,
    pub credentials: BTreeMap<CredentialType, Credential>,
    pub verifiable_addresses: Vec<VerifiableAddress>,
    pub recovery_addresses: Vec<RecoveryAddress>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Now, truncated to microseconds so what is returned equals what is read back from either
/// database.
pub fn now() -> DateTime<Utc> {
    let n = Utc::now();
    DateTime::from_timestamp_micros(n.timestamp_micros()).unwrap_or(n)
}

fn utc(n: NaiveDateTime) -> DateTime<Utc> {
    n.and_utc()
}

fn parse_json(s: Option<&str>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(s).ok())
        .filter(|v: &Value| !v.is_null())
}

impl Identity {
    /// Fails on a stored credential type or identity state this build does not know: a
    /// disabled identity must never be read back as active.
    pub fn from_rows(rows: IdentityRows) -> Result<Identity, StoreError> {
        let r = rows.identity;
        let mut credentials = BTreeMap::new();
        for c in rows.credentials {
            let kind =
                CredentialType::parse(&c.credential_type).ok_or_else(|| StoreError::BadValue {
                    column: "identity_credentials.credential_type".into(),
                    value: c.credential_type.clone(),
                })?;
            let identifiers = rows
                .identifiers
                .iter()
                .filter(|i| i.identity_credential_id == c.id)
                .map(|i| i.identifier.clone())
                .collect();
            credentials.insert(
                kind,
                Credential {
                    id: c.id.0,
                    kind,
                    identifiers,
                    config: serde_json::from_str(&c.config)
                        .unwrap_or(Value::Object(Default::default())),
                    version: c.version,
                    created_at: utc(c.created_at),
                    updated_at: utc(c.updated_at),
                },
            );
        }
        Ok(Identity {
            id: r.id.0,
            schema_id: r.schema_id,
            state: State::parse(&r.state).ok_or_else(|| StoreError::BadValue {
                column: "identities.state".into(),
                value: r.state.clone(),
            })?,
            state_changed_at: r.state_changed_at.map(utc),
            traits: serde_json::from_str(&r.traits).unwrap_or(Value::Object(Default::default())),
            metadata_public: parse_json(r.metadata_public.as_deref()),
            metadata_admin: parse_json(r.metadata_admin.as_deref()),
            external_id: r.external_id,
            organization_id: r.organization_id.map(Uuid::from),
            credentials,
            verifiable_addresses: rows
                .verifiable
                .into_iter()
                .map(|a| VerifiableAddress {
                    id: a.id.0,
                    value: a.value,
                    verified: a.verified,
                    via: a.via,
                    status: a.status,
                    verified_at: a.verified_at.map(utc),
                    created_at: utc(a.created_at),
                    updated_at: utc(a.updated_at),
                })
                .collect(),
            recovery_addresses: rows
                .recovery
                .into_iter()
                .map(|a| RecoveryAddress {
                    id: a.id.0,
                    value: a.value,
                    via: a.via,
                    created_at: utc(a.created_at),
                    updated_at: utc(a.updated_at),
                })
                .collect(),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        })
    }

    pub fn to_rows(&self, nid: Uuid) -> IdentityRows {
        let (id, nid) = (DbId(self.id), DbId(nid));
        let mut credentials = Vec::new();
        let mut identifiers = Vec::new();
        for c in self.credentials.values() {
            let cid = DbId(c.id);
            credentials.push(CredentialRow {
                id: cid,
                nid,
                identity_id: id,
                credential_type: c.kind.as_str().into(),
                config: c.config.to_string(),
                version: c.version,
                created_at: c.created_at.naive_utc(),
                updated_at: c.updated_at.naive_utc(),
            });
            for ident in &c.identifiers {
                identifiers.push(IdentifierRow {
                    id: DbId(Uuid::now_v7()),
                    nid,
                    identity_credential_id: cid,
                    identity_id: id,
                    credential_type: c.kind.as_str().into(),
                    identifier: ident.clone(),
                    created_at: c.created_at.naive_utc(),
                    updated_at: c.updated_at.naive_utc(),
                });
            }
        }
        IdentityRows {
            identity: IdentityRow {
                id,
                nid,
                schema_id: self.schema_id.clone(),
                traits: self.traits.to_string(),
                state: self.state.as_str().to_owned(),
                state_changed_at: self.state_changed_at.map(|t| t.naive_utc()),
                metadata_public: self.metadata_public.as_ref().map(Value::to_string),
                metadata_admin: self.metadata_admin.as_ref().map(Value::to_string),
                external_id: self.external_id.clone(),
                organization_id: self.organization_id.map(DbId),
                available_aal: None,
                created_at: self.created_at.naive_utc(),
                updated_at: self.updated_at.naive_utc(),
            },
            credentials,
            identifiers,
            verifiable: self
                .verifiable_addresses
                .iter()
                .map(|a| VerifiableAddressRow {
                    id: DbId(a.id),
                    nid,
                    identity_id: id,
                    via: a.via.clone(),
                    value: a.value.clone(),
                    verified: a.verified,
                    verified_at: a.verified_at.map(|t| t.naive_utc()),
                    status: a.status.clone(),
                    created_at: a.created_at.naive_utc(),
                    updated_at: a.updated_at.naive_utc(),
                })
                .collect(),
            recovery: self
                .recovery_addresses
                .iter()
                .map(|a| RecoveryAddressRow {
                    id: DbId(a.id),
                    nid,
                    identity_id: id,
                    via: a.via.clone(),
                    value: a.value.clone(),
                    created_at: a.created_at.naive_utc(),
                    updated_at: a.updated_at.naive_utc(),
                })
                .collect(),
        }
    }

    /// Kratos's declassified credentials, for the admin API's `include_credential`: an included
    /// `oidc` credential shows, per provider, the subject, the provider, the organization and
    /// the auto-link flag, with the initial tokens decrypted. A token no configured secret
    /// decrypts (its key rotated away) shows as `""`, as in Kratos, rather than failing the
    /// answer. Blanking what is not included is [`Identity::to_json`]'s part.
    pub fn declassify(&mut self, include: &[String], cipher: &Cipher) {
        if !include.iter().any(|t| t == CredentialType::Oidc.as_str()) {
            return;
        }
        let id = self.id;
        if let Some(c) = self.credentials.get_mut(&CredentialType::Oidc) {
            c.config = declassified_oidc(id, &c.config, cipher);
        }
    }

    /// The admin API's JSON. `credentials`: `None` leaves them out; `Some(include)` shows every
    /// credential with its secret `config` blanked except for the types listed in `include`.
    pub fn to_json(&self, public_base: &str, credentials: Option<&[String]>) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("id".into(), Value::String(self.id.to_string()));
        if let Some(include) = credentials
            && !self.credentials.is_empty()
        {
            let mut creds = serde_json::Map::new();
            for (k, c) in &self.credentials {
                let mut c = c.clone();
                if !include.iter().any(|t| t == k.as_str()) {
                    c.config = Value::Object(Default::default());
                }
                creds.insert(
                    k.as_str().into(),
                    serde_json::to_value(&c).unwrap_or(Value::Null),
                );
            }
            o.insert("credentials".into(), Value::Object(creds));
        }
        o.insert("schema_id".into(), Value::String(self.schema_id.clone()));
        o.insert(
            "schema_url".into(),
            Value::String(schema_url(public_base, &self.schema_id)),
        );
        o.insert("state".into(), Value::String(self.state.as_str().into()));
        if let Some(t) = self.state_changed_at {
            o.insert(
                "state_changed_at".into(),
                serde_json::to_value(t).unwrap_or(Value::Null),
            );
        }
        o.insert("traits".into(), self.traits.clone());
        if !self.verifiable_addresses.is_empty() {
            o.insert(
                "verifiable_addresses".into(),
                serde_json::to_value(&self.verifiable_addresses).unwrap_or_default(),
            );
        }
        if !self.recovery_addresses.is_empty() {
            o.insert(
                "recovery_addresses".into(),
                serde_json::to_value(&self.recovery_addresses).unwrap_or_default(),
            );
        }
        o.insert(
            "metadata_public".into(),
            self.metadata_public.clone().unwrap_or(Value::Null),
        );
        o.insert(
            "metadata_admin".into(),
            self.metadata_admin.clone().unwrap_or(Value::Null),
        );
        if let Some(e) = &self.external_id {
            o.insert("external_id".into(), Value::String(e.clone()));
        }
        o.insert(
            "organization_id".into(),
            self.organization_id
                .map(|u| Value::String(u.to_string()))
                .unwrap_or(Value::Null),
        );
        o.insert(
            "created_at".into(),
            serde_json::to_value(self.created_at).unwrap_or_default(),
        );
        o.insert(
            "updated_at".into(),
            serde_json::to_value(self.updated_at).unwrap_or_default(),
        );
        Value::Object(o)
    }
}

/// The OIDC provider tokens, stored encrypted in each `providers[]` entry.
const OIDC_TOKENS: [&str; 3] = [
    "initial_id_token",
    "initial_access_token",
    "initial_refresh_token",
];

fn declassified_oidc(identity: Uuid, config: &Value, cipher: &Cipher) -> Value {
    let text = |p: &Value, key: &str| p.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let providers: Vec<Value> = config
        .get("providers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let mut out = serde_json::Map::new();
            for token in OIDC_TOKENS {
                let clear = match cipher.decrypt(&text(p, token)) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => {
                        tracing::warn!(%identity, token, error = %e, "OIDC token not decrypted; shown empty");
                        String::new()
                    }
                };
                out.insert(token.into(), Value::String(clear));
            }
            out.insert("subject".into(), Value::String(text(p, "subject")));
            out.insert("provider".into(), Value::String(text(p, "provider")));
            let org = text(p, "organization");
            if !org.is_empty() {
                out.insert("organization".into(), Value::String(org));
            }
            if p.get("use_auto_link") == Some(&Value::Bool(true)) {
                out.insert("use_auto_link".into(), Value::Bool(true));
            }
            Value::Object(out)
        })
        .collect();
    serde_json::json!({ "providers": providers })
}

/// `<public>/schemas/<base64url(id)>`, as Kratos links a schema from an identity.
pub fn schema_url(public_base: &str, schema_id: &str) -> String {
    use base64::Engine;
    format!(
        "{}/schemas/{}",
        public_base.trim_end_matches('/'),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(schema_id.as_bytes())
    )
}
