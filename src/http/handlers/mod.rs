//! One module per resource; `dispatch` maps a route to its handler.

pub mod courier;
pub mod health;
pub mod identities;
pub mod lockouts;
pub mod logout;
pub mod oidc;
pub mod recovery;
pub mod schemas;
pub mod selfservice;
pub mod sessions;
pub mod settings;
pub mod tenants;
pub mod webauthn;

use bytes::Bytes;
use http::Request;

use super::App;
use super::error::ApiError;
use super::respond::Resp;
use super::router::Route;
use crate::selfservice::flow::FlowKind;

pub async fn dispatch(app: &App, route: Route, req: Request<Bytes>) -> Result<Resp, ApiError> {
    match route {
        Route::HealthAlive => Ok(health::alive()),
        Route::HealthReady => Ok(health::ready(app).await),
        Route::HealthConfig => Ok(health::config_revision(app)),
        Route::Version => Ok(health::version()),
        Route::Metrics => Ok(health::metrics(app)),
        Route::ListSchemas => schemas::list(app, &req),
        Route::GetSchema(id) => schemas::get(app, &id),
        Route::ListIdentities => identities::list(app, &req).await,
        Route::CreateIdentity => identities::create(app, req).await,
        Route::BatchPatchIdentities => identities::batch(app, req).await,
        Route::GetIdentity(id) => identities::get(app, &id, &req).await,
        Route::GetIdentityByExternalId(ext) => identities::get_by_external_id(app, ext, &req).await,
        Route::UpdateIdentity(id) => identities::update(app, &id, req).await,
        Route::PatchIdentity(id) => identities::patch(app, &id, req).await,
        Route::DeleteIdentity(id) => identities::delete(app, &id).await,
        Route::StartFlow(kind, t) => selfservice::start(app, kind, t, req).await,
        Route::GetFlow(kind) => selfservice::get(app, kind, req).await,
        Route::SubmitFlow(kind @ (FlowKind::Recovery | FlowKind::Verification)) => {
            recovery::submit(app, kind, req).await
        }
        Route::SubmitFlow(FlowKind::Settings) => settings::submit(app, req).await,
        Route::SubmitFlow(kind) => selfservice::submit(app, kind, req).await,
        Route::FlowLink(kind) => recovery::link(app, kind, req).await,
        Route::OidcCallback(provider) => oidc::callback(app, &provider, req).await,
        Route::AdminRecoveryCode => recovery::admin_create(app, false, req).await,
        Route::AdminRecoveryLink => recovery::admin_create(app, true, req).await,
        Route::GetFlowError => selfservice::error(app, req).await,
        Route::Whoami => sessions::whoami(app, &req).await,
        Route::ListMySessions => sessions::list_mine(app, &req).await,
        Route::DeleteMySessions => sessions::delete_mine_others(app, &req).await,
        Route::DeleteMySession(id) => sessions::delete_mine(app, &id, &req).await,
        Route::AdminListSessions => sessions::admin_list(app, &req).await,
        Route::AdminGetSession(id) => sessions::admin_get(app, &id, &req).await,
        Route::AdminDisableSession(id) => sessions::admin_disable(app, &id).await,
        Route::AdminExtendSession(id) => sessions::admin_extend(app, &id).await,
        Route::ListIdentitySessions(id) => sessions::identity_list(app, &id, &req).await,
        Route::DeleteIdentitySessions(id) => sessions::identity_delete(app, &id).await,
        Route::LogoutBrowser => logout::browser(app, &req).await,
        Route::LogoutSubmit => logout::submit(app, &req).await,
        Route::LogoutApi => logout::api(app, req).await,
        Route::ListCourierMessages => courier::list(app, &req).await,
        Route::GetCourierMessage(id) => courier::get(app, &id).await,
        Route::GetLockouts => lockouts::get(app, &req).await,
        Route::DeleteLockouts => lockouts::delete(app, &req).await,
        Route::ListTenants => tenants::list(app).await,
        Route::CreateTenant => tenants::create(app, req).await,
        Route::GetTenant(id) => tenants::get(app, &id).await,
        Route::UpdateTenant(id) => tenants::update(app, &id, req).await,
        Route::DeleteTenant(id) => tenants::delete(app, &id, &req).await,
        Route::WebauthnScript => Ok(webauthn::script()),
        Route::Page(page) => crate::http::pages::page(app, &page, req).await,
        Route::DeleteIdentityCredentials { id, kind } => {
            identities::delete_credential(app, &id, kind, &req).await
        }
    }
}
