//! The WebAuthn ceremony layer (`selfservice::strategy::webauthn_ceremony`) driven by the
//! software authenticator: security keys as a second factor and passwordless, passkeys
//! (discoverable), and what it refuses; and the browser script the public listener serves.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use gatehouse::config::{PasskeyMethod, WebauthnMethod};
use gatehouse::selfservice::strategy::webauthn_ceremony::{
    Ceremony, CeremonyError, CeremonyState, RelyingParty, SCRIPT_PATH, StoredCredential,
    StoredCredentials, User, new_passkey_user_handle, script_node,
};
use serde_json::json;
use sha2::{Digest as _, Sha512};

use crate::common::TestApp;
use crate::common::webauthn::{Attestation, SoftAuthenticator};

const ORIGIN: &str = "https://login.example.com";
const KEY: &str = "webauthn";

fn webauthn_rp() -> RelyingParty {
    let method: WebauthnMethod = serde_json::from_value(json!({
        "enabled": true,
        "config": {"passwordless": true, "rp": {
            "id": "example.com", "display_name": "Example", "origins": [ORIGIN],
        }},
    }))
    .unwrap();
    RelyingParty::for_webauthn(&method).unwrap()
}

fn passkey_rp() -> RelyingParty {
    let method: PasskeyMethod = serde_json::from_value(json!({
        "enabled": true,
        "config": {"rp": {"id": "example.com", "display_name": "Example", "origins": [ORIGIN]}},
    }))
    .unwrap();
    RelyingParty::for_passkey(&method).unwrap()
}

const IDENTITY_HANDLE: [u8; 16] = [7; 16];

fn user(handle: &[u8]) -> User<'_> {
    User {
        handle,
        name: "alice@example.com",
        display_name: "alice@example.com",
    }
}

/// Registers a credential through the whole ceremony (the state through a flow's internal
/// context), as a strategy will.
fn register(
    rp: &RelyingParty,
    ceremony: Ceremony,
    handle: &[u8],
    auth: &mut SoftAuthenticator,
    existing: &[StoredCredential],
) -> (StoredCredential, Vec<u8>) {
    let mut internal = None;
    let (options, state) = rp
        .start_registration(ceremony, &user(handle), existing)
        .unwrap();
    state.put(&mut internal, KEY).unwrap();
    let answer = auth.register(ORIGIN, &options);
    let state = CeremonyState::take(&mut internal, KEY).unwrap();
    let done = rp
        .finish_registration(state, &answer, "my key", Utc::now())
        .unwrap();
    (done.credential, done.user_handle)
}

/// One sign-in; the stored credentials' counters advance in place.
fn login(
    rp: &RelyingParty,
    ceremony: Ceremony,
    auth: &mut SoftAuthenticator,
    origin: &str,
    stored: &mut [StoredCredential],
) -> Result<usize, CeremonyError> {
    let offered = if ceremony == Ceremony::Passkey {
        &[][..]
    } else {
        &*stored
    };
    let (options, state) = rp.start_login(ceremony, offered)?;
    let answer = auth.login(origin, &options);
    rp.finish_login(state, &answer, stored)
}

