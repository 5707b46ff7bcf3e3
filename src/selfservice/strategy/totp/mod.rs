//! TOTP authenticator apps (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps, 20-byte secrets, one
//! step of skew either way), as Kratos's `totp` method: linked in the settings flow, used as a
//! second factor in `aal=aal2` login flows.
//!
//! The credential (type `totp`, no identifiers) keeps Kratos's config `{totp_url}`, the
//! `otpauth://` URL the QR code encodes. Unlike Kratos, a code is accepted once per identity
//! and time step: the step is recorded under an id derived from both, so a replay within the
//! code's window is refused even across nodes (RFC 6238 §5.2).

mod login;
mod settings;

use base64::Engine;
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret};
use uuid::Uuid;

use crate::deps::Deps;
use crate::identity::{Credential, CredentialType, Identity, now};
use crate::selfservice::flow::FlowError;
use crate::store::id::DbId;
use crate::store::tokens::{self, TokenRow};

pub struct Totp;

/// The kind the used time steps are recorded as.
const STEP_KIND: &str = "totp_step";
/// RFC 6238 defaults, which every authenticator app understands.
const DIGITS: u8 = 6;
const STEP_SECONDS: u64 = 30;
const SKEW: u16 = 1;
/// The QR image's size in pixels, as Kratos draws it.
const QR_SIZE: u32 = 256;

/// `selfservice.methods.totp.config.issuer`, else the public URL's host (Kratos's fallback).
fn issuer(deps: &Deps) -> String {
    deps.config
        .selfservice
        .methods
        .totp
        .config
        .issuer
        .clone()
        .filter(|i| !i.is_empty())
        .or_else(|| {
            url::Url::parse(deps.public_base())
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "Gatehouse".into())
        // The otpauth label separates issuer and account with ':'.
        .replace(':', "")
}

fn builder(secret: Vec<u8>) -> Builder {
    Builder::new()
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECONDS)
        .with_skew(SKEW)
        .with_secret(secret)
}

/// The `otpauth://` URL of `secret` for `account`, and the secret in base32 as shown.
fn key_url(deps: &Deps, account: &str, secret: &Secret) -> Result<(String, String), FlowError> {
    let totp = builder(secret.as_bytes().to_vec())
        .with_account_name(account.replace(':', ""))
        .with_issuer(Some(issuer(deps)))
        .build()
        .map_err(|e| FlowError::Internal(format!("TOTP key: {e}")))?;
    let url = totp
        .to_url()
        .map_err(|e| FlowError::Internal(format!("TOTP URL: {e}")))?;
    Ok((url, secret.to_base32()))
}

/// The key stored in a `totp_url`; `None` when the URL is not one.
fn key_of_url(url: &str) -> Option<totp_rs::Totp> {
    totp_rs::Totp::from_url_unchecked(url).ok()
}

/// The `totp_url` of a linked authenticator.
fn stored_url(identity: &Identity) -> Option<&str> {
    identity
        .credentials
        .get(&CredentialType::Totp)
        .and_then(|c| c.config.get("totp_url"))
        .and_then(|u| u.as_str())
        .filter(|u| !u.is_empty())
}

/// The URL as a PNG QR code in a data URL, for the `totp_qr` image node.
fn qr_data_url(url: &str) -> Result<String, FlowError> {
    let code = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| FlowError::Internal(format!("TOTP QR code: {e}")))?;
    let img = code
        .render::<image::Luma<u8>>()
        .min_dimensions(QR_SIZE, QR_SIZE)
        .build();
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| FlowError::Internal(format!("TOTP QR image: {e}")))?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png.into_inner())
    ))
}

/// Whether `code` is right for the key in `url` now, and its time step was not used by
/// `identity_id` before (recording it).
async fn check_code(
    deps: &Deps,
    identity_id: Uuid,
    url: &str,
    code: &str,
) -> Result<bool, FlowError> {
    let Some(key) = key_of_url(url) else {
        return Err(FlowError::Internal(
            "the stored TOTP credential is not an otpauth URL".into(),
        ));
    };
    let code = code.trim();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(false);
    }
    let Some(step) = key.check_current(code) else {
        return Ok(false);
    };
    Ok(tokens::record_once(&deps.store, &step_row(deps, identity_id, step)).await?)
}

/// The record of `identity_id` using time step `step`; its id is derived from both, so a
/// second record of the same use collides. It expires once the step left every window.
fn step_row(deps: &Deps, identity_id: Uuid, step: u64) -> TokenRow {
    let nid = deps.store.nid();
    let digest = Sha256::digest(format!("gatehouse-totp-step\0{nid}\0{identity_id}\0{step}"));
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    let ts = now().naive_utc();
    let window = chrono::Duration::seconds((STEP_SECONDS * (2 * u64::from(SKEW) + 2)) as i64);
    TokenRow {
        id: DbId(Uuid::from_bytes(id)),
        nid: DbId(nid),
        kind: STEP_KIND.into(),
        flow_id: None,
        identity_id: Some(DbId(identity_id)),
        address: None,
        address_id: None,
        token_hash: crate::hash::lower_hex(&digest),
        used_at: Some(ts),
        expires_at: ts + window,
        created_at: ts,
        updated_at: ts,
    }
}

/// A new `totp` credential holding `url`.
fn credential(url: &str) -> Credential {
    let ts = now();
    Credential {
        id: Uuid::new_v4(),
        kind: CredentialType::Totp,
        identifiers: Vec::new(),
        config: serde_json::json!({ "totp_url": url }),
        version: 0,
        created_at: ts,
        updated_at: ts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_round_trip_with_rfc_parameters() {
        let secret = Secret::generate();
        assert_eq!(secret.as_bytes().len(), 20);
        let url = builder(secret.as_bytes().to_vec())
            .with_account_name("a@example.com")
            .with_issuer(Some("example.org"))
            .build()
            .unwrap()
            .to_url()
            .unwrap();
        assert!(url.starts_with("otpauth://totp/example.org:a%40example.com?"));
        let key = key_of_url(&url).unwrap();
        let code = key.generate_current().to_string();
        assert_eq!(code.len(), 6);
        assert!(key.check_current(&code).is_some());
        assert!(
            qr_data_url(&url)
                .unwrap()
                .starts_with("data:image/png;base64,iVBOR")
        );
    }
}
