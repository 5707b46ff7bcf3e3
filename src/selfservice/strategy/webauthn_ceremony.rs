//! The relying-party side of WebAuthn for the `webauthn` and `passkey` methods: the options a
//! browser gets, the state a flow keeps between the two halves of a ceremony, and the
//! credentials as Kratos stores them in an identity (`identity/credentials_webauthn.go`).
//!
//! Every check of what an authenticator sends (client data, origin, challenge, attestation, COSE
//! keys, signatures, user presence and verification, sign counters) is webauthn-rs 0.6's engine
//! (`webauthn-rs-core`). It is used below the `webauthn-rs` wrapper because the wrapper only takes
//! UUIDs as user handles (Kratos's passkeys have 64-character random ones) and fixes the passkey
//! options that Kratos reads from `selfservice.methods.passkey.config`.
//!
//! A ceremony is three calls: `start_*` gives the options (the JSON Kratos puts in its nodes,
//! `{"publicKey": …}`) and a [`CeremonyState`] the flow [keeps](CeremonyState::put) in its
//! internal context; the browser answers through the script; `finish_*` [takes](CeremonyState::take)
//! the state out again (so a challenge answers once) and verifies the answer.
//!
//! The browser side is Gatehouse's own script ([`SCRIPT`], served at [`SCRIPT_PATH`]); flows
//! that show WebAuthn or passkey nodes carry its [`script_node`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AttestationFormat, AuthenticationState,
    AuthenticatorAttachment, COSEKey, Credential, ParsedAttestation, PublicKeyCredential,
    RegisterPublicKeyCredential, RegisteredExtensions, RegistrationState, ResidentKeyRequirement,
    UserVerificationPolicy,
};

use crate::config::{
    AttestationPreference, AuthenticatorAttachment as Attachment, PasskeyMethod, Requirement,
    WebauthnMethod,
};
use crate::selfservice::ui::{Attributes, Group, Meta, ScriptAttributes, UiNode};

/// The browser's default time for a ceremony when the configuration names none (the WebAuthn
/// recommendation, and what webauthn-rs uses).
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The three ways Kratos uses a WebAuthn credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ceremony {
    /// `webauthn` as a second factor (aal2): a security key, user verification discouraged.
    SecondFactor,
    /// `webauthn` with `passwordless: true`: the key alone signs in (aal1) after the identifier,
    /// so it must verify the user.
    Passwordless,
    /// `passkey`: a discoverable credential, signing in without an identifier.
    Passkey,
}

impl Ceremony {
    /// Whether a stored credential takes part in this ceremony: Kratos keeps second-factor and
    /// passwordless keys in one list and tells them apart by `is_passwordless`.
    fn accepts(self, credential: &StoredCredential) -> bool {
        match self {
            Ceremony::SecondFactor => !credential.is_passwordless,
            Ceremony::Passwordless => credential.is_passwordless,
            Ceremony::Passkey => true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// The method's `rp` configuration cannot make a relying party.
    #[error("invalid WebAuthn relying party configuration: {0}")]
    Config(String),
    /// The flow holds no pending challenge (never started, or already answered).
    #[error("no WebAuthn challenge is pending for this flow")]
    NoChallenge,
    /// What the browser sent is not a WebAuthn answer.
    #[error("malformed WebAuthn response: {0}")]
    Malformed(String),
    /// The answer is not for a credential this identity has.
    #[error("the WebAuthn credential is not registered")]
    UnknownCredential,
    /// webauthn-rs refused the answer (wrong origin or challenge, bad signature, counter that
    /// did not advance, user not verified, …).
    #[error("WebAuthn verification failed: {0}")]
    Refused(String),
}

/// `credentials.{webauthn,passkey}.config` of an identity, as Kratos writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredCredentials {
    #[serde(default, deserialize_with = "null_as_default")]
    pub credentials: Vec<StoredCredential>,
    /// The WebAuthn user handle (Go `[]byte`: standard base64, `null` when unset).
    #[serde(default, with = "b64_opt")]
    pub user_handle: Option<Vec<u8>>,
}

impl StoredCredentials {
    /// The identity's credentials of `kind` (`webauthn` or `passkey`) as stored: none when it
    /// has no such credential or an unreadable one.
    pub fn of(identity: &crate::identity::Identity, kind: crate::identity::CredentialType) -> Self {
        identity
            .credentials
            .get(&kind)
            .and_then(|c| serde_json::from_value(c.config.clone()).ok())
            .unwrap_or_default()
    }
}

/// One credential in [`StoredCredentials`] (Kratos's `CredentialWebAuthn`; Go `[]byte` fields
/// are standard base64).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredCredential {
    #[serde(with = "b64")]
    pub id: Vec<u8>,
    /// The COSE key, CBOR-encoded, as the authenticator sent it.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// The attestation statement format (`none`, `packed`, …).
    #[serde(default)]
    pub attestation_type: String,
    #[serde(default)]
    pub authenticator: StoredAuthenticator,
    #[serde(default)]
    pub display_name: String,
    pub added_at: DateTime<Utc>,
    #[serde(default)]
    pub is_passwordless: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredAuthenticator {
    #[serde(with = "b64")]
    pub aaguid: Vec<u8>,
    pub sign_count: u32,
    /// Kept for Kratos's format; Gatehouse refuses a counter that does not advance instead of
    /// signing in with a warning, so it never sets it.
    pub clone_warning: bool,
}

/// The person a registration is for, as the authenticator will remember them.
pub struct User<'a> {
    /// The WebAuthn user handle: Kratos uses the identity's id bytes for `webauthn` and a
    /// random handle for `passkey` ([`new_passkey_user_handle`]).
    pub handle: &'a [u8],
    /// Must not be empty (the passkey script replaces it with the form's display name).
    pub name: &'a str,
    pub display_name: &'a str,
}

