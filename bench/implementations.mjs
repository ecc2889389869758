// Loads one implementation of syncBookingToPartner in this process, after the environment
// is set and with console silenced the same way for both: each still formats and calls
// console.log / console.error exactly as in production, and the stubs make that equally cheap.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
export const PACKAGE_ENTRY = require.resolve('../lib/index.js')
export const BASELINE_ENTRY = new URL('./baseline.mjs', import.meta.url).href
export const IMPLEMENTATIONS = ['package', 'baseline']

export function silenceConsole() {
  const nothing = () => {}
  console.log = nothing
  console.info = nothing
  console.warn = nothing
  console.error = nothing
}

export async function loadSync(name, { url, secret }) {
  // The baseline reads the environment at module load; the package at every call.
  process.env.SMASHPARTNER_SYNC_URL = url
  process.env.PWA_WEBHOOK_SECRET = secret
  silenceConsole()
  if (name === 'package') return require(PACKAGE_ENTRY).syncBookingToPartner
  if (name === 'baseline') return (await import(BASELINE_ENTRY)).syncBookingToPartner
  throw new Error(`unknown implementation ${name}`)
}
