//! Authentication methods ("strategies") and the one contract every flow uses them through.
//!
//! A method is a type that implements the trait of each flow kind it takes part in:
//! [`LoginStrategy`], [`RegistrationStrategy`], [`SettingsStrategy`], [`RecoveryStrategy`] and
//! [`VerificationStrategy`]. Each names its [`Method`] (which also gives its UI node group),
//! fills a new flow's UI container (`populate`), and handles a submission addressed to it
//! (`method=<id>`), returning a typed [`Outcome`] or a [`FlowError`]. Methods with routes of
//! their own (the link strategy's `?token=` links) expose them on their trait. The
//! [`Registry`] is built once from the configuration and holds the enabled strategies per flow
//! in Kratos's order (profile, password, oidc, code, link, totp, passkey, webauthn,
//! lookup_secret, identifier_first); flows iterate it to build their UI and dispatch each
//! submission by its `method` field (registration asks each strategy whether it
//! [`takes`](RegistrationStrategy::takes) it: two-step registration's `screen` moves go to the
//! profile method), and never name a method themselves.
//!
//! Adding a method is a folder here plus a line in [`Registry::new`]:
//!
//! ```ignore
//! pub struct Totp;
//!
//! #[async_trait::async_trait]
//! impl LoginStrategy for Totp {
//!     fn method(&self) -> Method {
//!         Method::Totp
//!     }
//!     fn populate(&self, _deps: &Deps, ui: &mut UiContainer) {
//!         ui.append(UiNode::input("totp_code", Group::Totp, InputType::Text).required());
//!         ui.append(submit_node(Group::Totp, "totp", text::login_totp()));
//!     }
//!     async fn login(&self, deps: &Deps, flow: &mut Flow, sub: &Submission)
//!         -> Result<Outcome<Identity>, FlowError> {
//!         // check the code; `Outcome::Rejected` after adding a message to `flow.ui`
//!     }
//! }
//! // In Registry::new: `if m.totp.enabled { r.login.push(&totp::Totp) }`; a second factor
// also overrides `aal` and `configured_for`.
//! ```

pub mod code;
pub mod identifier_first;
pub mod link;
pub mod lookup;
mod method;
pub mod oidc;
pub mod passkey;
pub mod password;
pub mod profile;
mod registry;
pub mod totp;
pub mod traits;
pub mod webauthn;
pub mod webauthn_ceremony;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

pub use method::Method;
pub use registry::Registry;

use crate::deps::Deps;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::CreateIdentityBody;
use crate::identity::{CredentialType, Identity};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowKind, FlowState};
use crate::selfservice::otp::Template;
use crate::selfservice::ui::{AnchorAttributes, Attributes, Group, Meta, UiContainer, UiNode};
use crate::session::Aal;
use crate::store::tokens::TokenRow;
use crate::text;

/// How a strategy handled a submission addressed to it.
pub enum Outcome<T> {
    /// The method is satisfied; the flow completes with this.
    Done(T),
    /// The flow moved on to a new state the strategy saved (a code went out): answer with the
    /// flow as it is now.
    Continue,
    /// Refused: the reasons are on the flow's UI, which the flow stores and shows again.
    Rejected,
}

/// The identity an aal2 login flow belongs to (the login flow set it), with its credentials.
/// `None`, with the flow's "no strategy" message, when the flow has none or it is gone: every
/// second factor starts here.
pub async fn aal2_identity(deps: &Deps, flow: &mut Flow) -> Result<Option<Identity>, FlowError> {
    use crate::identity::service::{self as identities, IdentityError};
    let found = match flow.identity_id {
        Some(id) => match identities::get(deps, id, true).await {
            Ok(identity) => Some(identity),
            Err(IdentityError::NotFound) => None,
            Err(e) => return Err(FlowError::Internal(e.to_string())),
        },
        None => None,
    };
    if found.is_none() {
        flow.ui.add_message(text::login_no_strategy_found());
    }
    Ok(found)
}

/// The identifier every first factor signs in with, added by whichever login strategy comes
/// first: the form shows it once.
pub fn add_login_identifier(deps: &Deps, ui: &mut UiContainer) {
    if ui.find("identifier").is_none() {
        // Until a pending schema loads, the label is the generic one.
        let label = match deps.schemas.default_schema() {
            Ok(schema) => crate::selfservice::ui::identifier_label(&schema),
            Err(_) => crate::text::label_id(),
        };
        ui.append(crate::selfservice::ui::identifier_node(label));
    }
}

