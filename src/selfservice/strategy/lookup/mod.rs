//! Lookup secrets (`lookup_secret`): twelve backup recovery codes, each good for one aal2
//! sign-in.
//!
//! Better than Kratos, which keeps the codes in clear in the credential's config: the config
//! holds `{"recovery_codes": [{"hash", "used_at"}]}`, each `hash` the keyed hash the other
//! one-time secrets use ([`otp::hash_for_storage`]), so the codes are shown once, on the
//! screen that generates them (`lookup_secret_regenerate`), and never again. On the wire
//! everything is as in Kratos except what "reveal" can show: the same list node (1050015), a
//! used code as Kratos shows it (1050014), an unused one as [`MASK`] in place of the code
//! (1050009 with `secret: "********"`), so a user still sees how many are left. Credentials
//! carried over from Kratos (codes under `code`, in clear) still sign in.

mod login;
mod settings;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub use login::{Verdict, check_submission, populate_login, verify_and_consume};

use crate::selfservice::otp;
use crate::selfservice::ui::{Group, InputType, UiContainer, UiNode};
use crate::text;

/// The lookup-secret method.
pub struct LookupSecret;

/// How many codes a generation makes, and how long each is (Kratos's numbers).
const NUM_CODES: usize = 12;
const CODE_LEN: usize = 8;
/// Lowercase alphanumerics, as Kratos's `randx.AlphaLowerNum`.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// What an unused code shows as once its generation screen is gone: it is stored hashed.
pub const MASK: &str = "********";

/// The node names of the method (Kratos's `node.Lookup*`).
pub const CODES_NODE: &str = "lookup_secret_codes";
pub const REVEAL: &str = "lookup_secret_reveal";
pub const REGENERATE: &str = "lookup_secret_regenerate";
pub const CONFIRM: &str = "lookup_secret_confirm";
pub const DISABLE: &str = "lookup_secret_disable";
/// The login input.
pub const LOGIN_INPUT: &str = "lookup_secret";

/// A fresh code from the CSPRNG.
fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// A set of fresh codes.
fn new_codes() -> Vec<String> {
    (0..NUM_CODES).map(|_| new_code()).collect()
}

/// Whether `s` has the shape of a code this method generates.
fn is_code(s: &str) -> bool {
    s.len() == CODE_LEN && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// The credential's config.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Codes {
    #[serde(default)]
    recovery_codes: Vec<Code>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Code {
    /// The keyed hash of the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    /// The code in clear: only in credentials Kratos wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    /// When it was used; Kratos writes `null` (or Go's zero time) for an unused code.
    #[serde(default)]
    used_at: Option<DateTime<Utc>>,
}

impl Code {
    fn used(&self) -> Option<DateTime<Utc>> {
        self.used_at.filter(|t| t.timestamp() > 0)
    }
}

impl Codes {
    /// The stored form of freshly generated `codes`.
    fn hashed(deps: &crate::deps::Deps, codes: &[String]) -> Codes {
        Codes {
            recovery_codes: codes
                .iter()
                .map(|c| Code {
                    hash: Some(otp::hash_for_storage(deps, c)),
                    code: None,
                    used_at: None,
                })
                .collect(),
        }
    }

    fn parse(config: &serde_json::Value) -> Codes {
        serde_json::from_value(config.clone()).unwrap_or_default()
    }
}

/// What the list shows for one code.
enum Shown {
    /// A code in clear (only right after generation).
    Code(String),
    /// A code not used yet, whose value is not kept.
    Masked,
    Used(DateTime<Utc>),
}

/// The list of codes as a text node (Kratos's `CredentialsLookupConfig.ToNode`).
fn codes_node(shown: &[Shown]) -> UiNode {
    let mut words = Vec::with_capacity(shown.len());
    let mut secrets = Vec::with_capacity(shown.len());
    for s in shown {
        match s {
            Shown::Code(c) => {
                words.push(c.clone());
                secrets.push(text::settings_lookup_secret(c));
            }
            Shown::Masked => {
                words.push(MASK.to_owned());
                secrets.push(text::settings_lookup_secret(MASK));
            }
            Shown::Used(at) => {
                words.push("used".to_owned());
                secrets.push(text::settings_lookup_secret_used(
                    &at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    at.timestamp(),
                    &at.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
                ));
            }
        }
    }
    UiNode::text(
        CODES_NODE,
        text::settings_lookup_secret_list(&words, secrets),
        Group::LookupSecret,
    )
    .with_label(text::settings_lookup_secret_label())
}

fn button(name: &str, label: text::UiText) -> UiNode {
    UiNode::input(name, Group::LookupSecret, InputType::Submit)
        .with_value("true")
        .with_label(label)
}

fn reveal_node() -> UiNode {
    button(REVEAL, text::settings_reveal_lookup())
}
fn regenerate_node() -> UiNode {
    button(REGENERATE, text::settings_regenerate_lookup())
}
fn confirm_node() -> UiNode {
    button(CONFIRM, text::settings_lookup_confirm())
}
fn disable_node() -> UiNode {
    button(DISABLE, text::settings_disable_lookup())
}

/// Removes every node of the method's settings screens.
fn clear_settings_nodes(ui: &mut UiContainer) {
    ui.remove(&[CODES_NODE, REVEAL, REGENERATE, CONFIRM, DISABLE]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_kratos_shape() {
        let codes = new_codes();
        assert_eq!(codes.len(), 12);
        for c in &codes {
            assert!(is_code(c), "{c}");
        }
        assert!(!is_code("ABCDEFGH"));
        assert!(!is_code("abc"));
        assert!(!is_code(MASK));
    }

    #[test]
    fn list_node_matches_kratos() {
        let at = DateTime::parse_from_rfc3339("2021-08-17T11:32:39Z")
            .unwrap()
            .with_timezone(&Utc);
        let n = codes_node(&[Shown::Code("key-0".into()), Shown::Used(at), Shown::Masked]);
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["type"], "text");
        assert_eq!(v["group"], "lookup_secret");
        assert_eq!(v["attributes"]["id"], CODES_NODE);
        let t = &v["attributes"]["text"];
        assert_eq!(t["id"], 1050015);
        assert_eq!(t["text"], "key-0, used, ********");
        let s = &t["context"]["secrets"];
        assert_eq!(s[0]["id"], 1050009);
        assert_eq!(s[0]["context"]["secret"], "key-0");
        assert_eq!(s[1]["id"], 1050014);
        assert_eq!(
            s[1]["text"],
            "Secret was used at 2021-08-17 11:32:39 +0000 UTC"
        );
        assert_eq!(s[1]["context"]["used_at"], "2021-08-17T11:32:39Z");
        assert_eq!(s[2]["context"]["secret"], MASK);
        assert_eq!(v["meta"]["label"]["id"], 1050010);
    }

    #[test]
    fn kratos_configs_read() {
        let c = Codes::parse(&serde_json::json!({"recovery_codes": [
            {"code": "abcdefgh", "used_at": null},
            {"code": "bcdefghi", "used_at": "0001-01-01T00:00:00Z"},
            {"code": "cdefghij", "used_at": "2021-08-17T11:32:39Z"},
        ]}));
        let used: Vec<bool> = c
            .recovery_codes
            .iter()
            .map(|c| c.used().is_some())
            .collect();
        assert_eq!(used, [false, false, true]);
    }
}
