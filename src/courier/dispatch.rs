//! Claiming and delivering queued messages: the I/O half of the courier, driven by the
//! `Courier` actor. Retry policy lives here: every claim is an attempt; a failed attempt goes
//! back to `queued` with exponential backoff (base `courier.worker.pull_wait`, capped at 60×
//! that), and once a message has used `message_retries + 1` attempts it is `abandoned`
//! (Kratos's rule: abandoned when `send_count > message_retries`).

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use uuid::Uuid;

use super::http;
use super::smtp::SmtpSender;
use super::{CourierError, SendError};
use crate::config::{ChannelId, Courier as CourierConfig, DeliveryStrategy, HttpClient};
use crate::deps::Deps;
use crate::outbound::{Options, Outbound};
use crate::store::courier::{self as rows, MessageRow, Outcome};

/// How long one claim holds a message. Must exceed [`SEND_TIMEOUT`], so a live node is never
/// overtaken by a second claim while it is still talking to the server.
pub const LEASE: Duration = Duration::from_secs(30);
/// Upper bound on one delivery attempt (connect, TLS, SMTP dialogue or HTTP round trip).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// The channels, built once from `courier.*` when the courier starts.
pub struct Senders {
    config: CourierConfig,
    smtp: Result<SmtpSender, String>,
    http: Outbound,
    /// The body template of `courier.http.request_config`.
    email_body: http::Body,
    /// The body template of each `courier.channels[]` entry, in order.
    channel_bodies: Vec<http::Body>,
}

impl Senders {
    /// Builds the channels and loads their Jsonnet body templates.
    pub async fn load(config: &CourierConfig, clients: &HttpClient) -> Senders {
        let http = Outbound::new(
            clients,
            Options {
                timeout: SEND_TIMEOUT,
                follow_redirects: true,
                user_agent: false,
            },
        )
        // Deps::build already built a client from the same settings (web hooks) and stops
        // start-up and reloads when it cannot, so this cannot fail here.
        .expect("the courier HTTP client builds");
        let email_body = match &config.http.request_config {
            Some(rc) if config.delivery_strategy == DeliveryStrategy::Http => {
                http::Body::load("courier.http.request_config", rc, clients).await
            }
            _ => http::Body::Default,
        };
        let mut channel_bodies = Vec::new();
        for (i, c) in config.channels.iter().enumerate() {
            let what = format!("courier.channels[{i}].request_config");
            channel_bodies.push(http::Body::load(&what, &c.request_config, clients).await);
        }
        Senders {
            smtp: SmtpSender::from_config(&config.smtp, SEND_TIMEOUT),
            config: config.clone(),
            http,
            email_body,
            channel_bodies,
        }
    }

    /// Configuration problems worth a warning at start-up (each message on such a channel will
    /// fail with the same text as its dispatch error).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.config.delivery_strategy == DeliveryStrategy::Smtp
            && let Err(e) = &self.smtp
        {
            out.push(format!("email cannot be sent: {e}"));
        }
        if !self.config.smtp.client_cert_path.is_empty()
            || !self.config.smtp.client_key_path.is_empty()
        {
            out.push("courier.smtp.client_cert_path/client_key_path are not supported yet; connecting without a client certificate".into());
        }
        if self.config.delivery_strategy == DeliveryStrategy::Http
            && self.config.http.request_config.is_none()
        {
            out.push(
                "courier.delivery_strategy is http but courier.http.request_config is not set"
                    .into(),
            );
        }
        for b in std::iter::once(&self.email_body).chain(&self.channel_bodies) {
            if let http::Body::Broken(e) = b {
                out.push(format!("{e}; messages on this channel will fail"));
            }
        }
        out
    }

    async fn send(&self, m: &MessageRow) -> Result<(), SendError> {
        if m.channel == "email" {
            return match self.config.delivery_strategy {
                DeliveryStrategy::Smtp => match &self.smtp {
                    Ok(s) => {
                        s.send(&m.recipient, &m.subject, &m.body, m.html_body.as_deref())
                            .await
                    }
                    Err(e) => Err(SendError::permanent(e.clone())),
                },
                DeliveryStrategy::Http => match &self.config.http.request_config {
                    Some(rc) => http::send(&self.http, rc, &self.email_body, m).await,
                    None => Err(SendError::permanent(
                        "courier.delivery_strategy is http but courier.http.request_config is not set",
                    )),
                },
            };
        }
        let channel =
            self.config
                .channels
                .iter()
                .zip(&self.channel_bodies)
                .find(|(c, _)| match c.id {
                    ChannelId::Sms => m.channel == "sms",
                });
        match channel {
            Some((c, body)) => http::send(&self.http, &c.request_config, body, m).await,
            None => Err(SendError::permanent(format!(
                "no courier channels configured for: {}",
                m.channel
            ))),
        }
    }
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, capped at `60 · base`.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let base = base.max(Duration::from_millis(10));
    let exp = attempts.saturating_sub(1).min(16);
    base.saturating_mul(1 << exp).min(base.saturating_mul(60))
}

