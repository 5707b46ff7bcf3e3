// Signs up and back in (by button, then by autofill) with a passkey in a real browser: Debian's Chromium, driven by
// playwright-core, with a virtual platform authenticator (DevTools `WebAuthn` domain).
//
// The pages are a minimal self-service UI served here from the flows' JSON, the way Ory's
// reference UI renders them: every node of `ui.nodes` becomes an input, button or script, a
// trigger button calls the function its `onclickTrigger` names, `onloadTrigger`s run on load,
// and the form posts to the flow's `action`. Everything else — the flows, the script at
// /.well-known/ory/webauthn.js, the form posts, the redirects — is the real Gatehouse.
//
// Environment: GATEHOUSE_PUBLIC (Gatehouse's public URL), GATEHOUSE_UI (the UI's origin, which
// is the relying party's origin; this script listens on its port), CHROMIUM (executable), EMAIL (the new account's address).
// Prints one JSON line: the sessions after sign-up and after sign-in, and the authenticator's
// credentials.

"use strict"
const http = require("node:http")
const { launch, fail: failWith } = require("./common.cjs")

const PUBLIC = process.env.GATEHOUSE_PUBLIC
const UI = process.env.GATEHOUSE_UI
const EMAIL = process.env.EMAIL

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function label(node) {
  return node.meta?.label?.text ?? node.attributes.name ?? ""
}

// One node as HTML, as a self-service UI shows it.
function nodeHtml(node) {
  const a = node.attributes
  switch (node.type) {
    case "script":
      return `<script src="${esc(a.src)}" integrity="${esc(a.integrity)}" crossorigin="${esc(a.crossorigin)}" referrerpolicy="${esc(a.referrerpolicy)}" type="${esc(a.type)}" id="${esc(a.id)}" nonce="${esc(a.nonce)}" ${a.async ? "async" : ""}></script>`
    case "text":
      return `<p id="${esc(a.id)}">${esc(a.text?.text)}</p>`
    case "img":
      return `<img id="${esc(a.id)}" src="${esc(a.src)}" alt="${esc(label(node))}">`
    case "a":
      return `<a id="${esc(a.id)}" href="${esc(a.href)}">${esc(a.title?.text)}</a>`
    case "input": {
      const value = a.value === undefined || a.value === null ? "" : typeof a.value === "string" ? a.value : JSON.stringify(a.value)
      if (a.type === "submit" || a.type === "button") {
        const onclick = a.onclickTrigger ? ` onclick="window.${a.onclickTrigger}()"` : ""
        return `<button type="${a.type}" name="${esc(a.name)}" value="${esc(value)}"${onclick}>${esc(label(node))}</button>`
      }
      if (a.type === "hidden") {
        return `<input type="hidden" name="${esc(a.name)}" value="${esc(value)}">`
      }
      const ac = a.autocomplete ? ` autocomplete="${esc(a.autocomplete)}"` : ""
      return `<label>${esc(label(node))} <input type="${esc(a.type)}" name="${esc(a.name)}" value="${esc(value)}"${ac}${a.required ? " required" : ""}></label>`
    }
    default:
      return ""
  }
}

// Whether pages run their nodes' `onloadTrigger`s (passkey autofill), as UIs do; off while a
// step presses a button instead, since the virtual authenticator answers autofill at once.
let runOnload = false