/// A sign-in method: a first factor (the default), or a second factor ([`Self::aal`] `Aal2`)
/// that upgrades a signed-in session in a login flow started with `aal=aal2`.
///
/// Second factors are offered only to identities that have them set up
/// ([`Self::configured_for`]), which is also what `required_aal: highest_available` goes by
/// (`Registry::available_aal`); their `login` finds the identity in the flow's `identity_id`
/// (the signed-in one) and answers `Done` with it once the factor is proven.
#[async_trait]
pub trait LoginStrategy: Send + Sync {
    fn method(&self) -> Method;
    /// The level a login by this method proves: first factors `Aal1`, second factors `Aal2`.
    fn aal(&self) -> Aal {
        Aal::Aal1
    }
    /// A second factor: whether `identity` (loaded with credentials) has it set up.
    fn configured_for(&self, _identity: &Identity) -> bool {
        false
    }
    /// Adds the method's nodes to a new login flow's UI (of its level).
    fn populate(&self, deps: &Deps, ui: &mut UiContainer);
    /// Adds the nodes for `identity` (the signed-in one of an aal2 flow), for a method whose
    /// form depends on it (code as a second factor offers the identity's addresses).
    fn populate_for(&self, deps: &Deps, ui: &mut UiContainer, _identity: Option<&Identity>) {
        self.populate(deps, ui);
    }
    /// Adds the nodes to a new flow, keeping what its submission will need in the flow's
    /// `internal` context (a WebAuthn challenge: its options are in the nodes, its state only
    /// here). By default [`Self::populate_for`], which keeps nothing.
    fn populate_flow(
        &self,
        deps: &Deps,
        ui: &mut UiContainer,
        identity: Option<&Identity>,
        _internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        self.populate_for(deps, ui, identity);
        Ok(())
    }
    /// The first screen of identifier-first login (`selfservice.flows.login.style:
    /// identifier_first`): what the method shows before anyone is identified — nothing by
    /// default; provider buttons and passkeys sign in without an identifier and show here.
    fn populate_identification(
        &self,
        _deps: &Deps,
        _ui: &mut UiContainer,
        _internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        Ok(())
    }
    /// The second screen of identifier-first login, for `identity` (`None`: the identifier
    /// names nobody). A method the identity can sign in with adds its nodes (the identifier
    /// is on the form already) and answers `true`; with `mitigate`
    /// (`security.account_enumeration.mitigate`) it does so for nobody too, so the screen
    /// does not tell whether the account exists.
    fn populate_identified(
        &self,
        _deps: &Deps,
        _ui: &mut UiContainer,
        _identity: Option<&Identity>,
        _mitigate: bool,
    ) -> bool {
        false
    }
    /// Whether a submission is addressed to this method: by default when `method` names it.
    /// Methods whose buttons carry no `method` (an OpenID Connect provider button, code as a
    /// second factor's address buttons) take them by their own fields.
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str())
    }
    /// A `refresh=true` flow re-authenticates `identity`: fix what the method can (the
    /// identifier) to it.
    async fn populate_refresh(&self, _deps: &Deps, _ui: &mut UiContainer, _identity: Uuid) {}
    /// Whether a flow this method moved on (to `state`) still takes its submissions; every
    /// method takes them in `choose_method`.
    fn resumes(&self, _state: FlowState) -> bool {
        false
    }
    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError>;
    /// Account linking: the flow holds a credential this method proved for an identifier
    /// another account has (`internal.link`, put there by this method); `identity` just
    /// signed in with another method and gets it. `Ok(Err(message))` refuses the sign-in.
    async fn complete_link(
        &self,
        _deps: &Deps,
        _identity: &Identity,
        _link: &Value,
    ) -> Result<Result<(), text::UiText>, FlowError> {
        Ok(Ok(()))
    }
}

/// The key of a pending account link in a login flow's internal context.
pub const LINK_KEY: &str = "link";

/// The screens of two-step registration (`selfservice.flows.registration.style: profile_first`,
/// Kratos's default): the traits first, then the methods that sign up with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Profile,
    Credentials,
}

