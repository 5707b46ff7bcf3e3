//! Fire-and-forget web hooks (`response.ignore: true`) as durable deliveries: the flow queues a
//! row with the evaluated body and carries on; the `Webhooks` actor's timer claims due rows and
//! calls [`deliver`]. A failed attempt (connection error, timeout, non-2xx answer) is retried
//! with exponential backoff until [`MAX_ATTEMPTS`] are used; rows survive restarts.

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use uuid::Uuid;

use super::client::{self, HOOK_TIMEOUT};
use crate::deps::Deps;
use crate::store::StoreError;
use crate::store::id::DbId;
use crate::store::webhooks::{self as rows, DeliveryRow, DeliveryStatus, Outcome};

/// How long one claim holds a delivery; longer than [`HOOK_TIMEOUT`], so a live node is never
/// overtaken by a second claim while it is still waiting for the receiver.
pub const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a delivery is abandoned (about 38 minutes of retrying with [`backoff`]).
pub const MAX_ATTEMPTS: u32 = 15;
/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Deliveries one node holds at a time.
pub const BATCH: i64 = 16;

/// Delay before attempt `attempts + 1`.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << exp).min(MAX_BACKOFF)
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// Queues one delivery, due at once.
pub async fn enqueue(
    deps: &Deps,
    hook: &str,
    url: &str,
    method: &str,
    body: Option<&str>,
) -> Result<(), StoreError> {
    let ts = now();
    let row = DeliveryRow {
        id: DbId(Uuid::now_v7()),
        nid: DbId(deps.store.nid()),
        hook: hook.to_owned(),
        url: url.to_owned(),
        method: method.to_owned(),
        body: body.map(str::to_owned),
        status: DeliveryStatus::Queued,
        attempts: 0,
        next_attempt_at: ts,
        claimed_until: None,
        claim_id: None,
        last_error: None,
        created_at: ts,
        updated_at: ts,
    };
    rows::insert(&deps.store, &row).await?;
    tracing::debug!(delivery_id = %row.id, hook = %hook, "queued a web hook delivery");
    Ok(())
}

/// Claims this node's next batch: (claim id, rows).
pub async fn claim_batch(deps: &Deps) -> Result<(Uuid, Vec<DeliveryRow>), StoreError> {
    let claim_id = Uuid::new_v4();
    let ts = now();
    let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX);
    let rows = rows::claim(&deps.store, claim_id, ts, ts + lease, BATCH).await?;
    Ok((claim_id, rows))
}

/// One attempt; `Err` says why it failed (never the body).
async fn attempt(deps: &Deps, row: &DeliveryRow) -> Result<(), String> {
    // Headers and auth come from the configuration, so secrets are never stored in the row.
    let cfg = super::web_hook_at(&deps.config, &row.hook)
        .filter(|c| c.url == row.url)
        .ok_or_else(|| "the web hook is no longer configured at this path".to_owned())?;
    let req = client::request(
        &deps.webhooks.client,
        &cfg,
        &row.url,
        &row.method,
        row.body.as_deref(),
    )?;
    match tokio::time::timeout(HOOK_TIMEOUT, req.send()).await {
        Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
        Ok(Ok(resp)) => Err(format!("the receiver answered {}", resp.status().as_u16())),
        Ok(Err(e)) if !e.is_timeout() => Err(format!(
            "the receiver could not be reached: {}",
            crate::outbound::explain(&e.without_url())
        )),
        _ => Err(format!(
            "the receiver did not answer within {} seconds",
            HOOK_TIMEOUT.as_secs()
        )),
    }
}

/// Delivers one claimed row and records the outcome. Logs ids and hook paths only.
pub async fn deliver(deps: &Deps, row: &DeliveryRow, claim_id: Uuid) {
    let attempts = u32::try_from(row.attempts).unwrap_or(0);
    let outcome = if attempts > MAX_ATTEMPTS {
        // Reclaimed after lapsed leases more often than it may be tried: a crash loop.
        Outcome::Failed {
            error: "out of attempts".into(),
            retry_at: None,
        }
    } else {
        match attempt(deps, row).await {
            Ok(()) => Outcome::Delivered,
            Err(error) => {
                let retry_at = (attempts < MAX_ATTEMPTS).then(|| {
                    now()
                        + chrono::Duration::from_std(backoff(attempts))
                            .unwrap_or(chrono::Duration::MAX)
                });
                tracing::warn!(
                    delivery_id = %row.id,
                    hook = %row.hook,
                    attempts,
                    abandoned = retry_at.is_none(),
                    error = %error,
                    "web hook delivery failed"
                );
                Outcome::Failed { error, retry_at }
            }
        }
    };
    match rows::finish(&deps.store, row.id.0, claim_id, &outcome, now()).await {
        Ok(true) => {
            if matches!(outcome, Outcome::Delivered) {
                tracing::debug!(delivery_id = %row.id, hook = %row.hook, "web hook delivered");
            }
        }
        Ok(false) => tracing::warn!(
            delivery_id = %row.id,
            "web hook delivery was reclaimed by another node before its outcome was recorded"
        ),
        // The row stays `processing` until its lease lapses, then it is tried again.
        Err(e) => {
            tracing::error!(delivery_id = %row.id, error = %e, "recording a web hook outcome failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(12), MAX_BACKOFF);
        assert_eq!(backoff(1000), MAX_BACKOFF);
    }
}