function page(flow) {
  const ui = flow.ui
  const messages = (ui.messages || []).map((m) => `<li class="message" data-id="${m.id}">${esc(m.text)}</li>`).join("")
  const nodes = ui.nodes.map(nodeHtml).join("\n")
  const onload = ui.nodes
    .filter(() => runOnload)
    .map((n) => n.attributes.onloadTrigger)
    .filter(Boolean)
    .map((t) => `window.addEventListener("load", () => window.${t} && window.${t}());`)
    .join("\n")
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(flow.id)}</title></head><body>
<ul id="messages">${messages}</ul>
<form id="flow" action="${esc(ui.action)}" method="${esc(ui.method)}">${nodes}</form>
<script>${onload}</script>
</body></html>`
}

// The browser's page, once there is one: a failure leaves a screenshot of it.
let currentTab
const fail = (message) => failWith("passkey", currentTab, message)

// The UI: a server on the UI's origin rendering flow pages from Gatehouse's JSON (asked for
// with the browser's cookies, as a UI server does), and a page to land on once signed in.
function serveUi() {
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, UI)
      const kind = url.pathname.slice(1)
      const id = url.searchParams.get("flow")
      res.setHeader("content-type", "text/html; charset=utf-8")
      if (["login", "registration", "settings"].includes(kind) && id) {
        const r = await fetch(`${PUBLIC}/self-service/${kind}/flows?id=${encodeURIComponent(id)}`, {
          headers: { cookie: req.headers.cookie || "", accept: "application/json" },
        })
        if (!r.ok) {
          res.statusCode = 500
          return res.end(`flow ${esc(id)}: ${r.status} ${esc(await r.text())}`)
        }
        return res.end(page(await r.json()))
      }
      res.end(`<!doctype html><p id="landed">${esc(url.pathname)}</p>`)
    } catch (e) {
      res.statusCode = 500
      res.end(esc(e.stack || String(e)))
    }
  })
  return new Promise((resolve) => server.listen(Number(new URL(UI).port), "127.0.0.1", () => resolve(server)))
}

async function main() {
  const ui = await serveUi()
  const browser = await launch()
  try {
    const context = await browser.newContext()
    const tab = await context.newPage()
    currentTab = tab
    tab.setDefaultTimeout(30000)
    const log = []
    tab.on("console", (m) => log.push(`${m.type()}: ${m.text()}`))
    tab.on("requestfailed", (r) => log.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`))


    const cdp = await context.newCDPSession(tab)
    await cdp.send("WebAuthn.enable")
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    })

    // Clicks `selector` and waits for the page the form's post leads to.
    async function submit(selector) {
      await Promise.all([tab.waitForEvent("load"), tab.click(selector)])
    }

    // Presses the button whose trigger is `fn` once the script defines it (the script asks the
    // authenticator and posts the form).
    async function trigger(fn) {
      try {
        await tab.waitForFunction((f) => typeof window[f] === "function", fn, { timeout: 10000 })
      } catch (e) {
        await fail(`${fn} never appeared (the script did not load?):\n${await tab.content()}\nconsole:\n${log.join("\n")}`)
      }
      await submit(`button[onclick="window.${fn}()"]`)
    }

    async function whoami() {
      const r = await context.request.get(`${PUBLIC}/sessions/whoami`)
      return { status: r.status(), body: await r.json() }
    }

    async function landed(step) {
      if (!tab.url().startsWith(`${UI}/welcome`)) {
        await fail(`${step} ended at ${tab.url()}:\n${await tab.content()}\nconsole:\n${log.join("\n")}`)
      }
    }

    // Sign up: the profile screen first (two-step registration), then the passkey.
    await tab.goto(`${PUBLIC}/self-service/registration/browser`)
    for (let screen = 0; screen < 3 && tab.url().startsWith(`${UI}/registration`); screen++) {
      const email = tab.locator('input[name="traits.email"]:not([type="hidden"])')
      if (await email.count()) {
        await email.fill(EMAIL)
      }
      if (await tab.locator('button[onclick="window.oryPasskeyRegistration()"]').count()) {
        await trigger("oryPasskeyRegistration")
      } else if (await tab.locator('button[name="method"][value="profile"]').count()) {
        await submit('button[name="method"][value="profile"]')
      } else {
        await fail(`no way on from the registration page:\n${await tab.content()}`)
      }
    }
    await landed("sign-up")
    const registered = await whoami()

    // Signed out (a new browser session), then back in with the passkey and nothing else.
    await context.clearCookies()
    await tab.goto(`${PUBLIC}/self-service/login/browser`)
    if (!tab.url().startsWith(`${UI}/login`)) {
      await fail(`the login flow went to ${tab.url()}`)
    }
    await trigger("oryPasskeyLogin")
    await landed("sign-in")
    const signedIn = await whoami()

    // Signed out again; this time the page offers the passkey in the identifier's autofill
    // (`oryPasskeyLoginAutocompleteInit` on load), which the authenticator answers by itself.
    await context.clearCookies()
    runOnload = true
    await tab.goto(`${PUBLIC}/self-service/login/browser`)
    await tab.waitForURL(`${UI}/welcome`)
    const autofill = await whoami()

    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId })
    console.log(
      JSON.stringify({
        registered,
        signed_in: signedIn,
        autofill,
        credentials: credentials.map((c) => ({ id: c.credentialId, resident: c.isResidentCredential, user_handle: c.userHandle, sign_count: c.signCount, rp_id: c.rpId })),
      }),
    )
  } finally {
    await browser.close()
    ui.close()
  }
}

main().catch((e) => fail(e.stack || String(e)))
