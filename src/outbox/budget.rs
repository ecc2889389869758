//! How long the outbox step in progress may take. A sync gives each of its outbox steps a share
//! of its deadline (`within`); the backends read what is left (`left`): SQLite waits for another
//! process's lock no longer, PostgreSQL tries a lost connection again until time runs out.
//! Steps outside a sync (a redrive, the operator's calls) run without one.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::OutboxError;

tokio::task_local! {
    static UNTIL: Instant;
}

/// Runs `work` for at most `budget`; past it, `work` is dropped and the step reported as timed
/// out (a statement already sent may still take effect).
pub async fn within<T>(
    budget: Duration,
    work: impl Future<Output = Result<T, OutboxError>>,
) -> Result<T, OutboxError> {
    let until = Instant::now() + budget;
    UNTIL
        .scope(until, tokio::time::timeout_at(until, work))
        .await
        .unwrap_or(Err(OutboxError::Timeout(budget)))
}

/// What is left of the step's budget; `None` when the step has none.
pub fn left() -> Option<Duration> {
    until().map(|until| until.saturating_duration_since(Instant::now()))
}

/// When the step's budget ends; `None` when the step has none.
pub fn until() -> Option<Instant> {
    UNTIL.try_with(|until| *until).ok()
}

/// `limit`, or less when the step's budget has less left.
pub fn capped(limit: Duration) -> Duration {
    left().map_or(limit, |left| left.min(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_past_its_budget_is_cut_and_reported() {
        let slow = within(Duration::from_millis(20), async {
            assert!(left().is_some_and(|left| left <= Duration::from_millis(20)));
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        });
        let started = Instant::now();
        assert!(matches!(slow.await, Err(OutboxError::Timeout(_))));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(left().is_none());
    }
}
