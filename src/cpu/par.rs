//! Several cores on one training step, with the same bits as one: a large matrix product,
//! attention (by sequence) or row-wise layer (LayerNorm, GELU, cross-entropy) is split by
//! its output rows into parts, and each part is computed by exactly the code, and the sums,
//! that compute it whole. No sum is ever split (sums over rows, such as LayerNorm's γ and β
//! gradients or the mean loss, stay on the calling thread in row order), so the result does
//! not depend on the number of parts: 1 core or 16, natively or in wasm (which has no
//! threads here and runs every part itself).
//!
//! How many cores may join a step is set by whoever knows what else runs ([`Helpers`]):
//! `train` gives all of its `--threads` to its one model; an experiment's executor gives
//! the threads that no unit runs on to the units that run — the tail of an experiment, the
//! one chain of a `wsd` stable phase — and none while every thread has a unit of its own.
//! The parts run on one pool of helper threads (rayon's), made the first time it is needed.
//!
//! A step's micro-batches ([`each`]: `crate::transformer::micro`) are the other split: each
//! is computed whole by one core, and the cores left over split its rows as above.

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Extra cores each running step may use now (0: every part on the calling thread).
static HELPERS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Inside a task of [`each`]: the helpers this task's rows may use (its share of the
    /// step's), in place of [`HELPERS`].
    static SHARE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Extra cores the running step may use on this thread now.
fn helpers() -> usize {
    SHARE
        .with(Cell::get)
        .unwrap_or_else(|| HELPERS.load(Ordering::Relaxed))
}

/// The smallest part worth handing to another core, in multiply-adds (about 20 µs here):
/// below it, waking a helper costs more than it saves.
const MIN_PART_WORK: usize = 1 << 16;

/// While held, each running step may use `n` more cores; dropping it restores the previous
/// setting.
pub struct Helpers {
    previous: usize,
}

impl Helpers {
    pub fn set(n: usize) -> Helpers {
        Helpers {
            previous: HELPERS.swap(n, Ordering::Relaxed),
        }
    }

    /// Changes the setting held by this guard (an executor, as its units start and end).
    pub fn update(&self, n: usize) {
        HELPERS.store(n, Ordering::Relaxed);
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        HELPERS.store(self.previous, Ordering::Relaxed);
    }
}

/// How many parts `rows` rows of `row_work` multiply-adds each are split into now.
pub fn parts(rows: usize, row_work: usize) -> usize {
    let helpers = helpers();
    if helpers == 0 || rows < 2 {
        return 1;
    }
    let by_work = (rows * row_work) / MIN_PART_WORK;
    (1 + helpers).min(by_work).min(rows).max(1)
}

/// The row ranges to compute `rows` rows of `row_work` multiply-adds each in, now: one
/// range when no helper is free or the work is small, else up to 1 + helpers contiguous
/// ranges of whole rows, in order.
pub fn ranges(rows: usize, row_work: usize) -> Vec<Range<usize>> {
    let n = parts(rows, row_work);
    let per = rows.div_ceil(n.max(1)).max(1);
    (0..rows)
        .step_by(per)
        .map(|r| r..(r + per).min(rows))
        .collect()
}

/// `s` (rows of `row_len` values) cut at `ranges` (from [`ranges`], covering every row);
/// the last part also takes whatever follows the last whole row.
pub fn chunks<'a, T>(s: &'a mut [T], row_len: usize, ranges: &[Range<usize>]) -> Vec<&'a mut [T]> {
    let mut rest = s;
    let mut out = Vec::with_capacity(ranges.len());
    for (i, r) in ranges.iter().enumerate() {
        if i + 1 == ranges.len() {
            out.push(std::mem::take(&mut rest));
            break;
        }
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(r.len() * row_len);
        out.push(part);
        rest = tail;
    }
    out
}

/// Calls `f(first_row, part)` for parts of `out` (rows of `row_len` values, each costing
/// `row_work` multiply-adds), on as many cores as [`Helpers`] allows, the first part on
/// this thread.
pub fn rows<T: Send, F>(out: &mut [T], row_len: usize, row_work: usize, f: F)
where
    F: Fn(usize, &mut [T]) + Sync,
{
    let rows = out.len().checked_div(row_len).unwrap_or(0);
    // Nothing to split (no helper, little work, wasm): no ranges to build in a step's loop.
    if parts(rows, row_work) <= 1 {
        f(0, out);
        return;
    }
    let ranges = ranges(rows, row_work);
    let f = &f;
    run(chunks(out, row_len, &ranges)
        .into_iter()
        .zip(&ranges)
        .map(|(part, r)| move || f(r.start, part)));
}

