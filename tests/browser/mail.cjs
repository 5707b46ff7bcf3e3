// The mail-borne flows through Gatehouse's built-in pages in Debian's Chromium: sign up and
// verify the address with the code the test reads from its SMTP server, change the password
// in settings, recover the account by code, sign in with the new password, and be told the
// address is taken on a second sign-up.
//
// Environment: GATEHOUSE_PUBLIC, EMAIL, PASSWORD, NEW_PASSWORD (and CHROMIUM, ARTIFACTS).
// Asks `code <address>` for each code. Prints one JSON line: what each step showed.

"use strict"
const { launch, fail: failWith, ask, audit } = require("./common.cjs")

const PUBLIC = process.env.GATEHOUSE_PUBLIC
const EMAIL = process.env.EMAIL

async function main() {
  const browser = await launch()
  const out = { accessibility: {} }
  let tab
  const fail = (message) => failWith("mail", tab, message)
  try {
    const context = await browser.newContext()
    tab = await context.newPage()
    tab.setDefaultTimeout(30000)
    const submit = (selector) => Promise.all([tab.waitForEvent("load"), tab.click(selector)])
    const messages = () => tab.locator(".msg").allInnerTexts()
    async function at(path, step) {
      if (new URL(tab.url()).pathname !== path) {
        await fail(`${step}: expected ${path}`)
      }
    }

    // Sign up: verification starts at once (the show_verification_ui hook).
    await tab.goto(`${PUBLIC}/ui/registration`)
    await tab.fill('input[name="traits.email"]', EMAIL)
    await submit('button[name="method"][value="profile"]')
    await tab.fill('input[name="password"]', process.env.PASSWORD)
    await submit('button[name="method"][value="password"]')
    await at("/ui/verification", "after sign-up")
    out.verification_sent = await messages()
    out.accessibility.verification = await audit(tab)
    await tab.fill('input[name="code"]', await ask(`code ${EMAIL}`))
    await submit('button[name="method"][value="code"]')
    out.verified = await messages()

    // Settings: a new password.
    await tab.goto(`${PUBLIC}/ui/settings`)
    await tab.waitForURL(/\/ui\/settings\?flow=/)
    await tab.fill('input[name="password"]', "an-interim-passphrase-77")
    await submit('button[name="method"][value="password"]')
    await at("/ui/settings", "after the password change")
    out.settings_saved = await messages()

    // Signed out, the password forgotten: recovery by code leads into settings.
    await context.clearCookies()
    await tab.goto(`${PUBLIC}/ui/login`)
    await tab.click("text=Forgot your password?")
    await tab.waitForURL(/\/ui\/recovery\?flow=/)
    out.accessibility.recovery = await audit(tab)
    await tab.fill('input[name="email"]', EMAIL)
    await submit('button[name="method"][value="code"]')
    out.recovery_sent = await messages()
    out.accessibility["recovery (code sent)"] = await audit(tab)
    await tab.fill('input[name="code"]', await ask(`code ${EMAIL}`))
    await submit('button[name="method"][value="code"]')
    await at("/ui/settings", "after recovery")
    out.recovered = await messages()
    out.accessibility["settings (after recovery)"] = await audit(tab)
    await tab.fill('input[name="password"]', process.env.NEW_PASSWORD)
    await submit('button[name="method"][value="password"]')
    out.new_password_saved = await messages()

    // Signed out again: the new password signs in.
    await context.clearCookies()
    await tab.goto(`${PUBLIC}/ui/login`)
    await tab.waitForURL(/\/ui\/login\?flow=/)
    await tab.fill('input[name="identifier"]', EMAIL)
    await tab.fill('input[name="password"]', process.env.NEW_PASSWORD)
    await submit('button[name="method"][value="password"]')
    await at("/ui/", "after signing in with the new password")
    out.home = await tab.locator("main").innerText()

    // A second sign-up with the same address is told so.
    await context.clearCookies()
    await tab.goto(`${PUBLIC}/ui/registration`)
    await tab.fill('input[name="traits.email"]', EMAIL)
    await submit('button[name="method"][value="profile"]')
    await tab.fill('input[name="password"]', "yet-another-passphrase-99")
    await submit('button[name="method"][value="password"]')
    await at("/ui/registration", "after a duplicate sign-up")
    out.duplicate = await messages()
    console.log(JSON.stringify(out))
  } catch (e) {
    await fail(e.stack || String(e))
  } finally {
    await browser.close()
  }
}

// Stdin stays open for the questions; leave once done.
main().then(() => process.exit(0))
