//! Social sign-in and enterprise OpenID Connect: the `oidc` method, as Kratos's.
//!
//! A submission naming a `provider` (login, registration) or `link` (settings) starts a round
//! trip: the flow keeps a PKCE verifier, the ID token nonce and a random state secret in its
//! internal context, and the browser goes to the provider with `state` = the flow, its kind and
//! that secret, encrypted with the cipher (`secrets.cipher`). The provider sends the browser
//! back to `/self-service/methods/oidc/callback/{provider}`, which hands the code to the same
//! flow through the flow's own submission path: the flow's CSRF binding (the browser's cookie
//! must belong to the flow) and the state secret together stand for Kratos's continuity
//! cookie. The method then exchanges the code, checks the ID token, and signs in the subject
//! `provider:sub`; an unknown subject in a login continues as a registration (and a known one
//! in a registration as a login), with the claims already proven. Native apps submit an
//! `id_token` (and `id_token_nonce`) they got from the provider's SDK instead.
//!
//! Claims become traits through the provider's Jsonnet mapper (`mapper_url`,
//! `std.extVar('claims')`, output `identity.traits`, `metadata_public`, `metadata_admin`).
//! Provider tokens are stored in the credential encrypted with the cipher.

mod login;
pub mod provider;
mod registration;
mod settings;

use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::provider::{AuthRequest, Claims, Provider, ProviderError, Tokens};
use crate::deps::Deps;
use crate::identity::service::{OidcConfigIn, OidcIn, OidcProviderIn};
use crate::identity::{CredentialType, Identity};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState, common};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::text;

/// The `oidc` method.
pub struct Oidc;

/// Where providers send the browser back, before the provider id.
pub const CALLBACK_PATH: &str = "/self-service/methods/oidc/callback/";

/// The `upstream_parameters` Kratos passes on to providers; others are ignored.
const UPSTREAM_PARAMETERS: [&str; 4] = ["login_hint", "hd", "prompt", "auth_type"];

/// The key of the method's entry in a flow's internal context.
const INTERNAL_KEY: &str = "oidc";

/// What a flow keeps while the browser is at the provider.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    provider: String,
    /// SHA-256 (hex) of the state secret the callback must bring back.
    state_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkce_verifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    /// Registration: traits the user submitted with the provider button (the form shown
    /// after the mapper's traits did not satisfy the schema); they win over mapped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traits: Option<Value>,
}

/// The encrypted `state` parameter's content.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    /// The flow.
    pub f: Uuid,
    /// Its kind (`login`, `registration`, `settings`).
    pub k: String,
    /// The state secret.
    pub s: String,
}

/// What a callback hands the method (set by the callback handler, never by a client).
#[derive(Debug, Serialize, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The state secret from the decrypted `state`.
    pub secret: String,
}

/// A provider's word on who signed in: the claims and the tokens of the exchange (none for
/// a native `id_token` submission but the token itself). Travels between flows in memory
/// when a login continues as a registration; tokens are stored only encrypted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Proven {
    pub provider: String,
    pub claims: Claims,
    pub tokens: Tokens,
}

impl Proven {
    /// The credential identifier: `provider:subject`.
    fn identifier(&self) -> String {
        format!("{}:{}", self.provider, self.claims.sub)
    }
}

/// What a submission carries, decoded from `Submission::carried`.
enum Carried {
    Callback(Callback),
    Proven(Box<Proven>),
    /// A registration found the identifier taken: the login flow offers to link.
    Link(Value),
}

fn carried(sub: &Submission) -> Result<Option<Carried>, FlowError> {
    let Some(v) = &sub.carried else {
        return Ok(None);
    };
    let bad = |e: serde_json::Error| FlowError::Internal(format!("carried OIDC data: {e}"));
    if let Some(cb) = v.get("callback") {
        return Ok(Some(Carried::Callback(
            serde_json::from_value(cb.clone()).map_err(bad)?,
        )));
    }
    if let Some(l) = v.get(super::LINK_KEY) {
        return Ok(Some(Carried::Link(l.clone())));
    }
    if let Some(p) = v.get("proven") {
        return Ok(Some(Carried::Proven(Box::new(
            serde_json::from_value(p.clone()).map_err(bad)?,
        ))));
    }
    Ok(None)
}

