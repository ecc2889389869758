// Debian's Chromium, headless, driven by playwright-core (which never downloads a browser): the
// one launch that the outbox page's browser test (__test__/) and the example's e2e both use.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

// A headless run on a server: no sandbox, no GPU, no traffic of its own beyond loopback.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Chromium on a throwaway profile in the temporary folder (its name starts with `profilePrefix`):
 * `context` opens pages; `close()` ends the browser and removes the profile.
 */
export async function launchChromium(profilePrefix) {
  const { chromium } = await import('playwright-core')
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), profilePrefix))
  const removeProfile = () => fs.rmSync(profile, { recursive: true, force: true })
  let context
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
    })
  } catch (error) {
    removeProfile()
    throw error
  }
  return {
    context,
    async close() {
      await context.close()
      removeProfile()
    },
  }
}
