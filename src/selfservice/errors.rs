//! Errors shown to browsers: stored so the error UI can fetch them by id
//! (`GET /self-service/errors?id=`), as Kratos does.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::deps::Deps;
use crate::identity::now;
use crate::store::StoreError;
use crate::store::flows::{self as q, ErrorRow};
use crate::store::id::DbId;

/// Stores `error` (the envelope's inner object) and returns its id.
pub async fn store(deps: &Deps, error: &Value) -> Result<Uuid, StoreError> {
    let id = Uuid::new_v4();
    let ts = now().naive_utc();
    q::insert_error(
        &deps.store,
        &ErrorRow {
            id: DbId(id),
            nid: DbId(deps.store.nid()),
            error: error.to_string(),
            csrf_token: String::new(),
            created_at: ts,
            updated_at: ts,
        },
    )
    .await?;
    Ok(id)
}

/// The `flowError` object, or `None` when unknown.
pub async fn get(deps: &Deps, id: Uuid) -> Result<Option<Value>, StoreError> {
    Ok(q::get_error(&deps.store, id).await?.map(|r| {
        json!({
            "id": r.id.0,
            "error": serde_json::from_str::<Value>(&r.error).unwrap_or(Value::Null),
            "created_at": r.created_at.and_utc(),
            "updated_at": r.updated_at.and_utc(),
        })
    }))
}