/// What a callback submission carries.
pub fn callback_carried(cb: &Callback) -> Value {
    json!({ "callback": cb })
}

/// What a flow continuing another one carries.
fn proven_carried(p: &Proven) -> Value {
    json!({ "proven": p })
}

/// What a login flow continuing a registration whose identifier was taken carries: the new
/// identity's provider entry (tokens sealed, as it is stored) and the identifier. `None` if
/// `pending` has no provider entry.
fn link_carried(pending: &Identity, duplicate: &str) -> Option<Value> {
    let entry = pending.credentials.get(&CredentialType::Oidc)?.config["providers"]
        .get(0)?
        .clone();
    let mut link = json!({ "method": "oidc", "duplicate_identifier": duplicate });
    for key in [
        "provider",
        "subject",
        "initial_id_token",
        "initial_access_token",
        "initial_refresh_token",
    ] {
        link[key] = entry[key].clone();
    }
    Some(json!({ super::LINK_KEY: link }))
}

/// Whether a submission's `method` leaves it to this method: absent, empty or `oidc`.
fn method_allows(sub: &Submission) -> bool {
    matches!(sub.str("method"), None | Some("") | Some("oidc"))
}

/// A submitted non-empty field.
fn field<'a>(sub: &'a Submission, name: &str) -> Option<&'a str> {
    sub.str(name).map(str::trim).filter(|s| !s.is_empty())
}

/// The provider's display name: its `label`, else its id.
fn label(p: &dyn Provider) -> String {
    let c = p.config();
    c.label
        .clone()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| c.id.clone())
}

/// `base_redirect_uri` (else the public URL) + the callback path + the provider id.
pub fn redirect_uri(deps: &Deps, provider_id: &str) -> String {
    let base = deps
        .config
        .selfservice
        .methods
        .oidc
        .config
        .base_redirect_uri
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| deps.public_base().to_owned());
    format!("{}{CALLBACK_PATH}{provider_id}", base.trim_end_matches('/'))
}

/// One submit button per configured provider, `name=provider value=<id>` (Kratos's nodes).
fn provider_buttons(
    deps: &Deps,
    ui: &mut UiContainer,
    label_of: impl Fn(&str, &str) -> text::UiText,
) {
    for p in deps.oidc.iter() {
        let id = p.config().id.clone();
        ui.append(
            UiNode::input("provider", Group::Oidc, InputType::Submit)
                .with_value(id.as_str())
                .with_label(label_of(&label(p.as_ref()), &id)),
        );
    }
}

/// The configured provider a submission names, or the flow's message saying it is unknown.
fn provider_named(deps: &Deps, id: &str) -> Result<Arc<dyn Provider>, FlowError> {
    deps.oidc.get(id).ok_or_else(|| {
        FlowError::BadRequest(format!(
            "OpenID Connect provider {id:?} is unknown or has not been configured."
        ))
    })
}

fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn sha256_hex(s: &str) -> String {
    crate::hash::lower_hex(&Sha256::digest(s.as_bytes()))
}

/// `upstream_parameters` as submitted (a JSON object, or `upstream_parameters.<key>` form
/// fields), narrowed to the keys Kratos passes on.
fn upstream(sub: &Submission) -> Vec<(String, String)> {
    let nested = sub.get("upstream_parameters");
    UPSTREAM_PARAMETERS
        .iter()
        .filter_map(|k| {
            let v = nested
                .and_then(|o| o.get(*k))
                .and_then(Value::as_str)
                .or_else(|| sub.str(&format!("upstream_parameters.{k}")))?;
            (!v.is_empty()).then(|| ((*k).to_owned(), v.to_owned()))
        })
        .collect()
}

