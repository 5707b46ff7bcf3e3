//! Sign in with Apple: the OpenID Connect issuer `https://appleid.apple.com`. The client secret
//! is a short-lived ES256 JWT signed with the key Apple issued to the team (`apple_private_key`,
//! PKCS#8 PEM; `apple_private_key_id`, `apple_team_id`), made for each exchange. Asking for
//! `email` or `name` makes Apple answer with a form POST (`response_mode=form_post`).
//! Native sign-in accepts a token without a nonce when Apple says the device could not send
//! one (`nonce_supported: false`). Not done: the name Apple posts once, on the first sign-in,
//! in the callback's `user` field (it is unsigned, and the contract's claims come from tokens).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use serde_json::json;

use super::ProviderError;
use super::generic::{Generic, MissingNonce, Options};
use crate::config::OidcProvider;
use crate::outbound::Outbound;

pub const ISSUER: &str = "https://appleid.apple.com";
/// How long a client secret is valid; Apple allows up to six months, one exchange needs seconds.
const SECRET_LIFETIME_SECS: u64 = 300;

pub fn new(cfg: OidcProvider, http: Outbound) -> Result<Generic, ProviderError> {
    let signer = ClientSecret::from_config(&cfg)?;
    let issuer = cfg.issuer_url.clone().unwrap_or_else(|| ISSUER.to_owned());
    let mut opts = Options::plain(&cfg, issuer);
    opts.form_post = cfg.scope.iter().any(|s| s == "email" || s == "name");
    if opts.form_post {
        opts.auth_params
            .push(("response_mode".into(), "form_post".into()));
    }
    opts.missing_nonce = MissingNonce::WhenUnsupported;
    opts.secret = Some(Box::new(move || signer.make()));
    Generic::with_options(cfg, http, opts)
}

/// Makes Apple's client secret JWT.
struct ClientSecret {
    key: SigningKey,
    key_id: String,
    team_id: String,
    client_id: String,
}

impl ClientSecret {
    fn from_config(cfg: &OidcProvider) -> Result<ClientSecret, ProviderError> {
        let need = |v: &Option<String>, name: &str| {
            v.clone()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| ProviderError::Config(format!("{name} is required for apple")))
        };
        let pem = need(&cfg.apple_private_key, "apple_private_key")?;
        let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|_| {
            ProviderError::Config(
                "apple_private_key is not a P-256 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)"
                    .into(),
            )
        })?;
        Ok(ClientSecret {
            key,
            key_id: need(&cfg.apple_private_key_id, "apple_private_key_id")?,
            team_id: need(&cfg.apple_team_id, "apple_team_id")?,
            client_id: cfg.client_id.clone(),
        })
    }

    fn make(&self) -> Result<String, ProviderError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ProviderError::Config("the clock is before 1970".into()))?
            .as_secs();
        let header = json!({"alg": "ES256", "kid": self.key_id, "typ": "JWT"});
        let claims = json!({
            "iss": self.team_id,
            "sub": self.client_id,
            "aud": ISSUER,
            "iat": now,
            "exp": now + SECRET_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // JWS wants the fixed-size r || s form, which is what `Signature::to_bytes` gives.
        let sig: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use serde_json::Value;

    // A throwaway key made for this test (openssl genpkey -algorithm EC -pkeyopt
    // ec_paramgen_curve:P-256).
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxc6ucPCNxjpwYSxT
rfz8uAxW3Uyujf88E+GT6dNPn02hRANCAASzK2fxNMNkGh8BAkLZkdqMk+hLbhZu
R9j4arrLlFmDzCtwxhBoVyBR914XjIOSVYMfJrttD1ha3paNJg2vHwl8
-----END PRIVATE KEY-----
";

    fn cfg(key: &str, scope: &[&str]) -> OidcProvider {
        serde_json::from_value(json!({
            "id": "apple", "provider": "apple", "client_id": "com.example.web",
            "mapper_url": "file:///m", "scope": scope,
            "apple_team_id": "TEAM123", "apple_private_key_id": "KEY456",
            "apple_private_key": key,
        }))
        .unwrap()
    }

    fn part(p: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    }

    #[test]
    fn client_secret_is_an_es256_jwt_the_public_key_verifies() {
        let signer = ClientSecret::from_config(&cfg(KEY, &[])).unwrap();
        let jwt = signer.make().unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = part(parts[0]);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEY456");
        let claims = part(parts[1]);
        assert_eq!(claims["iss"], "TEAM123");
        assert_eq!(claims["sub"], "com.example.web");
        assert_eq!(claims["aud"], ISSUER);
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, SECRET_LIFETIME_SECS);

        let public = VerifyingKey::from(&SigningKey::from_pkcs8_pem(KEY).unwrap());
        let sig =
            p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        public.verify(input.as_bytes(), &sig).unwrap();
        assert!(public.verify(b"something else", &sig).is_err());
    }

    #[test]
    fn bad_or_missing_keys_fail_at_construction() {
        let http = super::super::http::client(&Default::default()).unwrap();
        assert!(matches!(
            new(cfg("not a key", &[]), http.clone()),
            Err(ProviderError::Config(m)) if m.contains("PKCS#8")
        ));
        let mut c = cfg(KEY, &[]);
        c.apple_team_id = None;
        assert!(
            matches!(new(c, http), Err(ProviderError::Config(m)) if m.contains("apple_team_id"))
        );
    }

    #[test]
    fn email_or_name_scope_means_form_post() {
        use super::super::Provider;
        let http = super::super::http::client(&Default::default()).unwrap();
        assert!(new(cfg(KEY, &["email"]), http.clone()).unwrap().form_post());
        assert!(new(cfg(KEY, &["name"]), http.clone()).unwrap().form_post());
        assert!(!new(cfg(KEY, &[]), http).unwrap().form_post());
    }
}
