//! Logging: one line per event, human text by default, JSON on request.
//!
//! [`Telemetry`] installs a `tracing` subscriber whose lines go through a
//! lossless background writer (see `docs/design.md`): the request path
//! formats a line and appends it to a shared buffer (one short, uncontended
//! lock and one copy, never a syscall per line), and when stdout cannot keep
//! up the buffer applies back-pressure instead of dropping lines.
//!
//! The text format prints the runbook's tagged lines exactly as written
//! (`[METRICS] requestId=… request_duration_ms=…`, `[SHUTDOWN] …`); other
//! events are prefixed with their level and target. `LOG_FORMAT=json` prints
//! one JSON object per line with `timestamp`, `level`, `target`, `message`
//! and every field as a key. `LOG_LEVEL` takes `tracing` target directives
//! (default `info,sqlx=warn`).
//!
//! # Example
//!
//! ```no_run
//! use ops_kit::telemetry::Telemetry;
//!
//! let _guard = Telemetry::from_env()
//!     .expect("LOG_FORMAT and LOG_LEVEL are valid")
//!     .init()
//!     .expect("no other global subscriber");
//! tracing::info!("[STARTUP] hello");
//! // Dropping the guard flushes every queued line.
//! ```

pub(crate) mod format;
mod metrics_line;
mod writer;

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use self::format::LineLayer;
pub(crate) use self::format::REQUEST_SPAN_TARGET;
pub(crate) use self::metrics_line::MetricsLine;
use self::writer::LineWriter;

/// The default `LOG_LEVEL` directives.
///
/// # Example
///
/// ```
/// use ops_kit::telemetry::{DEFAULT_LOG_LEVEL, LogFormat, Telemetry};
///
/// assert_eq!(DEFAULT_LOG_LEVEL, "info,sqlx=warn");
/// assert!(Telemetry::new(LogFormat::Text).level(DEFAULT_LOG_LEVEL).is_ok());
/// ```
pub const DEFAULT_LOG_LEVEL: &str = "info,sqlx=warn";

/// The shape of a log line.
///
/// # Example
///
/// ```
/// use ops_kit::telemetry::LogFormat;
/// assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
/// assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
/// assert!("xml".parse::<LogFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines; the runbook's tagged lines verbatim.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(TelemetryError::Format),
        }
    }
}

/// What can go wrong while setting up logging.
///
/// # Example
///
/// ```
/// use ops_kit::telemetry::{LogFormat, Telemetry, TelemetryError};
///
/// let err = "yaml".parse::<LogFormat>().unwrap_err();
/// assert!(matches!(err, TelemetryError::Format));
/// assert_eq!(err.to_string(), "LOG_FORMAT must be `text` or `json`");
/// assert!(matches!(Telemetry::new(LogFormat::Text).level("my_app=loud"), Err(TelemetryError::Level)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// `LOG_FORMAT` is neither `text` nor `json`.
    #[error("LOG_FORMAT must be `text` or `json`")]
    Format,
    /// `LOG_LEVEL` is not a valid list of directives.
    #[error("LOG_LEVEL is not a valid list of directives (e.g. `info,sqlx=warn`)")]
    Level,
    /// A global subscriber was already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// The logging set-up: format, level directives and where lines go.
///
/// # Example
///
/// ```
/// use ops_kit::telemetry::{LogFormat, Telemetry};
///
/// let telemetry = Telemetry::new(LogFormat::Json).level("debug,hyper=info").unwrap();
/// # let _ = telemetry;
/// ```
pub struct Telemetry {
    format: LogFormat,
    filter: Targets,
    sink: Box<dyn Write + Send>,
    capacity: usize,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("format", &self.format)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Lines in `format` to stdout, at the default level.
    ///
    /// # Example
    ///
    /// ```
    /// let t = ops_kit::telemetry::Telemetry::new(ops_kit::telemetry::LogFormat::Text);
    /// # let _ = t;
    /// ```
    pub fn new(format: LogFormat) -> Self {
        Self {
            format,
            filter: DEFAULT_LOG_LEVEL.parse().expect("valid default directives"),
            sink: Box::new(std::io::stdout()),
            capacity: writer::DEFAULT_CAPACITY,
        }
    }

    /// Reads `LOG_FORMAT` (`text` | `json`) and `LOG_LEVEL`.
    ///
    /// # Example
    ///
    /// ```
    /// let t = ops_kit::telemetry::Telemetry::from_env().unwrap();
    /// # let _ = t;
    /// ```
    pub fn from_env() -> Result<Self, TelemetryError> {
        let format = std::env::var("LOG_FORMAT")
            .unwrap_or_default()
            .parse::<LogFormat>()?;
        let telemetry = Self::new(format);
        match std::env::var("LOG_LEVEL") {
            Ok(level) if !level.trim().is_empty() => telemetry.level(&level),
            _ => Ok(telemetry),
        }
    }

