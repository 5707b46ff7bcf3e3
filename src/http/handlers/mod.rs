//! One module per resource; `dispatch` maps a route to its handler.

pub mod health;
pub mod identities;
pub mod schemas;

use http::Request;
use hyper::body::Incoming;

use super::error::ApiError;
use super::respond::Resp;
use super::router::Route;
use super::App;

pub async fn dispatch(app: &App, route: Route, req: Request<Incoming>) -> Result<Resp, ApiError> {
    match route {
        Route::HealthAlive => Ok(health::alive()),
        Route::HealthReady => Ok(health::ready(app).await),
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
        Route::DeleteIdentityCredentials { id, kind } => identities::delete_credential(app, &id, kind, &req).await,
    }
}
