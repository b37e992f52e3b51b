//! A keyed cache with single flight: for each key at most one fetch runs at a time, and callers
//! asking for the same key meanwhile wait for its result instead of fetching again. Used for
//! Maskinporten and Altinn tokens and for Service Registry answers.
//!
//! Values are kept until their `fresh_until` instant; errors are never cached (the next caller
//! fetches again). A fetch that panics leaves no stuck entry behind.

use crate::error::Result;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

enum Slot<V> {
    Ready { value: V, fresh_until: Instant },
    Fetching,
}

pub struct SingleFlight<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
    changed: Condvar,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            slots: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        }
    }
}

/// Removes a `Fetching` mark if the fetch unwinds, and wakes the waiters.
struct FetchGuard<'a, K: Eq + Hash + Clone, V> {
    cache: &'a SingleFlight<K, V>,
    key: Option<K>,
}

impl<K: Eq + Hash + Clone, V> Drop for FetchGuard<'_, K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut slots = self.cache.lock();
            if matches!(slots.get(&key), Some(Slot::Fetching)) {
                slots.remove(&key);
            }
            drop(slots);
            self.cache.changed.notify_all();
        }
    }
}

impl<K, V> SingleFlight<K, V> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Slot<V>>> {
        // A poisoned lock only means another thread panicked mid-update of a plain map; the map
        // itself is still consistent (every update is one insert or remove).
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fresh value for `key`, or the result of `fetch` (which returns the value and how long
    /// it may be used). Only one `fetch` per key runs at a time.
    pub fn get_or_fetch(
        &self,
        key: &K,
        fetch: impl FnOnce() -> Result<(V, Duration)>,
    ) -> Result<V> {
        let mut slots = self.lock();
        loop {
            match slots.get(key) {
                Some(Slot::Ready { value, fresh_until }) if Instant::now() < *fresh_until => {
                    return Ok(value.clone());
                }
                Some(Slot::Fetching) => {
                    slots = self.changed.wait(slots).unwrap_or_else(|p| p.into_inner());
                }
                _ => break,
            }
        }
        slots.insert(key.clone(), Slot::Fetching);
        drop(slots);

        let mut guard = FetchGuard {
            cache: self,
            key: Some(key.clone()),
        };
        let result = fetch();
        let mut slots = self.lock();
        match &result {
            Ok((value, fresh_for)) => {
                slots.insert(
                    key.clone(),
                    Slot::Ready {
                        value: value.clone(),
                        fresh_until: Instant::now() + *fresh_for,
                    },
                );
            }
            Err(_) => {
                slots.remove(key);
            }
        }
        drop(slots);
        guard.key = None;
        self.changed.notify_all();
        result.map(|(v, _)| v)
    }

    /// The cached value if still fresh, without fetching.
    pub fn peek(&self, key: &K) -> Option<V> {
        match self.lock().get(key) {
            Some(Slot::Ready { value, fresh_until }) if Instant::now() < *fresh_until => {
                Some(value.clone())
            }
            _ => None,
        }
    }

    /// Drop the cached value for `key` if `stale` says it is the one the caller saw fail (so a
    /// late 401 for an old token does not throw away a newer one).
    pub fn invalidate_if(&self, key: &K, stale: impl Fn(&V) -> bool) -> bool {
        let mut slots = self.lock();
        if let Some(Slot::Ready { value, .. }) = slots.get(key) {
            if stale(value) {
                slots.remove(key);
                return true;
            }
        }
        false
    }

    pub fn invalidate(&self, key: &K) {
        let mut slots = self.lock();
        if let Some(Slot::Ready { .. }) = slots.get(key) {
            slots.remove(key);
        }
    }

    pub fn clear(&self) {
        self.lock().retain(|_, s| matches!(s, Slot::Fetching));
    }
}

/// How long a token that lives `lifetime` may be used: until `margin` before its end, but at
/// least half its life (so a short-lived token is not refetched on every call).
pub fn usable_for(lifetime: Duration, margin: Duration) -> Duration {
    if lifetime > margin * 2 {
        lifetime - margin
    } else {
        lifetime / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn one_fetch_for_concurrent_callers() {
        let cache = Arc::new(SingleFlight::<String, u32>::new());
        let fetches = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                let fetches = fetches.clone();
                std::thread::spawn(move || {
                    cache
                        .get_or_fetch(&"k".to_string(), || {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(100));
                            Ok((7, Duration::from_secs(60)))
                        })
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 7);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn expiry_errors_and_invalidation() {
        let cache = SingleFlight::<u8, u32>::new();
        let v = cache
            .get_or_fetch(&1, || Ok((1, Duration::from_millis(30))))
            .unwrap();
        assert_eq!(v, 1);
        assert_eq!(cache.peek(&1), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.peek(&1), None);
        let v = cache
            .get_or_fetch(&1, || Ok((2, Duration::from_secs(60))))
            .unwrap();
        assert_eq!(v, 2);
        // Invalidation only for the value the caller saw fail.
        assert!(!cache.invalidate_if(&1, |v| *v == 1));
        assert_eq!(cache.peek(&1), Some(2));
        assert!(cache.invalidate_if(&1, |v| *v == 2));
        assert_eq!(cache.peek(&1), None);
        // Errors are not cached.
        let e = cache
            .get_or_fetch(&1, || Err(Error::new(ErrorKind::Network, "down")))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network);
        assert_eq!(
            cache
                .get_or_fetch(&1, || Ok((3, Duration::from_secs(60))))
                .unwrap(),
            3
        );
    }

    #[test]
    fn a_panicking_fetch_leaves_no_stuck_entry() {
        let cache = Arc::new(SingleFlight::<u8, u32>::new());
        let c = cache.clone();
        let r = std::thread::spawn(move || {
            let _ = c.get_or_fetch(&1, || panic!("fetch failed hard"));
        })
        .join();
        assert!(r.is_err());
        assert_eq!(
            cache
                .get_or_fetch(&1, || Ok((5, Duration::from_secs(1))))
                .unwrap(),
            5
        );
    }

    #[test]
    fn margins() {
        assert_eq!(
            usable_for(Duration::from_secs(599), Duration::from_secs(30)),
            Duration::from_secs(569)
        );
        assert_eq!(
            usable_for(Duration::from_secs(40), Duration::from_secs(30)),
            Duration::from_secs(20)
        );
    }
}
