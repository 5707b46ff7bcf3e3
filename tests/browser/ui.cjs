// Signs up, out and back in through Gatehouse's built-in pages (/ui/) in Debian's Chromium,
// as a newcomer would on first run: nothing but Gatehouse serves the pages.
//
// Environment: GATEHOUSE_PUBLIC (the public URL), CHROMIUM, EMAIL, PASSWORD. Prints one JSON
// line: what each step showed.

"use strict"
const { launch, fail: failWith, audit: violations } = require("./common.cjs")

const PUBLIC = process.env.GATEHOUSE_PUBLIC
const EMAIL = process.env.EMAIL
const PASSWORD = process.env.PASSWORD

async function main() {
  const browser = await launch()
  const out = {}
  let tab
  const fail = (message) => failWith("ui", tab, message)
  try {
    const context = await browser.newContext()
    tab = await context.newPage()
    tab.setDefaultTimeout(30000)

    async function submit(selector) {
      await Promise.all([tab.waitForEvent("load"), tab.click(selector)])
    }
    async function expectPage(path, step) {
      const url = new URL(tab.url())
      if (url.pathname !== path) {
        await fail(`${step}: expected ${path}`)
      }
    }
    const messages = () => tab.locator(".msg").allInnerTexts()

    // axe-core's check of the page as it is: the serious and critical violations, by page.
    out.accessibility = {}
    async function audit(name) {
      out.accessibility[name] = await violations(tab)
    }

    await tab.goto(`${PUBLIC}/ui/`)
    await expectPage("/ui/login", "home without a session")
    out.login_title = await tab.title()
    await audit("login")

    // Sign up: the profile screen (two-step registration), then the password.
    await tab.click("text=Create an account")
    await tab.waitForURL(/\/ui\/registration\?flow=/)
    await audit("registration")
    await tab.fill('input[name="traits.email"]', EMAIL)
    await submit('button[name="method"][value="profile"]')
    await expectPage("/ui/registration", "after the profile screen")
    await audit("registration (credentials)")
    await tab.fill('input[name="password"]', PASSWORD)
    await submit('button[name="method"][value="password"]')
    await expectPage("/ui/", "after sign-up")
    out.home = await tab.locator("main").innerText()
    await audit("home")

    // Settings: the profile and password forms; a username added to the profile.
    await tab.click("text=Account settings")
    await tab.waitForURL(/\/ui\/settings\?flow=/)
    await audit("settings")
    await tab.fill('input[name="traits.username"]', "grace")
    await submit('button[name="method"][value="profile"]')
    await expectPage("/ui/settings", "after the profile change")
    out.profile_saved = await messages()
    // The error page, for an error nobody knows.
    await tab.goto(`${PUBLIC}/ui/error?id=00000000-0000-0000-0000-000000000000`)
    await audit("error")
    await tab.goto(`${PUBLIC}/ui/`)

    // Sign out, then a wrong password, then the right one.
    await submit("text=Sign out")
    await tab.goto(`${PUBLIC}/ui/login`)
    await tab.waitForURL(/\/ui\/login\?flow=/)
    await tab.fill('input[name="identifier"]', EMAIL)
    await tab.fill('input[name="password"]', "not-the-password-1")
    await submit('button[name="method"][value="password"]')
    await expectPage("/ui/login", "after a wrong password")
    out.wrong_password = await messages()
    await audit("login (wrong password)")
    await tab.fill('input[name="identifier"]', EMAIL)
    await tab.fill('input[name="password"]', PASSWORD)
    await submit('button[name="method"][value="password"]')
    await expectPage("/ui/", "after sign-in")
    out.signed_in = await tab.locator("main").innerText()

    const r = await context.request.get(`${PUBLIC}/sessions/whoami`)
    out.whoami = { status: r.status(), body: await r.json() }

    // A German browser gets the pages in German; the API's texts stay English.
    const german = await browser.newContext({ locale: "de-DE" })
    const de = await german.newPage()
    await de.goto(`${PUBLIC}/ui/login`)
    await de.waitForURL(/\/ui\/login\?flow=/)
    await de.fill('input[name="identifier"]', EMAIL)
    await de.fill('input[name="password"]', "not-the-password-1")
    await Promise.all([de.waitForEvent("load"), de.click('button[name="method"][value="password"]')])
    const flowId = new URL(de.url()).searchParams.get("flow")
    const api = await german.request.get(`${PUBLIC}/self-service/login/flows?id=${flowId}`)
    out.german = {
      lang: await de.getAttribute("html", "lang"),
      title: await de.title(),
      messages: await de.locator(".msg").allInnerTexts(),
      button: await de.locator('button[name="method"][value="password"]').innerText(),
      api_message: (await api.json()).ui.messages[0].text,
    }
    console.log(JSON.stringify(out))
  } catch (e) {
    await fail(e.stack || String(e))
  } finally {
    await browser.close()
  }
}

main()
