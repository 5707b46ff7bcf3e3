//! Admin identity operations. Everything that can fail on input is checked before the one
//! transaction that writes, so a rejected request leaves nothing behind.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::schema::{Extracted, FieldMessage, Via};
use super::{Credential, CredentialType, Identity, RecoveryAddress, State, VerifiableAddress, now};
use crate::deps::Deps;
use crate::hash;
use crate::security::events::{self, Actor, Event, Name};
use crate::store::StoreError;
use crate::store::identities::{self as q, ListFilter};

/// Most identities one batch request may create (Kratos's limit).
pub const BATCH_LIMIT: usize = 1000;
pub const DEFAULT_PAGE_SIZE: i64 = 250;
pub const MAX_PAGE_SIZE: i64 = 1000;
/// Credential types whose identifiers come from the schema and are stored normalised (as in
/// Kratos, lower-cased); other identifiers, such as OIDC subjects, are case-sensitive.
pub const NORMALIZED_IDENTIFIER_TYPES: &[CredentialType] = &[
    CredentialType::Password,
    CredentialType::Webauthn,
    CredentialType::Code,
];
/// Most ids one `ids` filter may name.
pub const MAX_IDS_FILTER: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity not found")]
    NotFound,
    /// The request itself is wrong; the text says how.
    #[error("{0}")]
    BadRequest(String),
    /// Traits (or addresses) do not satisfy the identity schema.
    #[error("traits do not match the identity schema")]
    Validation(Vec<FieldMessage>),
    #[error("This identity conflicts with another identity that already exists.")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
    /// Something the operation needs is not available yet (an identity schema still loading).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::identity::schema::SchemaError> for IdentityError {
    fn from(e: crate::identity::schema::SchemaError) -> Self {
        match e {
            crate::identity::schema::SchemaError::NotLoaded { .. } => {
                IdentityError::Unavailable(e.to_string())
            }
            other => IdentityError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for IdentityError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => IdentityError::NotFound,
            StoreError::Conflict(_) => IdentityError::Conflict,
            other => IdentityError::Store(other),
        }
    }
}

