//! The requests being served right now, so that a shutdown that runs out of
//! time can say which ones it abandoned.

use std::sync::{Arc, Mutex};

use crate::context::RequestScope;

/// One request in flight: its shared scope (id, method, path, start).
pub(crate) type Entry = Arc<RequestScope>;

/// The registry; shared by the layer and the shutdown sequence.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    slots: Mutex<Slots>,
}

/// A slab: slots are reused through a free list, so steady traffic neither
/// allocates nor rehashes.
#[derive(Debug, Default)]
struct Slots {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
}

impl InFlight {
    pub(crate) fn register(&self, entry: Entry) -> Registration {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        let key = match slots.free.pop() {
            Some(key) => {
                slots.entries[key] = Some(entry);
                key
            }
            None => {
                slots.entries.push(Some(entry));
                slots.entries.len() - 1
            }
        };
        drop(slots);
        Registration {
            registry: self.clone(),
            key,
        }
    }

    /// How many requests are in flight.
    pub(crate) fn len(&self) -> usize {
        let slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entries.len() - slots.free.len()
    }

    /// The requests still in flight, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .iter()
            .flatten()
            .cloned()
            .collect();
        entries.sort_by_key(|e| e.started);
        entries
    }
}

/// Removes its request from the registry when dropped (response sent, or the
/// client went away and the request future was dropped).
#[derive(Debug)]
pub(crate) struct Registration {
    registry: InFlight,
    key: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut slots = self
            .registry
            .inner
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slots.entries[self.key] = None;
        slots.free.push(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestId;
    use http::Method;

    fn entry(method: Method, path: &'static str) -> Entry {
        Arc::new(RequestScope::new(
            RequestId::generate(),
            method,
            path,
            None,
            None,
            Arc::default(),
        ))
    }

    #[test]
    fn forgets_a_request_when_its_registration_is_dropped() {
        let registry = InFlight::default();
        let registration = registry.register(entry(Method::GET, "/slow"));
        assert_eq!(registry.snapshot().len(), 1);
        assert_eq!(registry.snapshot()[0].path(), "/slow");
        drop(registration);
        assert!(registry.snapshot().is_empty());
        // The slot is reused.
        let again = registry.register(entry(Method::POST, "/again"));
        assert_eq!(again.key, 0);
    }
}