/// Starts the round trip: keeps the verifier, nonce and state secret in the flow and answers
/// with where the browser goes. Native (API) flows cannot follow a browser round trip; they
/// submit an `id_token` instead.
async fn start_round_trip(
    deps: &Deps,
    flow: &Flow,
    provider: &dyn Provider,
    sub: &Submission,
    traits: Option<Value>,
) -> FlowError {
    if flow.flow_type == crate::selfservice::flow::FlowType::Api {
        return FlowError::BadRequest(
            "Native apps sign in with OpenID Connect by submitting the provider's id_token (and id_token_nonce); an API flow cannot follow the browser redirect."
                .into(),
        );
    }
    match round_trip_url(deps, flow, provider, sub, traits).await {
        Ok(url) => FlowError::BrowserLocationChange(url),
        Err(e) => e,
    }
}

async fn round_trip_url(
    deps: &Deps,
    flow: &Flow,
    provider: &dyn Provider,
    sub: &Submission,
    traits: Option<Value>,
) -> Result<String, FlowError> {
    let id = provider.config().id.clone();
    let pkce_verifier = match provider.uses_pkce().await {
        Ok(true) => Some(random_secret()),
        Ok(false) => None,
        Err(e) => return Err(provider_failure(&e)),
    };
    let nonce = provider.issues_id_tokens().then(random_secret);
    let secret = random_secret();
    let state = State {
        f: flow.id,
        k: flow.kind.as_str().to_owned(),
        s: secret.clone(),
    };
    let state = deps
        .cipher
        .encrypt(&serde_json::to_vec(&state).expect("the state serialises"))
        .map_err(|e| FlowError::Internal(format!("encrypting the OIDC state: {e}")))?;
    let pending = Pending {
        provider: id.clone(),
        state_hash: sha256_hex(&secret),
        pkce_verifier: pkce_verifier.clone(),
        nonce: nonce.clone(),
        traits,
    };
    let pending = serde_json::to_value(&pending).expect("pending serialises");
    let from = [flow.state, FlowState::ChooseMethod];
    common::keep_internal(deps, flow, INTERNAL_KEY, Some(pending), &from).await?;
    let challenge = pkce_verifier.as_deref().map(|v| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
    });
    provider
        .auth_url(&AuthRequest {
            redirect_uri: redirect_uri(deps, &id),
            state,
            nonce,
            pkce_challenge: challenge,
            upstream: upstream(sub),
        })
        .await
        .map_err(|e| provider_failure(&e))
}

