// Writes a small, valid SQLite database file by hand (file format 4, https://sqlite.org/fileformat.html),
// so the outbox tests can put a table partner-sync did not create in its way without any
// SQLite package: one page for sqlite_master, then one empty leaf page per table.

const PAGE_SIZE = 4096

function varint(n) {
  // Only values below 2^14 are needed here: one or two bytes.
  if (n < 0x80) return [n]
  if (n < 0x4000) return [0x80 | (n >> 7), n & 0x7f]
  throw new RangeError(`varint ${n} is out of this helper's range`)
}

// A record of text and small integer columns, as the file format encodes it.
function record(values) {
  const types = []
  const data = []
  for (const value of values) {
    if (typeof value === 'number') {
      types.push(1) // 8-bit signed integer
      data.push(value)
    } else {
      const bytes = Buffer.from(value, 'utf8')
      types.push(bytes.length * 2 + 13)
      data.push(...bytes)
    }
  }
  const typeBytes = types.flatMap(varint)
  let headerSize = typeBytes.length + 1
  if (varint(headerSize).length > 1) headerSize += 1
  return Buffer.from([...varint(headerSize), ...typeBytes, ...data])
}

// A table b-tree leaf page (type 13) holding the given cells, at `headerAt` within the page.
function leafPage(cells, headerAt = 0) {
  const page = Buffer.alloc(PAGE_SIZE)
  let contentStart = PAGE_SIZE
  const pointers = []
  for (const cell of cells) {
    contentStart -= cell.length
    cell.copy(page, contentStart)
    pointers.push(contentStart)
  }
  page[headerAt] = 13
  page.writeUInt16BE(0, headerAt + 1) // no freeblocks
  page.writeUInt16BE(cells.length, headerAt + 3)
  page.writeUInt16BE(contentStart, headerAt + 5)
  page[headerAt + 7] = 0
  pointers.forEach((pointer, i) => page.writeUInt16BE(pointer, headerAt + 8 + 2 * i))
  return page
}

/**
 * The bytes of a database whose tables are `tables` ({ name, sql }), all empty.
 * `sqlite3 file .schema` prints them back.
 */
export function sqliteDatabase(tables) {
  const cells = tables.map(({ name, sql }, i) => {
    const payload = record(['table', name, name, i + 2, sql])
    return Buffer.concat([Buffer.from([...varint(payload.length), ...varint(i + 1)]), payload])
  })
  const first = leafPage(cells, 100)
  first.write('SQLite format 3\0', 0, 'latin1')
  first.writeUInt16BE(PAGE_SIZE, 16)
  first[18] = 1 // legacy (rollback journal) write version
  first[19] = 1 // and read version
  first[20] = 0 // reserved bytes per page
  first[21] = 64
  first[22] = 32
  first[23] = 32
  first.writeUInt32BE(1, 24) // file change counter
  first.writeUInt32BE(tables.length + 1, 28) // pages in the file
  first.writeUInt32BE(1, 40) // schema cookie
  first.writeUInt32BE(4, 44) // schema format
  first.writeUInt32BE(1, 56) // UTF-8
  first.writeUInt32BE(1, 92) // version-valid-for = the change counter
  first.writeUInt32BE(3045000, 96)
  return Buffer.concat([first, ...tables.map(() => leafPage([]))])
}
