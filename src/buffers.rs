//! Buffers the FFT paths reuse from one call to the next, per thread.
//!
//! A transform of 16,384 f64 points works on buffers of 128 KiB, which the allocator maps
//! fresh for each call and unmaps after it: page faults, zeroing and (with two threads)
//! TLB shootdowns took a fifth to a third of an FFT convolution of 10,000 samples with a
//! 4,095-tap kernel (`perf`). Each thread keeps a few buffers instead ([`take`], [`reuse`]
//! and [`give`]); outputs returned to the caller are never pooled.

use std::any::{Any, TypeId};
use std::cell::RefCell;

/// Buffers larger than this are freed, not kept (an N-D tile's spectrum in f64 is 16 MiB).
const KEEP_BYTES: usize = 16 << 20;
/// Buffers kept per thread, of any type.
const COUNT: usize = 16;
/// Bytes kept per thread, all buffers together.
const TOTAL_BYTES: usize = 64 << 20;

/// A kept buffer: its type, its bytes, itself.
type Entry = (TypeId, usize, Box<dyn Any>);

thread_local! {
    static POOL: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// A buffer that goes back to its thread's pool ([`give`]) when dropped: for buffers whose
/// owner ends in another function (a worker's state in rayon's `for_each_init`). Used by the
/// N-D host FFT, which only the CPU backends build.
#[cfg_attr(not(cpu_kernels), allow(dead_code))]
pub(crate) struct Kept<V: 'static>(Vec<V>);

#[cfg_attr(not(cpu_kernels), allow(dead_code))]
impl<V: Clone + 'static> Kept<V> {
    /// [`reuse`]'s buffer, kept when dropped.
    pub(crate) fn reuse(len: usize, fill: V) -> Self {
        Kept(reuse(len, fill))
    }

    /// Resizes to `len` as [`reuse`] does: from the pool when the buffer has to grow.
    pub(crate) fn grow(&mut self, len: usize, fill: V) {
        if self.0.capacity() < len {
            *self = Kept::reuse(len, fill);
        } else {
            self.0.resize(len, fill);
        }
    }
}

impl<V: 'static> From<Vec<V>> for Kept<V> {
    /// `v`, kept when dropped.
    fn from(v: Vec<V>) -> Self {
        Kept(v)
    }
}

impl<V: 'static> Default for Kept<V> {
    fn default() -> Self {
        Kept(Vec::new())
    }
}

impl<V: 'static> core::ops::Deref for Kept<V> {
    type Target = Vec<V>;
    fn deref(&self) -> &Vec<V> {
        &self.0
    }
}

impl<V: 'static> core::ops::DerefMut for Kept<V> {
    fn deref_mut(&mut self) -> &mut Vec<V> {
        &mut self.0
    }
}

impl<V: 'static> Drop for Kept<V> {
    fn drop(&mut self) {
        give(core::mem::take(&mut self.0));
    }
}

/// A buffer of `len` copies of `fill`: a kept one of the same type when the thread has one.
pub(crate) fn take<V: Clone + 'static>(len: usize, fill: V) -> Vec<V> {
    let mut v = reuse(len, fill.clone());
    v.fill(fill);
    v
}

/// A buffer of `len` values for a caller that writes each before reading it: a kept buffer's
/// old values (copies of `fill` past them).
pub(crate) fn reuse<V: Clone + 'static>(len: usize, fill: V) -> Vec<V> {
    let kept = POOL.try_with(|pool| {
        let mut pool = pool.try_borrow_mut().ok()?;
        // A kept buffer of this type and of exactly this length when there is one (the FFT
        // asks for several lengths of one type: taking another would rewrite its tail), else
        // the smallest that holds `len` (a large one left for a large request), else the
        // largest.
        let bytes = len.saturating_mul(size_of::<V>());
        let ours = |id: &TypeId| *id == TypeId::of::<Vec<V>>();
        let kept_len = |b: &Box<dyn Any>| b.downcast_ref::<Vec<V>>().map(Vec::len);
        let i = pool
            .iter()
            .position(|(id, _, b)| ours(id) && kept_len(b) == Some(len))
            .or_else(|| {
                let fits = pool
                    .iter()
                    .enumerate()
                    .filter(|(_, (id, b, _))| ours(id) && *b >= bytes);
                fits.min_by_key(|(_, (_, b, _))| *b).map(|(i, _)| i)
            })
            .or_else(|| {
                let all = pool.iter().enumerate().filter(|(_, (id, _, _))| ours(id));
                all.max_by_key(|(_, (_, b, _))| *b).map(|(i, _)| i)
            })?;
        pool.swap_remove(i).2.downcast::<Vec<V>>().ok()
    });
    let kept = kept.ok().flatten();
    match kept {
        Some(mut v) => {
            v.truncate(len);
            v.resize(len, fill);
            *v
        }
        None => vec![fill; len],
    }
}

/// Keeps `v` for a later [`take`] on this thread (or frees it: too large, or enough kept).
pub(crate) fn give<V: 'static>(v: Vec<V>) {
    let bytes = v.capacity() * size_of::<V>();
    if bytes > KEEP_BYTES || bytes == 0 {
        return;
    }
    // `try_with`: a worker's buffers may be dropped while its thread's locals are torn down.
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut()
            && pool.len() < COUNT
            && pool.iter().map(|e| e.1).sum::<usize>() + bytes <= TOTAL_BYTES
        {
            pool.push((TypeId::of::<Vec<V>>(), bytes, Box::new(v)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_comes_back_filled() {
        let mut v = take(1000, 0.0f64);
        v.iter_mut().for_each(|x| *x = 7.0);
        let p = v.as_ptr();
        give(v);
        let w = take(500, 0.0f64);
        assert_eq!(w.as_ptr(), p, "the kept buffer");
        assert!(w.len() == 500 && w.iter().all(|&x| x == 0.0));
        // Another type does not take it.
        let u = take(10, 1u8);
        assert!(u.len() == 10 && u.iter().all(|&x| x == 1));
    }

    #[test]
    fn a_dropped_kept_buffer_goes_back_to_the_pool() {
        let mut k = Kept::reuse(300, 0.5f32);
        assert!(k.len() == 300 && k.iter().all(|&x| x == 0.5));
        let p = k.as_ptr();
        // Growing within the capacity keeps the buffer.
        k.grow(200, 0.0);
        assert_eq!((k.len(), k.as_ptr()), (200, p));
        drop(k);
        let mut again = Kept::reuse(300, 1.0f32);
        assert_eq!(again.as_ptr(), p, "the dropped buffer");
        // Growing past the capacity takes another.
        again.grow(1 << 16, 0.0);
        assert_eq!(again.len(), 1 << 16);
        // Buffers too large to keep are freed.
        let kept = || POOL.with(|pool| pool.borrow().iter().map(|e| e.1).sum::<usize>());
        let before = kept();
        give(vec![0u8; KEEP_BYTES + 1]);
        assert_eq!(kept(), before);
        give(vec![0u8; 1000]);
        assert_eq!(kept(), before + 1000);
    }
}
