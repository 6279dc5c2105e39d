use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
struct Entry {
    value: Value,
    expires: Instant,
}

#[derive(Debug)]
enum Value {
    Counter(u64),
    Text(String),
}

/// The in-memory backend: a map behind a mutex, expired entries dropped as
/// they are met and swept every 1,024 writes so that the map cannot grow
/// without bound.
#[derive(Debug, Default)]
pub(super) struct MemoryCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    writes: u64,
}

impl State {
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires <= now) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes % 1024 == 0 {
            self.entries.retain(|_, e| e.expires > now);
        }
    }
}

impl MemoryCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn incr(&self, key: &str, window: Duration) -> u64 {
        let now = Instant::now();
        let mut state = self.lock();
        let count = match state.live(key, now) {
            Some(Entry {
                value: Value::Counter(n),
                ..
            }) => {
                *n += 1;
                *n
            }
            _ => {
                state.entries.insert(
                    key.to_owned(),
                    Entry {
                        value: Value::Counter(1),
                        expires: now + window,
                    },
                );
                1
            }
        };
        state.wrote(now);
        count
    }

    pub(super) fn ttl(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        self.lock().live(key, now).map(|e| e.expires - now)
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        match self.lock().live(key, Instant::now()) {
            Some(Entry {
                value: Value::Text(text),
                ..
            }) => Some(text.clone()),
            Some(Entry {
                value: Value::Counter(n),
                ..
            }) => Some(n.to_string()),
            None => None,
        }
    }

    pub(super) fn set(&self, key: &str, value: &str, ttl: Duration) {
        let now = Instant::now();
        let mut state = self.lock();
        state.entries.insert(
            key.to_owned(),
            Entry {
                value: Value::Text(value.to_owned()),
                expires: now + ttl,
            },
        );
        state.wrote(now);
    }

    pub(super) fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        if state.live(key, now).is_some() {
            return false;
        }
        state.entries.insert(
            key.to_owned(),
            Entry {
                value: Value::Text(value.to_owned()),
                expires: now + ttl,
            },
        );
        state.wrote(now);
        true
    }

    pub(super) fn delete(&self, key: &str) {
        self.lock().entries.remove(key);
    }
}
