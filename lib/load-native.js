'use strict'

// Loads the generated napi-rs loader (../binding.js). When no binary fits, its own error only
// repeats npm's optional-dependency hint; this one says what was looked for and how to get it.

function libc() {
  if (process.platform !== 'linux') return undefined
  // The same test the generated loader uses: glibc reports its version, musl does not.
  const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null
  return report && report.header && report.header.glibcVersionRuntime ? 'gnu' : 'musl'
}

/** The napi-rs platform suffix, as in `partner-sync.<suffix>.node` and `<package>-<suffix>`. */
function platformSuffix(platform, arch, libcName) {
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform !== 'linux') return `${platform}-${arch}`
  if (arch === 'arm') return `linux-arm-${libcName}eabihf`
  return `linux-${arch}-${libcName}`
}

// The generated loader chains every attempt's error through `cause`, the last attempt on top.
function attemptMessages(error) {
  const messages = []
  for (let e = error && error.cause; e && messages.length < 10; e = e.cause)
    messages.unshift(String(e.message).split('\n')[0])
  return messages
}

function noBindingError(original) {
  const pkg = require('../package.json')
  const libcName = libc()
  const suffix = platformSuffix(process.platform, process.arch, libcName)
  const where = [process.platform, process.arch, libcName && (libcName === 'gnu' ? 'glibc' : 'musl libc')]
    .filter(Boolean)
    .join(' ')
  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
  const lines = [
    `${pkg.name}: no native binary could be loaded for this platform (${where}).`,
    override
      ? `It tried NAPI_RS_NATIVE_LIBRARY_PATH=${override}.`
      : `It looked for ${pkg.napi.binaryName}.${suffix}.node in the package and for the package ${pkg.name}-${suffix}.`,
    `Prebuilt binaries are published for: ${pkg.napi.targets.join(', ')}.`,
    'If your platform is listed, npm skipped the optional dependency (https://github.com/npm/cli/issues/4828,',
    '--omit=optional, or node_modules/lockfile copied from another OS, as in a Docker build):',
    '  remove node_modules and package-lock.json, then run `npm install` on the machine (or in the image) that runs the app.',
    'Otherwise build the binary from source (needs the Rust toolchain from https://rustup.rs and a C compiler):',
    `  git clone the ${pkg.name} repository, then in it: npm install && npm run build`,
    `  (the published package has no Rust sources), then \`npm install /path/to/clone\` in your app,`,
    `  or point NAPI_RS_NATIVE_LIBRARY_PATH at /path/to/clone/${pkg.napi.binaryName}.${suffix}.node.`,
    'What the loader tried:',
    ...attemptMessages(original).map((message) => `  - ${message}`),
  ]
  const error = new Error(lines.join('\n'))
  error.code = 'ERR_PARTNER_SYNC_NO_BINDING'
  error.cause = original
  return error
}

function loadNative() {
  try {
    return require('../binding.js')
  } catch (error) {
    throw noBindingError(error)
  }
}

module.exports = loadNative()
