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
    /// Where lines go when the sink fails or the writer thread is gone
    /// (stderr). Never locked while waiting for `state`.
    fallback: Mutex<Box<dyn Write + Send>>,
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
    /// Whether a line of `len` bytes may be appended now. A line longer
    /// than the capacity goes into an empty buffer.
    fn has_room(&self, len: usize, capacity: usize) -> bool {
        self.pending.is_empty() || self.pending.len() + len <= capacity
    }

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

    /// Writes to the fallback (stderr): lines that cannot go to the sink.
    fn fall_back(&self, bytes: &[u8]) {
        let mut fallback = self.fallback.lock().unwrap_or_else(|e| e.into_inner());
        let _ = fallback.write_all(bytes);
        let _ = fallback.flush();
    }
}

impl LineWriter {
    /// Starts the writer thread over `sink`; `capacity` is in bytes.
    pub(crate) fn spawn<W: Write + Send + 'static>(sink: W, capacity: usize) -> Self {
        Self::spawn_with_fallback(sink, std::io::stderr(), capacity)
    }

    /// [`spawn`](Self::spawn) with another fallback than stderr.
    fn spawn_with_fallback<W: Write + Send + 'static>(
        sink: W,
        fallback: impl Write + Send + 'static,
        capacity: usize,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::with_capacity(64 * 1024),
                ..State::default()
            }),
            lines: Condvar::new(),
            written: Condvar::new(),
            capacity: capacity.max(1),
            fallback: Mutex::new(Box::new(fallback)),
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
        if ON_WRITER_THREAD.get() {
            // A line logged by the writer thread itself (its sink logging,
            // or the panic hook while its sink panics) cannot wait for it.
            shared.fall_back(line);
            return;
        }
        let mut state = shared.lock();
        if !state.dead && !state.has_room(line.len(), shared.capacity) {
            // Back-pressure instead of loss: wait for the writer.
            state.blocked += 1;
            state.waiting += 1;
            state.wake_writer(shared);
            while !state.dead && !state.has_room(line.len(), shared.capacity) {
                state = shared
                    .written
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            }
            state.waiting -= 1;
        }
        if state.dead {
            drop(state);
            shared.fall_back(line);
            return;
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

thread_local! {
    /// Set on the writer thread, which must never wait for itself (a panic
    /// hook that logs runs on the panicking thread, which may be this one).
    static ON_WRITER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The writer thread's batch, and what happens to it however the thread
/// ends: it is marked as ended and every thread waiting on it is woken.
struct Ended<'a> {
    shared: &'a Shared,
    /// The lines being written; empty between batches.
    batch: Vec<u8>,
}

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.dead = true;
        // The batch the sink panicked on (some of it may have been written)
        // and the lines the thread had not taken: better on stderr than lost.
        self.shared.fall_back(&self.batch);
        self.shared.fall_back(&state.pending);
        state.pending.clear();
        drop(state);
        self.shared.written.notify_all();
    }
}

