//! Work handed to a helper thread while the calling thread does other work, borrowing the
//! caller's data ([`Handoff`]).
//!
//! `rayon::join` called from a thread outside the pool (a user's thread) queues both halves
//! and puts the caller to sleep until a worker has run them: on a busy machine the workers'
//! wake-up alone costs tens of µs. A [`Handoff`] lets the caller go on at once, and if the
//! helper has not picked the job up by the time the caller needs its result, the caller runs
//! it itself instead of waiting for it to wake.
//!
//! The helper is one thread of this crate's ([`helper`]), not rayon's pool: a job spawned on
//! the pool woke its idle workers, which then spin (`sched_yield`) for a while, and with
//! calls every 100 µs they never stop. Sampled from `/proc` during back-to-back f32 calls
//! (N = 10,000, M = 4,095, `full`), 1.5 of the pool's two workers were runnable on average
//! beside the caller on two CPUs, one on the caller's own CPU in 15-28% of the samples.

use std::sync::{Arc, Mutex, mpsc};

/// The job as the pool holds it: its borrows erased (see [`Handoff::start`]'s safety rule).
type Job<R> = Box<dyn FnOnce() -> R + Send + 'static>;

/// A job `FnOnce() -> R` borrowing data for `'a`, started on the helper thread
/// ([`Handoff::start`]) and collected with [`Handoff::finish`].
///
/// Whichever way it ends (`finish`, or a drop while unwinding from a panic), it waits for a
/// worker that has started the job, so the job never outlives its borrows.
pub(crate) struct Handoff<'a, R: Send + 'static> {
    slot: Arc<Mutex<Option<Job<R>>>>,
    done: mpsc::Receiver<R>,
    /// Whether the job has ended: taken back, or the helper's message received.
    settled: bool,
    _borrow: std::marker::PhantomData<&'a ()>,
}

impl<'a, R: Send + 'static> Handoff<'a, R> {
    /// Gives `job` to the helper thread and returns at once.
    pub(crate) fn start(job: impl FnOnce() -> R + Send + 'a) -> Handoff<'a, R> {
        // Refused when the helper is busy (another caller's job): this caller then runs the
        // job itself in `settle`.
        Handoff::start_with(job, |task| {
            helper::submit(task);
        })
    }

    /// Queues `job` on rayon's pool instead, for a caller that uses the pool next (the
    /// guard's scan before a parallel FFT): the worker that takes it is awake for what follows,
    /// where the helper would spin beside the pool's workers.
    pub(crate) fn start_on_pool(job: impl FnOnce() -> R + Send + 'a) -> Handoff<'a, R> {
        Handoff::start_with(job, rayon::spawn)
    }

    /// `job` in a slot the caller can take it back from, and a task running it from there
    /// given to `submit`.
    fn start_with(
        job: impl FnOnce() -> R + Send + 'a,
        submit: impl FnOnce(helper::Task),
    ) -> Handoff<'a, R> {
        let job: Box<dyn FnOnce() -> R + Send + 'a> = Box::new(job);
        // SAFETY: only the lifetime changes. The job runs either on this thread inside
        // `settle` (within `'a`) or on the thread that took it from `slot`; in that case
        // `settle` or `drop` waits for that thread's message, sent after the job has returned,
        // or for the sender to drop should the job panic. A `Handoff` is never leaked
        // (crate-private, never `mem::forget`-ed), so one of the two runs before `'a` ends.
        let job: Job<R> = unsafe { std::mem::transmute(job) };
        let slot = Arc::new(Mutex::new(Some(job)));
        let (tx, done) = mpsc::channel();
        let theirs = Arc::clone(&slot);
        submit(Box::new(move || {
            let job = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(job) = job {
                // The caller may have gone (a panic): nothing to report then.
                let _ = tx.send(job());
            }
        }));
        Handoff {
            slot,
            done,
            settled: false,
            _borrow: std::marker::PhantomData,
        }
    }

    /// The job's result: computed here if the helper has not started it, else the helper's.
    ///
    /// # Panics
    /// If the job panicked on the helper (or panics here).
    pub(crate) fn finish(mut self) -> R {
        self.settle().expect("a handed-off job ends with a result")
    }

    /// Ends the job: takes it back if the helper has not started it (and runs it here), else waits
    /// for the helper's result (`None` if the job panicked there).
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
            // Unwinding past the job: the helper may not run it, or still be running it, after this.
            self.settled = true;
            let job = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if job.is_none() {
                let _ = self.done.recv();
            }
        }
    }
}

/// The helper thread: it runs one task at a time, spins for a while after each (the next
/// call of a loop comes within microseconds), then sleeps until the next.
mod helper {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Condvar, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    /// A task as the helper runs it.
    pub(crate) type Task = Box<dyn FnOnce() + Send + 'static>;

    /// How long the helper spins for a next task before it sleeps.
    const SPIN: Duration = Duration::from_micros(200);

    struct Helper {
        /// The task waiting to run, if any.
        task: Mutex<Option<Task>>,
        /// Signalled when a task is put in `task`.
        ready: Condvar,
        /// Whether `task` holds a task (read while spinning, without the lock).
        pending: AtomicBool,
        /// Whether the helper is running a task.
        busy: AtomicBool,
    }

    fn helper() -> Option<&'static Helper> {
        static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();
        *HELPER.get_or_init(|| {
            let helper: &'static Helper = Box::leak(Box::new(Helper {
                task: Mutex::new(None),
                ready: Condvar::new(),
                pending: AtomicBool::new(false),
                busy: AtomicBool::new(false),
            }));
            std::thread::Builder::new()
                .name("burn-npconv-helper".into())
                .spawn(move || run(helper))
                .ok()
                .map(|_| helper)
        })
    }

    fn run(h: &'static Helper) {
        loop {
            let start = Instant::now();
            while !h.pending.load(Ordering::Acquire) && start.elapsed() < SPIN {
                std::hint::spin_loop();
            }
            let task = {
                let mut slot = h.task.lock().unwrap_or_else(|e| e.into_inner());
                while slot.is_none() {
                    slot = h.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
                }
                h.busy.store(true, Ordering::Release);
                h.pending.store(false, Ordering::Release);
                slot.take()
            };
            if let Some(task) = task {
                // A panicking task drops its sender: its caller sees that, and the helper
                // lives on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
            }
            h.busy.store(false, Ordering::Release);
        }
    }

    /// Gives `task` to the helper; `false` (and `task` dropped) when the helper is busy or
    /// holds a task already, or could not be started.
    pub(crate) fn submit(task: Task) -> bool {
        let Some(h) = helper() else {
            return false;
        };
        if h.busy.load(Ordering::Acquire) {
            return false;
        }
        let mut slot = h.task.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(task);
        h.pending.store(true, Ordering::Release);
        h.ready.notify_one();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_borrows_and_returns() {
        let data: Vec<u64> = (0..10_000).collect();
        for i in 0..100 {
            let sum = || data.iter().sum::<u64>();
            let job = if i % 2 == 0 {
                Handoff::start(sum)
            } else {
                Handoff::start_on_pool(sum)
            };
            let here: u64 = data.iter().map(|v| v * 2).sum();
            assert_eq!(job.finish() * 2, here);
        }
    }

    #[test]
    fn a_dropped_job_is_waited_for_or_taken_back() {
        let data = vec![1u64; 1000];
        for i in 0..100 {
            let sum = || data.iter().sum::<u64>();
            if i % 2 == 0 {
                drop(Handoff::start(sum));
            } else {
                drop(Handoff::start_on_pool(sum));
            }
        }
        assert_eq!(data.len(), 1000);
    }
}