/// A sign-up method: it proves what the new identity needs and hands back the identity to
/// create; the flow runs the hooks and creates it.
#[async_trait]
pub trait RegistrationStrategy: Send + Sync {
    fn method(&self) -> Method;
    /// Adds the method's nodes to a new one-step registration flow's UI (the traits are the
    /// flow's).
    fn populate(&self, deps: &Deps, schema: &IdentitySchema, ui: &mut UiContainer);
    /// Adds the method's nodes to `screen` of two-step registration (Kratos's
    /// `PopulateRegistrationMethodProfile`/`…Credentials`). A method shows nothing on the
    /// profile screen and its one-step nodes on the credentials screen unless it says otherwise.
    fn populate_screen(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        screen: Screen,
    ) {
        if screen == Screen::Credentials {
            self.populate(deps, schema, ui);
        }
    }
    /// Adds the nodes for a one-step form (`screen` `None`) or a screen, keeping what the
    /// submission will need in the flow's `internal` context (a passkey's challenge). By
    /// default [`Self::populate`] or [`Self::populate_screen`], which keep nothing.
    fn populate_flow(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        screen: Option<Screen>,
        _internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        match screen {
            Some(screen) => self.populate_screen(deps, schema, ui, screen),
            None => self.populate(deps, schema, ui),
        }
        Ok(())
    }
    /// Whether a submission is addressed to this method: by default when `method` names it.
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str())
    }
    fn resumes(&self, _state: FlowState) -> bool {
        false
    }
    /// The message when the new identity's identifiers belong to an account already.
    fn duplicate_message(&self) -> text::UiText {
        text::validation_duplicate_credentials()
    }
    /// The new identity `pending` collided with the account in `conflict`: an error that
    /// continues elsewhere instead of the duplicate message (an identity provider's sign-up
    /// goes on as a login that offers to link), or `None`.
    fn on_conflict(
        &self,
        _flow: &Flow,
        _pending: &Identity,
        _conflict: &crate::identity::service::Conflict,
    ) -> Option<FlowError> {
        None
    }
    /// `all` are the enabled sign-up methods, for a method that shows another screen of them.
    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
        all: &[&'static dyn RegistrationStrategy],
    ) -> Result<Outcome<CreateIdentityBody>, FlowError>;
}

/// A registration UI posting to `action`: the CSRF token, the traits and every method's nodes,
/// for one form (`screen` `None`) or a screen of two-step registration, in Kratos's order.
/// What the methods keep for the submission goes into `internal` (the flow's).
pub fn registration_ui(
    deps: &Deps,
    schema: &IdentitySchema,
    all: &[&'static dyn RegistrationStrategy],
    action: String,
    csrf_token: &str,
    screen: Option<Screen>,
    internal: &mut Option<Value>,
) -> Result<UiContainer, FlowError> {
    let mut ui = UiContainer::new(action, "POST");
    ui.append(crate::selfservice::ui::csrf_node(csrf_token));
    ui.extend(crate::selfservice::ui::nodes_from_schema(
        schema,
        Group::Default,
        "traits",
    ));
    for s in all {
        s.populate_flow(deps, schema, &mut ui, screen, internal)?;
    }
    ui.sort_nodes(&crate::selfservice::ui::SortOptions::registration(schema));
    Ok(ui)
}

/// What a settings strategy works on: the signed-in identity, its schema, and whether the
/// session may make privileged changes.
pub struct SettingsContext<'a> {
    pub deps: &'a Deps,
    pub schema: &'a IdentitySchema,
    pub identity: &'a Identity,
    /// Signed in recently enough (`privileged_session_max_age`).
    pub privileged: bool,
    /// Where a browser signs in again when it is not (a `refresh=true` login coming back).
    pub refresh_url: String,
    /// The flow as loaded (its UI is the `ui` the method is given), for a method that leaves
    /// and comes back (an identity provider's round trip).
    pub flow: &'a Flow,
}

impl SettingsContext<'_> {
    /// `session_refresh_required` unless the session is privileged.
    pub fn ensure_privileged(&self) -> Result<(), FlowError> {
        if self.privileged {
            Ok(())
        } else {
            Err(FlowError::RefreshRequired {
                redirect_browser_to: self.refresh_url.clone(),
            })
        }
    }
}

