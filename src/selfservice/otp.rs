//! One-time codes and link tokens: generation (CSPRNG), the keyed hash they are stored as,
//! and the messages that carry them. A code or token never reaches a log or the database in
//! clear.

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha512_256;

use crate::deps::Deps;

/// Six decimal digits, as Kratos's code method sends.
pub fn new_code() -> String {
    let n: u32 = rand::rng().random_range(0..1_000_000);
    format!("{n:06}")
}

/// 32 alphanumeric characters, as Kratos's link method sends.
pub fn new_link_token() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// hex(HMAC-SHA512/256(secret, value)), Kratos's keyed hash for codes and tokens.
fn keyed_hash(secret: &str, value: &str) -> String {
    let mut mac = <Hmac<Sha512_256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash a new code is stored under: keyed with the first (signing) secret.
pub fn hash_for_storage(deps: &Deps, value: &str) -> String {
    keyed_hash(
        deps.cookie_secrets
            .first()
            .map(String::as_str)
            .unwrap_or(""),
        value,
    )
}

/// The hashes a submitted code may be stored under, one per secret, so codes issued before a
/// secret rotation still work.
pub fn candidate_hashes(deps: &Deps, value: &str) -> Vec<String> {
    deps.cookie_secrets
        .iter()
        .map(|s| keyed_hash(s, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_tokens_have_kratos_shapes() {
        for _ in 0..50 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|ch| ch.is_ascii_digit()));
            let t = new_link_token();
            assert_eq!(t.len(), 32);
            assert!(t.chars().all(|ch| ch.is_ascii_alphanumeric()));
        }
        let h = keyed_hash("secret", "123456");
        assert_eq!(h.len(), 64);
        assert_ne!(h, keyed_hash("other", "123456"));
    }
}

/// Which message template a mail uses (Kratos's template types).
pub use crate::courier::TemplateType as Template;

/// A message to queue: channel, recipient and Kratos-named template data (`To`,
/// `RecoveryCode`, …).
#[derive(Clone, Debug)]
pub struct Mail {
    pub template: Template,
    pub channel: crate::courier::Channel,
    pub to: String,
    pub data: serde_json::Value,
}

impl Mail {
    pub fn email(template: Template, to: impl Into<String>, data: serde_json::Value) -> Mail {
        Mail {
            template,
            channel: crate::courier::Channel::Email,
            to: to.into(),
            data,
        }
    }
}

/// Renders mails into `queued` courier rows, for the caller to store in its own transaction.
pub fn render(
    deps: &Deps,
    mails: Vec<Mail>,
) -> Result<Vec<crate::store::courier::MessageRow>, String> {
    mails
        .into_iter()
        .map(|m| crate::selfservice::otp_courier::render(deps, m))
        .collect()
}
