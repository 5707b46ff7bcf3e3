//! `/admin/tenants` (Gatehouse's): the tenants' own administration. A tenant created or changed
//! here is checked, built (its configuration overlay must load), stored, and put in force on
//! this node at once; other nodes take it from the database within `actors::tenant_watch`'s
//! period. Tenants declared in the configuration file are listed but changed only there.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{Request, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::actors::live::{Generation, Resolved};
use crate::deps::Deps;
use crate::http::App;
use crate::http::error::{ApiError, tenant_store_error};
use crate::http::extract::{json_body, query_one, query_pairs};
use crate::http::respond::{Resp, empty, json_response, ok_json};
use crate::store::tenants::DeleteOutcome;
use crate::tenancy::{self, Source, TenantInfo};

/// A tenant as the API shows it.
#[derive(Serialize)]
struct View<'a> {
    id: Uuid,
    name: &'a str,
    base_url: &'a str,
    hosts: &'a [String],
    config: &'a Value,
    source: Source,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

fn view(t: &TenantInfo) -> View<'_> {
    View {
        id: t.id,
        name: &t.name,
        base_url: &t.base_url,
        hosts: &t.hosts,
        config: &t.config,
        source: t.source,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

/// What a client sends to create or replace a tenant.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    id: Option<Uuid>,
    name: String,
    base_url: String,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    config: Value,
}

fn body(req: Request<Bytes>) -> Result<Body, ApiError> {
    serde_json::from_value(json_body(req)?)
        .map_err(|e| ApiError::bad_request(format!("The request body is not a tenant: {e}.")))
}

/// `GET /admin/tenants`: every tenant in force, by name.
pub async fn list(app: &App) -> Result<Resp, ApiError> {
    let tenants = app.handles.live.tenants();
    let views: Vec<View<'_>> = tenants
        .iter()
        .filter_map(|g| g.tenant.as_deref())
        .map(view)
        .collect();
    Ok(ok_json(&views))
}

/// The tenant a path names by id or name.
fn named(app: &App, id: &str) -> Result<Arc<TenantInfo>, ApiError> {
    match app.handles.live.resolve_admin(Some(id)) {
        Resolved::Tenant(g) => g.tenant.clone(),
        Resolved::Default | Resolved::Unknown => None,
    }
    .ok_or_else(|| ApiError::unknown_tenant(id))
}

pub async fn get(app: &App, id: &str) -> Result<Resp, ApiError> {
    Ok(ok_json(&view(&*named(app, id)?)))
}

/// Checks `next` against the declaration rules and every other tenant, then builds it.
async fn prepare(app: &App, next: TenantInfo) -> Result<(Arc<Deps>, TenantInfo), ApiError> {
    let live = &app.handles.live;
    let next = tenancy::check(next)?;
    let base = live.deps();
    let mut all: Vec<TenantInfo> = live
        .tenants()
        .iter()
        .filter_map(|g| g.tenant.as_deref())
        .filter(|t| t.id != next.id)
        .cloned()
        .collect();
    all.push(next.clone());
    tenancy::distinct(&all, &base.public_url)?;
    let deps = tenancy::build(&base, &live.base_raw(), &next).await?;
    Ok((Arc::new(deps), next))
}

/// Puts a stored tenant in force on this node; its view.
fn install(app: &App, deps: Arc<Deps>, stored: TenantInfo, status: StatusCode) -> Resp {
    let resp = json_response(status, &view(&stored));
    app.handles
        .live
        .install(Arc::new(Generation::for_tenant(deps, stored)));
    resp
}

/// `POST /admin/tenants`: 201 with the tenant, in force on this node.
pub async fn create(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let b = body(req)?;
    let t = TenantInfo {
        id: b.id.unwrap_or_else(Uuid::new_v4),
        name: b.name,
        base_url: b.base_url,
        hosts: b.hosts,
        config: b.config,
        source: Source::Api,
        created_at: None,
        updated_at: None,
    };
    if app.handles.live.by_nid(t.id).is_some() {
        return Err(ApiError::conflict(format!(
            "A tenant or network with id {} exists.",
            t.id
        )));
    }
    let (deps, t) = prepare(app, t).await?;
    let stored = tenancy::create(&app.handles.live.deps().store, t)
        .await
        .map_err(tenant_store_error)?;
    Ok(install(app, deps, stored, StatusCode::CREATED))
}

/// `PUT /admin/tenants/{id}`: replaces the tenant's name, URLs and overlay; its id stays.
pub async fn update(app: &App, id: &str, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let current = named(app, id)?;
    if current.source == Source::Config {
        return Err(ApiError::declared_in_file(&current.name));
    }
    let b = body(req)?;
    if b.id.is_some_and(|i| i != current.id) {
        return Err(ApiError::bad_request(
            "A tenant's id cannot change.".to_owned(),
        ));
    }
    let t = TenantInfo {
        name: b.name,
        base_url: b.base_url,
        hosts: b.hosts,
        config: b.config,
        ..(*current).clone()
    };
    let (deps, t) = prepare(app, t).await?;
    let base = app.handles.live.deps();
    let stored = tenancy::update(&base.store, t)
        .await
        .map_err(tenant_store_error)?
        .ok_or_else(|| ApiError::unknown_tenant(id))?;
    // Cached whoami answers were rendered under the tenant's previous configuration.
    base.session_cache.clear();
    Ok(install(app, deps, stored, StatusCode::OK))
}

/// `DELETE /admin/tenants/{id}[?purge=true]`: 204. Without `purge` a tenant with identities is
/// refused (409); with it every row of the tenant's network is deleted.
pub async fn delete(app: &App, id: &str, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let current = named(app, id)?;
    if current.source == Source::Config {
        return Err(ApiError::declared_in_file(&current.name));
    }
    let q = query_pairs(req);
    let purge = match query_one(&q, "purge") {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "The query parameter purge must be true or false, not {v:?}."
            )));
        }
    };
    let base = app.handles.live.deps();
    match tenancy::delete(&base.store, current.id, purge)
        .await
        .map_err(tenant_store_error)?
    {
        DeleteOutcome::Deleted | DeleteOutcome::NotFound => {}
        DeleteOutcome::HasIdentities(n) => {
            return Err(ApiError::conflict(format!(
                "The tenant still has {n} identities; delete them first, or delete the tenant with purge=true to remove all its data."
            )));
        }
    }
    app.handles.live.remove(current.id);
    base.session_cache.clear();
    Ok(empty(StatusCode::NO_CONTENT))
}
