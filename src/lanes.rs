//! One request per booking on the wire at a time in this process, and the newest sync wins.
//! Syncs of one booking (at one partner URL) queue for the wire; an older sync that waits to
//! retry, or waits for the wire, stops as soon as a newer sync of that booking starts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{watch, Mutex as AsyncMutex, OwnedMutexGuard};
use tokio::time::Instant;

use crate::abort::Abort;

/// A sync's place among its booking's: its body's timestamp (the JS layer makes them strictly
/// increasing per process), then the order in which the calls reached the core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Newest {
    pub version_ms: i64,
    pub call: u64,
}

struct Lane {
    newest: watch::Sender<Newest>,
    /// Held while a request of this booking is on the wire.
    wire: Arc<AsyncMutex<()>>,
    /// The partner may still be processing a request that got no answer, until then.
    quiet_until: Mutex<Option<Instant>>,
}

fn lanes() -> MutexGuard<'static, HashMap<String, Arc<Lane>>> {
    static LANES: OnceLock<Mutex<HashMap<String, Arc<Lane>>>> = OnceLock::new();
    LANES.get_or_init(Default::default).lock()
}

static CALLS: AtomicU64 = AtomicU64::new(1);
/// Lanes kept only for their quiet period are swept out once there are this many.
const SWEEP_ABOVE: usize = 1024;

impl Lane {
    fn quiet_until(&self) -> Option<Instant> {
        *self.quiet_until.lock()
    }

    fn is_quiet(&self) -> bool {
        self.quiet_until()
            .is_some_and(|until| until > Instant::now())
    }
}

/// Why a sync may not send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// A newer sync of this booking started.
    Superseded(Newest),
    /// The wire stays busy, or the booking quiet, beyond the deadline.
    Busy { quiet_until: Option<Instant> },
    /// The caller's `AbortSignal` fired.
    Aborted,
}

/// A sync's place in its booking's lane; the lane goes away with its last ticket.
pub struct Ticket {
    key: String,
    lane: Arc<Lane>,
    /// `None` for a redrive of a stored entry: it queues for the wire but neither supersedes
    /// nor is superseded here (the outbox orders entries).
    place: Option<Newest>,
    abort: Option<Abort>,
}