    /// Sets the level directives (`tracing` target syntax).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    /// assert!(Telemetry::new(LogFormat::Text).level("warn,my_app=debug").is_ok());
    /// assert!(Telemetry::new(LogFormat::Text).level("my_app=loud").is_err());
    /// ```
    pub fn level(mut self, directives: &str) -> Result<Self, TelemetryError> {
        self.filter = directives.parse().map_err(|_| TelemetryError::Level)?;
        Ok(self)
    }

    /// Sends lines to `sink` instead of stdout (tests, files).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    /// let t = Telemetry::new(LogFormat::Text).writer(std::io::sink());
    /// # let _ = t;
    /// ```
    #[must_use]
    pub fn writer(mut self, sink: impl Write + Send + 'static) -> Self {
        self.sink = Box::new(sink);
        self
    }

    /// The format in use.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    ///
    /// assert_eq!(Telemetry::new(LogFormat::Json).format(), LogFormat::Json);
    /// assert_eq!("TEXT".parse::<LogFormat>().map(Telemetry::new).unwrap().format(), LogFormat::Text);
    /// ```
    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// Builds the subscriber without installing it, for tests and for
    /// services that scope it themselves.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    ///
    /// let (subscriber, guard) = Telemetry::new(LogFormat::Text).writer(std::io::sink()).build();
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("scoped"));
    /// guard.flush();
    /// ```
    pub fn build(self) -> (impl tracing::Subscriber + Send + Sync + 'static, LogGuard) {
        let writer = LineWriter::spawn(self.sink, self.capacity);
        let subscriber = tracing_subscriber::registry()
            .with(self.filter)
            .with(LineLayer::new(writer.clone(), self.format));
        (subscriber, LogGuard { writer })
    }

    /// Installs the subscriber globally and routes panics through it.
    ///
    /// A panic is then logged as one `[PANIC]` error line (with the request
    /// id when it happens inside a request) instead of raw text on stderr.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use ops_kit::telemetry::{LogFormat, Telemetry, TelemetryError};
    ///
    /// let guard = Telemetry::new(LogFormat::Json).init().expect("the first subscriber");
    /// tracing::info!("[STARTUP] logging ready");
    /// // Only one global subscriber can be installed.
    /// let second = Telemetry::new(LogFormat::Text).init();
    /// assert!(matches!(second, Err(TelemetryError::AlreadyInstalled)));
    /// drop(guard); // flushes queued lines
    /// ```
    pub fn init(self) -> Result<LogGuard, TelemetryError> {
        let self_format = self.format;
        // The filter is fixed once installed, so the `[METRICS]` line's
        // verdict is taken now rather than asked for on every request.
        let metrics = self
            .filter
            .would_enable(metrics_line::TARGET, &tracing::Level::INFO);
        let (subscriber, guard) = self.build();
        subscriber
            .try_init()
            .map_err(|_| TelemetryError::AlreadyInstalled)?;
        let _ = GLOBAL.set(Global {
            writer: guard.writer.clone(),
            format: self_format,
            metrics,
        });
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            tracing::error!(target: "ops_kit::panic", location = %location, "[PANIC] {payload}");
        }));
        Ok(guard)
    }
}

/// The writer and format of the globally installed ops-kit subscriber.
struct Global {
    writer: LineWriter,
    format: LogFormat,
    /// Whether `LOG_LEVEL` lets the `[METRICS]` line through.
    metrics: bool,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

/// Waits (up to two seconds) until every line queued so far by the global
/// subscriber is written. Call it before `std::process::exit`.
///
/// # Example
///
/// ```
/// // Without a global ops-kit subscriber this is a no-op.
/// ops_kit::telemetry::flush();
/// ```
pub fn flush() {
    if let Some(global) = GLOBAL.get() {
        global.writer.flush(Duration::from_secs(2));
    }
}

/// Keeps the log writer alive; flushes queued lines when dropped.
///
/// # Example
///
/// ```
/// use ops_kit::telemetry::{LogFormat, Telemetry};
/// let (_subscriber, guard) = Telemetry::new(LogFormat::Text).writer(std::io::sink()).build();
/// assert_eq!(guard.blocked_sends(), 0);
/// drop(guard); // flushes
/// ```
pub struct LogGuard {
    writer: LineWriter,
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

impl LogGuard {
    /// Waits (up to two seconds) until every queued line is written.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # #[derive(Clone, Default)]
    /// # struct Capture(Arc<Mutex<Vec<u8>>>);
    /// # impl std::io::Write for Capture {
    /// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
    /// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// # impl Capture { fn text(&self) -> String { String::from_utf8(self.0.lock().unwrap().clone()).unwrap() } }
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    ///
    /// let out = Capture::default();
    /// let (subscriber, guard) = Telemetry::new(LogFormat::Text).writer(out.clone()).build();
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("[AUDIT] lead exported"));
    /// guard.flush();
    /// assert_eq!(out.text(), "[AUDIT] lead exported\n");
    /// ```
    pub fn flush(&self) {
        self.writer.flush(Duration::from_secs(2));
    }

