'use strict'

// "1 attempt", "3 attempts", "2 pending entries": for log lines and the CLI alike.
function plural(count, word, pluralWord = `${word}s`) {
  return `${count} ${count === 1 ? word : pluralWord}`
}

module.exports = { plural }
