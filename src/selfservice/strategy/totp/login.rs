//! The second factor: a code from the linked authenticator app upgrades the session to aal2.

use async_trait::async_trait;

use super::{Totp, check_code, stored_url};
use crate::deps::Deps;
use crate::identity::Identity;
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::strategy::{LoginStrategy, Method, Outcome, aal2_identity};
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode, submit_node};
use crate::session::Aal;
use crate::text;

#[async_trait]
impl LoginStrategy for Totp {
    fn method(&self) -> Method {
        Method::Totp
    }

    fn aal(&self) -> Aal {
        Aal::Aal2
    }

    fn configured_for(&self, identity: &Identity) -> bool {
        stored_url(identity).is_some()
    }

    /// The code and the button, as Kratos's `PopulateLoginMethodSecondFactor`.
    fn populate(&self, _deps: &Deps, ui: &mut UiContainer) {
        ui.append(
            UiNode::input("totp_code", Group::Totp, InputType::Text)
                .with_value("")
                .required()
                .with_label(text::login_totp_label()),
        );
        ui.append(submit_node(Group::Totp, "totp", text::login_totp()));
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        let Some(identity) = aal2_identity(deps, flow).await? else {
            return Ok(Outcome::Rejected);
        };
        let Some(url) = stored_url(&identity).map(str::to_owned) else {
            flow.ui.add_message(text::login_no_strategy_found());
            return Ok(Outcome::Rejected);
        };
        let code = sub.str("totp_code").unwrap_or_default();
        if code.is_empty() {
            flow.ui
                .add_node_message("totp_code", text::validation_required("totp_code"));
            return Ok(Outcome::Rejected);
        }
        if check_code(deps, identity.id, &url, code).await? {
            Ok(Outcome::Done(identity.clone()))
        } else {
            flow.ui
                .add_node_message("totp_code", text::validation_totp_wrong());
            Ok(Outcome::Rejected)
        }
    }
}
