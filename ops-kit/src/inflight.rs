//! The requests being served right now, so that a shutdown that runs out of
//! time can say which ones it abandoned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{Method, Uri};

use crate::RequestId;

/// One request in flight.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) request_id: RequestId,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) started: Instant,
}

/// The registry; shared by the layer and the shutdown sequence.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
}

impl InFlight {
    pub(crate) fn register(&self, entry: Entry) -> Registration {
        let key = self.inner.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.inner.entries.lock() {
            entries.insert(key, entry);
        }
        Registration {
            registry: self.clone(),
            key,
        }
    }

    /// The requests still in flight, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .inner
            .entries
            .lock()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default();
        entries.sort_by_key(|e| e.started);
        entries
    }
}

/// Removes its request from the registry when dropped (response sent, or the
/// client went away and the request future was dropped).
#[derive(Debug)]
pub(crate) struct Registration {
    registry: InFlight,
    key: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut entries) = self.registry.inner.entries.lock() {
            entries.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_a_request_when_its_registration_is_dropped() {
        let registry = InFlight::default();
        let entry = Entry {
            request_id: RequestId::generate(),
            method: Method::GET,
            uri: Uri::from_static("/slow"),
            started: Instant::now(),
        };
        let registration = registry.register(entry);
        assert_eq!(registry.snapshot().len(), 1);
        assert_eq!(registry.snapshot()[0].uri.path(), "/slow");
        drop(registration);
        assert!(registry.snapshot().is_empty());
    }
}