/// An address as a create request may carry it to import its verification state.
#[derive(Debug, Clone, Deserialize)]
pub struct AddressIn {
    pub value: String,
    pub via: String,
    #[serde(default)]
    pub verified: Option<bool>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PasswordConfigIn {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub hashed_password: Option<String>,
    #[serde(default)]
    pub use_password_migration_hook: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PasswordIn {
    #[serde(default)]
    pub config: PasswordConfigIn,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OidcProviderIn {
    pub provider: String,
    pub subject: String,
    #[serde(default)]
    pub use_auto_link: Option<bool>,
    #[serde(default)]
    pub organization: Option<Value>,
    /// The provider's ID, access and refresh tokens, already encrypted: set by the `oidc`
    /// method at sign-up, never read from a request (an import stores none).
    #[serde(skip)]
    pub initial_tokens: Option<[String; 3]>,
}

impl OidcProviderIn {
    /// The entry of the `oidc` credential's `providers` list, as Kratos stores it.
    pub fn entry(&self) -> Value {
        let [id_token, access_token, refresh_token] =
            self.initial_tokens.clone().unwrap_or_default();
        let mut entry = serde_json::json!({
            "subject": self.subject,
            "provider": self.provider,
            "initial_id_token": id_token,
            "initial_access_token": access_token,
            "initial_refresh_token": refresh_token,
        });
        if let Some(org) = self.organization.as_ref().filter(|o| !o.is_null()) {
            entry["organization"] = org.clone();
        }
        if let Some(link) = self.use_auto_link {
            entry["use_auto_link"] = Value::Bool(link);
        }
        entry
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OidcConfigIn {
    #[serde(default)]
    pub providers: Vec<OidcProviderIn>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OidcIn {
    #[serde(default)]
    pub config: OidcConfigIn,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CredentialsIn {
    #[serde(default)]
    pub password: Option<PasswordIn>,
    #[serde(default)]
    pub oidc: Option<OidcIn>,
    /// Credential types that cannot be imported yet; rejected with a clear error.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `createIdentityBody`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateIdentityBody {
    #[serde(default)]
    pub schema_id: Option<String>,
    pub traits: Value,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub metadata_public: Option<Value>,
    #[serde(default)]
    pub metadata_admin: Option<Value>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    #[serde(default)]
    pub verifiable_addresses: Option<Vec<AddressIn>>,
    #[serde(default)]
    pub recovery_addresses: Option<Vec<AddressIn>>,
    #[serde(default)]
    pub credentials: Option<CredentialsIn>,
}

/// `updateIdentityBody` (PUT): traits, state, metadata and external id are replaced.
#[derive(Debug, Clone, Deserialize)]
pub struct UpdateIdentityBody {
    #[serde(default)]
    pub schema_id: Option<String>,
    pub traits: Value,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub metadata_public: Option<Value>,
    #[serde(default)]
    pub metadata_admin: Option<Value>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialsIn>,
}

/// Decodes a JSON body into `T`, naming the offending field on failure.
pub fn decode<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, IdentityError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            IdentityError::BadRequest(format!("The request body is invalid: {}", e.inner()))
        } else {
            IdentityError::BadRequest(format!(
                "The request body is invalid at {path}: {}",
                e.inner()
            ))
        }
    })
}

fn parse_state(s: Option<&str>) -> Result<Option<State>, IdentityError> {
    match s {
        None | Some("") => Ok(None),
        Some(s) => State::parse(s).map(Some).ok_or_else(|| {
            IdentityError::BadRequest(format!(
                "Identity state {s:?} is invalid: it must be \"active\" or \"inactive\"."
            ))
        }),
    }
}

fn non_null(v: Option<Value>) -> Option<Value> {
    v.filter(|v| !v.is_null())
}

fn via_str(v: Via) -> &'static str {
    match v {
        Via::Email => "email",
        Via::Sms => "sms",
    }
}

/// Validates traits against the identity's schema and derives what the schema says follows from
/// them: credential identifiers and verifiable/recovery addresses. Addresses already known (on
/// the stored identity or imported in the request) keep their id and verification state.
pub(crate) fn apply_schema(
    deps: &Deps,
    ident: &mut Identity,
    imported_verifiable: &[AddressIn],
    imported_recovery: &[AddressIn],
) -> Result<(), IdentityError> {
    let schema = deps.schemas.get(&ident.schema_id)?.ok_or_else(|| {
        IdentityError::BadRequest(format!(
            "The identity schema {:?} does not exist; configure it under identity.schemas.",
            ident.schema_id
        ))
    })?;
    if !ident.traits.is_object() {
        return Err(IdentityError::BadRequest(
            "traits must be a JSON object.".into(),
        ));
    }
    let extracted: Extracted = schema
        .validate_traits(&ident.traits)
        .map_err(IdentityError::Validation)?;
    let ts = now();

    // Verifiable addresses follow the schema; a known one keeps its state.
    let mut verifiable = Vec::new();
    for (via, value) in &extracted.verifiable {
        let via = via_str(*via);
        if verifiable
            .iter()
            .any(|a: &VerifiableAddress| a.via == via && a.value == *value)
        {
            continue;
        }
        if let Some(existing) = ident
            .verifiable_addresses
            .iter()
            .find(|a| a.via == via && a.value == *value)
        {
            verifiable.push(existing.clone());
            continue;
        }
        let imported = imported_verifiable.iter().find(|a| {
            a.via == via
                && super::schema::normalize_identifier(&a.value, Some(address_via(via))) == *value
        });
        let verified = imported.and_then(|a| a.verified).unwrap_or(false);
        let status = imported.and_then(|a| a.status.clone()).unwrap_or_else(|| {
            if verified {
                "completed".into()
            } else {
                "pending".into()
            }
        });
        let verified_at = if verified {
            imported.and_then(|a| a.verified_at).or(Some(ts))
        } else {
            None
        };
        verifiable.push(VerifiableAddress {
            id: Uuid::now_v7(),
            value: value.clone(),
            verified,
            via: via.into(),
            status,
            verified_at,
            created_at: ts,
            updated_at: ts,
        });
    }
    // The store reads addresses back ordered by id; order them so here too, so a create or
    // update returns them exactly as a later get does.
    verifiable.sort_by_key(|a| a.id);
    ident.verifiable_addresses = verifiable;

    let mut recovery = Vec::new();
    for (via, value) in &extracted.recovery {
        let via = via_str(*via);
        if recovery
            .iter()
            .any(|a: &RecoveryAddress| a.via == via && a.value == *value)
        {
            continue;
        }
        if let Some(existing) = ident
            .recovery_addresses
            .iter()
            .find(|a| a.via == via && a.value == *value)
        {
            recovery.push(existing.clone());
            continue;
        }
        let _ = imported_recovery;
        recovery.push(RecoveryAddress {
            id: Uuid::now_v7(),
            value: value.clone(),
            via: via.into(),
            created_at: ts,
            updated_at: ts,
        });
    }
    recovery.sort_by_key(|a| a.id);
    ident.recovery_addresses = recovery;

    // Password identifiers follow the traits. As in Kratos, they live on a password credential
    // even before a password is set, so they are unique and searchable from the start.
    let mut ids: Vec<String> = Vec::new();
    for i in &extracted.password_identifiers {
        if !ids.contains(i) {
            ids.push(i.clone());
        }
    }
    match ident.credentials.get_mut(&CredentialType::Password) {
        Some(c) if ids.is_empty() && is_blank(&c.config) => {
            ident.credentials.remove(&CredentialType::Password);
        }
        Some(c) if c.identifiers != ids => {
            c.identifiers = ids;
            c.updated_at = ts;
        }
        Some(_) => {}
        None if !ids.is_empty() => {
            ident.credentials.insert(
                CredentialType::Password,
                Credential {
                    id: Uuid::now_v7(),
                    kind: CredentialType::Password,
                    identifiers: ids,
                    config: serde_json::json!({}),
                    version: 0,
                    created_at: ts,
                    updated_at: ts,
                },
            );
        }
        None => {}
    }
    if !extracted.code_identifiers.is_empty() {
        let mut ids: Vec<String> = Vec::new();
        let mut addresses = Vec::new();
        for (value, via) in &extracted.code_identifiers {
            if !ids.contains(value) {
                ids.push(value.clone());
                addresses.push(serde_json::json!({"channel": via_str(*via), "address": value}));
            }
        }
        let config = serde_json::json!({ "addresses": addresses });
        match ident.credentials.get_mut(&CredentialType::Code) {
            Some(c) => {
                if c.identifiers != ids {
                    c.identifiers = ids;
                    c.config = config;
                    c.updated_at = ts;
                }
            }
            None => {
                ident.credentials.insert(
                    CredentialType::Code,
                    Credential {
                        id: Uuid::now_v7(),
                        kind: CredentialType::Code,
                        identifiers: ids,
                        config,
                        version: 1,
                        created_at: ts,
                        updated_at: ts,
                    },
                );
            }
        }
    } else if ident
        .credentials
        .get(&CredentialType::Code)
        .is_some_and(|c| c.config.get("addresses").is_some())
    {
        ident.credentials.remove(&CredentialType::Code);
    }
    if let Some(c) = ident.credentials.get_mut(&CredentialType::Webauthn) {
        c.identifiers = extracted.webauthn_identifiers.clone();
    }
    Ok(())
}

/// A credential config without secret material (`{}` or `null`).
fn is_blank(config: &Value) -> bool {
    config.is_null() || config.as_object().is_some_and(|o| o.is_empty())
}

/// Whether a credential can sign someone in on its own: a password only once it has a hash (or
/// defers to the migration hook), security keys only when one of them is passwordless (second
/// factors keep the schema's identifiers too, as in Kratos), other first factors when they name
/// at least one identifier.
pub fn is_active_first_factor(c: &Credential) -> bool {
    match c.kind {
        CredentialType::Webauthn => {
            !c.identifiers.is_empty()
                && c.config
                    .get("credentials")
                    .and_then(Value::as_array)
                    .is_some_and(|keys| {
                        keys.iter()
                            .any(|k| k.get("is_passwordless") == Some(&Value::Bool(true)))
                    })
        }
        CredentialType::Password => {
            c.config
                .get("hashed_password")
                .and_then(Value::as_str)
                .is_some_and(|h| !h.is_empty())
                || c.config.get("use_password_migration_hook") == Some(&Value::Bool(true))
        }
        kind => FIRST_FACTORS.contains(&kind) && !c.identifiers.is_empty(),
    }
}

fn address_via(via: &str) -> Via {
    if via == "sms" { Via::Sms } else { Via::Email }
}

/// Turns imported credentials into stored ones; cleartext passwords are hashed here, before any
/// connection is taken.
async fn import_credentials(
    deps: &Deps,
    ident: &mut Identity,
    creds: Option<CredentialsIn>,
) -> Result<(), IdentityError> {
    let Some(mut creds) = creds else {
        return Ok(());
    };
    let webauthn = creds.other.remove("webauthn").filter(|v| !v.is_null());
    if let Some(passkey) = creds.other.remove("passkey").filter(|v| !v.is_null()) {
        import_passkey(ident, passkey)?;
    }
    if let Some((kind, _)) = creds.other.iter().find(|(_, v)| !v.is_null()) {
        return Err(IdentityError::BadRequest(format!(
            "Importing {kind:?} credentials is not supported yet; only password, oidc, webauthn and passkey credentials can be imported."
        )));
    }
    let ts = now();
    if let Some(pw) = creds.password {
        let cfg = pw.config;
        let config = if let Some(hashed) = cfg.hashed_password.filter(|s| !s.is_empty()) {
            deps.hasher
                .identify(&hashed)
                .map_err(|e| IdentityError::BadRequest(e.to_string()))?;
            serde_json::json!({ "hashed_password": hashed })
        } else if let Some(clear) = cfg.password.filter(|s| !s.is_empty()) {
            let hashed = deps
                .hasher
                .hash(clear.as_bytes())
                .await
                .map_err(|e| match e {
                    hash::HashError::PasswordTooLong => IdentityError::BadRequest(e.to_string()),
                    other => IdentityError::Internal(other.to_string()),
                })?;
            serde_json::json!({ "hashed_password": hashed })
        } else if cfg.use_password_migration_hook == Some(true) {
            serde_json::json!({ "use_password_migration_hook": true })
        } else {
            return Err(IdentityError::BadRequest(
                "credentials.password.config needs password, hashed_password or use_password_migration_hook.".into(),
            ));
        };
        let (id, created_at) = ident
            .credentials
            .get(&CredentialType::Password)
            .map(|c| (c.id, c.created_at))
            .unwrap_or((Uuid::now_v7(), ts));
        ident.credentials.insert(
            CredentialType::Password,
            Credential {
                id,
                kind: CredentialType::Password,
                identifiers: Vec::new(),
                config,
                version: 0,
                created_at,
                updated_at: ts,
            },
        );
    }
    if let Some(webauthn) = webauthn {
        // Kratos's stored format (`{credentials: [...], user_handle}`); the identifiers follow
        // from the schema (`credentials.webauthn.identifier`), as for keys added in a flow.
        let config = webauthn.get("config").cloned().unwrap_or(Value::Null);
        if !config.get("credentials").is_some_and(Value::is_array) {
            return Err(IdentityError::BadRequest(
                "credentials.webauthn.config.credentials must be a list of security keys.".into(),
            ));
        }
        let (id, created_at) = ident
            .credentials
            .get(&CredentialType::Webauthn)
            .map(|c| (c.id, c.created_at))
            .unwrap_or((Uuid::now_v7(), ts));
        ident.credentials.insert(
            CredentialType::Webauthn,
            Credential {
                id,
                kind: CredentialType::Webauthn,
                identifiers: Vec::new(),
                config,
                version: 1,
                created_at,
                updated_at: ts,
            },
        );
    }
    if let Some(oidc) = creds.oidc {
        let mut identifiers = Vec::new();
        let mut providers = Vec::new();
        for p in oidc.config.providers {
            if p.provider.is_empty() || p.subject.is_empty() {
                return Err(IdentityError::BadRequest(
                    "credentials.oidc.config.providers[] needs provider and subject.".into(),
                ));
            }
            identifiers.push(format!("{}:{}", p.provider, p.subject));
            providers.push(p.entry());
        }
        let (id, created_at) = ident
            .credentials
            .get(&CredentialType::Oidc)
            .map(|c| (c.id, c.created_at))
            .unwrap_or((Uuid::now_v7(), ts));
        ident.credentials.insert(
            CredentialType::Oidc,
            Credential {
                id,
                kind: CredentialType::Oidc,
                identifiers,
                config: serde_json::json!({ "providers": providers }),
                version: 0,
                created_at,
                updated_at: ts,
            },
        );
    }
    Ok(())
}

/// Kratos's `credentials.passkey.config` (`{credentials, user_handle}`, as stored): the user
/// handle is the credential's identifier, which discoverable sign-ins find the identity by.
fn import_passkey(ident: &mut Identity, body: Value) -> Result<(), IdentityError> {
    use crate::selfservice::strategy::webauthn_ceremony::StoredCredentials;
    let config: StoredCredentials = serde_json::from_value(body["config"].clone())
        .map_err(|e| IdentityError::BadRequest(format!("credentials.passkey.config: {e}")))?;
    let handle = config
        .user_handle
        .as_deref()
        .and_then(|h| std::str::from_utf8(h).ok())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            IdentityError::BadRequest(
                "credentials.passkey.config.user_handle must be the passkeys' user handle.".into(),
            )
        })?
        .to_owned();
    let config =
        serde_json::to_value(&config).map_err(|e| IdentityError::Internal(e.to_string()))?;
    let ts = now();
    ident.credentials.insert(
        CredentialType::Passkey,
        Credential {
            id: Uuid::now_v7(),
            kind: CredentialType::Passkey,
            identifiers: vec![handle],
            config,
            version: 1,
            created_at: ts,
            updated_at: ts,
        },
    );
    Ok(())
}

