'use strict'

// Text formatting shared by the CLI commands and the demo.

function ms(value) {
  return `${Math.round(value)} ms`
}

// Left-aligned columns, two spaces apart; `rows` are arrays of cells.
function formatTable(headers, rows) {
  const cells = [headers, ...rows].map((row) =>
    row.map((cell) => (cell === undefined || cell === null ? '' : String(cell))),
  )
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column].length)))
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

// One row per HTTP attempt: what came back, how long it took, and the backoff after it.
function formatAttempts(attemptLog, indent = '') {
  const rows = attemptLog.map((attempt) => [
    attempt.attempt,
    // The error kind is enough per row: the final message gives the whole story.
    attempt.status !== undefined ? `HTTP ${attempt.status}` : attempt.error.kind,
    ms(attempt.durationMs),
    attempt.waitMs !== undefined ? ms(attempt.waitMs) : '',
  ])
  return formatTable(['attempt', 'result', 'took', 'then waited'], rows)
    .split('\n')
    .map((line) => indent + line)
    .join('\n')
}

// "name  value" lines, the names aligned.
function formatPairs(pairs) {
  return formatTable(['', ''], pairs).split('\n').slice(1).join('\n')
}

module.exports = { ms, formatTable, formatPairs, formatAttempts }
