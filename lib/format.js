'use strict'

// The wording of the library's log lines, and the counting words the CLI shares with them.

const { PREFIX } = require('./log.js')

// "1 attempt", "3 attempts", "2 pending entries": for log lines and the CLI alike.
function plural(count, word, pluralWord = `${word}s`) {
  return `${count} ${count === 1 ? word : pluralWord}`
}

// What became of a sync in the outbox, as the end of its log line.
function describeOutbox(outbox) {
  if (!outbox) return ''
  if (outbox.error && outbox.id) return `; outbox entry ${outbox.id} stays pending (${outbox.error})`
  if (outbox.error) return `; the outbox could not keep it (${outbox.error})`
  if (outbox.state === 'pending') {
    return `; kept in the outbox (entry ${outbox.id}), next attempt at ${outbox.nextAttemptAt}`
  }
  if (outbox.state === 'dead') {
    return `; outbox entry ${outbox.id} is dead: fix the cause, then retry it (partner-sync outbox retry ${outbox.id})`
  }
  if (outbox.state === 'superseded') {
    const by = outbox.supersededBy ? ` by entry ${outbox.supersededBy}` : ''
    return `; outbox entry ${outbox.id} is superseded${by}`
  }
  return ''
}

// The one line a finished sync logs, and at which level.
function syncOutcomeLine(result, report) {
  const { bookingId } = result
  const took = `${plural(result.attempts, 'attempt')}, ${Math.round(result.elapsedMs)} ms`
  if (result.ok) return { level: 'info', line: `${PREFIX} Success for booking: ${bookingId} (${took})` }
  const why = `${report.error.message}${describeOutbox(report.outbox)}`
  if (report.error.kind === 'superseded' || report.error.kind === 'aborted') {
    // Not a failure of the integration: a newer sync carries the booking's state, or the caller stopped it.
    const what = report.error.kind === 'aborted' ? 'Aborted' : 'Superseded'
    return { level: 'warn', line: `${PREFIX} ${what} for booking ${bookingId} (${took}): ${why}` }
  }
  // Kept pending, a redrive sends it: a warning. An error when a person must act (no outbox, dead, lost).
  const kept = report.outbox && report.outbox.state === 'pending'
  return { level: kept ? 'warn' : 'error', line: `${PREFIX} Failed for booking ${bookingId} (${took}): ${why}` }
}

// The line a sync's outbox trouble logs, if any: an error only for a booking that was neither
// delivered nor kept (an operator must act), a warning otherwise. `sha256()` gives the body's hash.
function outboxTroubleLine(result, sha256) {
  const { bookingId, outbox } = result
  if (!outbox || !outbox.error) return undefined
  if (result.lost) {
    return {
      level: 'error',
      line:
        `${PREFIX} Lost booking ${bookingId}: neither accepted by the partner nor kept in the outbox ` +
        `(body sha256 ${sha256()}); send it again once the partner and the outbox are reachable. Outbox: ${outbox.error}`,
    }
  }
  if (outbox.id) {
    const seen = result.ok ? 'delivered, but ' : ''
    return {
      level: 'warn',
      line: `${PREFIX} Outbox entry ${outbox.id} of booking ${bookingId} ${seen}not settled: ${outbox.error}; the partner may see it again`,
    }
  }
  const fate = result.ok ? 'delivered live, so nothing is lost' : 'not lost: a newer sync of the booking replaced it'
  return {
    level: 'warn',
    line: `${PREFIX} Outbox could not keep booking ${bookingId} (${outbox.error}); ${fate}`,
  }
}

// The line a redriven outbox entry logs, and at which level.
function redriveEntryLine(entry) {
  const where = `outbox entry ${entry.id}, attempt ${entry.attempts}`
  if (entry.state === 'delivered') {
    return { level: 'info', line: `${PREFIX} Success for booking: ${entry.bookingId} (${where})` }
  }
  const note = { id: entry.id, state: entry.state, nextAttemptAt: entry.nextAttemptAt, error: entry.outboxError }
  const message = entry.error ? entry.error.message : 'unknown error'
  return {
    level: 'error',
    line: `${PREFIX} Redrive failed for booking ${entry.bookingId} (${where}): ${message}${describeOutbox(note)}`,
  }
}

// The lines a whole redrive run logs besides its entries'.
function redriveSummaryLines({ superseded, trimmed }) {
  const lines = []
  if (superseded > 0) {
    const entries = plural(superseded, 'outbox entry', 'outbox entries')
    lines.push(
      `${PREFIX} Redrive superseded ${entries} older than a body of the same booking the partner already accepted; not sent`,
    )
  }
  if (trimmed > 0) {
    const entries = plural(trimmed, 'delivered or superseded outbox entry', 'delivered or superseded outbox entries')
    lines.push(`${PREFIX} Retention: deleted ${entries} older than PARTNER_SYNC_OUTBOX_RETENTION`)
  }
  return lines
}

module.exports = { plural, describeOutbox, syncOutcomeLine, outboxTroubleLine, redriveEntryLine, redriveSummaryLines }
