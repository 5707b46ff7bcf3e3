// What the browser scripts share: launching Debian's Chromium, failing with a screenshot of
// the page (into $ARTIFACTS), and asking the test for something only it knows (a code from a
// mail): `ask <question>` on stdout, the answer as a line on stdin.

"use strict"
const path = require("node:path")
const readline = require("node:readline")
const { chromium } = require("playwright-core")

exports.launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Chromium resolves `localhost` to ::1 first; the servers listen on 127.0.0.1.
      "--host-resolver-rules=MAP localhost 127.0.0.1",
    ],
  })

// Ends the script: the message, the page's address and a full-page screenshot of it.
exports.fail = async (script, tab, message) => {
  let where = ""
  if (tab && process.env.ARTIFACTS) {
    const file = path.join(process.env.ARTIFACTS, `${script}-${Date.now()}.png`)
    try {
      await tab.screenshot({ path: file, fullPage: true })
      where = `\nat ${tab.url()}; screenshot: ${file}`
    } catch (e) {
      where = `\n(no screenshot: ${e.message})`
    }
  }
  console.error(`${message}${where}`)
  process.exit(1)
}

let lines
exports.ask = (question) => {
  lines ??= readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  console.log(`ask ${question}`)
  return lines.next().then((r) => r.value)
}

// axe-core's check of the page as it is now: its serious and critical violations, each as
// "rule: help (elements)".
exports.audit = async (tab) => {
  await tab.addScriptTag({ path: require.resolve("axe-core/axe.min.js") })
  const result = await tab.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }))
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`)
}