/// [`rows`] over two outputs split alike: `a` in rows of `a_len`, `b` in rows of `b_len`
/// (attention: the output and the attention weights of each sequence).
pub fn rows2<T: Send, U: Send, F>(
    a: &mut [T],
    a_len: usize,
    b: &mut [U],
    b_len: usize,
    row_work: usize,
    f: F,
) where
    F: Fn(usize, &mut [T], &mut [U]) + Sync,
{
    let rows = a.len().checked_div(a_len).unwrap_or(0);
    if parts(rows, row_work) <= 1 {
        f(0, a, b);
        return;
    }
    let ranges = ranges(rows, row_work);
    let f = &f;
    run(chunks(a, a_len, &ranges)
        .into_iter()
        .zip(chunks(b, b_len, &ranges))
        .zip(&ranges)
        .map(|((x, y), r)| move || f(r.start, x, y)));
}

/// Calls `f(i, item)` for every item (a step's micro-batches), on as many cores as
/// [`Helpers`] allows now: the items cut into up to 1 + helpers contiguous runs, each run in
/// order on one core; the cores that no run takes are shared out among them for their
/// [`rows`]. `f` must compute the same whichever core runs it (each item its own buffers).
pub fn each<T: Send, F>(items: &mut [T], f: F)
where
    F: Fn(usize, &mut T) + Sync,
{
    let cores = 1 + helpers();
    let per = items.len().div_ceil(cores).max(1);
    let tasks = items.len().div_ceil(per);
    if tasks <= 1 {
        items
            .iter_mut()
            .enumerate()
            .for_each(|(i, item)| f(i, item));
        return;
    }
    let share = cores / tasks - 1;
    let f = &f;
    run(items.chunks_mut(per).enumerate().map(|(task, run)| {
        move || {
            let _share = Share::set(share);
            for (i, item) in run.iter_mut().enumerate() {
                f(task * per + i, item);
            }
        }
    }));
}

/// While held, this thread's rows use `n` helpers (a task of [`each`]); restored on drop,
/// a panic included (the thread is the pool's and runs other tasks after).
struct Share(Option<usize>);

impl Share {
    fn set(n: usize) -> Share {
        Share(SHARE.with(|s| s.replace(Some(n))))
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        SHARE.with(|s| s.set(self.0));
    }
}

/// Runs every part, the first on this thread and the others on the helper pool, and
/// returns when all are done.
#[cfg(not(target_arch = "wasm32"))]
pub fn run<P: FnOnce() + Send>(parts: impl IntoIterator<Item = P>) {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else { return };
    pool().in_place_scope(|s| {
        for part in parts {
            s.spawn(move |_| part());
        }
        first();
    });
}

/// wasm: one thread, every part in turn.
#[cfg(target_arch = "wasm32")]
pub fn run<P: FnOnce() + Send>(parts: impl IntoIterator<Item = P>) {
    for part in parts {
        part();
    }
}

/// The helper threads: one fewer than the cores (the caller computes a part too).
#[cfg(not(target_arch = "wasm32"))]
fn pool() -> &'static rayon_core::ThreadPool {
    static POOL: std::sync::OnceLock<rayon_core::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        rayon_core::ThreadPoolBuilder::new()
            .num_threads(cores.saturating_sub(1).clamp(1, 63))
            .thread_name(|i| format!("overtrain-helper-{i}"))
            .build()
            .expect("the helper threads start")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The helpers are one setting for the process: these tests take turns.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_tail_shorter_than_a_row_goes_with_the_last_part() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let _h = Helpers::set(3);
        assert_eq!(parts(1024, 1 << 12), 4);
        let mut out = vec![0u32; 64 * 1024 + 5];
        rows(&mut out, 64, 1 << 12, |first, part| {
            for (i, x) in part.iter_mut().enumerate() {
                *x += (first * 64 + i) as u32 + 1;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &x)| x == i as u32 + 1));
    }

    #[test]
    fn each_visits_every_item_once_and_shares_out_the_cores_left() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let _h = Helpers::set(7);
        // 8 cores, 3 items: 3 tasks, each with one helper of its own (8 / 3 - 1).
        let mut items = vec![(0usize, 0usize); 3];
        each(&mut items, |i, item| *item = (i + 1, helpers()));
        assert_eq!(items, vec![(1, 1), (2, 1), (3, 1)]);
        assert_eq!(helpers(), 7, "the share ends with the task");
        // More items than cores: every one, each by one core alone.
        let mut items = vec![(0usize, 9usize); 19];
        each(&mut items, |i, item| *item = (i + 1, helpers()));
        assert!(
            items.iter().enumerate().all(|(i, &x)| x == (i + 1, 0)),
            "{items:?}"
        );
    }

    #[test]
    fn parts_cover_every_row_once_in_order() {
        let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let _h = Helpers::set(3);
        let mut out = vec![0.0f32; 37 * 5];
        rows(&mut out, 5, MIN_PART_WORK, |first, part| {
            for (r, row) in part.chunks_mut(5).enumerate() {
                row.fill((first + r) as f32);
            }
        });
        for (r, row) in out.chunks(5).enumerate() {
            assert!(row.iter().all(|&x| x == r as f32), "row {r}: {row:?}");
        }
        assert_eq!(parts(37, MIN_PART_WORK), 4);
        assert_eq!(parts(37, 1), 1, "too little work is not split");
        drop(_h);
    }
}