/// A fresh passkey user handle as Kratos makes them: 64 random alphanumeric characters.
pub fn new_passkey_user_handle() -> Vec<u8> {
    use rand::Rng as _;
    use rand::distr::Alphanumeric;
    rand::rng().sample_iter(Alphanumeric).take(64).collect()
}

/// What a pending ceremony needs at its second half; kept in the flow's internal context.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum CeremonyState {
    Registration {
        ceremony: Ceremony,
        #[serde(with = "b64")]
        user_handle: Vec<u8>,
        state: RegistrationState,
    },
    Login {
        ceremony: Ceremony,
        state: AuthenticationState,
    },
}

impl CeremonyState {
    /// Keeps the state in a flow's internal context under `key` (one pending ceremony per key:
    /// a new one replaces the old challenge).
    pub fn put(self, internal: &mut Option<Value>, key: &str) -> Result<(), CeremonyError> {
        let value =
            serde_json::to_value(self).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
        match internal {
            Some(Value::Object(map)) => {
                map.insert(key.to_owned(), value);
            }
            _ => {
                let mut map = serde_json::Map::new();
                map.insert(key.to_owned(), value);
                *internal = Some(Value::Object(map));
            }
        }
        Ok(())
    }

    /// Takes the state out of the internal context: whatever the answer turns out to be, the
    /// challenge is spent.
    pub fn take(internal: &mut Option<Value>, key: &str) -> Result<Self, CeremonyError> {
        let value = match internal {
            Some(Value::Object(map)) => map.remove(key),
            _ => None,
        }
        .ok_or(CeremonyError::NoChallenge)?;
        serde_json::from_value(value).map_err(|_| CeremonyError::NoChallenge)
    }
}

/// A finished registration: the credential to add to the identity, and the user handle the
/// authenticator now holds (Kratos's `user_handle`).
pub struct Registered {
    pub credential: StoredCredential,
    pub user_handle: Vec<u8>,
}

/// One method's relying party (`selfservice.methods.{webauthn,passkey}.config.rp`).
pub struct RelyingParty {
    core: WebauthnCore,
    registration_timeout: std::time::Duration,
    login_timeout: std::time::Duration,
    attestation: AttestationConveyancePreference,
    passkey_attachment: Option<AuthenticatorAttachment>,
    passkey_resident_key: ResidentKeyRequirement,
    passkey_user_verification: UserVerificationPolicy,
}