/// Claims the next batch for this node. Returns the claim id and the rows.
pub async fn claim_batch(deps: &Deps) -> Result<(Uuid, Vec<MessageRow>), CourierError> {
    let cfg = &deps.config.courier.worker;
    let claim_id = Uuid::new_v4();
    let now = Utc::now().naive_utc();
    let lease_until = now + chrono_dur(LEASE);
    let limit = i64::from(cfg.pull_count.max(1));
    let rows = rows::claim(&deps.store, claim_id, now, lease_until, limit).await?;
    Ok((claim_id, rows))
}

/// Delivers one claimed message and records the outcome. Logs ids, never recipients or bodies.
pub async fn deliver(deps: &Deps, senders: &Senders, m: &MessageRow, claim_id: Uuid) {
    let cfg = &deps.config.courier;
    let attempts = u32::try_from(m.send_count).unwrap_or(0);
    let max_attempts = cfg.message_retries.saturating_add(1);
    let outcome = if attempts > max_attempts {
        // Reclaimed after a lapsed lease more often than it may be tried: a crash loop.
        tracing::warn!(message_id = %m.id, attempts, "abandoning courier message: out of attempts");
        Outcome::Abandoned
    } else {
        let result = match tokio::time::timeout(SEND_TIMEOUT, senders.send(m)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::transient("the delivery attempt timed out")),
        };
        match result {
            Ok(()) => Outcome::Sent,
            Err(e) => {
                let retry_at = (attempts < max_attempts)
                    .then(|| now() + chrono_dur(backoff(cfg.worker.pull_wait.get(), attempts)));
                tracing::warn!(
                    message_id = %m.id,
                    channel = %m.channel,
                    attempts,
                    permanent = e.permanent,
                    abandoned = retry_at.is_none(),
                    "courier message delivery failed"
                );
                Outcome::Failed {
                    error: e.to_json(),
                    retry_at,
                }
            }
        }
    };
    match rows::finish(&deps.store, m.id.0, claim_id, &outcome, now()).await {
        Ok(true) => {
            if matches!(outcome, Outcome::Sent) {
                tracing::debug!(message_id = %m.id, "courier message sent");
            }
        }
        Ok(false) => tracing::warn!(
            message_id = %m.id,
            "courier message was reclaimed by another node before its outcome was recorded"
        ),
        // The row stays `processing` until its lease lapses, then it is tried again.
        Err(e) => {
            tracing::error!(message_id = %m.id, error = %e, "recording a courier outcome failed")
        }
    }
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 1), Duration::from_secs(1));
        assert_eq!(backoff(b, 2), Duration::from_secs(2));
        assert_eq!(backoff(b, 4), Duration::from_secs(8));
        assert_eq!(backoff(b, 10), Duration::from_secs(60));
        assert_eq!(backoff(b, 1000), Duration::from_secs(60));
    }
}