#[test]
fn a_second_factor_security_key_registers_and_signs_in_and_is_stored_as_kratos_stores_it() {
    let rp = webauthn_rp();
    let mut auth = SoftAuthenticator::new(Attestation::None);
    auth.verifies_user = false;
    let (options, _) = rp
        .start_registration(Ceremony::SecondFactor, &user(&IDENTITY_HANDLE), &[])
        .unwrap();
    // Kratos's wrapping: the options are under `publicKey`, binary values base64url.
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"], json!({"id": "example.com", "name": "Example"}));
    assert_eq!(pk["user"]["id"], "BwcHBwcHBwcHBwcHBwcHBw");
    assert_eq!(pk["attestation"], "none");
    assert_eq!(
        pk["authenticatorSelection"]["userVerification"],
        "discouraged"
    );
    assert!(pk["challenge"].as_str().unwrap().len() >= 43);

    let (cred, handle) = register(
        &rp,
        Ceremony::SecondFactor,
        &IDENTITY_HANDLE,
        &mut auth,
        &[],
    );
    assert_eq!(handle, IDENTITY_HANDLE);
    assert!(!cred.is_passwordless);
    assert_eq!(cred.attestation_type, "none");
    assert_eq!(cred.authenticator.aaguid, auth.aaguid);
    assert_eq!(cred.display_name, "my key");

    // The identity's credential config, in Kratos's JSON (Go []byte: standard base64).
    let config = StoredCredentials {
        credentials: vec![cred.clone()],
        user_handle: Some(handle.clone()),
    };
    let json = serde_json::to_value(&config).unwrap();
    let c = &json["credentials"][0];
    assert_eq!(c["id"], STANDARD.encode(&cred.id));
    assert_eq!(c["public_key"], STANDARD.encode(&cred.public_key));
    assert_eq!(c["attestation_type"], "none");
    assert_eq!(
        c["authenticator"],
        json!({"aaguid": STANDARD.encode(auth.aaguid), "sign_count": 0, "clone_warning": false})
    );
    assert_eq!(c["display_name"], "my key");
    assert_eq!(c["is_passwordless"], false);
    assert!(c["added_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(json["user_handle"], STANDARD.encode(IDENTITY_HANDLE));
    let mut stored: StoredCredentials = serde_json::from_value(json).unwrap();
    assert_eq!(stored, config);

    let i = login(
        &rp,
        Ceremony::SecondFactor,
        &mut auth,
        ORIGIN,
        &mut stored.credentials,
    )
    .unwrap();
    assert_eq!(i, 0);
    assert_eq!(stored.credentials[0].authenticator.sign_count, 1);
    // A second factor key is not a passwordless one.
    assert!(matches!(
        rp.start_login(Ceremony::Passwordless, &stored.credentials),
        Err(CeremonyError::UnknownCredential)
    ));
}

#[test]
fn a_passwordless_security_key_with_packed_self_attestation_registers_and_signs_in() {
    let rp = webauthn_rp();
    let mut auth = SoftAuthenticator::new(Attestation::PackedSelf);
    let (cred, _) = register(
        &rp,
        Ceremony::Passwordless,
        &IDENTITY_HANDLE,
        &mut auth,
        &[],
    );
    assert!(cred.is_passwordless);
    assert_eq!(cred.attestation_type, "packed");
    assert_eq!(cred.authenticator.aaguid, auth.aaguid);
    let mut stored = vec![cred];

    let (options, _) = rp.start_login(Ceremony::Passwordless, &stored).unwrap();
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&stored[0].id)
    );
    login(&rp, Ceremony::Passwordless, &mut auth, ORIGIN, &mut stored).unwrap();
    assert!(
        login(&rp, Ceremony::SecondFactor, &mut auth, ORIGIN, &mut stored).is_err(),
        "a passwordless key is not offered as a second factor"
    );

    // A key that does not verify the user cannot sign in without a password.
    auth.verifies_user = false;
    let err = login(&rp, Ceremony::Passwordless, &mut auth, ORIGIN, &mut stored).unwrap_err();
    assert!(matches!(err, CeremonyError::Refused(_)), "{err}");
}

