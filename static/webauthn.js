// Gatehouse: the browser half of WebAuthn and passkey ceremonies.
//
// Self-service UIs call these functions through the `onclickTrigger` / `onloadTrigger` of the
// flow's nodes. Each reads the options the server put in the form, asks the browser's
// authenticator, writes the answer as JSON into the form's hidden input and submits the form.
;(function () {
  "use strict"

  if (typeof window === "undefined" || window.__oryWebAuthnInitialized) {
    return
  }

  // base64url (as the server sends binary values) to bytes, and back.
  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/")
    while (b64.length % 4) {
      b64 += "="
    }
    var raw = atob(b64)
    var out = new Uint8Array(raw.length)
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i)
    }
    return out
  }

  function toB64url(buf) {
    if (!buf) {
      return undefined
    }
    var bytes = new Uint8Array(buf)
    var raw = ""
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i])
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
  }

  function byName(name) {
    return document.getElementsByName(name)[0]
  }

  function supported() {
    if (!window.PublicKeyCredential) {
      console.error("[gatehouse/webauthn] This browser does not support WebAuthn.")
      return false
    }
    return true
  }

  // The binary members of creation options, decoded in place.
  function decodeCreation(publicKey) {
    publicKey.challenge = fromB64url(publicKey.challenge)
    publicKey.user.id = fromB64url(publicKey.user.id)
    if (publicKey.excludeCredentials) {
      publicKey.excludeCredentials = publicKey.excludeCredentials.map(function (c) {
        return Object.assign({}, c, { id: fromB64url(c.id) })
      })
    }
    return publicKey
  }

  // The binary members of request options, decoded in place.
  function decodeRequest(publicKey) {
    publicKey.challenge = fromB64url(publicKey.challenge)
    if (publicKey.allowCredentials) {
      publicKey.allowCredentials = publicKey.allowCredentials.map(function (c) {
        return Object.assign({}, c, { id: fromB64url(c.id) })
      })
    }
    return publicKey
  }

  function attestationJSON(credential) {
    return JSON.stringify({
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toB64url(credential.response.attestationObject),
        clientDataJSON: toB64url(credential.response.clientDataJSON),
      },
    })
  }

  function assertionJSON(credential) {
    return JSON.stringify({
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toB64url(credential.response.authenticatorData),
        clientDataJSON: toB64url(credential.response.clientDataJSON),
        signature: toB64url(credential.response.signature),
        userHandle: toB64url(credential.response.userHandle),
      },
    })
  }

  function answer(input, value) {
    input.value = value
    input.closest("form").submit()
  }

  // A conditional (autofill) passkey request in progress, which a button press replaces.
  function abortConditional(reason) {
    if (window.abortPasskeyConditionalUI) {
      window.abortPasskeyConditionalUI.abort(reason)
      window.abortPasskeyConditionalUI = undefined
    }
  }

  // Security key sign-in (`webauthn` method). `options` defaults to the trigger's value.
  function webAuthnLogin(options, resultSelector, triggerSelector) {
    if (!supported()) {
      return
    }
    var trigger = document.querySelector(triggerSelector || '*[name="webauthn_login_trigger"]')
    var result = document.querySelector(resultSelector || '*[name="webauthn_login"]')
    var opts = options || JSON.parse(trigger.value)
    opts.publicKey = decodeRequest(opts.publicKey)
    navigator.credentials
      .get(opts)
      .then(function (credential) {
        answer(result, assertionJSON(credential))
      })
      .catch(function (err) {
        console.error("[gatehouse/webauthn] sign-in failed", err)
      })
  }

  // Security key registration (`webauthn` method). `options` defaults to the trigger's value.
  function webAuthnRegistration(options, resultSelector, triggerSelector) {
    if (!supported()) {
      return
    }
    var trigger = document.querySelector(triggerSelector || '*[name="webauthn_register_trigger"]')
    var result = document.querySelector(resultSelector || '*[name="webauthn_register"]')
    var opts = options || JSON.parse(trigger.value)
    opts.publicKey = decodeCreation(opts.publicKey)
    navigator.credentials
      .create(opts)
      .then(function (credential) {
        answer(result, attestationJSON(credential))
      })
      .catch(function (err) {
        console.error("[gatehouse/webauthn] registration failed", err)
      })
  }

  // Offers the user's passkeys in the identifier field's autofill (conditional mediation).
  async function passkeyLoginAutocompleteInit() {
    var data = byName("passkey_challenge")
    var result = byName("passkey_login")
    var identifier = byName("identifier")
    if (!data || !result || !identifier) {
      console.error("[gatehouse/passkey] The form lacks passkey_challenge, passkey_login or identifier.")
      return
    }
    if (!supported() || !PublicKeyCredential.isConditionalMediationAvailable) {
      return
    }
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) {
      return
    }
    var opts = JSON.parse(data.value)
    abortConditional("A new passkey autofill request replaces this one.")
    var controller = new AbortController()
    window.abortPasskeyConditionalUI = controller
    navigator.credentials
      .get({
        publicKey: decodeRequest(opts.publicKey),
        mediation: "conditional",
        signal: controller.signal,
      })
      .then(function (credential) {
        answer(result, assertionJSON(credential))
      })
      .catch(function (err) {
        console.debug("[gatehouse/passkey] autofill ended", err)
      })
  }

  // Passkey sign-in by button: the browser lets the user pick any passkey for this site.
  function passkeyLogin() {
    var data = byName("passkey_challenge")
    var result = byName("passkey_login")
    if (!data || !result) {
      console.error("[gatehouse/passkey] The form lacks passkey_challenge or passkey_login.")
      return
    }
    if (!supported()) {
      return
    }
    var opts = JSON.parse(data.value)
    abortConditional("A passkey sign-in by button replaces the autofill request.")
    navigator.credentials
      .get({ publicKey: decodeRequest(opts.publicKey) })
      .then(function (credential) {
        answer(result, assertionJSON(credential))
      })
      .catch(function (err) {
        if (err && err.name === "SecurityError") {
          console.error("[gatehouse/passkey] The browser refused this site's relying party id or origin.", err)
        } else {
          console.error("[gatehouse/passkey] sign-in failed", err)
        }
        // Offer autofill again, as before the button was pressed.
        return passkeyLoginAutocompleteInit()
      })
  }

  // Passkey registration: the passkey is named after the form field the server names.
  function passkeyRegistration() {
    var data = byName("passkey_create_data")
    var result = byName("passkey_register")
    if (!data || !result || !supported()) {
      return
    }
    var createData = JSON.parse(data.value)
    var field = data.closest("form").querySelector('[name="' + createData.displayNameFieldName + '"]')
    var displayName = field ? field.value : ""
    var opts = createData.credentialOptions
    opts.publicKey.user.name = displayName
    opts.publicKey.user.displayName = displayName
    opts.publicKey = decodeCreation(opts.publicKey)
    navigator.credentials
      .create(opts)
      .then(function (credential) {
        answer(result, attestationJSON(credential))
      })
      .catch(function (err) {
        console.error("[gatehouse/passkey] registration failed", err)
      })
  }

  // Adding a passkey in settings: the options are the field's value as they are.
  function passkeySettingsRegistration() {
    var data = byName("passkey_create_data")
    var result = byName("passkey_settings_register")
    if (!data || !result || !supported()) {
      return
    }
    var opts = JSON.parse(data.value)
    opts.publicKey = decodeCreation(opts.publicKey)
    navigator.credentials
      .create(opts)
      .then(function (credential) {
        answer(result, attestationJSON(credential))
      })
      .catch(function (err) {
        console.error("[gatehouse/passkey] registration failed", err)
      })
  }

  var exported = {
    oryWebAuthnLogin: webAuthnLogin,
    oryWebAuthnRegistration: webAuthnRegistration,
    oryPasskeyLogin: passkeyLogin,
    oryPasskeyLoginAutocompleteInit: passkeyLoginAutocompleteInit,
    oryPasskeyRegistration: passkeyRegistration,
    oryPasskeySettingsRegistration: passkeySettingsRegistration,
  }
  Object.keys(exported).forEach(function (name) {
    window[name] = exported[name]
    // The names with two underscores are what older UIs (Ory Elements v0) call.
    window["__" + name] = exported[name]
  })
  window.__oryWebAuthnInitialized = true
})()
