'use strict'

// partner-sync health: GET the endpoint and judge its answer against the guide's health check.

const { SIGNATURE_HEADER } = require('../..')
const { HEALTH_RESPONSE } = require('../internal.js')
const { ms } = require('../output.js')
const { settingOption, wholeNumber, jsonOption } = require('../options.js')
const cli = require('../context.js')

// Healthy when the answer is the guide's health JSON, or close enough to be the same endpoint.
function healthVerdict(status, body) {
  if (status !== 200) {
    return { healthy: false, verdict: `answered HTTP ${status}, not 200: wrong URL, or the partner is down` }
  }
  if (JSON.stringify(body) === JSON.stringify(HEALTH_RESPONSE)) {
    return { healthy: true, verdict: "healthy: the endpoint answers the guide's health JSON exactly" }
  }
  const looksLikeEndpoint =
    body &&
    Array.isArray(body.methods) &&
    body.methods.includes('POST') &&
    body.headers &&
    Array.isArray(body.headers.required) &&
    body.headers.required.includes(SIGNATURE_HEADER)
  if (looksLikeEndpoint) {
    return {
      healthy: true,
      verdict: "healthy, but the health JSON differs from the guide's: compare it with the guide",
    }
  }
  return {
    healthy: false,
    verdict: "answered 200, but not with the guide's health JSON: is this the /api/webhooks/pwa-sync URL?",
  }
}

async function healthCommand(opts) {
  const url = cli.effectiveUrl(opts)
  if (!URL.canParse(url)) {
    throw new cli.InputError(`${JSON.stringify(url)} is not a URL: pass --url http(s)://host/api/webhooks/pwa-sync`)
  }
  const started = performance.now()
  let report
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: 'manual' })
    const text = await response.text()
    let body = text
    try {
      body = JSON.parse(text)
    } catch {
      // Not JSON: keep the text, the verdict says it is not the health answer.
    }
    report = { url, status: response.status, ...healthVerdict(response.status, body), body }
  } catch (error) {
    const cause =
      error.name === 'TimeoutError'
        ? `no answer within ${opts.timeoutMs} ms`
        : (error.cause && error.cause.message) || error.message
    report = { url, healthy: false, verdict: `unreachable: ${cause}` }
  }
  report.elapsedMs = Math.round(performance.now() - started)
  if (opts.json) cli.printJson(report)
  else {
    console.log(`GET ${url} (${ms(report.elapsedMs)})`)
    console.log(report.healthy ? report.verdict : `NOT healthy: ${report.verdict}`)
    if (report.body !== undefined) {
      console.log(typeof report.body === 'string' ? report.body.slice(0, 500) : JSON.stringify(report.body))
    }
  }
  return report.healthy ? cli.EXIT_OK : cli.EXIT_FAILED
}

function register(program) {
  program
    .command('health')
    .description("GET the endpoint and say whether it answers the guide's health check")
    .addOption(settingOption('url'))
    .option('--timeout-ms <ms>', 'give up after this long', wholeNumber(1), 5000)
    .addOption(jsonOption('the verdict, status and body'))
    .action(cli.withExitCode(healthCommand))
}

module.exports = { register }
