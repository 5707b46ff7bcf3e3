//! Failed second-factor attempts, counted per identity across flows and nodes (Kratos has no
//! such limit): after `LIMIT` failures within `WINDOW`, every second factor of the identity is
//! refused until the oldest failure ages out. A fresh flow does not reset the count, so guessing
//! six-digit codes costs a window per `LIMIT` guesses; a success clears it.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::deps::Deps;
use crate::identity::now;
use crate::store::StoreError;
use crate::store::id::DbId;
use crate::store::tokens::{self, TokenRow};
use crate::text;

const KIND: &str = "second_factor_failure";
/// Failures allowed per identity within the window.
pub const LIMIT: i64 = 10;
const WINDOW_MINUTES: i64 = 15;

/// Whether the identity's second factors are refused for now.
pub async fn locked(deps: &Deps, identity_id: Uuid) -> Result<bool, StoreError> {
    let n = tokens::count_live(&deps.store, identity_id, KIND, now().naive_utc()).await?;
    Ok(n >= LIMIT)
}

/// Counts one failed attempt.
pub async fn record_failure(deps: &Deps, identity_id: Uuid) -> Result<(), StoreError> {
    let ts = now().naive_utc();
    let id = Uuid::new_v4();
    let row = TokenRow {
        id: DbId(id),
        nid: DbId(deps.store.nid()),
        kind: KIND.into(),
        flow_id: None,
        identity_id: Some(DbId(identity_id)),
        address: None,
        address_id: None,
        // Unique per row; nothing is looked up by it.
        token_hash: crate::hash::lower_hex(&Sha256::digest(id.as_bytes())),
        used_at: Some(ts),
        expires_at: ts + chrono::Duration::minutes(WINDOW_MINUTES),
        created_at: ts,
        updated_at: ts,
    };
    // Also drops the identity's expired failures.
    tokens::record_once(&deps.store, &row).await?;
    Ok(())
}

/// A success starts the count afresh.
pub async fn clear(deps: &Deps, identity_id: Uuid) -> Result<(), StoreError> {
    tokens::delete_for_identity(&deps.store, identity_id, KIND).await
}

/// What a refused attempt shows on the flow.
pub fn locked_message() -> text::UiText {
    text::validation_generic(
        "Too many failed attempts with a second factor. Please try again in a few minutes.",
    )
}