impl RelyingParty {
    /// The `webauthn` method's relying party.
    pub fn for_webauthn(method: &WebauthnMethod) -> Result<Self, CeremonyError> {
        let rp = &method.config.rp;
        // `origin` is the single-origin form older configurations use.
        let origins: Vec<&str> = if rp.origins.is_empty() {
            rp.origin.iter().map(String::as_str).collect()
        } else {
            rp.origins.iter().map(String::as_str).collect()
        };
        Self::build(
            "selfservice.methods.webauthn.config.rp",
            rp.id.as_deref(),
            rp.display_name.as_deref(),
            &origins,
            DEFAULT_TIMEOUT,
            DEFAULT_TIMEOUT,
        )
    }

    /// The `passkey` method's relying party, with its authenticator selection, attestation
    /// preference and timeouts.
    pub fn for_passkey(method: &PasskeyMethod) -> Result<Self, CeremonyError> {
        let c = &method.config;
        let origins: Vec<&str> = c.rp.origins.iter().map(String::as_str).collect();
        let mut rp = Self::build(
            "selfservice.methods.passkey.config.rp",
            c.rp.id.as_deref(),
            c.rp.display_name.as_deref(),
            &origins,
            c.timeouts.registration.map_or(DEFAULT_TIMEOUT, |d| d.get()),
            c.timeouts.login.map_or(DEFAULT_TIMEOUT, |d| d.get()),
        )?;
        let sel = &c.authenticator_selection;
        rp.passkey_attachment = sel.attachment.map(|a| match a {
            Attachment::Platform => AuthenticatorAttachment::Platform,
            Attachment::CrossPlatform => AuthenticatorAttachment::CrossPlatform,
        });
        rp.passkey_resident_key = match sel.resident_key {
            Requirement::Required => ResidentKeyRequirement::Required,
            Requirement::Preferred => ResidentKeyRequirement::Preferred,
            Requirement::Discouraged => ResidentKeyRequirement::Discouraged,
        };
        rp.passkey_user_verification = policy(sel.user_verification);
        rp.attestation = match c.attestation.preference {
            AttestationPreference::None => AttestationConveyancePreference::None,
            AttestationPreference::Indirect => AttestationConveyancePreference::Indirect,
            // webauthn-rs has no `enterprise`; direct is the closest it can ask for.
            AttestationPreference::Direct | AttestationPreference::Enterprise => {
                AttestationConveyancePreference::Direct
            }
        };
        Ok(rp)
    }

