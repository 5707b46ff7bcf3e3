//! Signing in with an identifier and a password.

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::Password;
use crate::deps::Deps;
use crate::hash::HashError;
use crate::identity::{CredentialType, Identity, State, now};
use crate::selfservice::flow::request::Submission;
use crate::selfservice::flow::{Flow, FlowError};
use crate::selfservice::strategy::{LoginStrategy, Method, Outcome, add_login_identifier};
use crate::selfservice::ui::{self, Group, UiContainer};
use crate::store::credentials;
use crate::text;

#[async_trait]
impl LoginStrategy for Password {
    fn method(&self) -> Method {
        Method::Password
    }

    /// The identifier (shared with other first factors), the password, the submit button.
    fn populate(&self, deps: &Deps, ui: &mut UiContainer) {
        add_login_identifier(deps, ui);
        ui.append(ui::password_node("current-password"));
        ui.append(ui::submit_node(
            Group::Password,
            "password",
            text::login_password(),
        ));
    }

    /// Identifier-first: the password, for an account that has one.
    fn populate_identified(
        &self,
        _deps: &Deps,
        ui: &mut UiContainer,
        identity: Option<&Identity>,
        mitigate: bool,
    ) -> bool {
        let has = identity.map_or(mitigate, |i| {
            i.credentials.contains_key(&CredentialType::Password)
        });
        if has {
            ui.append(ui::password_node("current-password"));
            ui.append(ui::submit_node(
                Group::Password,
                "password",
                text::login_password(),
            ));
        }
        has
    }

    /// A refresh re-authenticates the signed-in user: the identifier is fixed to theirs.
    async fn populate_refresh(&self, deps: &Deps, ui: &mut UiContainer, identity: Uuid) {
        if let Some(identifier) = identifier_of(deps, identity).await {
            ui.set_value("identifier", Value::String(identifier));
        }
    }

    async fn login(
        &self,
        deps: &Deps,
        flow: &mut Flow,
        sub: &Submission,
    ) -> Result<Outcome<Identity>, FlowError> {
        Ok(match login(deps, &mut flow.ui, sub).await? {
            Some(identity) => Outcome::Done(identity),
            None => Outcome::Rejected,
        })
    }
}

/// Password identifiers are stored trimmed and lower-cased.
pub fn normalize(identifier: &str) -> String {
    identifier.trim().to_lowercase()
}

/// The identifier a refreshing user signs in with again.
async fn identifier_of(deps: &Deps, identity_id: Uuid) -> Option<String> {
    let i = crate::identity::service::get(deps, identity_id, true)
        .await
        .ok()?;
    i.credentials
        .get(&CredentialType::Password)?
        .identifiers
        .first()
        .cloned()
}

fn invalid(ui: &mut UiContainer) -> Result<Option<Identity>, FlowError> {
    ui.add_message(text::validation_invalid_credentials());
    Ok(None)
}

/// Checks the submitted credentials. `Ok(None)` means rejected, with the reasons put into `ui`.
/// An unknown identifier costs one full hash verification, like a wrong password does, so the
/// response time does not tell whether an account exists.
async fn login(
    deps: &Deps,
    ui: &mut UiContainer,
    sub: &Submission,
) -> Result<Option<Identity>, FlowError> {
    let identifier = sub
        .str("identifier")
        .or_else(|| sub.str("password_identifier"))
        .unwrap_or_default()
        .to_owned();
    let password = sub.str("password").unwrap_or_default().to_owned();
    ui.set_value("identifier", Value::String(identifier.clone()));
    let mut missing = false;
    if identifier.trim().is_empty() {
        ui.add_node_message("identifier", text::validation_required("identifier"));
        missing = true;
    }
    if password.is_empty() {
        ui.add_node_message("password", text::validation_required("password"));
        missing = true;
    }
    if missing {
        return Ok(None);
    }
    let owner = credentials::identity_for_identifier(
        &deps.store,
        CredentialType::Password.as_str(),
        &normalize(&identifier),
    )
    .await?;
    let identity = match owner {
        Some(id) => crate::identity::service::get(deps, id, true).await.ok(),
        None => None,
    };
    // Imported with `use_password_migration_hook`: the operator's endpoint checks the password
    // once; on a match it is hashed and stored here, and the flag goes away.
    if let Some(i) = identity.as_ref().filter(|i| {
        i.credentials
            .get(&CredentialType::Password)
            .is_some_and(|c| {
                c.config.get("use_password_migration_hook") == Some(&Value::Bool(true))
                    && c.config.get("hashed_password").is_none()
            })
    }) {
        let matched = crate::selfservice::hooks::password_migration::verify(
            deps,
            identifier.trim(),
            &password,
        )
        .await?;
        if !matched {
            return invalid(ui);
        }
        if i.state != State::Active {
            ui.add_message(text::identity_disabled());
            return Ok(None);
        }
        let hashed = deps
            .hasher
            .hash(password.as_bytes())
            .await
            .map_err(|e| FlowError::Internal(format!("hashing a migrated password: {e}")))?;
        let config = serde_json::json!({ "hashed_password": hashed }).to_string();
        credentials::update_config(
            &deps.store,
            i.id,
            CredentialType::Password.as_str(),
            &config,
            now().naive_utc(),
        )
        .await?;
        return Ok(identity);
    }
    let stored = identity.as_ref().and_then(|i| {
        i.credentials
            .get(&CredentialType::Password)?
            .config
            .get("hashed_password")?
            .as_str()
            .map(str::to_owned)
    });
    let (Some(identity), Some(hash)) = (identity, stored) else {
        deps.hasher.dummy_verify(password.as_bytes()).await;
        return invalid(ui);
    };
    match deps.hasher.verify(password.as_bytes(), &hash).await {
        Ok(true) => {}
        Ok(false) => return invalid(ui),
        // An expensive imported hash whose lane is full: "try again later", never a verdict on
        // the password. (Whether the account exists is no news to the caller: its imported
        // hash already took far longer to check than an unknown account does.)
        Err(HashError::Busy) => {
            tracing::debug!(identity.id = %identity.id, "expensive password hash: lane full, refused");
            return Err(FlowError::TryAgainLater);
        }
        Err(e) => {
            tracing::warn!(identity.id = %identity.id, error = %e, "stored password hash could not be verified");
            return invalid(ui);
        }
    }
    if identity.state != State::Active {
        ui.add_message(text::identity_disabled());
        return Ok(None);
    }
    if deps.hasher.needs_rehash(&hash) {
        // Imported or older hashes move to the configured algorithm on a successful sign-in.
        match deps.hasher.hash(password.as_bytes()).await {
            Ok(new_hash) => {
                let config = serde_json::json!({ "hashed_password": new_hash }).to_string();
                if let Err(e) = credentials::update_config(
                    &deps.store,
                    identity.id,
                    CredentialType::Password.as_str(),
                    &config,
                    now().naive_utc(),
                )
                .await
                {
                    tracing::warn!(identity.id = %identity.id, error = %e, "rehashing the password failed");
                }
            }
            Err(e) => {
                tracing::warn!(identity.id = %identity.id, error = %e, "rehashing the password failed")
            }
        }
    }
    Ok(Some(identity))
}