/// A method a signed-in identity manages in the settings flow.
#[async_trait]
pub trait SettingsStrategy: Send + Sync {
    fn method(&self) -> Method;
    /// Whether a submission is addressed to this method: by default when `method` names it.
    /// Kratos's UI posts some buttons without a `method` (`lookup_secret_confirm=true`,
    /// `totp_unlink=true`); their methods take them by the flag.
    fn takes(&self, sub: &Submission) -> bool {
        sub.str("method") == Some(self.method().as_str())
    }
    fn populate(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        identity: &Identity,
    );
    /// Adds the nodes to a new flow, keeping what a submission will need in the flow's
    /// `internal` context (a WebAuthn challenge). By default [`Self::populate`], which keeps
    /// nothing. A method that shows a new challenge after a submission stores it itself
    /// (`flow::common::keep_internal`).
    fn populate_flow(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        ui: &mut UiContainer,
        identity: &Identity,
        _internal: &mut Option<Value>,
    ) -> Result<(), FlowError> {
        self.populate(deps, schema, ui, identity);
        Ok(())
    }
    /// The level at which a saved change proved this method: a device just linked or a key
    /// just registered was used by the person signed in, and Kratos records it on their
    /// session (`SessionAddAuthenticationMethods`), so setting up a second factor does not
    /// send them to sign in with it straight away. `None` (the default) records nothing.
    fn proven(&self, _before: &Identity, _after: &Identity) -> Option<Aal> {
        None
    }
    /// The profile changes traits, which sends new addresses a verification message and may
    /// show the verification UI; credential methods change how one signs in, after which
    /// other sessions may be revoked.
    fn changes_traits(&self) -> bool {
        false
    }
    /// The identity as it should be stored.
    async fn update(
        &self,
        cx: &SettingsContext<'_>,
        ui: &mut UiContainer,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError>;
}

/// How checking a secret (a submitted code, a link's token) ended.
pub enum Proof {
    /// Right and in time: the used token, naming the identity and the address it proves.
    Valid(Box<TokenRow>),
    /// Wrong: the flow shows this message and keeps waiting.
    Invalid(text::UiText),
    /// The flow cannot go on: a fresh one takes its place, carrying this message.
    Restart(text::UiText),
    /// Right but too late (it expired at this time): a fresh flow takes its place, as for
    /// an expired flow.
    Expired(chrono::DateTime<chrono::Utc>),
}

/// Where a recovery method's own step ([`RecoveryStrategy::advance`]) left the flow.
pub enum Advanced {
    /// The flow shows a new screen: answer with it.
    Shown,
    /// Refused: the reasons are on the flow's UI.
    Rejected,
    /// The flow waits for a code the flow sends (after answering) to `address`, stored as
    /// `via` (`email` or `sms`).
    Send { address: String, via: &'static str },
    /// The proof the method asked for.
    Proof(Proof),
}

/// What the message carrying a secret to a known address is made of.
pub struct Letter<'a> {
    pub flow: &'a Flow,
    /// The address as stored.
    pub to: &'a str,
    pub secret: &'a str,
    /// The identity owning the address, as templates see it.
    pub identity: Value,
    pub expires_in_minutes: i64,
}

/// A method proving an email address to recover an account: it sends a secret (stored as a
/// token of its kind) and checks it when it comes back. The flow owns states, persistence,
/// hooks and the session; unknown addresses get the same screens as known ones.
#[async_trait]
pub trait RecoveryStrategy: Send + Sync {
    fn method(&self) -> Method;
    /// The first screen's nodes after the CSRF token: the address and the method's button.
    fn populate(&self, ui: &mut UiContainer);
    /// The screen once a message went out to `email`.
    fn show_sent(&self, flow: &mut Flow, email: &str);
    /// The screen of a flow an admin created, whose secret is handed over out of band.
    fn show_admin_created(&self, _flow: &mut Flow) {}
    /// The kind its tokens are stored as.
    fn token_kind(&self) -> &'static str;
    /// How long a secret stays valid.
    fn lifespan(&self, deps: &Deps) -> Duration;
    fn new_secret(&self) -> String;
    /// The template and data of the message to a known address.
    fn message(&self, deps: &Deps, letter: &Letter<'_>) -> (Template, Value);
    /// The template of the notice to an unknown address (`notify_unknown_recipients`).
    fn unknown_template(&self) -> Template;
    /// A submission to a flow waiting for proof: `Some` when it is the proof this method asked
    /// for; `None` lets the flow take it as a request for a (new) message.
    async fn resume(
        &self,
        _deps: &Deps,
        _flow: &Flow,
        _sub: &Submission,
    ) -> Result<Option<Proof>, FlowError> {
        Ok(None)
    }
    /// A first screen of the method's own, and the state it starts the flow in (the code
    /// method's address choice with `feature_flags.choose_recovery_address`); `None` keeps
    /// the `choose_method` screen of [`Self::populate`].
    fn own_first_screen(&self, _deps: &Deps, _ui: &mut UiContainer) -> Option<FlowState> {
        None
    }
    /// A submission to a flow in one of the states only this method leads through (after
    /// [`Self::own_first_screen`]).
    async fn advance(
        &self,
        _deps: &Deps,
        _flow: &mut Flow,
        _sub: &Submission,
    ) -> Result<Advanced, FlowError> {
        Err(FlowError::BadRequest(
            "The recovery flow is in a state this method does not handle.".into(),
        ))
    }
    /// `GET /self-service/recovery?flow=&token=`: `None` when the method sends no links.
    async fn use_link(
        &self,
        _deps: &Deps,
        _flow: &Flow,
        _token: &str,
    ) -> Result<Option<Proof>, FlowError> {
        Ok(None)
    }
    /// The session's authentication method after a recovery by this method.
    fn session_method(&self) -> CredentialType;
}

/// How a verification method answered a link from its message.
pub enum Opened {
    /// The link carried the proof.
    Checked(Proof),
    /// The link filled the form in (the flow's UI) for the user to submit; the flow binds it
    /// to the browser that opened it.
    Prefilled,
}

/// A method proving an address from the identity schema (`verification.via`): it sends a
/// secret and checks it when it comes back; the flow marks the address verified.
#[async_trait]
pub trait VerificationStrategy: Send + Sync {
    fn method(&self) -> Method;
    /// The first screen's nodes after the CSRF token: the address and the method's button.
    fn populate(&self, ui: &mut UiContainer);
    /// The screen once a message went out to `address`.
    fn show_sent(&self, flow: &mut Flow, address: &str);
    /// The screen once the address is verified: a "continue" link to `return_to`.
    fn verified_ui(&self, return_to: String) -> UiContainer;
    /// The kind its tokens are stored as.
    fn token_kind(&self) -> &'static str;
    fn lifespan(&self, deps: &Deps) -> Duration;
    fn new_secret(&self) -> String;
    /// The template and data of the message to a known address.
    fn message(&self, deps: &Deps, letter: &Letter<'_>) -> (Template, Value);
    /// The template of the notice to an unknown address (`notify_unknown_recipients`).
    fn unknown_template(&self) -> Template;
    /// Whether its messages may go by SMS; links travel by email only.
    fn reaches_phones(&self) -> bool {
        false
    }
    /// A submission carrying this method's proof, in any state: `None` lets the flow take it
    /// as a request for a (new) message.
    async fn resume(
        &self,
        _deps: &Deps,
        _flow: &Flow,
        _sub: &Submission,
    ) -> Result<Option<Proof>, FlowError> {
        Ok(None)
    }
    /// The query parameter of its links: `GET /self-service/verification?flow=&<param>=`.
    fn link_param(&self) -> &'static str;
    /// A link from its message, carrying `value`.
    async fn open_link(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        value: &str,
    ) -> Result<Opened, FlowError>;
}

/// Where the links in recovery and verification messages lead, before their secret:
/// `<base>/self-service/<kind>?flow=<id>`, with `selfservice.methods.link.config.base_url` as
/// the base when set (the code method's verification links use it too), else the public URL.
pub fn message_url(deps: &Deps, kind: FlowKind, flow_id: Uuid) -> String {
    let base = deps
        .config
        .selfservice
        .methods
        .link
        .config
        .base_url
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| deps.public_base().to_owned());
    format!(
        "{}/self-service/{}?flow={flow_id}",
        base.trim_end_matches('/'),
        kind.as_str()
    )
}

/// The screen after a verification: a GET form to `return_to` with a "continue" link in `group`.
pub fn continue_ui(group: Group, return_to: String) -> UiContainer {
    let mut ui = UiContainer::new(return_to.clone(), "GET");
    ui.append(UiNode {
        group,
        attributes: Attributes::Anchor(AnchorAttributes {
            href: return_to,
            title: text::label_continue(),
            id: "continue".into(),
        }),
        messages: Vec::new(),
        meta: Meta {
            label: Some(text::label_continue()),
        },
    });
    ui
}
