//! A software WebAuthn authenticator (P-256, ES256) standing in for a browser and a security key
//! or passkey: it answers the options a ceremony starts with the JSON the browser script puts
//! in the form (`webauthn_register`, `webauthn_login`, `passkey_login`, …).
//!
//! `webauthn-authenticator-rs` was the first choice, but its software passkey keeps no resident
//! keys, sends no user handle and has no settable counter, which the passkey and counter tests
//! need; this one is small and does exactly what the tests ask.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::Rng as _;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The attestation statement an authenticator gives at registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attestation {
    /// `none`: no statement.
    None,
    /// `packed` self attestation: signed with the new credential's own key.
    PackedSelf,
}

struct Key {
    id: Vec<u8>,
    rp_id: String,
    user_handle: Vec<u8>,
    resident: bool,
    signing: SigningKey,
}

pub struct SoftAuthenticator {
    pub attestation: Attestation,
    pub aaguid: [u8; 16],
    /// The signature counter; each sign-in raises it by one before signing. Set it lower to
    /// play a cloned authenticator.
    pub counter: u32,
    /// Whether the authenticator verifies the user (the UV flag it sets).
    pub verifies_user: bool,
    keys: Vec<Key>,
}

impl SoftAuthenticator {
    pub fn new(attestation: Attestation) -> Self {
        Self {
            attestation,
            aaguid: rand::rng().random(),
            counter: 0,
            verifies_user: true,
            keys: Vec::new(),
        }
    }

    /// `navigator.credentials.create()` at `origin` with `options` (`{"publicKey": …}`), as the
    /// script submits it. Creates a resident key when the options require one.
    pub fn register(&mut self, origin: &str, options: &Value) -> String {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().expect("rp.id").to_owned();
        let user_handle = b64(&pk["user"]["id"]);
        let resident = pk["authenticatorSelection"]["residentKey"] == "required"
            || pk["authenticatorSelection"]["requireResidentKey"] == true;
        let excluded = pk["excludeCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| b64(&c["id"]));
        for id in excluded {
            assert!(
                !self.keys.iter().any(|k| k.id == id),
                "the options exclude a credential this authenticator holds"
            );
        }
        let client_data = client_data("webauthn.create", &pk["challenge"], origin);
        let signing = loop {
            let secret: [u8; 32] = rand::rng().random();
            if let Ok(k) = SigningKey::from_slice(&secret) {
                break k;
            }
        };
        let id: [u8; 32] = rand::rng().random();
        let point = signing.verifying_key().to_sec1_point(false);
        let (x, y) = point.as_bytes()[1..].split_at(32);
        let cose_key = cbor(Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),  // kty: EC2
            (Cbor::Integer(3), Cbor::Integer(-7)), // alg: ES256
            (Cbor::Integer(-1), Cbor::Integer(1)), // crv: P-256
            (Cbor::Integer(-2), Cbor::Bytes(x.to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(y.to_vec())),
        ])));
        // Registration reports the counter as it stands, attested credential data included.
        let mut auth_data = self.auth_data_head(&rp_id, 0x40);
        auth_data.extend_from_slice(&self.aaguid);
        auth_data.extend_from_slice(&(id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cose_key);
        let statement = match self.attestation {
            Attestation::None => BTreeMap::new(),
            Attestation::PackedSelf => BTreeMap::from([
                (text("alg"), Cbor::Integer(-7)),
                (
                    text("sig"),
                    Cbor::Bytes(sign(&signing, &auth_data, &client_data)),
                ),
            ]),
        };
        let fmt = match self.attestation {
            Attestation::None => "none",
            Attestation::PackedSelf => "packed",
        };
        let object = cbor(Cbor::Map(BTreeMap::from([
            (text("fmt"), text(fmt)),
            (text("attStmt"), Cbor::Map(statement)),
            (text("authData"), Cbor::Bytes(auth_data)),
        ])));
        self.keys.push(Key {
            id: id.to_vec(),
            rp_id,
            user_handle,
            resident,
            signing,
        });
        json!({
            "id": B64URL.encode(id),
            "rawId": B64URL.encode(id),
            "type": "public-key",
            "response": {
                "attestationObject": B64URL.encode(object),
                "clientDataJSON": B64URL.encode(client_data),
            },
        })
        .to_string()
    }

    /// `navigator.credentials.get()` at `origin` with `options`: signs with the first allowed
    /// credential it holds, or (no `allowCredentials`: a discoverable sign-in) with its first
    /// resident key for the relying party.
    pub fn login(&mut self, origin: &str, options: &Value) -> String {
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().expect("rpId").to_owned();
        let allowed: Vec<Vec<u8>> = pk["allowCredentials"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| b64(&c["id"]))
            .collect();
        let key_index = self
            .keys
            .iter()
            .position(|k| {
                k.rp_id == rp_id
                    && if allowed.is_empty() {
                        k.resident
                    } else {
                        allowed.contains(&k.id)
                    }
            })
            .expect("the authenticator holds no credential for these options");
        self.counter += 1;
        let client_data = client_data("webauthn.get", &pk["challenge"], origin);
        let auth_data = self.auth_data_head(&rp_id, 0);
        let key = &self.keys[key_index];
        let signature = sign(&key.signing, &auth_data, &client_data);
        json!({
            "id": B64URL.encode(&key.id),
            "rawId": B64URL.encode(&key.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64URL.encode(&auth_data),
                "clientDataJSON": B64URL.encode(&client_data),
                "signature": B64URL.encode(signature),
                "userHandle": B64URL.encode(&key.user_handle),
            },
        })
        .to_string()
    }

    /// rpIdHash | flags (user present, user verified if it does, plus `extra`) | counter.
    fn auth_data_head(&self, rp_id: &str, extra: u8) -> Vec<u8> {
        let mut flags = 0x01 | extra;
        if self.verifies_user {
            flags |= 0x04;
        }
        let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
        out.push(flags);
        out.extend_from_slice(&self.counter.to_be_bytes());
        out
    }
}

fn client_data(kind: &str, challenge: &Value, origin: &str) -> Vec<u8> {
    json!({
        "type": kind,
        "challenge": challenge.as_str().expect("challenge"),
        "origin": origin,
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes()
}

/// ES256 over authenticator data and the client data's hash, DER-encoded.
fn sign(key: &SigningKey, auth_data: &[u8], client_data: &[u8]) -> Vec<u8> {
    let mut message = auth_data.to_vec();
    message.extend_from_slice(&Sha256::digest(client_data));
    let signature: Signature = key.sign(&message);
    signature.to_der().as_bytes().to_vec()
}

fn b64(v: &Value) -> Vec<u8> {
    B64URL
        .decode(v.as_str().expect("base64url string"))
        .expect("base64url")
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

fn cbor(v: Cbor) -> Vec<u8> {
    serde_cbor_2::to_vec(&v).expect("CBOR")
}