/// An account that already holds one of a new identity's identifiers or addresses.
pub struct Conflict {
    pub owner: Uuid,
    /// The identifier or address the two share.
    pub identifier: String,
    /// Whether it means something to the user (an email, not a provider's subject).
    pub shown: bool,
}

/// The account `pending` (not yet stored) would collide with: the holder of one of its
/// credential identifiers, else of one of its verifiable or recovery addresses.
pub async fn conflict_of(deps: &Deps, pending: &Identity) -> Result<Option<Conflict>, StoreError> {
    use crate::store::{credentials, tokens};
    for c in pending.credentials.values() {
        for id in &c.identifiers {
            if let Some(owner) =
                credentials::identity_for_identifier(&deps.store, c.kind.as_str(), id).await?
            {
                // An OIDC identifier is the provider's subject: no use to the visitor.
                return Ok(Some(Conflict {
                    owner,
                    identifier: id.clone(),
                    shown: c.kind != CredentialType::Oidc,
                }));
            }
        }
    }
    for a in &pending.verifiable_addresses {
        if let Some((_, owner, value)) =
            tokens::verifiable_address(&deps.store, &a.via, &a.value).await?
        {
            return Ok(Some(Conflict {
                owner,
                identifier: value,
                shown: true,
            }));
        }
    }
    for a in &pending.recovery_addresses {
        if let Some((_, owner, value)) =
            tokens::recovery_address(&deps.store, &a.via, &a.value).await?
        {
            return Ok(Some(Conflict {
                owner,
                identifier: value,
                shown: true,
            }));
        }
    }
    Ok(None)
}

