//! Readiness: the database answers and its schema is what this binary expects.

use crate::deps::Deps;

pub async fn readiness(deps: &Deps) -> Result<(), String> {
    deps.store
        .ping()
        .await
        .map_err(|e| format!("the database is unreachable: {e}"))?;
    let pending = deps
        .store
        .pending_migrations()
        .await
        .map_err(|e| format!("the database is unreachable: {e}"))?;
    if !pending.is_empty() {
        return Err(format!(
            "the database schema is behind ({} migrations pending); run `gatehouse migrate sql -e --yes`",
            pending.len()
        ));
    }
    Ok(())
}
