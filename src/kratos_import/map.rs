//! Kratos rows to Gatehouse rows. Each mapping either gives the row or the reason it cannot be
//! taken; nothing here touches a database.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::source::{
    KCredential, KDevice, KIdentifier, KIdentity, KMessage, KRecovery, KSession, KVerifiable,
};
use crate::cipher::Cipher;
use crate::hash::Hasher;
use crate::identity::CredentialType;
use crate::session::{AuthenticationMethod, hash_token, logout_token_for};
use crate::store::courier::{MessageRow, MessageStatus};
use crate::store::id::DbId;
use crate::store::models::{
    CredentialRow, IdentifierRow, IdentityRow, RecoveryAddressRow, VerifiableAddressRow,
};
use crate::store::sessions::{DeviceRow, SessionRow};

/// Why a row is refused.
pub type Refusal = String;

/// What the mapping needs to know about both sides.
pub struct Mapper {
    /// The Kratos network the rows are read from (its oldest, the one Kratos serves).
    pub source_nid: Option<Uuid>,
    /// The network the rows are written under.
    pub target_nid: Uuid,
    /// Identity schema ids the configuration has.
    pub schema_ids: HashSet<String>,
    /// Parses and bounds-checks password hashes as the configured hasher would.
    pub hasher: Hasher,
    /// Kratos's cipher (its `secrets.cipher`), to open the provider tokens of OIDC credentials.
    pub kratos_cipher: Cipher,
    /// Gatehouse's cipher, to seal them again.
    pub cipher: Cipher,
    /// When queued messages become due again.
    pub now: NaiveDateTime,
}

