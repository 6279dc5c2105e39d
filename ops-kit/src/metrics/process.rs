//! The standard `process_*` metrics, read from `/proc` on each scrape.
//!
//! `prometheus-client` has no process collector, so this one reads the
//! kernel's own accounting (Linux only; elsewhere it reports nothing) and
//! hands the values to `prometheus-client` as constant metrics: the
//! exposition format stays the crate's. Names and units follow the
//! Prometheus client library guidelines, so dashboards made for other
//! services work unchanged.
//!
//! | metric | type | source |
//! |---|---|---|
//! | `process_cpu_seconds_total` | counter | `/proc/self/stat` utime + stime |
//! | `process_resident_memory_bytes` | gauge | `/proc/self/status` `VmRSS` |
//! | `process_virtual_memory_bytes` | gauge | `/proc/self/status` `VmSize` |
//! | `process_threads` | gauge | `/proc/self/status` `Threads` |
//! | `process_open_fds` | gauge | entries of `/proc/self/fd` |
//! | `process_max_fds` | gauge | `/proc/self/limits` `Max open files` (soft) |
//! | `process_start_time_seconds` | gauge | `/proc/self/stat` starttime + `/proc/stat` btime |

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc` (`USER_HZ`): fixed at 100 by the
/// kernel's user-space ABI on every architecture Linux supports today.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's figures; `None` where `/proc` did not say.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ProcessStats {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) resident_bytes: Option<i64>,
    pub(crate) virtual_bytes: Option<i64>,
    pub(crate) threads: Option<i64>,
    pub(crate) open_fds: Option<i64>,
    pub(crate) max_fds: Option<i64>,
    pub(crate) start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads this process's figures now.
    pub(crate) fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let mut stats = Self::default();
        if let Some(stat) = read("/proc/self/stat") {
            let boot_time = read("/proc/stat").and_then(|s| boot_time(&s));
            stats.parse_stat(&stat, boot_time);
        }
        if let Some(status) = read("/proc/self/status") {
            stats.parse_status(&status);
        }
        if let Some(limits) = read("/proc/self/limits") {
            stats.max_fds = max_open_files(&limits);
        }
        stats.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|dir| dir.count() as i64);
        stats
    }

    /// `/proc/self/stat`: the fields after the command name, which is in
    /// parentheses and may itself contain spaces and parentheses.
    fn parse_stat(&mut self, stat: &str, boot_time: Option<u64>) {
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return;
        };
        // `rest` starts at field 3 (state); fields are numbered from 1.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (field(14), field(15)) {
            self.cpu_seconds = Some((user + system) as f64 / TICKS_PER_SECOND);
        }
        if let (Some(start), Some(boot)) = (field(22), boot_time) {
            self.start_time_seconds = Some(boot as f64 + start as f64 / TICKS_PER_SECOND);
        }
    }

    /// `/proc/self/status`: `Key:\tvalue [kB]` lines.
    fn parse_status(&mut self, status: &str) {
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let number = value
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<i64>().ok());
            match key {
                "VmRSS" => self.resident_bytes = number.map(|kb| kb * 1024),
                "VmSize" => self.virtual_bytes = number.map(|kb| kb * 1024),
                "Threads" => self.threads = number,
                _ => {}
            }
        }
    }
}

/// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit on open files from `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reports [`ProcessStats`] on each scrape.
#[derive(Debug, Default)]
pub(crate) struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        if let Some(seconds) = stats.cpu_seconds {
            describe(
                &mut encoder,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                ConstCounter::new(seconds),
            )?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stats.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stats.virtual_bytes,
            ),
            ("process_threads", "Number of OS threads", stats.threads),
            (
                "process_open_fds",
                "Number of open file descriptors",
                stats.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                stats.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                describe(&mut encoder, name, help, ConstGauge::new(value))?;
            }
        }
        if let Some(start) = stats.start_time_seconds {
            describe(
                &mut encoder,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                ConstGauge::new(start),
            )?;
        }
        Ok(())
    }
}

/// Writes one metric with its name and help text.
fn describe(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_and_start_time_past_a_command_name_with_spaces_and_parentheses() {
        // Fields 14 and 15 (utime, stime) are 250 and 50 ticks; field 22
        // (starttime) is 1234 ticks after boot.
        let stat = "4242 (crm app (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1234 1000000 500 18446744073709551615";
        let mut stats = ProcessStats::default();
        stats.parse_stat(stat, Some(1_700_000_000));
        assert_eq!(stats.cpu_seconds, Some(3.0));
        assert_eq!(stats.start_time_seconds, Some(1_700_000_012.34));
    }

    #[test]
    fn reads_memory_and_threads_from_status_in_bytes() {
        let status = "Name:\tcrm-app\nVmSize:\t  123456 kB\nVmRSS:\t   15360 kB\nThreads:\t9\n";
        let mut stats = ProcessStats::default();
        stats.parse_status(status);
        assert_eq!(stats.resident_bytes, Some(15_360 * 1024));
        assert_eq!(stats.virtual_bytes, Some(123_456 * 1024));
        assert_eq!(stats.threads, Some(9));
    }

    #[test]
    fn reads_the_soft_open_files_limit_and_the_boot_time() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95000                95000                processes \nMax open files            8192                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(8192));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1764115200\nprocesses 42\n"),
            Some(1_764_115_200)
        );
        assert_eq!(max_open_files("nothing here"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_test_process_from_proc() {
        let stats = ProcessStats::read();
        assert!(stats.resident_bytes.is_some_and(|b| b > 0), "{stats:?}");
        assert!(stats.threads.is_some_and(|t| t >= 1), "{stats:?}");
        assert!(stats.open_fds.is_some_and(|n| n >= 3), "{stats:?}");
        assert!(
            stats.max_fds.is_some_and(|n| n >= stats.open_fds.unwrap()),
            "{stats:?}"
        );
        assert!(stats.cpu_seconds.is_some(), "{stats:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = stats.start_time_seconds.expect("a start time");
        assert!(
            started <= now + 1.0 && started > now - 24.0 * 3600.0,
            "{started} vs {now}"
        );
    }
}