#[test]
fn a_passkey_registers_as_a_resident_key_and_signs_in_without_an_identifier() {
    let rp = passkey_rp();
    let handle = new_passkey_user_handle();
    assert_eq!(handle.len(), 64);
    assert!(handle.iter().all(u8::is_ascii_alphanumeric));
    let (options, _) = rp
        .start_registration(Ceremony::Passkey, &user(&handle), &[])
        .unwrap();
    let sel = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(sel["residentKey"], "required");
    assert_eq!(sel["userVerification"], "preferred");

    let mut auth = SoftAuthenticator::new(Attestation::None);
    let (cred, user_handle) = register(&rp, Ceremony::Passkey, &handle, &mut auth, &[]);
    assert_eq!(user_handle, handle);
    let mut stored = vec![cred];

    // Discoverable: the options name no credential; the answer names the user.
    let (options, state) = rp.start_login(Ceremony::Passkey, &[]).unwrap();
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let answer = auth.login(ORIGIN, &options);
    assert_eq!(RelyingParty::login_user_handle(&answer).unwrap(), handle);
    rp.finish_login(state, &answer, &mut stored).unwrap();
    assert_eq!(stored[0].authenticator.sign_count, 1);

    // Registering again on the same identity excludes the passkey it has.
    let (options, _) = rp
        .start_registration(Ceremony::Passkey, &user(&handle), &stored)
        .unwrap();
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&stored[0].id)
    );
}

#[test]
fn an_answer_from_another_origin_is_refused() {
    let rp = webauthn_rp();
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let (options, state) = rp
        .start_registration(Ceremony::Passwordless, &user(&IDENTITY_HANDLE), &[])
        .unwrap();
    let answer = auth.register("https://login.evil.example", &options);
    let err = rp
        .finish_registration(state, &answer, "", Utc::now())
        .err()
        .unwrap();
    assert!(matches!(err, CeremonyError::Refused(_)), "{err}");

    let (cred, _) = register(
        &rp,
        Ceremony::Passwordless,
        &IDENTITY_HANDLE,
        &mut auth,
        &[],
    );
    let mut stored = vec![cred];
    for origin in [
        "https://login.evil.example",
        "http://login.example.com",
        "https://example.com",
    ] {
        let err = login(&rp, Ceremony::Passwordless, &mut auth, origin, &mut stored).unwrap_err();
        assert!(matches!(err, CeremonyError::Refused(_)), "{origin}: {err}");
    }
    assert_eq!(
        stored[0].authenticator.sign_count, 0,
        "a refused sign-in changes nothing"
    );
}

#[test]
fn a_challenge_answers_once() {
    let rp = webauthn_rp();
    let mut auth = SoftAuthenticator::new(Attestation::None);
    let (cred, _) = register(
        &rp,
        Ceremony::Passwordless,
        &IDENTITY_HANDLE,
        &mut auth,
        &[],
    );
    let mut stored = vec![cred];

    let mut internal = Some(json!({"other": 1}));
    let (options, state) = rp.start_login(Ceremony::Passwordless, &stored).unwrap();
    state.put(&mut internal, KEY).unwrap();
    let answer = auth.login(ORIGIN, &options);
    let state = CeremonyState::take(&mut internal, KEY).unwrap();
    rp.finish_login(state, &answer, &mut stored).unwrap();
    // The flow's internal context no longer holds the challenge: the same answer again finds
    // nothing to answer.
    assert_eq!(internal, Some(json!({"other": 1})));
    assert!(matches!(
        CeremonyState::take(&mut internal, KEY),
        Err(CeremonyError::NoChallenge)
    ));

    // Replaying the answer against a new challenge is refused too.
    let (_, fresh) = rp.start_login(Ceremony::Passwordless, &stored).unwrap();
    let err = rp.finish_login(fresh, &answer, &mut stored).unwrap_err();
    assert!(matches!(err, CeremonyError::Refused(_)), "{err}");

    // A registration state does not finish a sign-in.
    let (_, registration) = rp
        .start_registration(Ceremony::Passwordless, &user(&IDENTITY_HANDLE), &stored)
        .unwrap();
    assert!(matches!(
        rp.finish_login(registration, &answer, &mut stored),
        Err(CeremonyError::NoChallenge)
    ));
}

