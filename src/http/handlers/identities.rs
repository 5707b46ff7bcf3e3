//! The admin identity API.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::http::App;
use crate::http::error::ApiError;
use crate::http::extract::{identity_id, json_body, query_all, query_one, query_pairs};
use crate::http::respond::{Resp, empty, json_response, ok_json};
use crate::identity::Identity;
use crate::identity::schema::normalize_identifier;
use crate::identity::service::{
    self, CreateIdentityBody, IdentityError, ListParams, UpdateIdentityBody, decode,
};
use crate::store::identities::ListFilter;

const TOKEN_PREFIX: &str = "v1:";

fn encode_token(after: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{after}"))
}

fn decode_token(token: &str) -> Result<Uuid, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "The page_token is invalid; use the token from the Link header of the previous page.",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    s.strip_prefix(TOKEN_PREFIX)
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or_else(bad)
}

fn base(app: &App) -> String {
    app.handles.deps().public_base().to_owned()
}

/// Flattens a pool result into the handler's result.
fn done<T>(r: Result<Result<T, IdentityError>, crate::actors::CallError>) -> Result<T, ApiError> {
    Ok(r??)
}

fn include_credentials(q: &[(String, String)]) -> Vec<String> {
    query_all(q, "include_credential")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_page_size(q: &[(String, String)]) -> Result<i64, ApiError> {
    match query_one(q, "page_size").or_else(|| query_one(q, "per_page")) {
        None => Ok(service::DEFAULT_PAGE_SIZE),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(n.min(service::MAX_PAGE_SIZE)),
            _ => Err(ApiError::bad_request(format!(
                "page_size must be a whole number between 1 and {}, got {v:?}.",
                service::MAX_PAGE_SIZE
            ))),
        },
    }
}

