//! Work handed to rayon's pool while the calling thread does other work, borrowing the
//! caller's data ([`Handoff`]).
//!
//! `rayon::join` called from a thread outside the pool (a user's thread) queues both halves
//! and puts the caller to sleep until a worker has run them: on a busy machine the workers'
//! wake-up alone costs tens of µs. A [`Handoff`] lets the caller go on at once, and if no
//! worker has picked the job up by the time the caller needs its result, the caller runs it
//! itself instead of waiting for one to wake.

use std::sync::{Arc, Mutex, mpsc};

/// The job as the pool holds it: its borrows erased (see [`Handoff::start`]'s safety rule).
type Job<R> = Box<dyn FnOnce() -> R + Send + 'static>;

/// A job `FnOnce() -> R` borrowing data for `'a`, started on rayon's pool
/// ([`Handoff::start`]) and collected with [`Handoff::finish`].
///
/// Whichever way it ends (`finish`, or a drop while unwinding from a panic), it waits for a
/// worker that has started the job, so the job never outlives its borrows.
pub(super) struct Handoff<'a, R: Send + 'static> {
    slot: Arc<Mutex<Option<Job<R>>>>,
    done: mpsc::Receiver<R>,
    /// Whether the job has ended: taken back, or its worker's message received.
    settled: bool,
    _borrow: std::marker::PhantomData<&'a ()>,
}

impl<'a, R: Send + 'static> Handoff<'a, R> {
    /// Queues `job` on rayon's pool and returns at once.
    pub(super) fn start(job: impl FnOnce() -> R + Send + 'a) -> Handoff<'a, R> {
        let job: Box<dyn FnOnce() -> R + Send + 'a> = Box::new(job);
        // SAFETY: only the lifetime changes. The job runs either on this thread inside
        // `settle` (within `'a`) or on a worker that took it from `slot`; in that case
        // `settle` or `drop` waits for the worker's message, sent after the job has returned,
        // or for the sender to drop should the job panic. A `Handoff` is never leaked
        // (crate-private, never `mem::forget`-ed), so one of the two runs before `'a` ends.
        let job: Job<R> = unsafe { std::mem::transmute(job) };
        let slot = Arc::new(Mutex::new(Some(job)));
        let (tx, done) = mpsc::channel();
        let theirs = Arc::clone(&slot);
        rayon::spawn(move || {
            let job = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(job) = job {
                // The caller may have gone (a panic): nothing to report then.
                let _ = tx.send(job());
            }
        });
        Handoff {
            slot,
            done,
            settled: false,
            _borrow: std::marker::PhantomData,
        }
    }

    /// The job's result: computed here if no worker has started it, else the worker's.
    ///
    /// # Panics
    /// If the job panicked on a worker (or panics here).
    pub(super) fn finish(mut self) -> R {
        self.settle().expect("a handed-off job ends with a result")
    }

    /// Ends the job: takes it back if no worker has started it (and runs it here), else waits
    /// for the worker's result (`None` if the job panicked there).
    fn settle(&mut self) -> Option<R> {
        self.settled = true;
        let job = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        match job {
            Some(job) => Some(job()),
            None => self.done.recv().ok(),
        }
    }
}

impl<R: Send + 'static> Drop for Handoff<'_, R> {
    fn drop(&mut self) {
        if !self.settled {
            // Unwinding past the job: no worker may run it, or still be running it, after this.
            self.settled = true;
            let job = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if job.is_none() {
                let _ = self.done.recv();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_borrows_and_returns() {
        let data: Vec<u64> = (0..10_000).collect();
        for _ in 0..50 {
            let job = Handoff::start(|| data.iter().sum::<u64>());
            let here: u64 = data.iter().map(|v| v * 2).sum();
            assert_eq!(job.finish() * 2, here);
        }
    }

    #[test]
    fn a_dropped_job_is_waited_for_or_taken_back() {
        let data = vec![1u64; 1000];
        for _ in 0..50 {
            let job = Handoff::start(|| data.iter().sum::<u64>());
            drop(job);
        }
        assert_eq!(data.len(), 1000);
    }
}
