// Identifier-first sign-in through the built-in pages in Debian's Chromium: the identifier and
// "Continue", then the password of that account, then home; axe-core checks both screens.
//
// Environment: GATEHOUSE_PUBLIC, EMAIL, PASSWORD (and CHROMIUM, ARTIFACTS). Prints one JSON
// line.

"use strict"
const { launch, fail: failWith, audit: violations } = require("./common.cjs")

const PUBLIC = process.env.GATEHOUSE_PUBLIC

async function main() {
  const browser = await launch()
  const out = { accessibility: {} }
  let tab
  const fail = (message) => failWith("idfirst", tab, message)
  try {
    tab = await (await browser.newContext()).newPage()
    tab.setDefaultTimeout(30000)
    const submit = (selector) => Promise.all([tab.waitForEvent("load"), tab.click(selector)])
    const inputs = () => tab.locator("form input:not([type=hidden])").evaluateAll((l) => l.map((i) => i.name))
    async function audit(name) {
      out.accessibility[name] = await violations(tab)
    }

    await tab.goto(`${PUBLIC}/ui/login`)
    await tab.waitForURL(/\/ui\/login\?flow=/)
    out.first = await inputs()
    await audit("identification")
    await tab.fill('input[name="identifier"]', process.env.EMAIL)
    await submit('button[name="method"][value="identifier_first"]')
    out.second = await inputs()
    await audit("credentials")
    await tab.fill('input[name="password"]', process.env.PASSWORD)
    await submit('button[name="method"][value="password"]')
    if (new URL(tab.url()).pathname !== "/ui/") {
      await fail("the password did not sign in")
    }
    out.home = await tab.locator("main").innerText()
    console.log(JSON.stringify(out))
  } catch (e) {
    await fail(e.stack || String(e))
  } finally {
    await browser.close()
  }
}

main()