/// An instant as Kratos's databases write it: PostgreSQL's text form (`2024-01-02
/// 03:04:05.123456`, with `+00` for zoned columns), go-sqlite3's (`… 03:04:05.999999999+00:00`),
/// or RFC 3339. Zoned values are converted to UTC.
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let s = s.strip_suffix(" UTC").unwrap_or(s);
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.naive_utc());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d"]
        .iter()
        .find_map(|f| {
            NaiveDateTime::parse_from_str(s, f).ok().or_else(|| {
                chrono::NaiveDate::parse_from_str(s, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
        })
}

fn time(column: &str, s: &str) -> Result<NaiveDateTime, Refusal> {
    parse_time(s).ok_or_else(|| format!("{column} {s:?} is not a time"))
}

fn opt_time(column: &str, s: &Option<String>) -> Result<Option<NaiveDateTime>, Refusal> {
    s.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| time(column, s))
        .transpose()
}

pub fn id(column: &str, s: &str) -> Result<Uuid, Refusal> {
    Uuid::parse_str(s.trim()).map_err(|_| format!("{column} {s:?} is not a UUID"))
}

/// A JSON document as stored text, re-serialised (PostgreSQL's `jsonb` text spacing differs).
fn json(column: &str, s: &str) -> Result<Value, Refusal> {
    serde_json::from_str(s).map_err(|e| format!("{column} is not JSON: {e}"))
}

/// An optional JSON document: SQL NULL, JSON `null` and `""` are absent.
fn opt_json(column: &str, s: &Option<String>) -> Result<Option<String>, Refusal> {
    match s.as_deref().map(str::trim) {
        None | Some("") | Some("null") => Ok(None),
        Some(s) => Ok(Some(json(column, s)?.to_string())),
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// Credential types Gatehouse has a method for, so a stored credential of that type works.
const TAKEN_TYPES: [CredentialType; 7] = [
    CredentialType::Password,
    CredentialType::Oidc,
    CredentialType::Totp,
    CredentialType::LookupSecret,
    CredentialType::Webauthn,
    CredentialType::Code,
    CredentialType::Passkey,
];

pub fn credential_type(name: &Option<String>) -> Result<CredentialType, Refusal> {
    let name = name.as_deref().unwrap_or("");
    CredentialType::parse(name)
        .filter(|t| TAKEN_TYPES.contains(t))
        .ok_or_else(|| format!("credential type {name:?} is not one Gatehouse signs in with"))
}

impl Mapper {
    /// A row of another network than the one Kratos serves is refused: Gatehouse serves one.
    fn network(&self, nid: &Option<String>) -> Result<DbId, Refusal> {
        if let (Some(want), Some(nid)) = (self.source_nid, nid.as_deref())
            && id("nid", nid)? != want
        {
            return Err(format!(
                "belongs to network {nid}, not {want} (the one Kratos serves)"
            ));
        }
        Ok(DbId(self.target_nid))
    }

    pub fn identity(&self, k: &KIdentity) -> Result<IdentityRow, Refusal> {
        let nid = self.network(&k.nid)?;
        if !self.schema_ids.contains(&k.schema_id) {
            return Err(format!(
                "identity schema {:?} is not configured (identity.schemas)",
                k.schema_id
            ));
        }
        let traits = json("traits", &k.traits)?;
        if !traits.is_object() {
            return Err("traits are not a JSON object".into());
        }
        let state = k
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("active");
        if crate::identity::State::parse(state).is_none() {
            return Err(format!("state {state:?} is neither active nor inactive"));
        }
        let available_aal =
            non_empty(&k.available_aal).filter(|a| crate::session::Aal::parse(a).is_some());
        Ok(IdentityRow {
            id: DbId(id("id", &k.id)?),
            nid,
            schema_id: k.schema_id.clone(),
            traits: traits.to_string(),
            state: state.to_owned(),
            state_changed_at: opt_time("state_changed_at", &k.state_changed_at)?,
            metadata_public: opt_json("metadata_public", &k.metadata_public)?,
            metadata_admin: opt_json("metadata_admin", &k.metadata_admin)?,
            external_id: non_empty(&k.external_id),
            organization_id: non_empty(&k.organization_id)
                .map(|o| id("organization_id", &o).map(DbId))
                .transpose()?,
            available_aal,
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }

    pub fn credential(&self, k: &KCredential) -> Result<CredentialRow, Refusal> {
        let nid = self.network(&k.nid)?;
        let kind = credential_type(&k.type_name)?;
        let mut config = json("config", &k.config)?;
        match kind {
            CredentialType::Password => self.password(&config)?,
            CredentialType::Oidc => self.reseal_oidc(&mut config)?,
            _ => {}
        }
        Ok(CredentialRow {
            id: DbId(id("id", &k.id)?),
            nid,
            identity_id: DbId(id("identity_id", &k.identity_id)?),
            credential_type: kind.as_str().to_owned(),
            config: config.to_string(),
            version: k.version.unwrap_or(0) as i32,
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }

    /// The stored hash must be one Gatehouse verifies (unchanged: it is rehashed at the next
    /// sign-in); a credential left to the password migration hook has none.
    fn password(&self, config: &Value) -> Result<(), Refusal> {
        match config.get("hashed_password").and_then(Value::as_str) {
            Some(h) if !h.is_empty() => self
                .hasher
                .identify(h)
                .map(|_| ())
                .map_err(|e| format!("password hash: {e}")),
            _ if config.get("use_password_migration_hook") == Some(&Value::Bool(true)) => Ok(()),
            _ => Err("password credential has no hash".into()),
        }
    }

    /// Opens each provider token with Kratos's cipher and seals it with Gatehouse's.
    fn reseal_oidc(&self, config: &mut Value) -> Result<(), Refusal> {
        let Some(providers) = config.get_mut("providers").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        for p in providers {
            for key in [
                "initial_id_token",
                "initial_access_token",
                "initial_refresh_token",
            ] {
                let Some(sealed) = p.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
                else {
                    continue;
                };
                let plain = self.kratos_cipher.decrypt(sealed).map_err(|e| {
                    format!("{key}: {e} (give Kratos's secrets.cipher with --kratos-cipher-secret)")
                })?;
                p[key] = Value::String(
                    self.cipher
                        .encrypt(&plain)
                        .map_err(|e| format!("{key}: sealing it again: {e}"))?,
                );
            }
        }
        Ok(())
    }

    pub fn identifier(&self, k: &KIdentifier) -> Result<IdentifierRow, Refusal> {
        let nid = self.network(&k.nid)?;
        let kind = credential_type(&k.type_name)?;
        Ok(IdentifierRow {
            id: DbId(id("id", &k.id)?),
            nid,
            identity_credential_id: DbId(id("identity_credential_id", &k.identity_credential_id)?),
            identity_id: DbId(id("identity_id", &k.identity_id)?),
            credential_type: kind.as_str().to_owned(),
            identifier: k.identifier.clone(),
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }

    pub fn verifiable(&self, k: &KVerifiable) -> Result<VerifiableAddressRow, Refusal> {
        let nid = self.network(&k.nid)?;
        if !matches!(k.status.as_str(), "pending" | "sent" | "completed") {
            return Err(format!("verification status {:?} is not known", k.status));
        }
        Ok(VerifiableAddressRow {
            id: DbId(id("id", &k.id)?),
            nid,
            identity_id: DbId(id("identity_id", &k.identity_id)?),
            via: k.via.clone(),
            value: k.value.clone(),
            verified: k.verified != 0,
            verified_at: opt_time("verified_at", &k.verified_at)?,
            status: k.status.clone(),
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }

    pub fn recovery(&self, k: &KRecovery) -> Result<RecoveryAddressRow, Refusal> {
        Ok(RecoveryAddressRow {
            id: DbId(id("id", &k.id)?),
            nid: self.network(&k.nid)?,
            identity_id: DbId(id("identity_id", &k.identity_id)?),
            via: k.via.clone(),
            value: k.value.clone(),
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }

    /// Tokens become digests: the session token's as Gatehouse looks it up, so the token keeps
    /// working; the logout token is the one Gatehouse derives from the session token (Kratos's
    /// own logout tokens are not kept: Gatehouse checks a logout token against the session).
    pub fn session(&self, k: &KSession) -> Result<SessionRow, Refusal> {
        let nid = self.network(&k.nid)?;
        let token = k
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or("session has no token")?;
        let aal = k.aal.as_deref().filter(|a| !a.is_empty()).unwrap_or("aal1");
        if crate::session::Aal::parse(aal).is_none() {
            return Err(format!("assurance level {aal:?} is not known"));
        }
        let methods: Vec<AuthenticationMethod> = match k.authentication_methods.as_deref() {
            None | Some("") | Some("null") => Vec::new(),
            Some(s) => {
                let raw: Vec<Value> = serde_json::from_str(s)
                    .map_err(|e| format!("authentication_methods is not a JSON array: {e}"))?;
                raw.into_iter()
                    .map(|m| {
                        let shown = m.to_string();
                        serde_json::from_value(m).map_err(|_| {
                            format!("authentication method {shown} is not one Gatehouse knows")
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(SessionRow {
            id: DbId(id("id", &k.id)?),
            nid,
            identity_id: DbId(id("identity_id", &k.identity_id)?),
            token: hash_token(token),
            logout_token: hash_token(&logout_token_for(token)),
            active: k.active != 0,
            aal: aal.to_owned(),
            authentication_methods: serde_json::to_string(&methods).map_err(|e| e.to_string())?,
            issued_at: time("issued_at", &k.issued_at)?,
            authenticated_at: time("authenticated_at", &k.authenticated_at)?,
            expires_at: time("expires_at", &k.expires_at)?,
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }

    pub fn device(&self, k: &KDevice) -> Result<DeviceRow, Refusal> {
        Ok(DeviceRow {
            id: DbId(id("id", &k.id)?),
            nid: self.network(&k.nid)?,
            session_id: DbId(id("session_id", &k.session_id)?),
            ip_address: non_empty(&k.ip_address),
            user_agent: non_empty(&k.user_agent),
            location: non_empty(&k.location),
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }

    /// An unsent message (Kratos's queued 1 or processing 3) becomes queued and due now; its
    /// body is Kratos's rendered text (Kratos renders HTML at send time, so there is none).
    pub fn message(&self, k: &KMessage) -> Result<MessageRow, Refusal> {
        let nid = self.network(&k.nid)?;
        let kind = match k.kind {
            Some(1) => "email",
            Some(2) => "phone",
            other => {
                return Err(format!(
                    "message type {other:?} is not email (1) or SMS (2)"
                ));
            }
        };
        let channel = non_empty(&k.channel)
            .unwrap_or_else(|| if kind == "email" { "email" } else { "sms" }.to_owned());
        let template_data = match k.template_data.as_deref().map(str::trim) {
            None | Some("") => "{}".to_owned(),
            Some(s) => json("template_data", s)?.to_string(),
        };
        Ok(MessageRow {
            id: DbId(id("id", &k.id)?),
            nid,
            kind: kind.to_owned(),
            status: MessageStatus::Queued,
            channel,
            recipient: k.recipient.clone(),
            subject: k.subject.clone(),
            body: k.body.clone(),
            html_body: None,
            template_type: k.template_type.clone().unwrap_or_default(),
            template_data,
            send_count: k.send_count.unwrap_or(0) as i32,
            next_attempt_at: self.now,
            claimed_until: None,
            claim_id: None,
            created_at: time("created_at", &k.created_at)?,
            updated_at: time("updated_at", &k.updated_at)?,
        })
    }
}

/// Now, as stored.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_kratos_spelling() {
        let want = chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 123456)
            .unwrap();
        for s in [
            "2024-01-02 03:04:05.123456",
            "2024-01-02 03:04:05.123456+00",
            "2024-01-02 03:04:05.123456+00:00",
            "2024-01-02T03:04:05.123456Z",
            "2024-01-02 05:04:05.123456+02:00",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(
            parse_time("2024-01-02 03:04:05"),
            Some(want.with_nanosecond(0).unwrap())
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn credential_types_without_a_method_are_refused() {
        assert_eq!(
            credential_type(&Some("password".into())),
            Ok(CredentialType::Password)
        );
        assert!(credential_type(&Some("saml".into())).is_err());
        assert!(credential_type(&Some("magic".into())).is_err());
        assert!(credential_type(&None).is_err());
    }

    use chrono::Timelike as _;
}