/// Decrypts a callback's `state`.
pub fn open_state(deps: &Deps, state: &str) -> Option<State> {
    let plain = deps.cipher.decrypt(state).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// How a refused or failed round trip shows: a message on the flow, which stays usable.
/// Provider details (never tokens) go to the log for the operator.
fn provider_failure(e: &ProviderError) -> FlowError {
    match e {
        ProviderError::Config(_) => FlowError::Internal(e.to_string()),
        _ => FlowError::Unavailable(e.to_string()),
    }
}

/// Finishes a round trip on the callback: the state must be this flow's, for this provider;
/// then the code is exchanged and the ID token checked. `Ok(None)` when the flow shows why
/// not (the provider refused, or is down).
async fn finish_round_trip(
    deps: &Deps,
    flow: &Flow,
    ui: &mut UiContainer,
    provider_id: &str,
    cb: &Callback,
) -> Result<Option<Proven>, FlowError> {
    let pending = pending(flow.internal.as_ref());
    let Some(pending) = pending else {
        return Err(FlowError::BadRequest(
            "The OpenID Connect callback does not belong to a sign-in this flow started.".into(),
        ));
    };
    let secret_ok: bool = subtle::ConstantTimeEq::ct_eq(
        sha256_hex(&cb.secret).as_bytes(),
        pending.state_hash.as_bytes(),
    )
    .into();
    if !secret_ok || pending.provider != provider_id {
        return Err(FlowError::BadRequest(
            "The OpenID Connect state parameter is invalid or belongs to another sign-in.".into(),
        ));
    }
    // The state is good for one callback: a replayed one finds no round trip to finish.
    common::keep_internal(deps, flow, INTERNAL_KEY, None, &[flow.state]).await?;
    let provider = provider_named(deps, provider_id)?;
    if let Some(err) = &cb.error {
        let desc = cb.error_description.as_deref().unwrap_or_default();
        ui.add_message(text::validation_generic(&format!(
            "Unable to complete OpenID Connect flow because the OpenID Provider returned error \"{err}\": {desc}"
        )));
        return Ok(None);
    }
    let Some(code) = cb.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(FlowError::BadRequest(
            "The OpenID Connect callback carries no authorization code.".into(),
        ));
    };
    let proven = async {
        let tokens = provider
            .exchange(
                code,
                pending.pkce_verifier.as_deref(),
                &redirect_uri(deps, provider_id),
            )
            .await?;
        let claims = provider.claims(&tokens, pending.nonce.as_deref()).await?;
        Ok::<_, ProviderError>(Proven {
            provider: provider_id.to_owned(),
            claims,
            tokens,
        })
    }
    .await;
    match proven {
        Ok(p) => Ok(Some(p)),
        Err(ProviderError::Config(e)) => Err(FlowError::Internal(format!(
            "OpenID Connect provider {provider_id:?} is misconfigured: {e}"
        ))),
        Err(e) => {
            tracing::warn!(provider = provider_id, error = %e, "OpenID Connect sign-in failed");
            ui.add_message(text::validation_generic(&format!(
                "Unable to complete the sign-in with {}: {e}",
                label(provider.as_ref())
            )));
            Ok(None)
        }
    }
}

/// A native app's `id_token` (+ `id_token_nonce`), checked against the provider's keys.
/// `Ok(None)` when the flow shows why it was refused.
async fn native(
    ui: &mut UiContainer,
    provider: &dyn Provider,
    sub: &Submission,
) -> Result<Option<Proven>, FlowError> {
    let Some(token) = field(sub, "id_token") else {
        return Ok(None);
    };
    let id = provider.config().id.clone();
    let Some(nonce) = field(sub, "id_token_nonce") else {
        ui.add_node_message(
            "id_token_nonce",
            text::validation_required("id_token_nonce"),
        );
        return Ok(None);
    };
    match provider.verify_id_token(token, nonce).await {
        Ok(claims) => Ok(Some(Proven {
            provider: id,
            claims,
            tokens: Tokens {
                id_token: Some(token.to_owned()),
                ..Tokens::default()
            },
        })),
        Err(ProviderError::Config(e)) => Err(FlowError::Internal(e)),
        Err(ProviderError::Unsupported(why)) => Err(FlowError::BadRequest(why)),
        Err(e) => {
            ui.add_message(text::validation_generic(&format!(
                "The id_token is not valid: {e}"
            )));
            Ok(None)
        }
    }
}

/// The identity holding `provider:subject`, with its credentials.
async fn identity_of(deps: &Deps, p: &Proven) -> Result<Option<Identity>, FlowError> {
    use crate::identity::service::{self as identities, IdentityError};
    let Some(id) = crate::store::credentials::identity_for_identifier(
        &deps.store,
        CredentialType::Oidc.as_str(),
        &p.identifier(),
    )
    .await?
    else {
        return Ok(None);
    };
    match identities::get(deps, id, true).await {
        Ok(i) => Ok(Some(i)),
        Err(IdentityError::NotFound) => Ok(None),
        Err(IdentityError::Store(e)) => Err(e.into()),
        Err(e) => Err(FlowError::Internal(e.to_string())),
    }
}

/// A token encrypted for storage ("" stays "", as Kratos stores an absent token).
fn seal(deps: &Deps, token: Option<&str>) -> Result<String, FlowError> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(String::new()),
        Some(t) => deps
            .cipher
            .encrypt(t.as_bytes())
            .map_err(|e| FlowError::Internal(format!("encrypting a provider token: {e}"))),
    }
}

