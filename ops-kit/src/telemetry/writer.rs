//! A lossless, non-blocking line writer.
//!
//! Request threads append finished lines to one shared buffer; a background
//! thread swaps it for an empty one and writes the whole batch to the sink.
//! Appending is a short, almost always uncontended lock and one copy: no
//! allocation once the buffers have grown, and no syscall, because the
//! writer thread is woken only when it sleeps with nothing to do. When the
//! sink cannot keep up and the buffer is full, appending threads wait: a
//! line is never dropped silently.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How many bytes of lines may wait for the writer thread before appending
/// threads block: 1 MiB, some 10,000 `[METRICS]` lines.
pub(crate) const DEFAULT_CAPACITY: usize = 1 << 20;

/// The appending side; cheap to clone. The writer thread writes what is
/// left and ends when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct LineWriter {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.lines.notify_one();
    }
}

struct Shared {
    state: Mutex<State>,
    /// The writer thread waits here for lines.
    lines: Condvar,
    /// Appending threads wait here for room, and flushes for their lines.
    written: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct State {
    /// Lines not yet taken by the writer thread.
    pending: Vec<u8>,
    /// Lines appended so far, and lines written and flushed so far.
    appended: u64,
    flushed: u64,
    /// The writer thread is blocked on `lines` and must be woken.
    writer_idle: bool,
    /// The writer thread is pausing between batches; only a thread that
    /// must wait (for room, or for a flush) wakes it.
    pausing: bool,
    /// Appending threads waiting for room: the writer must not pause.
    waiting: usize,
    /// Every `LineWriter` is gone: write what is left and stop.
    closed: bool,
    /// The writer thread has ended (its sink panicked): lines go straight
    /// to stderr from the appending thread instead of waiting forever.
    dead: bool,
    /// How many times an appending thread had to wait for room.
    blocked: u64,
}

impl std::fmt::Debug for LineWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineWriter")
            .field("blocked_sends", &self.blocked_sends())
            .finish()
    }
}

impl State {
    /// Wakes the writer thread if it is idle or pausing.
    fn wake_writer(&mut self, shared: &Shared) {
        if self.writer_idle || self.pausing {
            self.writer_idle = false;
            self.pausing = false;
            shared.lines.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked while holding the lock left whole lines
        // behind it (appending is one `extend_from_slice`).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LineWriter {
    /// Starts the writer thread over `sink`; `capacity` is in bytes.
    pub(crate) fn spawn<W: Write + Send + 'static>(sink: W, capacity: usize) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::with_capacity(64 * 1024),
                ..State::default()
            }),
            lines: Condvar::new(),
            written: Condvar::new(),
            capacity: capacity.max(1),
        });
        let for_thread = Arc::clone(&shared);
        thread::Builder::new()
            .name("ops-kit-log".into())
            .spawn(move || run(sink, &for_thread))
            .expect("spawning the log writer thread");
        Self {
            handle: Arc::new(Handle { shared }),
        }
    }

    /// Queues one line (which must end with `\n`).
    pub(crate) fn write_line(&self, line: &[u8]) {
        let shared = &*self.handle.shared;
        let mut state = shared.lock();
        if state.dead {
            drop(state);
            let _ = std::io::stderr().lock().write_all(line);
            return;
        }
        if !state.pending.is_empty() && state.pending.len() + line.len() > shared.capacity {
            // Back-pressure instead of loss: wait for the writer.
            state.blocked += 1;
            state.waiting += 1;
            state.wake_writer(shared);
            while !state.dead
                && !state.pending.is_empty()
                && state.pending.len() + line.len() > shared.capacity
            {
                state = shared
                    .written
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            }
            state.waiting -= 1;
        }
        state.pending.extend_from_slice(line);
        state.appended += 1;
        if state.writer_idle {
            state.writer_idle = false;
            drop(state);
            shared.lines.notify_one();
        }
    }

    /// Waits until every line queued so far is written and flushed.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let shared = &*self.handle.shared;
        let deadline = Instant::now() + timeout;
        let mut state = shared.lock();
        let target = state.appended;
        if state.flushed < target {
            state.wake_writer(shared);
        }
        while state.flushed < target {
            if state.dead {
                return false;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            state = shared
                .written
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// How many times an appending thread had to wait for a full buffer.
    pub(crate) fn blocked_sends(&self) -> u64 {
        self.handle.shared.lock().blocked
    }
}

/// How long the writer lets lines pile up once it is busy. While it sleeps,
/// appending threads find no idle writer and so never make a wake-up
/// syscall; the writer wakes at most 250 times a second under load.
const BATCH_WINDOW: Duration = Duration::from_millis(4);

/// Marks the writer thread as ended, however it ends, and wakes every
/// thread waiting on it.
struct Ended<'a>(&'a Shared);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.dead = true;
        // Lines the thread had not taken yet: better on stderr than lost.
        let _ = std::io::stderr().lock().write_all(&state.pending);
        state.pending.clear();
        drop(state);
        self.0.written.notify_all();
    }
}

