//! A bounded, oldest-out list: what keeps activity and log history from growing without end.

use std::collections::VecDeque;
use std::sync::Arc;

/// The newest `cap` entries, each behind an `Arc` so a snapshot copies pointers, not text.
#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    /// Oldest first.
    items: VecDeque<Arc<T>>,
    /// Most entries kept.
    cap: usize,
}

impl<T> Ring<T> {
    /// An empty ring keeping at most `cap` entries.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            items: VecDeque::with_capacity(cap.min(64)),
            cap,
        }
    }

    /// Appends, dropping the oldest entry when full.
    pub(crate) fn push(&mut self, item: T) {
        if self.cap == 0 {
            return;
        }
        while self.items.len() >= self.cap {
            self.items.pop_front();
        }
        self.items.push_back(Arc::new(item));
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    /// How many entries are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The entries, oldest first, sharing their contents.
    pub(crate) fn to_shared(&self) -> Arc<[Arc<T>]> {
        self.items.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_up_to_its_cap() {
        let mut ring = Ring::new(3);
        for i in 0..10 {
            ring.push(i);
        }
        assert_eq!(ring.len(), 3);
        let kept: Vec<i32> = ring.to_shared().iter().map(|i| **i).collect();
        assert_eq!(kept, [7, 8, 9]);
        ring.clear();
        assert_eq!(ring.len(), 0);
        let mut none = Ring::new(0);
        none.push(1);
        assert_eq!(none.len(), 0);
    }
}