pub async fn list(app: &App, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let q = query_pairs(req);
    let page_size = parse_page_size(&q)?;
    let after = query_one(&q, "page_token").map(decode_token).transpose()?;
    if let Some(p) = query_one(&q, "page")
        && !matches!(p, "0" | "1")
    {
        return Err(ApiError::bad_request(
            "Offset pagination (page) is not supported; follow the page_token in the Link header instead.",
        ));
    }
    if let Some(c) = query_one(&q, "consistency")
        && !matches!(c, "strong" | "eventual")
    {
        return Err(ApiError::bad_request(format!(
            "consistency must be \"strong\" or \"eventual\", got {c:?}."
        )));
    }
    if query_one(&q, "organization_id").is_some() {
        return Err(ApiError::bad_request(
            "Filtering identities by organization_id is not supported yet.",
        ));
    }
    let ids: Vec<&str> = query_all(&q, "ids")
        .flat_map(|v| v.split(','))
        .filter(|v| !v.is_empty())
        .collect();
    let ident = query_one(&q, "credentials_identifier");
    let similar = query_one(&q, "preview_credentials_identifier_similar");
    let given = [!ids.is_empty(), ident.is_some(), similar.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(ApiError::bad_request(
            "ids, credentials_identifier and preview_credentials_identifier_similar cannot be combined.",
        ));
    }
    let filter = if !ids.is_empty() {
        if ids.len() > service::MAX_IDS_FILTER {
            return Err(ApiError::bad_request(format!(
                "At most {} ids may be requested at once.",
                service::MAX_IDS_FILTER
            )));
        }
        let parsed = ids
            .iter()
            .map(|s| {
                Uuid::parse_str(s).map_err(|_| {
                    ApiError::bad_request(format!("ids contains {s:?}, which is not a valid UUID."))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        ListFilter::Ids(parsed)
    } else if let Some(i) = ident {
        // Schema-derived identifiers are stored normalised, others (OIDC subjects) as given.
        ListFilter::CredentialsIdentifier {
            normalized: normalize_identifier(i, None),
            exact: i.to_owned(),
            normalized_types: service::NORMALIZED_IDENTIFIER_TYPES
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
        }
    } else if let Some(s) = similar {
        ListFilter::IdentifierSimilar(s.trim().to_lowercase())
    } else {
        ListFilter::All
    };
    let include = include_credentials(&q);
    let params = ListParams {
        page_size,
        after,
        filter,
        include_credentials: include.clone(),
    };
    let (items, next) = done(app.handles.identities.list(params).await)?;
    let deps = app.handles.deps();
    let body: Vec<Value> = items
        .into_iter()
        .map(|mut i| {
            i.declassify(&include, &deps.cipher);
            i.to_json(
                deps.public_base(),
                if include.is_empty() {
                    None
                } else {
                    Some(&include)
                },
            )
        })
        .collect();
    let mut resp = ok_json(&body);
    let admin = deps.admin_url.trim_end_matches('/');
    let mut link = format!("<{admin}/admin/identities?page_size={page_size}>; rel=\"first\"");
    if let Some(next) = next {
        link.push_str(&format!(
            ",<{admin}/admin/identities?page_size={page_size}&page_token={}>; rel=\"next\"",
            encode_token(next)
        ));
    }
    if let Ok(v) = HeaderValue::from_str(&link) {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

pub async fn create(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let body: CreateIdentityBody = decode(json_body(req)?)?;
    let ident = done(app.handles.identities.create(body).await)?;
    Ok(json_response(
        StatusCode::CREATED,
        &ident.to_json(&base(app), Some(&[])),
    ))
}

pub async fn batch(app: &App, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let body = json_body(req)?;
    let Some(list) = body.get("identities").and_then(Value::as_array) else {
        return Err(ApiError::bad_request(
            "The body must be an object with an \"identities\" array.",
        ));
    };
    if list.len() > service::BATCH_LIMIT {
        return Err(ApiError::bad_request(format!(
            "A batch may hold at most {} identities; this one holds {}.",
            service::BATCH_LIMIT,
            list.len()
        )));
    }
    let mut items = Vec::with_capacity(list.len());
    for item in list {
        let patch_id = match item.get("patch_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Uuid::parse_str(s).map_err(|_| {
                ApiError::bad_request(format!("patch_id {s:?} is not a valid UUID."))
            })?),
            Some(_) => return Err(ApiError::bad_request("patch_id must be a UUID string.")),
        };
        let create = match item.get("create") {
            Some(c) if c.is_object() => decode::<CreateIdentityBody>(c.clone()),
            _ => Err(IdentityError::BadRequest(
                "Each batch item needs a \"create\" object.".into(),
            )),
        };
        items.push((patch_id, create));
    }
    let outcomes = done(app.handles.identities.batch(items).await)?;
    let out: Vec<Value> = outcomes
        .into_iter()
        .map(|o| {
            let mut v = match o.result {
                Ok(id) => json!({ "action": "create", "identity": id }),
                Err(e) => {
                    json!({ "action": "error", "error": ApiError::from(e).body()["error"].clone() })
                }
            };
            if let Some(p) = o.patch_id {
                v["patch_id"] = json!(p);
            }
            v
        })
        .collect();
    Ok(ok_json(&json!({ "identities": out })))
}

pub async fn get(app: &App, id: &str, req: &Request<Bytes>) -> Result<Resp, ApiError> {
    let id = identity_id(id)?;
    let include = include_credentials(&query_pairs(req));
    let ident = done(app.handles.identities.get(id, true).await)?;
    Ok(ok_json(&declassified(app, ident, &include)))
}

pub async fn get_by_external_id(
    app: &App,
    ext: String,
    req: &Request<Bytes>,
) -> Result<Resp, ApiError> {
    let include = include_credentials(&query_pairs(req));
    let ident = done(app.handles.identities.get_by_external_id(ext, true).await)?;
    Ok(ok_json(&declassified(app, ident, &include)))
}

/// One identity with the credentials `include` names shown, decrypted where stored encrypted.
fn declassified(app: &App, mut ident: Identity, include: &[String]) -> Value {
    let deps = app.handles.deps();
    ident.declassify(include, &deps.cipher);
    ident.to_json(deps.public_base(), Some(include))
}

pub async fn update(app: &App, id: &str, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = identity_id(id)?;
    let body: UpdateIdentityBody = decode(json_body(req)?)?;
    let ident = done(app.handles.identities.update(id, body).await)?;
    Ok(ok_json(&ident.to_json(&base(app), Some(&[]))))
}

pub async fn patch(app: &App, id: &str, req: Request<Bytes>) -> Result<Resp, ApiError> {
    let id = identity_id(id)?;
    let body = json_body(req)?;
    let patch: json_patch::Patch = serde_path_to_error::deserialize(body).map_err(|e| {
        ApiError::bad_request(format!(
            "The body is not a valid JSON Patch (RFC 6902) at {}: {}",
            e.path(),
            e.inner()
        ))
    })?;
    let ident = done(app.handles.identities.patch(id, patch).await)?;
    Ok(ok_json(&ident.to_json(&base(app), Some(&[]))))
}

pub async fn delete(app: &App, id: &str) -> Result<Resp, ApiError> {
    let id = identity_id(id)?;
    done(app.handles.identities.delete(id).await)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn delete_credential(
    app: &App,
    id: &str,
    kind: String,
    req: &Request<Bytes>,
) -> Result<Resp, ApiError> {
    let id = identity_id(id)?;
    let q = query_pairs(req);
    let identifier = query_one(&q, "identifier").map(str::to_owned);
    done(
        app.handles
            .identities
            .delete_credential(id, kind, identifier)
            .await,
    )?;
    Ok(empty(StatusCode::NO_CONTENT))
}