    fn build(
        path: &str,
        id: Option<&str>,
        display_name: Option<&str>,
        origins: &[&str],
        registration_timeout: std::time::Duration,
        login_timeout: std::time::Duration,
    ) -> Result<Self, CeremonyError> {
        let id = id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CeremonyError::Config(format!("{path}.id is required")))?;
        let name = display_name
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CeremonyError::Config(format!("{path}.display_name is required")))?;
        if origins.is_empty() {
            return Err(CeremonyError::Config(format!(
                "{path}.origins must name at least one origin"
            )));
        }
        let origins = origins
            .iter()
            .map(|o| {
                Url::parse(o)
                    .map_err(|e| CeremonyError::Config(format!("{path}.origins: {o:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for o in &origins {
            // The RP id must be the origin's host or a registrable suffix of it, or no browser
            // will run the ceremony.
            let host = o.host_str().unwrap_or_default();
            if host != id && !host.ends_with(&format!(".{id}")) {
                return Err(CeremonyError::Config(format!(
                    "{path}.origins: {o} is not on the relying party id {id:?}"
                )));
            }
        }
        // Origins are compared exactly (scheme, host and port), as Kratos does.
        let core = WebauthnCore::new_unsafe_experts_only(
            name,
            id,
            origins,
            registration_timeout.max(login_timeout),
            Some(false),
            Some(false),
        );
        Ok(Self {
            core,
            registration_timeout,
            login_timeout,
            attestation: AttestationConveyancePreference::None,
            passkey_attachment: None,
            passkey_resident_key: ResidentKeyRequirement::Required,
            passkey_user_verification: UserVerificationPolicy::Preferred,
        })
    }

    fn user_verification(&self, ceremony: Ceremony) -> UserVerificationPolicy {
        match ceremony {
            // A second factor adds possession to a password; asking for a PIN on top only
            // makes keys without one fail (webauthn-rs's security-key choice).
            Ceremony::SecondFactor => UserVerificationPolicy::Discouraged_DO_NOT_USE,
            Ceremony::Passwordless => UserVerificationPolicy::Required,
            Ceremony::Passkey => self.passkey_user_verification,
        }
    }

    /// Starts registering a credential for `user`; `existing` are the identity's credentials of
    /// this method, which the authenticator is told not to register twice.
    pub fn start_registration(
        &self,
        ceremony: Ceremony,
        user: &User<'_>,
        existing: &[StoredCredential],
    ) -> Result<(Value, CeremonyState), CeremonyError> {
        let exclude: Vec<_> = existing.iter().map(|c| c.id.clone()).collect();
        let builder = self
            .core
            .new_challenge_register_builder(user.handle, user.name, user.display_name)
            .map_err(refused)?
            .attestation(self.attestation.clone())
            .user_verification_policy(self.user_verification(ceremony))
            .exclude_credentials((!exclude.is_empty()).then_some(exclude))
            .require_resident_key(
                ceremony == Ceremony::Passkey
                    && self.passkey_resident_key == ResidentKeyRequirement::Required,
            )
            .authenticator_attachment(match ceremony {
                Ceremony::Passkey => self.passkey_attachment,
                _ => None,
            });
        let (mut options, state) = self
            .core
            .generate_challenge_register(builder)
            .map_err(refused)?;
        options.public_key.timeout = Some(millis(self.registration_timeout));
        if ceremony == Ceremony::Passkey
            && let Some(sel) = options.public_key.authenticator_selection.as_mut()
        {
            // The builder knows only required or discouraged; `preferred` is a configuration
            // value Kratos passes on to the browser.
            sel.resident_key = Some(self.passkey_resident_key);
        }
        let json =
            serde_json::to_value(&options).map_err(|e| CeremonyError::Config(e.to_string()))?;
        let state = CeremonyState::Registration {
            ceremony,
            user_handle: user.handle.to_vec(),
            state,
        };
        Ok((json, state))
    }

    /// Verifies the browser's answer (`response`: the JSON the script put in
    /// `webauthn_register`, `passkey_register` or `passkey_settings_register`) to a pending
    /// registration and gives the credential to store.
    pub fn finish_registration(
        &self,
        state: CeremonyState,
        response: &str,
        display_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Registered, CeremonyError> {
        let CeremonyState::Registration {
            ceremony,
            user_handle,
            state,
        } = state
        else {
            return Err(CeremonyError::NoChallenge);
        };
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(response).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
        let credential = self
            .core
            .register_credential(&answer, &state, None)
            .map_err(refused)?;
        let attested = parse_attestation(&answer.response.attestation_object)?;
        if attested.credential_id != credential.cred_id {
            return Err(CeremonyError::Malformed(
                "the attested credential is not the one verified".into(),
            ));
        }
        Ok(Registered {
            credential: StoredCredential {
                id: credential.cred_id,
                public_key: attested.public_key,
                attestation_type: attested.format,
                authenticator: StoredAuthenticator {
                    aaguid: attested.aaguid,
                    sign_count: credential.counter,
                    clone_warning: false,
                },
                display_name: display_name.to_owned(),
                added_at: now,
                is_passwordless: ceremony != Ceremony::SecondFactor,
            },
            user_handle,
        })
    }

    /// Starts a sign-in with the identity's `credentials` of this method (those the ceremony
    /// uses: second-factor or passwordless keys); a passkey sign-in is discoverable and names
    /// none (pass an empty slice).
    pub fn start_login(
        &self,
        ceremony: Ceremony,
        credentials: &[StoredCredential],
    ) -> Result<(Value, CeremonyState), CeremonyError> {
        let policy = self.user_verification(ceremony);
        let creds = match ceremony {
            Ceremony::Passkey => Vec::new(),
            _ => {
                let creds = credentials
                    .iter()
                    .filter(|c| ceremony.accepts(c))
                    .map(|c| to_core(c, policy, false))
                    .collect::<Result<Vec<_>, _>>()?;
                if creds.is_empty() {
                    return Err(CeremonyError::UnknownCredential);
                }
                creds
            }
        };
        let builder = self
            .core
            .new_challenge_authenticate_builder(creds, Some(policy))
            .map_err(refused)?
            // Kratos does not record backup eligibility; `finish_login` takes it from the
            // answer, so the engine's check that it did not change cannot apply.
            .allow_backup_eligible_upgrade(true);
        let (mut options, state) = self
            .core
            .generate_challenge_authenticate(builder)
            .map_err(refused)?;
        options.public_key.timeout = Some(millis(self.login_timeout));
        let json =
            serde_json::to_value(&options).map_err(|e| CeremonyError::Config(e.to_string()))?;
        Ok((json, CeremonyState::Login { ceremony, state }))
    }

    /// The user handle in a discoverable (passkey) sign-in's answer: whose credential it is,
    /// so the flow can find the identity (by `user_handle`) before finishing.
    pub fn login_user_handle(response: &str) -> Result<Vec<u8>, CeremonyError> {
        let answer: PublicKeyCredential =
            serde_json::from_str(response).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
        answer
            .response
            .user_handle
            .filter(|h| !h.is_empty())
            .ok_or_else(|| CeremonyError::Malformed("the answer carries no user handle".into()))
    }

    /// Verifies the answer (`webauthn_login` / `passkey_login`) to a pending sign-in against the
    /// identity's current `credentials` and advances the used credential's sign counter in
    /// place (store them afterwards). Answers the index of the credential used. A counter that
    /// does not advance (a cloned authenticator) is refused.
    pub fn finish_login(
        &self,
        state: CeremonyState,
        response: &str,
        credentials: &mut [StoredCredential],
    ) -> Result<usize, CeremonyError> {
        let CeremonyState::Login {
            ceremony,
            mut state,
        } = state
        else {
            return Err(CeremonyError::NoChallenge);
        };
        let answer: PublicKeyCredential =
            serde_json::from_str(response).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
        let index = credentials
            .iter()
            .position(|c| c.id == answer.raw_id && ceremony.accepts(c))
            .ok_or(CeremonyError::UnknownCredential)?;
        // Flags byte of the authenticator data: bit 3 is backup eligibility.
        let backup_eligible = answer
            .response
            .authenticator_data
            .get(32)
            .is_some_and(|flags| flags & 0x08 != 0);
        let policy = self.user_verification(ceremony);
        // The stored counters, read now, not those of when the ceremony started: another
        // sign-in may have advanced them since.
        state.set_allowed_credentials(vec![to_core(&credentials[index], policy, backup_eligible)?]);
        let result = self
            .core
            .authenticate_credential(&answer, &state)
            .map_err(refused)?;
        let stored = &mut credentials[index];
        stored.authenticator.sign_count = stored.authenticator.sign_count.max(result.counter());
        Ok(index)
    }
}

/// Kratos's passkey registration node value (`passkey_create_data`): the options and the trait
/// whose value the script uses as the passkey's display name.
pub fn passkey_create_data(options: Value, display_name_field: &str) -> Value {
    serde_json::json!({
        "credentialOptions": options,
        "displayNameFieldName": display_name_field,
    })
}

/// Where the public listener serves [`SCRIPT`].
pub const SCRIPT_PATH: &str = "/.well-known/ory/webauthn.js";

/// Gatehouse's browser script: the functions Kratos UIs call through the nodes'
/// `onclickTrigger` / `onloadTrigger` (`oryWebAuthnLogin`, `oryPasskeyLogin`, …).
pub const SCRIPT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/webauthn.js"));

/// The script's Subresource Integrity value (`sha512-<base64>`), which browsers check the
/// served bytes against.
pub fn script_integrity() -> &'static str {
    static INTEGRITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INTEGRITY.get_or_init(|| {
        use sha2::Digest as _;
        format!(
            "sha512-{}",
            STANDARD.encode(sha2::Sha512::digest(SCRIPT.as_bytes()))
        )
    })
}

/// The `script` node a flow with WebAuthn or passkey nodes carries so the UI loads the script:
/// `webauthn_script` in the webauthn group, which Kratos uses for its passkey nodes too (one
/// node for both methods). `public_base` is the public listener's base URL.
pub fn script_node(public_base: &str) -> UiNode {
    UiNode {
        group: Group::Webauthn,
        attributes: Attributes::Script(ScriptAttributes {
            src: format!("{}{SCRIPT_PATH}", public_base.trim_end_matches('/')),
            is_async: true,
            referrerpolicy: "no-referrer".into(),
            crossorigin: "anonymous".into(),
            integrity: script_integrity().to_owned(),
            kind: "text/javascript".into(),
            id: "webauthn_script".into(),
            nonce: uuid::Uuid::new_v4().to_string(),
        }),
        messages: Vec::new(),
        meta: Meta::default(),
    }
}

fn refused(e: webauthn_rs_core::error::WebauthnError) -> CeremonyError {
    CeremonyError::Refused(e.to_string())
}

fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn policy(r: Requirement) -> UserVerificationPolicy {
    match r {
        Requirement::Required => UserVerificationPolicy::Required,
        Requirement::Preferred => UserVerificationPolicy::Preferred,
        Requirement::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
    }
}

/// A stored credential as the engine verifies with it.
fn to_core(
    c: &StoredCredential,
    policy: UserVerificationPolicy,
    backup_eligible: bool,
) -> Result<Credential, CeremonyError> {
    let cbor: serde_cbor_2::Value = serde_cbor_2::from_slice(&c.public_key)
        .map_err(|e| CeremonyError::Malformed(format!("stored public key: {e}")))?;
    let key = COSEKey::try_from(&cbor)
        .map_err(|e| CeremonyError::Malformed(format!("stored public key: {e}")))?;
    Ok(Credential {
        cred_id: c.id.clone(),
        cred: key,
        counter: c.authenticator.sign_count,
        transports: None,
        // Kratos does not record whether the user was verified at registration; the policy of
        // the ceremony decides.
        user_verified: false,
        backup_eligible,
        backup_state: false,
        registration_policy: policy,
        extensions: RegisteredExtensions::none(),
        attestation: ParsedAttestation::default(),
        attestation_format: AttestationFormat::None,
    })
}

/// What Kratos stores from an attestation the engine has verified: its format, the AAGUID and
/// the public key bytes as the authenticator encoded them.
struct Attested {
    format: String,
    aaguid: Vec<u8>,
    credential_id: Vec<u8>,
    public_key: Vec<u8>,
}

fn parse_attestation(object: &[u8]) -> Result<Attested, CeremonyError> {
    use serde_cbor_2::Value as C;
    let bad = |what: &str| CeremonyError::Malformed(format!("attestation object: {what}"));
    let C::Map(map) = serde_cbor_2::from_slice::<C>(object).map_err(|_| bad("not CBOR"))? else {
        return Err(bad("not a map"));
    };
    let format = match map.get(&C::Text("fmt".into())) {
        Some(C::Text(f)) => f.clone(),
        _ => return Err(bad("no fmt")),
    };
    let Some(C::Bytes(auth)) = map.get(&C::Text("authData".into())) else {
        return Err(bad("no authData"));
    };
    // rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) | id length (2) | id | COSE key
    let aaguid = auth.get(37..53).ok_or_else(|| bad("short authData"))?;
    let len = auth
        .get(53..55)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or_else(|| bad("short authData"))?;
    let credential_id = auth
        .get(55..55 + len)
        .ok_or_else(|| bad("short authData"))?;
    let rest = &auth[55 + len..];
    // The key is the first CBOR item after the id (extensions may follow it).
    let mut items = serde_cbor_2::Deserializer::from_slice(rest).into_iter::<C>();
    items
        .next()
        .ok_or_else(|| bad("no public key"))?
        .map_err(|_| bad("public key is not CBOR"))?;
    let key_len = items.byte_offset();
    Ok(Attested {
        format,
        aaguid: aaguid.to_vec(),
        credential_id: credential_id.to_vec(),
        public_key: rest[..key_len].to_vec(),
    })
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Go's `[]byte` in JSON: standard base64 with padding, `null` for nil (read as empty).
mod b64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => STANDARD.decode(s).map_err(serde::de::Error::custom),
            None => Ok(Vec::new()),
        }
    }
}

mod b64_opt {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        bytes: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_str(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
