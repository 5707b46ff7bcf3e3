//! The bridge from flow mails to the courier: a mail becomes a queued courier message.

use super::otp::Mail;
use crate::courier::{self, Channel, NewMessage};
use crate::deps::Deps;

pub async fn enqueue(deps: &Deps, m: Mail) -> Result<(), String> {
    // Errors name the template, never the recipient or the code.
    courier::enqueue(
        deps,
        NewMessage {
            channel: Channel::Email,
            recipient: m.to,
            template: m.template,
            data: m.data,
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("queueing a {} message failed: {e}", m.template.as_str()))
}
