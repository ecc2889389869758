//! The caller's `AbortSignal`, seen from the core: the JS layer registers an id before the
//! call (so an abort that comes before the core starts is not missed) and fires it on abort.

use std::collections::HashMap;
use std::sync::OnceLock;

use parking_lot::{Mutex, MutexGuard};

use tokio::sync::watch;

fn registry() -> MutexGuard<'static, HashMap<u32, watch::Sender<bool>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u32, watch::Sender<bool>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default).lock()
}

/// Makes `id` abortable; the sync that takes it unregisters it when it ends.
pub fn register(id: u32) {
    registry().insert(id, watch::Sender::new(false));
}

/// Aborts the sync registered as `id`; nothing when it already ended.
pub fn fire(id: u32) {
    if let Some(sender) = registry().get(&id) {
        sender.send_replace(true);
    }
}

/// What a sync watches for its abort, unregistered when dropped.
pub struct Abort {
    id: u32,
    fired: watch::Receiver<bool>,
}

impl Abort {
    /// The signal registered as `id`, if the caller gave one.
    pub fn take(id: Option<u32>) -> Option<Abort> {
        let id = id?;
        let fired = registry().get(&id)?.subscribe();
        Some(Abort { id, fired })
    }

    pub fn is_fired(&self) -> bool {
        *self.fired.borrow()
    }

    /// Resolves once the signal fires (at once if it already did).
    pub async fn fired(&self) {
        let mut fired = self.fired.clone();
        let _ = fired.wait_for(|aborted| *aborted).await;
    }
}

impl Drop for Abort {
    fn drop(&mut self) {
        registry().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_abort_before_the_core_starts_is_seen() {
        register(7);
        fire(7);
        let abort = Abort::take(Some(7)).unwrap();
        assert!(abort.is_fired());
        abort.fired().await;
        drop(abort);
        fire(7); // after the end: nothing to do, nothing kept
        assert!(Abort::take(Some(7)).is_none());
    }
}