/// Builds a new identity from a create request without touching the database.
pub async fn prepare_new(deps: &Deps, body: CreateIdentityBody) -> Result<Identity, IdentityError> {
    let schema_id = body
        .schema_id
        .filter(|s| !s.is_empty())
        .map_or_else(|| deps.schemas.default_schema().map(|s| s.id.clone()), Ok)?;
    let state = parse_state(body.state.as_deref())?.unwrap_or(State::Active);
    if body.external_id.as_deref() == Some("") {
        return Err(IdentityError::BadRequest(
            "external_id must not be empty.".into(),
        ));
    }
    let ts = now();
    let mut ident = Identity {
        id: Uuid::now_v7(),
        schema_id,
        state,
        state_changed_at: Some(ts),
        traits: body.traits,
        metadata_public: non_null(body.metadata_public),
        metadata_admin: non_null(body.metadata_admin),
        external_id: body.external_id,
        organization_id: body.organization_id,
        credentials: BTreeMap::new(),
        verifiable_addresses: Vec::new(),
        recovery_addresses: Vec::new(),
        created_at: ts,
        updated_at: ts,
    };
    import_credentials(deps, &mut ident, body.credentials).await?;
    apply_schema(
        deps,
        &mut ident,
        body.verifiable_addresses.as_deref().unwrap_or_default(),
        body.recovery_addresses.as_deref().unwrap_or_default(),
    )?;
    Ok(ident)
}

