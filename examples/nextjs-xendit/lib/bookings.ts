// The app's "local database": one JSON file, enough to show where the real update goes.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'

export interface BookingPayment {
  status: 'LUNAS'
  paidAmount: number
  paymentMethod: string
  invoiceId: string
  paidAt: string
}

// A fixed path under the app, so the bundler's file tracing stays scoped to .data/.
const STORE_DIR = path.join(process.cwd(), '.data')
const STORE_FILE = path.join(process.cwd(), '.data', 'bookings.json')
const STORE_TMP_FILE = path.join(process.cwd(), '.data', 'bookings.json.tmp')

async function readAll(): Promise<Record<string, BookingPayment>> {
  try {
    return JSON.parse(await readFile(STORE_FILE, 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }
}

// Serialised so two callbacks arriving together cannot overwrite each other's update.
let queue: Promise<unknown> = Promise.resolve()

export function recordPayment(bookingId: string, payment: BookingPayment): Promise<void> {
  const update = queue.then(async () => {
    const bookings = await readAll()
    bookings[bookingId] = payment
    await mkdir(STORE_DIR, { recursive: true })
    // Write then rename, so a crash never leaves half a file.
    await writeFile(STORE_TMP_FILE, JSON.stringify(bookings, null, 2))
    await rename(STORE_TMP_FILE, STORE_FILE)
  })
  queue = update.catch(() => {})
  return update
}