#[test]
fn a_sign_counter_that_does_not_advance_is_refused() {
    let rp = webauthn_rp();
    let mut auth = SoftAuthenticator::new(Attestation::PackedSelf);
    let (cred, _) = register(
        &rp,
        Ceremony::SecondFactor,
        &IDENTITY_HANDLE,
        &mut auth,
        &[],
    );
    let mut stored = vec![cred];
    auth.counter = 41;
    login(&rp, Ceremony::SecondFactor, &mut auth, ORIGIN, &mut stored).unwrap();
    assert_eq!(stored[0].authenticator.sign_count, 42);
    // A clone: its counter is behind the one stored, or equal to it.
    for behind in [10, 41] {
        auth.counter = behind;
        let err = login(&rp, Ceremony::SecondFactor, &mut auth, ORIGIN, &mut stored).unwrap_err();
        assert!(matches!(err, CeremonyError::Refused(_)), "{err}");
        assert_eq!(stored[0].authenticator.sign_count, 42);
    }
    auth.counter = 100;
    login(&rp, Ceremony::SecondFactor, &mut auth, ORIGIN, &mut stored).unwrap();
    assert_eq!(stored[0].authenticator.sign_count, 101);
}

#[test]
fn a_relying_party_needs_an_id_a_name_and_origins_on_that_id() {
    let bad = [
        json!({"display_name": "Example", "origins": [ORIGIN]}),
        json!({"id": "example.com", "origins": [ORIGIN]}),
        json!({"id": "example.com", "display_name": "Example"}),
        json!({"id": "example.com", "display_name": "Example", "origins": ["https://example.org"]}),
        json!({"id": "example.com", "display_name": "Example", "origins": ["not a url"]}),
    ];
    for rp in bad {
        let method: WebauthnMethod =
            serde_json::from_value(json!({"config": {"rp": rp.clone()}})).unwrap();
        assert!(
            matches!(
                RelyingParty::for_webauthn(&method),
                Err(CeremonyError::Config(_))
            ),
            "{rp}"
        );
    }
    // The single-origin form of older configurations still works.
    let method: WebauthnMethod = serde_json::from_value(json!({"config": {"rp": {
        "id": "example.com", "display_name": "Example", "origin": ORIGIN,
    }}}))
    .unwrap();
    assert!(RelyingParty::for_webauthn(&method).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_listener_serves_the_script_its_node_pins_by_integrity() {
    let app = TestApp::start().await;
    let r = app
        .http
        .get(app.public_url(SCRIPT_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=UTF-8"
    );
    assert_eq!(
        r.headers()["cache-control"],
        "private, no-cache, no-store, must-revalidate"
    );
    // UIs on other origins load it with `crossorigin="anonymous"`.
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let body = r.bytes().await.unwrap();
    for function in [
        "oryWebAuthnLogin",
        "oryWebAuthnRegistration",
        "oryPasskeyLogin",
        "oryPasskeyLoginAutocompleteInit",
        "oryPasskeyRegistration",
        "oryPasskeySettingsRegistration",
    ] {
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.contains(function), "{function} missing");
    }

    let node = serde_json::to_value(script_node(&app.public)).unwrap();
    assert_eq!(node["type"], "script");
    assert_eq!(node["group"], "webauthn");
    let a = &node["attributes"];
    assert_eq!(a["src"], app.public_url(SCRIPT_PATH));
    assert_eq!(
        a["integrity"],
        format!("sha512-{}", STANDARD.encode(Sha512::digest(&body)))
    );
    assert_eq!(a["crossorigin"], "anonymous");
    assert_eq!(a["referrerpolicy"], "no-referrer");
    assert_eq!(a["type"], "text/javascript");
    assert_eq!(a["async"], true);
    assert_eq!(a["id"], "webauthn_script");
    assert_eq!(a["node_type"], "script");
    assert_eq!(a["nonce"].as_str().unwrap().len(), 36);

    // HEAD answers too; the admin listener does not serve it.
    let r = app
        .http
        .head(app.public_url(SCRIPT_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .get(app.admin_url(SCRIPT_PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}
