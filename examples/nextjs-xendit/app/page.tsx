export default function Home() {
  return (
    <main>
      <h1>smashcourts × smashpartner</h1>
      <p>
        Xendit posts invoice callbacks to <code>/api/webhooks/xendit</code>; paid bookings are forwarded to
        smashpartner.online by <code>@smashcourts/partner-sync</code>.
      </p>
    </main>
  )
}