pub async fn create(deps: &Deps, body: CreateIdentityBody) -> Result<Identity, IdentityError> {
    let ident = prepare_new(deps, body).await?;
    q::insert(&deps.store, &ident.to_rows(deps.store.nid())).await?;
    Ok(ident)
}

/// One item of a batch: created (with its id) or failed (with the error).
pub struct BatchOutcome {
    pub patch_id: Option<Uuid>,
    pub result: Result<Uuid, IdentityError>,
}

/// Creates up to [`BATCH_LIMIT`] identities; each item succeeds or fails on its own.
pub async fn batch_create(
    deps: &Deps,
    items: Vec<(Option<Uuid>, Result<CreateIdentityBody, IdentityError>)>,
) -> Result<Vec<BatchOutcome>, IdentityError> {
    if items.len() > BATCH_LIMIT {
        return Err(IdentityError::BadRequest(format!(
            "A batch may hold at most {BATCH_LIMIT} identities; this one holds {}.",
            items.len()
        )));
    }
    // Validation and hashing run concurrently (the hasher bounds its own parallelism).
    let prepared =
        futures::future::join_all(items.into_iter().map(|(patch_id, body)| async move {
            let r = match body {
                Ok(b) => prepare_new(deps, b).await,
                Err(e) => Err(e),
            };
            (patch_id, r)
        }))
        .await;
    let nid = deps.store.nid();
    let rows: Vec<_> = prepared
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|i| i.to_rows(nid)))
        .collect();
    let mut written = q::insert_many(&deps.store, rows).await?.into_iter();
    Ok(prepared
        .into_iter()
        .map(|(patch_id, r)| BatchOutcome {
            patch_id,
            result: match r {
                Ok(ident) => match written.next() {
                    Some(Ok(())) => Ok(ident.id),
                    Some(Err(e)) => Err(e.into()),
                    None => Err(IdentityError::Internal("batch outcome missing".into())),
                },
                Err(e) => Err(e),
            },
        })
        .collect())
}

