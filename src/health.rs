//! Readiness: the database answers, its schema is what this binary expects, and every identity
//! schema has loaded.

use crate::deps::Deps;

/// Why the node is not ready: the failing check's name and its reason.
pub type NotReady = (&'static str, String);

pub async fn readiness(deps: &Deps) -> Result<(), NotReady> {
    let database = |e| ("database", format!("the database is unreachable: {e}"));
    deps.store.ping().await.map_err(database)?;
    let pending = deps.store.pending_migrations().await.map_err(database)?;
    if !pending.is_empty() {
        return Err((
            "database",
            format!(
                "the database schema is behind ({} migrations pending); run `gatehouse migrate sql -e --yes`",
                pending.len()
            ),
        ));
    }
    // A schema served over HTTP that was down at start-up is tried again here, so a probe
    // sees the node become ready as soon as it can be.
    if !deps.schemas.pending().is_empty() {
        deps.schemas
            .load_pending()
            .await
            .map_err(|e| ("identity_schemas", e.to_string()))?;
    }
    Ok(())
}