impl Ticket {
    fn join(url: &str, booking_id: &str, newest: Option<i64>) -> Ticket {
        let key = format!("{url}\u{0}{booking_id}");
        let mut lanes = lanes();
        if lanes.len() > SWEEP_ABOVE {
            lanes.retain(|_, lane| Arc::strong_count(lane) > 1 || lane.is_quiet());
        }
        let lane = lanes
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Lane {
                    newest: watch::Sender::new(Newest::default()),
                    wire: Arc::default(),
                    quiet_until: Mutex::new(None),
                })
            })
            .clone();
        let place = newest.map(|version_ms| {
            let place = Newest {
                version_ms,
                call: CALLS.fetch_add(1, Ordering::Relaxed),
            };
            // Only ever forward: a sync that starts late with an older body is superseded at once.
            lane.newest.send_if_modified(|newest| {
                let newer = place > *newest;
                if newer {
                    *newest = place;
                }
                newer
            });
            place
        });
        Ticket {
            key,
            lane,
            place,
            abort: None,
        }
    }

    /// A new sync: newer than every sync of this booking that started before it.
    pub fn newest(url: &str, booking_id: &str, version_ms: i64) -> Ticket {
        Ticket::join(url, booking_id, Some(version_ms))
    }

    /// Stops waiting (and sending) when the caller's signal fires.
    pub fn with_abort(mut self, abort: Option<Abort>) -> Ticket {
        self.abort = abort;
        self
    }

    /// Resolves when the caller aborts; never without a signal.
    pub async fn aborted(&self) {
        match &self.abort {
            Some(abort) => abort.fired().await,
            None => std::future::pending().await,
        }
    }

    /// A redrive of a stored entry.
    pub fn follower(url: &str, booking_id: &str) -> Ticket {
        Ticket::join(url, booking_id, None)
    }

    /// The newer sync that took over, if one did.
    pub fn superseded_by(&self) -> Option<Newest> {
        let newest = *self.lane.newest.borrow();
        self.place.filter(|&place| newest > place).map(|_| newest)
    }

    /// Whether this sync may still go on: not aborted, not superseded. Never waits.
    pub fn check(&self) -> Result<(), Blocked> {
        if self.abort.as_ref().is_some_and(Abort::is_fired) {
            return Err(Blocked::Aborted);
        }
        self.superseded_by()
            .map_or(Ok(()), |n| Err(Blocked::Superseded(n)))
    }

    /// Resolves when a newer sync of the booking starts; never for a redrive (no place).
    async fn newer_sync(&self, newer: &mut watch::Receiver<Newest>) {
        if self.place.is_some() {
            // Every change is a newer sync: the newest only moves forward.
            let _ = newer.changed().await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// Waits `duration`, cut short when a newer sync of the booking starts.
    pub async fn wait(&self, duration: Duration) -> Result<(), Blocked> {
        self.check()?;
        let mut newer = self.lane.newest.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = self.newer_sync(&mut newer) => {}
            _ = self.aborted() => {}
        }
        self.check()
    }

    /// Waits for the wire, then for the end of any quiet period, until `deadline`.
    /// The guard keeps other requests of this booking off the wire while it lives.
    pub async fn acquire(&self, deadline: Instant) -> Result<OwnedMutexGuard<()>, Blocked> {
        let mut newer = self.lane.newest.subscribe();
        let guard = loop {
            self.check()?;
            // Biased: a free wire is taken even when the deadline has passed meanwhile; the
            // caller then says the time ran out, not that another request held the wire.
            tokio::select! {
                biased;
                guard = self.lane.wire.clone().lock_owned() => break guard,
                _ = self.newer_sync(&mut newer) => continue,
                _ = self.aborted() => return Err(Blocked::Aborted),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Blocked::Busy { quiet_until: self.lane.quiet_until() });
                }
            }
        };
        while let Some(until) = self
            .lane
            .quiet_until()
            .filter(|&until| until > Instant::now())
        {
            if until >= deadline {
                return Err(Blocked::Busy {
                    quiet_until: Some(until),
                });
            }
            self.wait(until - Instant::now()).await?;
        }
        self.check()?;
        Ok(guard)
    }

    /// The partner may still be processing what was just sent: keep the booking quiet.
    pub fn keep_quiet(&self, period: Duration) {
        let until = Instant::now() + period;
        let mut quiet = self.lane.quiet_until.lock();
        *quiet = Some(quiet.map_or(until, |earlier| earlier.max(until)));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut lanes = lanes();
        // The map's reference and ours: nobody else is in this lane. A quiet lane stays, so
        // that the next sync of the booking still waits.
        if Arc::strong_count(&self.lane) == 2 && !self.lane.is_quiet() {
            lanes.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn a_newer_sync_stops_an_older_one_that_waits() {
        let older = Ticket::newest("u", "b", 1);
        let waiting = tokio::spawn(async move {
            let started = Instant::now();
            (older.wait(Duration::from_secs(10)).await, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let newer = Ticket::newest("u", "b", 2);
        let (result, waited) = waiting.await.unwrap();
        assert!(matches!(result, Err(Blocked::Superseded(n)) if n.version_ms == 2));
        assert!(waited < Duration::from_secs(5));
        assert!(newer.acquire(soon(1000)).await.is_ok());
    }

    #[tokio::test]
    async fn the_body_timestamp_decides_not_the_order_the_core_saw_the_calls_in() {
        let newer = Ticket::newest("u", "late", 20);
        let older = Ticket::newest("u", "late", 10);
        assert!(older.superseded_by().is_some());
        assert!(newer.superseded_by().is_none());
        assert!(matches!(
            older.acquire(soon(100)).await,
            Err(Blocked::Superseded(n)) if n.version_ms == 20
        ));
    }

    #[tokio::test]
    async fn one_request_per_booking_on_the_wire() {
        let first = Ticket::follower("u", "one");
        let second = Ticket::follower("u", "one");
        let other = Ticket::follower("u", "two");
        let held = first.acquire(soon(1000)).await.unwrap();
        assert!(matches!(
            second.acquire(soon(30)).await,
            Err(Blocked::Busy { .. })
        ));
        assert!(
            other.acquire(soon(30)).await.is_ok(),
            "bookings are independent"
        );
        drop(held);
        assert!(second.acquire(soon(30)).await.is_ok());
    }

    #[tokio::test]
    async fn a_quiet_period_holds_the_booking() {
        let timed_out = Ticket::follower("u", "quiet");
        timed_out.keep_quiet(Duration::from_millis(60));
        let next = Ticket::follower("u", "quiet");
        assert!(matches!(
            next.acquire(soon(30)).await,
            Err(Blocked::Busy {
                quiet_until: Some(_)
            })
        ));
        let started = Instant::now();
        assert!(next.acquire(soon(1000)).await.is_ok());
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_quiet_period_outlives_the_sync_that_started_it() {
        Ticket::follower("u", "outlives").keep_quiet(Duration::from_secs(60));
        let next = Ticket::follower("u", "outlives");
        assert!(matches!(
            next.acquire(soon(30)).await,
            Err(Blocked::Busy {
                quiet_until: Some(_)
            })
        ));
    }

    #[tokio::test]
    async fn lanes_are_removed_with_their_last_ticket() {
        let key = "u\u{0}gone".to_string();
        let ticket = Ticket::newest("u", "gone", 1);
        assert!(lanes().contains_key(&key));
        drop(ticket);
        assert!(!lanes().contains_key(&key));
    }
}