fn run<W: Write>(mut sink: W, shared: &Shared) {
    ON_WRITER_THREAD.set(true);
    let mut ended = Ended {
        shared,
        batch: Vec::with_capacity(64 * 1024),
    };
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
        std::mem::swap(&mut state.pending, &mut ended.batch);
        let upto = state.appended;
        drop(state);

        write_batch(&mut sink, &ended.batch, shared);
        ended.batch.clear();
        // A burst can grow the buffers past what steady traffic needs.
        if ended.batch.capacity() > 4 * 1024 * 1024 {
            ended.batch.shrink_to(64 * 1024);
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

/// Writes a whole batch. A sink that is not ready (a non-blocking pipe
/// that is full) is waited for; one that fails gets the rest of the batch
/// sent to stderr with the error, so that no line disappears unseen.
fn write_batch<W: Write>(sink: &mut W, batch: &[u8], shared: &Shared) {
    let mut rest = batch;
    while !rest.is_empty() {
        match sink.write(rest) {
            Ok(0) => return failed(shared, rest, &std::io::ErrorKind::WriteZero.into()),
            Ok(written) => rest = &rest[written..],
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(err) => return failed(shared, rest, &err),
        }
    }
    if let Err(err) = sink.flush() {
        failed(shared, b"", &err);
    }
}

fn failed(shared: &Shared, lines: &[u8], err: &std::io::Error) {
    let notice = format!("[ERROR] ops_kit::telemetry: cannot write log lines: {err}\n");
    shared.fall_back(notice.as_bytes());
    shared.fall_back(lines);
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

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Runs `f` on another thread, so that a hang fails the test instead of
    /// stalling it.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || done_tx.send(f()).unwrap());
        done.recv_timeout(Duration::from_secs(60))
            .expect("returned instead of hanging")
    }

    #[test]
    fn sends_lines_to_the_fallback_after_the_sink_panics() {
        struct Panics;
        impl Write for Panics {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                panic!("a broken sink");
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let fallback = Shared::default();
        let writer = LineWriter::spawn_with_fallback(Panics, fallback.clone(), 64);
        writer.write_line(b"first\n");
        let flushed = within_a_minute(move || {
            // The writer thread dies on its first batch; a flush says the
            // lines were not written instead of waiting out its timeout.
            let flushed = writer.flush(Duration::from_secs(600));
            // Appending neither waits for room that never comes nor panics.
            for i in 0..3 {
                writer
                    .write_line(format!("later {i} 0123456789012345678901234567890\n").as_bytes());
            }
            flushed
        });
        assert!(!flushed);
        // The batch the sink panicked on is not lost either.
        assert_eq!(
            fallback.text(),
            "first\n\
             later 0 0123456789012345678901234567890\n\
             later 1 0123456789012345678901234567890\n\
             later 2 0123456789012345678901234567890\n"
        );
    }

    #[test]
    fn a_line_logged_by_the_writer_thread_itself_does_not_wait_for_it() {
        // A sink that logs while it writes, as the panic hook does when the
        // sink panics, at a moment when the buffer is full: only the writer
        // thread could make room.
        #[derive(Clone)]
        struct Logs {
            writer: Arc<std::sync::OnceLock<LineWriter>>,
            inside: Arc<std::sync::Barrier>,
            first: Arc<std::sync::atomic::AtomicBool>,
            out: Shared,
        }
        impl Write for Logs {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    self.inside.wait(); // the test may fill the buffer now
                    self.inside.wait(); // it has
                    let writer = self.writer.get().unwrap();
                    writer.write_line(b"the sink says something\n");
                }
                self.out.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Logs {
            writer: Arc::default(),
            inside: Arc::new(std::sync::Barrier::new(2)),
            first: Arc::new(true.into()),
            out: Shared::default(),
        };
        let fallback = Shared::default();
        let writer = LineWriter::spawn_with_fallback(sink.clone(), fallback.clone(), 16);
        sink.writer.set(writer.clone()).ok().unwrap();
        let inside = sink.inside.clone();
        let flushed = within_a_minute(move || {
            writer.write_line(b"first line 678\n");
            inside.wait();
            writer.write_line(b"fills buffer 7\n");
            inside.wait();
            writer.flush(Duration::from_secs(600))
        });
        assert!(flushed);
        assert_eq!(sink.out.text(), "first line 678\nfills buffer 7\n");
        assert_eq!(fallback.text(), "the sink says something\n");
    }

    #[test]
    fn sends_the_rest_of_a_batch_to_the_fallback_when_the_sink_fails() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let fallback = Shared::default();
        let writer = LineWriter::spawn_with_fallback(Closed, fallback.clone(), DEFAULT_CAPACITY);
        writer.write_line(b"[METRICS] requestId=a status=200\n");
        assert!(writer.flush(Duration::from_secs(10)));
        let text = fallback.text();
        assert!(
            text.starts_with("[ERROR] ops_kit::telemetry: cannot write log lines: "),
            "{text}"
        );
        assert!(
            text.ends_with("\n[METRICS] requestId=a status=200\n"),
            "{text}"
        );
    }

    #[test]
    fn waits_for_a_sink_that_is_not_ready_instead_of_dropping_lines() {
        #[derive(Clone, Default)]
        struct Busy(Arc<std::sync::atomic::AtomicUsize>, Shared);
        impl Write for Busy {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                // Not ready twice, then a short write, then ready.
                match self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                    0 | 1 => Err(std::io::ErrorKind::WouldBlock.into()),
                    2 => self.1.write(&buf[..3]),
                    _ => self.1.write(buf),
                }
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Busy::default();
        let fallback = Shared::default();
        let writer =
            LineWriter::spawn_with_fallback(sink.clone(), fallback.clone(), DEFAULT_CAPACITY);
        writer.write_line(b"one\n");
        writer.write_line(b"two\n");
        assert!(writer.flush(Duration::from_secs(10)));
        assert_eq!(sink.1.text(), "one\ntwo\n");
        assert_eq!(fallback.text(), "");
    }
}