pub async fn get(deps: &Deps, id: Uuid, with_credentials: bool) -> Result<Identity, IdentityError> {
    q::get(&deps.store, id, with_credentials)
        .await?
        .map(Identity::from_rows)
        .transpose()?
        .ok_or(IdentityError::NotFound)
}

pub async fn get_by_external_id(
    deps: &Deps,
    external_id: &str,
    with_credentials: bool,
) -> Result<Identity, IdentityError> {
    q::get_by_external_id(&deps.store, external_id, with_credentials)
        .await?
        .map(Identity::from_rows)
        .transpose()?
        .ok_or(IdentityError::NotFound)
}

pub async fn update(
    deps: &Deps,
    id: Uuid,
    body: UpdateIdentityBody,
) -> Result<Identity, IdentityError> {
    let mut ident = get(deps, id, true).await?;
    let before = ident.clone();
    if let Some(s) = body.schema_id.filter(|s| !s.is_empty()) {
        ident.schema_id = s;
    }
    if let Some(state) = parse_state(body.state.as_deref())?
        && state != ident.state
    {
        ident.state = state;
        ident.state_changed_at = Some(now());
    }
    if body.external_id.as_deref() == Some("") {
        return Err(IdentityError::BadRequest(
            "external_id must not be empty.".into(),
        ));
    }
    ident.traits = body.traits;
    ident.metadata_public = non_null(body.metadata_public);
    ident.metadata_admin = non_null(body.metadata_admin);
    ident.external_id = body.external_id;
    import_credentials(deps, &mut ident, body.credentials).await?;
    apply_schema(deps, &mut ident, &[], &[])?;
    ident.updated_at = now();
    q::replace(&deps.store, &ident.to_rows(deps.store.nid()), true).await?;
    deps.session_cache.invalidate_identity(id);
    changed_by_admin(deps, &before, &ident);
    Ok(ident)
}

/// Paths a JSON Patch may not touch.
const PATCH_FORBIDDEN: &[&str] = &[
    "/id",
    "/credentials",
    "/schema_url",
    "/created_at",
    "/updated_at",
    "/state_changed_at",
    "/organization_id",
];

