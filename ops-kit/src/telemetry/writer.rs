//! A lossless, non-blocking line writer.
//!
//! Request threads hand finished lines to a channel; one background thread
//! writes them to the sink in batches and flushes when the channel runs dry.
//! The request path takes no lock and makes no syscall per line. When the sink
//! cannot keep up and the channel is full, senders wait: a line is never
//! dropped silently.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::thread;
use std::time::Duration;

/// How many lines may wait for the writer thread before senders block.
pub(crate) const DEFAULT_CAPACITY: usize = 4096;

/// Lines up to this length travel inside the channel's slot, so that the
/// request path allocates nothing and the writer thread frees nothing that
/// another thread allocated.
const INLINE: usize = 192;

// The size difference is the point: the common case travels inline.
#[allow(clippy::large_enum_variant)]
enum Message {
    Inline { len: u16, bytes: [u8; INLINE] },
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub(crate) struct LineWriter {
    tx: SyncSender<Message>,
    blocked: Arc<AtomicU64>,
}

impl std::fmt::Debug for LineWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineWriter")
            .field("blocked_sends", &self.blocked.load(Ordering::Relaxed))
            .finish()
    }
}

impl LineWriter {
    /// Starts the writer thread over `sink`.
    pub(crate) fn spawn<W: Write + Send + 'static>(sink: W, capacity: usize) -> Self {
        let (tx, rx) = mpsc::sync_channel(capacity);
        thread::Builder::new()
            .name("ops-kit-log".into())
            .spawn(move || run(sink, rx))
            .expect("spawning the log writer thread");
        Self {
            tx,
            blocked: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues one line (which must end with `\n`).
    pub(crate) fn write_line(&self, line: &[u8]) {
        let message = if line.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..line.len()].copy_from_slice(line);
            Message::Inline {
                len: line.len() as u16,
                bytes,
            }
        } else {
            Message::Line(line.to_vec())
        };
        match self.tx.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(message)) => {
                // Back-pressure instead of loss: wait for the writer.
                self.blocked.fetch_add(1, Ordering::Relaxed);
                let _ = self.tx.send(message);
            }
            Err(TrySendError::Disconnected(_)) => {
                // The writer thread is gone (process exiting): write directly.
                let _ = std::io::stdout().lock().write_all(line);
            }
        }
    }

    /// Waits until every line queued so far is written and flushed.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        if self.tx.send(Message::Flush(ack_tx)).is_err() {
            return false;
        }
        ack_rx.recv_timeout(timeout).is_ok()
    }

    /// How many times a sender had to wait for a full queue.
    pub(crate) fn blocked_sends(&self) -> u64 {
        self.blocked.load(Ordering::Relaxed)
    }
}

/// How long the writer lets lines pile up once it is busy. While it sleeps,
/// senders find no waiting receiver and so never make a wake-up syscall.
const BATCH_WINDOW: Duration = Duration::from_millis(4);

fn run<W: Write>(sink: W, rx: Receiver<Message>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, sink);
    // Idle: block until the first line arrives (one wake-up).
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        // Busy: drain, write, flush, then sleep a little so that the next
        // lines arrive without waking this thread; go back to blocking once
        // a window passes with nothing queued.
        loop {
            let mut wrote = false;
            while let Some(message) = next.take().or_else(|| rx.try_recv().ok()) {
                wrote = true;
                match message {
                    Message::Inline { len, bytes } => {
                        let _ = out.write_all(&bytes[..len as usize]);
                    }
                    Message::Line(line) => {
                        let _ = out.write_all(&line);
                    }
                    Message::Flush(ack) => {
                        let _ = out.flush();
                        let _ = ack.send(());
                    }
                }
            }
            let _ = out.flush();
            if !wrote {
                break;
            }
            thread::sleep(BATCH_WINDOW);
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

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
        let long = format!("{}\n", "x".repeat(10 * INLINE));
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
}