/// The credential entry of a proven sign-in, tokens encrypted.
fn credential_entry(deps: &Deps, p: &Proven) -> Result<OidcProviderIn, FlowError> {
    Ok(OidcProviderIn {
        provider: p.provider.clone(),
        subject: p.claims.sub.clone(),
        use_auto_link: None,
        organization: None,
        initial_tokens: Some([
            seal(deps, p.tokens.id_token.as_deref())?,
            seal(deps, Some(&p.tokens.access_token))?,
            seal(deps, p.tokens.refresh_token.as_deref())?,
        ]),
    })
}

/// The credentials of a new identity signed up by `p`.
fn new_credentials(deps: &Deps, p: &Proven) -> Result<OidcIn, FlowError> {
    Ok(OidcIn {
        config: OidcConfigIn {
            providers: vec![credential_entry(deps, p)?],
        },
    })
}

/// Adds a provider entry (tokens sealed) to `identity`'s `oidc` credential, creating it.
fn add_provider(identity: &mut Identity, entry: &OidcProviderIn) {
    let ts = crate::identity::now();
    let credential = identity
        .credentials
        .entry(CredentialType::Oidc)
        .or_insert_with(|| crate::identity::Credential {
            id: Uuid::now_v7(),
            kind: CredentialType::Oidc,
            identifiers: Vec::new(),
            config: json!({ "providers": [] }),
            version: 0,
            created_at: ts,
            updated_at: ts,
        });
    credential
        .identifiers
        .push(format!("{}:{}", entry.provider, entry.subject));
    if !credential.config["providers"].is_array() {
        credential.config["providers"] = json!([]);
    }
    if let Some(list) = credential.config["providers"].as_array_mut() {
        list.push(entry.entry());
    }
    credential.updated_at = ts;
}

/// The provider entries of an identity's `oidc` credential.
fn linked(identity: &Identity) -> Vec<(String, String)> {
    identity
        .credentials
        .get(&CredentialType::Oidc)
        .and_then(|c| c.config["providers"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            Some((
                p["provider"].as_str()?.to_owned(),
                p["subject"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// The jsonnet mapper's result for `p`: `{identity: {traits, metadata_public,
/// metadata_admin, verified_addresses}}`.
async fn map_claims(deps: &Deps, p: &Proven) -> Result<Value, FlowError> {
    let provider = provider_named(deps, &p.provider)?;
    let url = provider.config().mapper_url.clone();
    let source = crate::uri::read(&url, &deps.config.clients.http)
        .await
        .map_err(|e| {
            FlowError::Internal(format!(
                "the claims mapper of OpenID Connect provider {:?} ({url}) could not be read: {e}",
                p.provider
            ))
        })?;
    let claims = serde_json::to_value(&p.claims).expect("claims serialise");
    let out = crate::jsonnet::evaluate_ext_blocking(
        format!("mapper of {}", p.provider),
        Arc::from(source),
        vec![("claims".into(), claims)],
    )
    .await
    .map_err(|e| FlowError::Internal(format!("OpenID Connect claims mapper: {e}")))?;
    if !out["identity"].is_object() {
        return Err(FlowError::Internal(format!(
            "the claims mapper of OpenID Connect provider {:?} did not return an `identity` object",
            p.provider
        )));
    }
    Ok(out)
}

/// The round trip a flow's internal context holds.
fn pending(internal: Option<&Value>) -> Option<Pending> {
    internal
        .and_then(|i| i.get(INTERNAL_KEY))
        .and_then(|p| serde_json::from_value(p.clone()).ok())
}

/// The traits a registration submitted with the provider button, kept for the callback.
fn pending_traits(flow: &Flow) -> Option<Value> {
    pending(flow.internal.as_ref()).and_then(|p| p.traits)
}
