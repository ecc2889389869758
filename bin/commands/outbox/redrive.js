'use strict'

// partner-sync outbox redrive: deliver every due entry now, with a progress bar when there are many.

const cliProgress = require('cli-progress')
const { plural } = require('../../internal.js')
const { addSettingOptions, DELIVERY_GROUPS, wholeNumber, jsonOption } = require('../../options.js')
const cli = require('../../context.js')

const REDRIVE_BATCH = 25
// How many pending entries a redrive looks at to report those not due yet.
const PENDING_SCAN = 1000

// Pending entries a redrive does not send because their next attempt is still to come.
async function notYetDue(client) {
  const pending = await cli.callOutbox(() => client.outbox.list({ state: 'pending', limit: PENDING_SCAN }))
  const now = Date.now()
  const waiting = pending
    .map((entry) => entry.nextAttemptAt)
    .filter((at) => at && Date.parse(at) > now)
    .sort()
  return { count: waiting.length, scannedAll: pending.length < PENDING_SCAN, nextAttemptAt: waiting[0] }
}

// Ctrl-C or a kill while the bar hides the cursor: show the cursor again, then die of that signal.
function stopBarOnSignal(bar) {
  const signals = ['SIGINT', 'SIGTERM']
  const onSignal = (signal) => {
    for (const other of signals) process.off(other, onSignal)
    bar.stop()
    process.kill(process.pid, signal)
  }
  for (const signal of signals) process.on(signal, onSignal)
  return () => {
    for (const signal of signals) process.off(signal, onSignal)
    bar.stop()
  }
}

function startBar() {
  const format = 'redrive [{bar}] {value}/{total} entries | {rate} entries/s | ETA {eta_formatted}'
  return new cliProgress.SingleBar({ format, hideCursor: true }, cliProgress.Presets.shades_classic)
}

// Redrives in batches so a bar can show entries done / total; the first batch tells the total.
async function redriveInBatches(client, opts) {
  const totals = { delivered: 0, failed: 0, dead: 0, superseded: 0, remaining: 0 }
  const handled = () => totals.delivered + totals.failed + totals.dead
  let bar
  let stopBar = () => {}
  let left = opts.limit !== undefined ? opts.limit : Infinity
  try {
    while (left > 0) {
      const batch = await client.redrivePending({ limit: Math.min(REDRIVE_BATCH, left) })
      if (batch.error || batch.message) throw cli.outboxFailure(batch.error || batch.message)
      const done = batch.delivered + batch.failed + batch.dead
      for (const key of ['delivered', 'failed', 'dead', 'superseded']) totals[key] += batch[key]
      totals.remaining = batch.remaining
      left -= done
      // Only worth a bar when more than one batch is due, and only for a person watching.
      if (!bar && batch.remaining > 0 && process.stderr.isTTY && !opts.json) {
        bar = startBar()
        // Before start() hides the cursor, so no signal can find it hidden and unhandled.
        stopBar = stopBarOnSignal(bar)
        bar.start(done + Math.min(batch.remaining, left), 0, { rate: '-' })
      }
      if (bar) bar.update(handled(), { rate: (handled() / ((Date.now() - bar.startTime) / 1000 || 1)).toFixed(1) })
      // Failed entries are rescheduled into the future, so an empty batch or nothing due ends the run.
      if (done === 0 || batch.remaining === 0) break
    }
  } finally {
    stopBar()
  }
  return totals
}

async function redriveCommand(opts) {
  cli.requireOutbox(opts)
  cli.requireSecret(opts)
  const client = cli.createClient(opts)
  const totals = await redriveInBatches(client, opts)
  const waiting = await notYetDue(client)
  if (opts.json) cli.printJson({ ...totals, notYetDue: waiting.count, nextAttemptAt: waiting.nextAttemptAt })
  else {
    console.log(
      `Redrive: ${totals.delivered} delivered, ${totals.failed} failed (rescheduled), ${totals.dead} dead, ` +
        `${totals.superseded} superseded (older than a body of their booking the partner accepted), ` +
        `${totals.remaining} still due.`,
    )
    if (waiting.count > 0) {
      const entries = plural(waiting.count, 'pending entry', 'pending entries')
      const count = `${waiting.scannedAll ? '' : 'at least '}${entries}`
      console.log(
        `${count} not due yet (the next at ${waiting.nextAttemptAt}): a redrive sends only what is due; ` +
          'partner-sync outbox retry <id> makes an entry due now ' +
          '(partner-sync outbox list --state pending shows the ids).',
      )
    }
  }
  return totals.failed + totals.dead > 0 ? cli.EXIT_FAILED : cli.EXIT_OK
}

function register(outbox) {
  addSettingOptions(outbox.command('redrive'), ...DELIVERY_GROUPS)
    .description('Deliver every due entry now, with a progress bar when there are many')
    .option('--limit <n>', 'at most this many entries', wholeNumber(1))
    .addOption(jsonOption('the counts'))
    .action(cli.withExitCode(redriveCommand))
}

module.exports = { register }
