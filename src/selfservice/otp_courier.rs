//! The bridge from flow mails to the courier: a mail becomes a queued courier row.

use super::otp::Mail;
use crate::courier::{self, NewMessage};
use crate::deps::Deps;
use crate::store::courier::MessageRow;

pub fn render(deps: &Deps, m: Mail) -> Result<MessageRow, String> {
    let template = m.template;
    // Errors name the template, never the recipient or the code.
    courier::render_row(
        deps,
        &NewMessage {
            channel: m.channel,
            recipient: m.to,
            template: m.template,
            data: m.data,
        },
    )
    .map_err(|e| format!("queueing a {} message failed: {e}", template.as_str()))
}