    /// How many times a logging thread had to wait because the log buffer was full
    /// (back-pressure from a slow stdout; no line is ever dropped).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    ///
    /// let (subscriber, guard) = Telemetry::new(LogFormat::Text).writer(std::io::sink()).build();
    /// tracing::subscriber::with_default(subscriber, || {
    ///     for i in 0..3 {
    ///         tracing::info!(line = i, "[AUDIT] row imported");
    ///     }
    /// });
    /// guard.flush();
    /// assert_eq!(guard.blocked_sends(), 0); // three lines fit in the buffer
    /// ```
    pub fn blocked_sends(&self) -> u64 {
        self.writer.blocked_sends()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A capturing sink for tests of what gets logged.

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::{LogFormat, LogGuard, Telemetry};

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        pub(crate) fn lines(&self, guard: &LogGuard) -> Vec<String> {
            guard.flush();
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    /// Installs a capturing subscriber for the current thread.
    pub(crate) fn capture(
        format: LogFormat,
    ) -> (Capture, LogGuard, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let (subscriber, guard) = Telemetry::new(format)
            .level("trace")
            .unwrap()
            .writer(capture.clone())
            .build();
        let default = set_default(subscriber);
        (capture, guard, default)
    }

    /// `tracing::subscriber::set_default`, made safe for tests that run
    /// side by side.
    ///
    /// While at most one subscriber is registered, `tracing` works out a new
    /// callsite's interest from the *current thread's* subscriber alone. A
    /// test running under no subscriber that reaches a callsite first then
    /// records "never" for it while another test's subscriber is live, and
    /// that test loses its lines until the next registration. Two idle
    /// subscribers kept for the whole run make `tracing` ask every live
    /// subscriber instead. (A service has one global subscriber and never
    /// meets this.)
    pub(crate) fn set_default(
        subscriber: impl tracing::Subscriber + Send + Sync + 'static,
    ) -> tracing::subscriber::DefaultGuard {
        static KEEP: std::sync::OnceLock<[tracing::Dispatch; 2]> = std::sync::OnceLock::new();
        KEEP.get_or_init(|| {
            [(), ()].map(|()| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()))
        });
        tracing::subscriber::set_default(subscriber)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::capture;
    use super::*;

    #[test]
    fn prints_tagged_runbook_lines_verbatim_in_text() {
        let (out, guard, _d) = capture(LogFormat::Text);
        tracing::info!("[SHUTDOWN] HTTP server closed");
        assert_eq!(out.lines(&guard), vec!["[SHUTDOWN] HTTP server closed"]);
    }

    #[test]
    fn prefixes_untagged_lines_with_level_and_target() {
        let (out, guard, _d) = capture(LogFormat::Text);
        tracing::warn!(target: "crm", attempts = 3u64, "slow query");
        assert_eq!(out.lines(&guard), vec!["[WARN] crm: slow query attempts=3"]);
    }

    #[test]
    fn appends_span_fields_to_events_inside_the_span() {
        let (out, guard, _d) = capture(LogFormat::Text);
        let span = tracing::info_span!("import", tenantId = "t-1", batch = 3u64);
        span.in_scope(|| tracing::info!("[AUDIT] written"));
        assert_eq!(
            out.lines(&guard),
            vec!["[AUDIT] written tenantId=t-1 batch=3"]
        );
    }

    #[test]
    fn writes_one_json_object_per_line_with_fields_as_keys() {
        let (out, guard, _d) = capture(LogFormat::Json);
        let span = tracing::info_span!("import", requestId = "r-2");
        span.in_scope(|| tracing::info!(status = 200u64, ok = true, ms = 1.5, "[METRICS]"));
        let lines = out.lines(&guard);
        assert_eq!(lines.len(), 1);
        let value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(value["message"], "[METRICS]");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["status"], 200);
        assert_eq!(value["ok"], true);
        assert_eq!(value["ms"], 1.5);
        assert_eq!(value["requestId"], "r-2");
        assert!(chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn a_newline_in_a_field_cannot_split_a_text_line() {
        let (out, guard, _d) = capture(LogFormat::Text);
        tracing::info!(path = "/x\n[METRICS] forged", "[METRICS]");
        let lines = out.lines(&guard);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0], r#"[METRICS] path="/x\n[METRICS] forged""#);
    }

    #[test]
    fn filters_events_below_the_level_of_their_target() {
        let capture_sink = testing::Capture::default();
        let (subscriber, guard) = Telemetry::new(LogFormat::Text)
            .level("info,noisy=warn")
            .unwrap()
            .writer(capture_sink.clone())
            .build();
        let _default = testing::set_default(subscriber);
        tracing::info!(target: "noisy", "hidden");
        tracing::debug!(target: "quiet", "hidden too");
        tracing::warn!(target: "noisy", "shown");
        tracing::info!(target: "quiet", "kept");
        assert_eq!(
            capture_sink.lines(&guard),
            vec!["[WARN] noisy: shown", "[INFO] quiet: kept"]
        );
    }
}