fn forbidden(path: &str) -> bool {
    PATCH_FORBIDDEN
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Applies `patch` one operation at a time, checking the document's bounds after each: `copy`
/// can double a document per operation, and `add` can nest a bounded value under a path
/// that is already deep, so a patch whose every value is small can still build a document
/// too large or too deep to store and read back.
pub(crate) fn apply_bounded(
    doc: &mut Value,
    patch: &json_patch::Patch,
) -> Result<(), IdentityError> {
    use crate::limits::{MAX_PATCH_OPERATIONS, check};
    if patch.0.len() > MAX_PATCH_OPERATIONS {
        return Err(IdentityError::BadRequest(format!(
            "The JSON Patch is refused because it has more than {MAX_PATCH_OPERATIONS} operations."
        )));
    }
    for (i, op) in patch.0.iter().enumerate() {
        json_patch::patch(doc, std::slice::from_ref(op)).map_err(|e| {
            IdentityError::BadRequest(format!(
                "The JSON Patch could not be applied: operation {i}: {e}"
            ))
        })?;
        check(doc).map_err(|e| {
            IdentityError::BadRequest(format!(
                "The JSON Patch is refused: after operation {i} the identity document {e}."
            ))
        })?;
    }
    Ok(())
}

/// RFC 6902 patch of the identity's JSON; the result is validated like an update.
pub async fn patch(
    deps: &Deps,
    id: Uuid,
    patch: json_patch::Patch,
) -> Result<Identity, IdentityError> {
    for op in &patch.0 {
        let (path, from) = match op {
            json_patch::PatchOperation::Add(o) => (o.path.to_string(), None),
            json_patch::PatchOperation::Remove(o) => (o.path.to_string(), None),
            json_patch::PatchOperation::Replace(o) => (o.path.to_string(), None),
            json_patch::PatchOperation::Move(o) => (o.path.to_string(), Some(o.from.to_string())),
            json_patch::PatchOperation::Copy(o) => (o.path.to_string(), Some(o.from.to_string())),
            json_patch::PatchOperation::Test(o) => (o.path.to_string(), None),
        };
        for p in std::iter::once(&path).chain(from.as_ref()) {
            if forbidden(p) {
                return Err(IdentityError::BadRequest(format!(
                    "The JSON Patch operation on path {p:?} is not allowed: that field cannot be changed."
                )));
            }
        }
    }
    let mut ident = get(deps, id, true).await?;
    let before = ident.clone();
    let mut doc = ident.to_json(deps.public_base(), None);
    apply_bounded(&mut doc, &patch)?;
    let field = |k: &str| doc.get(k).cloned().unwrap_or(Value::Null);
    if let Some(s) = field("schema_id").as_str() {
        ident.schema_id = s.to_owned();
    } else {
        return Err(IdentityError::BadRequest(
            "schema_id must be a string.".into(),
        ));
    }
    let state = match field("state") {
        Value::String(s) => parse_state(Some(&s))?.unwrap_or(ident.state),
        _ => {
            return Err(IdentityError::BadRequest(
                "state must be \"active\" or \"inactive\".".into(),
            ));
        }
    };
    if state != ident.state {
        ident.state = state;
        ident.state_changed_at = Some(now());
    }
    ident.traits = field("traits");
    ident.metadata_public = non_null(Some(field("metadata_public")));
    ident.metadata_admin = non_null(Some(field("metadata_admin")));
    ident.external_id = match field("external_id") {
        Value::Null => None,
        Value::String(s) if !s.is_empty() => Some(s),
        _ => {
            return Err(IdentityError::BadRequest(
                "external_id must be a non-empty string.".into(),
            ));
        }
    };
    // Addresses edited by the patch keep the verification state written into them.
    let verifiable: Vec<VerifiableAddress> = match field("verifiable_addresses") {
        Value::Null => Vec::new(),
        v => serde_json::from_value(v).map_err(|e| {
            IdentityError::BadRequest(format!(
                "verifiable_addresses is invalid after the patch: {e}"
            ))
        })?,
    };
    let recovery: Vec<RecoveryAddress> = match field("recovery_addresses") {
        Value::Null => Vec::new(),
        v => serde_json::from_value(v).map_err(|e| {
            IdentityError::BadRequest(format!(
                "recovery_addresses is invalid after the patch: {e}"
            ))
        })?,
    };
    ident.verifiable_addresses = verifiable;
    ident.recovery_addresses = recovery;
    apply_schema(deps, &mut ident, &[], &[])?;
    ident.updated_at = now();
    q::replace(&deps.store, &ident.to_rows(deps.store.nid()), true).await?;
    deps.session_cache.invalidate_identity(id);
    changed_by_admin(deps, &before, &ident);
    Ok(ident)
}

/// The security events of an admin's change to an identity: its credentials and addresses,
/// and the sessions a disabling ended (the store revoked them with the change).
fn changed_by_admin(deps: &Deps, before: &Identity, after: &Identity) {
    for e in events::identity_changes(before, after, Actor::Admin) {
        events::emit(deps, e);
    }
    if before.state == State::Active && after.state == State::Inactive {
        events::emit(
            deps,
            Event::new(Name::SessionRevoked)
                .identity(after.id)
                .cause("identity_disabled"),
        );
    }
}

pub async fn delete(deps: &Deps, id: Uuid) -> Result<(), IdentityError> {
    let deleted = q::delete(&deps.store, id).await?;
    deps.session_cache.invalidate_identity(id);
    if deleted {
        Ok(())
    } else {
        Err(IdentityError::NotFound)
    }
}

/// Credential types that can sign someone in on their own.
const FIRST_FACTORS: &[CredentialType] = &[
    CredentialType::Password,
    CredentialType::Oidc,
    CredentialType::Saml,
    CredentialType::Passkey,
    CredentialType::Webauthn,
];

/// `DELETE /admin/identities/{id}/credentials/{type}`.
pub async fn delete_credential(
    deps: &Deps,
    id: Uuid,
    kind: &str,
    identifier: Option<&str>,
) -> Result<(), IdentityError> {
    let mut ident = get(deps, id, true).await?;
    let before = ident.clone();
    // An unknown type names no credential of the identity.
    let Some(kind) = CredentialType::parse(kind) else {
        return Err(IdentityError::NotFound);
    };
    let Some(cred) = ident.credentials.get(&kind).cloned() else {
        return Err(IdentityError::NotFound);
    };
    let first_factors = ident
        .credentials
        .values()
        .filter(|c| is_active_first_factor(c))
        .count();
    match kind {
        CredentialType::LookupSecret | CredentialType::Totp | CredentialType::Webauthn => {
            ident.credentials.remove(&kind);
        }
        CredentialType::Password => {
            if first_factors < 2 {
                return Err(IdentityError::BadRequest(
                    "You cannot remove the last first factor credential.".into(),
                ));
            }
            ident.credentials.remove(&kind);
        }
        CredentialType::Oidc | CredentialType::Saml => {
            let Some(identifier) = identifier.filter(|s| !s.is_empty()) else {
                return Err(IdentityError::BadRequest(format!(
                    "The identifier query parameter is required to remove {kind} credentials."
                )));
            };
            if !cred.identifiers.iter().any(|i| i == identifier) {
                return Err(IdentityError::NotFound);
            }
            let remaining = cred.identifiers.len() - 1;
            if remaining == 0 && first_factors < 2 {
                return Err(IdentityError::BadRequest(
                    "You cannot remove the last first factor credential.".into(),
                ));
            }
            if remaining == 0 {
                ident.credentials.remove(&kind);
            } else if let Some(c) = ident.credentials.get_mut(&kind) {
                c.identifiers.retain(|i| i != identifier);
                if let Some(list) = c.config.get_mut("providers").and_then(Value::as_array_mut) {
                    list.retain(|p| {
                        let key = format!(
                            "{}:{}",
                            p.get("provider")
                                .and_then(Value::as_str)
                                .unwrap_or_default(),
                            p.get("subject").and_then(Value::as_str).unwrap_or_default()
                        );
                        key != identifier
                    });
                }
                c.updated_at = now();
            }
        }
        other => {
            return Err(IdentityError::BadRequest(format!(
                "Credentials of type {:?} cannot be removed.",
                other.as_str()
            )));
        }
    }
    ident.updated_at = now();
    q::replace(&deps.store, &ident.to_rows(deps.store.nid()), true).await?;
    deps.session_cache.invalidate_identity(id);
    changed_by_admin(deps, &before, &ident);
    if !ident.credentials.contains_key(&kind) {
        // Sessions the removed credential vouched for lose its method (or end).
        crate::session::service::drop_methods(deps, id, &[kind])
            .await
            .map_err(|e| IdentityError::Internal(e.to_string()))?;
    }
    Ok(())
}

/// Parameters of `listIdentities`, already parsed.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub page_size: i64,
    pub after: Option<Uuid>,
    pub filter: ListFilter,
    pub include_credentials: Vec<String>,
}

/// One page, and the id to continue after when there is more.
pub async fn list(
    deps: &Deps,
    p: &ListParams,
) -> Result<(Vec<Identity>, Option<Uuid>), IdentityError> {
    let mut rows = q::list(
        &deps.store,
        &p.filter,
        p.after,
        p.page_size + 1,
        !p.include_credentials.is_empty(),
    )
    .await?;
    let more = rows.len() as i64 > p.page_size;
    rows.truncate(p.page_size as usize);
    let items = rows
        .into_iter()
        .map(Identity::from_rows)
        .collect::<Result<Vec<Identity>, StoreError>>()?;
    let next = if more {
        items.last().map(|i| i.id)
    } else {
        None
    };
    Ok((items, next))
}
