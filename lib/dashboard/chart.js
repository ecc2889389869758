'use strict'

// The overview's bar chart of the last 24 hours: inline SVG, one group of bars per hour.

const { escapeHtml } = require('./html.js')

const WIDTH = 760
const HEIGHT = 180
const TOP = 10
const BOTTOM = 24
const LEFT = 34
const SERIES = [
  ['delivered', '#1a7f37'],
  ['failed', '#b26b00'],
  ['dead', '#c62828'],
]

function chart(hours) {
  const slot = (WIDTH - LEFT) / hours.length
  const bar = Math.max(2, Math.floor((slot - 4) / 3))
  const max = Math.max(1, ...hours.flatMap((h) => [h.delivered, h.failed, h.dead]))
  const scale = (n) => ((HEIGHT - TOP - BOTTOM) * n) / max
  const baseline = HEIGHT - BOTTOM
  const parts = [
    `<line x1="${LEFT}" y1="${baseline}" x2="${WIDTH}" y2="${baseline}" stroke="#9aa3ad"/>`,
    `<text x="${LEFT - 4}" y="${TOP + 4}" text-anchor="end" font-size="10">${max}</text>`,
  ]
  hours.forEach((hour, i) => {
    const x = LEFT + i * slot + 2
    SERIES.forEach(([name, color], j) => {
      const h = scale(hour[name])
      const title = `<title>${escapeHtml(hour.start)}: ${hour[name]} ${name}</title>`
      const box = `x="${x + j * bar}" y="${baseline - h}" width="${bar - 1}" height="${h}"`
      parts.push(`<rect ${box} fill="${color}">${title}</rect>`)
    })
    if (i % 3 === 0) {
      parts.push(`<text x="${x}" y="${HEIGHT - 8}" font-size="10">${escapeHtml(hour.start.slice(11, 16))}</text>`)
    }
  })
  const legend = SERIES.map(([name, color]) => `<span style="color:${color}">■</span> ${name}`).join(' &nbsp; ')
  const svg =
    `<svg role="img" aria-label="Last 24 hours" width="${WIDTH}" height="${HEIGHT}" ` +
    `viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`
  return `${svg}<div class="muted">${legend} (per hour, UTC; failed = still pending after a failed attempt)</div>`
}

module.exports = { chart }