fn run<W: Write>(mut sink: W, shared: &Shared) {
    let _ended = Ended(shared);
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let mut state = shared.lock();
        // Idle: block until a line arrives (one wake-up per burst).
        while state.pending.is_empty() {
            if state.closed {
                return;
            }
            state.writer_idle = true;
            state = shared.lines.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.writer_idle = false;
        std::mem::swap(&mut state.pending, &mut batch);
        let upto = state.appended;
        drop(state);

        let _ = sink.write_all(&batch);
        let _ = sink.flush();
        batch.clear();
        // A burst can grow the buffers past what steady traffic needs.
        if batch.capacity() > 4 * 1024 * 1024 {
            batch.shrink_to(64 * 1024);
        }

        let mut state = shared.lock();
        state.flushed = upto;
        shared.written.notify_all();
        // Busy: let the next lines arrive without waking this thread (unless
        // a thread must wait for room or a flush, or the last handle is gone).
        if state.waiting == 0 && !state.closed {
            state.pausing = true;
            state = shared
                .lines
                .wait_timeout_while(state, BATCH_WINDOW, |s| s.pausing && !s.closed)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.pausing = false;
        }
        drop(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_every_line_in_order_even_when_the_queue_is_full() {
        let sink = Shared::default();
        let writer = LineWriter::spawn(sink.clone(), 4);
        for i in 0..10_000 {
            writer.write_line(format!("line {i}\n").as_bytes());
        }
        assert!(writer.flush(Duration::from_secs(10)));
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[9_999], "line 9999");
    }

    #[test]
    fn writes_long_lines_whole() {
        let sink = Shared::default();
        let writer = LineWriter::spawn(sink.clone(), 4);
        let long = format!("{}\n", "x".repeat(10_000));
        writer.write_line(b"short\n");
        writer.write_line(long.as_bytes());
        assert!(writer.flush(Duration::from_secs(10)));
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, format!("short\n{long}"));
    }

    #[test]
    fn keeps_lines_from_concurrent_threads_whole() {
        let sink = Shared::default();
        let writer = LineWriter::spawn(sink.clone(), 16);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                thread::spawn(move || {
                    for i in 0..1_000 {
                        writer.write_line(format!("thread={t} i={i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(writer.flush(Duration::from_secs(10)));
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 4_000);
        assert!(
            text.lines()
                .all(|l| l.starts_with("thread=") && l.contains(" i="))
        );
    }

    #[test]
    fn makes_appending_threads_wait_for_a_slow_sink_instead_of_dropping_lines() {
        #[derive(Clone, Default)]
        struct Slow(Shared);
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                thread::sleep(Duration::from_millis(2));
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Slow::default();
        let writer = LineWriter::spawn(sink.clone(), 64);
        for i in 0..200 {
            writer.write_line(format!("line {i:03}\n").as_bytes());
        }
        assert!(writer.flush(Duration::from_secs(10)));
        assert!(writer.blocked_sends() > 0, "a 64-byte buffer must fill");
        let text = String::from_utf8(sink.0.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..200).map(|i| format!("line {i:03}\n")).collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn counts_no_wait_while_the_buffer_has_room() {
        let writer = LineWriter::spawn(std::io::sink(), DEFAULT_CAPACITY);
        for _ in 0..1_000 {
            writer.write_line(b"[METRICS] requestId=a status=200\n");
        }
        assert!(writer.flush(Duration::from_secs(10)));
        assert_eq!(writer.blocked_sends(), 0);
    }

    #[test]
    fn writes_what_is_left_when_the_last_handle_is_dropped() {
        let sink = Shared::default();
        let writer = LineWriter::spawn(sink.clone(), DEFAULT_CAPACITY);
        let clone = writer.clone();
        writer.write_line(b"first\n");
        drop(writer);
        clone.write_line(b"last\n");
        drop(clone);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().len() < "first\nlast\n".len() {
            assert!(std::time::Instant::now() < deadline, "lines were lost");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"first\nlast\n");
        // The thread ends: only the test's own handle to the sink is left.
        while Arc::strong_count(&sink.0) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer thread kept running"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn keeps_accepting_lines_after_the_sink_panics() {
        struct Panics;
        impl Write for Panics {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                panic!("a broken sink");
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = LineWriter::spawn(Panics, 64);
        writer.write_line(b"first\n");
        // Run on another thread, so that a hang fails the test instead of
        // stalling it.
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            // The writer thread dies on its first batch; a flush says the
            // lines were not written instead of waiting out its timeout.
            let flushed = writer.flush(Duration::from_secs(600));
            // Appending neither waits for room that never comes nor panics.
            for _ in 0..3 {
                writer.write_line(b"0123456789012345678901234567890123456789\n");
            }
            done_tx.send(flushed).unwrap();
        });
        let flushed = done
            .recv_timeout(Duration::from_secs(60))
            .expect("flush and write_line returned");
        assert!(!flushed);
    }
}
