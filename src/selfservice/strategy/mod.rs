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
//! submission by its `method` field, and never name a method themselves.
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
//! // In Registry::new: `if m.totp.enabled { r.login.push(&totp::Totp) }`
//! ```

pub mod code;
mod method;
pub mod password;
pub mod profile;
mod registry;
pub mod traits;

use async_trait::async_trait;
use uuid::Uuid;

pub use method::Method;
pub use registry::Registry;

use crate::deps::Deps;
use crate::identity::Identity;
use crate::identity::schema::IdentitySchema;
use crate::identity::service::CreateIdentityBody;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError, FlowState};
use crate::selfservice::ui::UiContainer;

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

/// A first-factor sign-in method.
#[async_trait]
pub trait LoginStrategy: Send + Sync {
    fn method(&self) -> Method;
    /// Adds the method's nodes to a new login flow's UI.
    fn populate(&self, deps: &Deps, ui: &mut UiContainer);
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
}

/// A sign-up method: it proves what the new identity needs and hands back the identity to
/// create; the flow runs the hooks and creates it.
#[async_trait]
pub trait RegistrationStrategy: Send + Sync {
    fn method(&self) -> Method;
    /// Adds the method's nodes to a new registration flow's UI (the traits are the flow's).
    fn populate(&self, deps: &Deps, schema: &IdentitySchema, ui: &mut UiContainer);
    fn resumes(&self, _state: FlowState) -> bool {
        false
    }
    async fn register(
        &self,
        deps: &Deps,
        schema: &IdentitySchema,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<CreateIdentityBody>, FlowError>;
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
    fn populate(&self, schema: &IdentitySchema, ui: &mut UiContainer, identity: &Identity);
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
