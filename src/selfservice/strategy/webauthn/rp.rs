//! The start-up (and reload) check of the WebAuthn relying parties. Apart from the strategies,
//! so that building the dependencies does not depend on them.

use crate::config::Config;
use crate::selfservice::strategy::webauthn_ceremony::RelyingParty;

/// Checks the relying party of every enabled WebAuthn method (`webauthn`, `passkey`), so a
/// configuration without one is refused at start-up and on reload instead of failing each
/// ceremony. The error names the key.
pub fn check_config(cfg: &Config) -> Result<(), String> {
    let m = &cfg.selfservice.methods;
    if m.webauthn.enabled {
        RelyingParty::for_webauthn(&m.webauthn).map_err(|e| e.to_string())?;
    }
    if m.passkey.enabled {
        RelyingParty::for_passkey(&m.passkey).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_enabled_method_needs_a_relying_party_and_the_error_names_the_key() {
        let mut cfg = Config::default();
        assert!(check_config(&cfg).is_ok(), "disabled methods need nothing");
        cfg.selfservice.methods.webauthn.enabled = true;
        let e = check_config(&cfg).unwrap_err();
        assert!(
            e.contains("selfservice.methods.webauthn.config.rp.id"),
            "{e}"
        );
        cfg.selfservice.methods.webauthn = serde_json::from_value(json!({
            "enabled": true,
            "config": {"rp": {"id": "example.com", "display_name": "Example",
                "origins": ["https://evil.example.org"]}},
        }))
        .unwrap();
        let e = check_config(&cfg).unwrap_err();
        assert!(
            e.contains("selfservice.methods.webauthn.config.rp.origins"),
            "{e}"
        );
        cfg.selfservice.methods.webauthn.config.rp.origins = vec!["https://a.example.com".into()];
        assert!(check_config(&cfg).is_ok());
        cfg.selfservice.methods.passkey.enabled = true;
        let e = check_config(&cfg).unwrap_err();
        assert!(e.contains("selfservice.methods.passkey.config.rp"), "{e}");
    }
}
