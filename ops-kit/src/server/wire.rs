//! The server's default limits, and why.

use std::time::Duration;

/// The default time a client gets to send a complete request head: 10 s.
///
/// A real client sends its head in one packet; 10 s covers a slow mobile
/// link many times over, while a socket that sends nothing, or a byte now
/// and then, is let go in 10 s rather than held for minutes (nginx's
/// `client_header_timeout` is 60 s; Go services commonly set
/// `ReadHeaderTimeout` to 10 s).
///
/// # Example
///
/// ```
/// assert_eq!(ops_kit::server::DEFAULT_HEADER_READ_TIMEOUT, std::time::Duration::from_secs(10));
/// ```
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The default time an idle keep-alive connection is kept open between
/// two requests: 75 s.
///
/// A reverse proxy in front must give up on an idle connection before the
/// service does, or it may send a request on a connection the service is
/// just closing (a 502 for the client). AWS ALB's default idle timeout is
/// 60 s; 75 s is nginx's `keepalive_timeout` default and stays above it.
/// Behind a proxy with a longer idle timeout, raise this above it.
///
/// # Example
///
/// ```
/// assert_eq!(ops_kit::server::DEFAULT_KEEP_ALIVE_TIMEOUT, std::time::Duration::from_secs(75));
/// ```
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(75);

/// File descriptors kept free under the connection cap, for the database
/// pool, Redis, log output and the files a service opens.
const RESERVED_DESCRIPTORS: usize = 64;

/// The default connection cap: the process's open-file limit minus 64
/// (for the database pool, Redis and files), at least 16. Where the limit
/// cannot be read (outside Linux), 1024.
///
/// Staying under the file limit is the point: a server that runs out of
/// descriptors cannot accept at all, and its probes time out.
///
/// # Example
///
/// ```
/// let cap = ops_kit::server::default_max_connections();
/// assert!(cap >= 16);
/// ```
pub fn default_max_connections() -> usize {
    open_file_limit().map_or(1024, |limit| {
        limit.saturating_sub(RESERVED_DESCRIPTORS).max(16)
    })
}

/// The soft open-file limit, from `/proc/self/limits` (no `unsafe` needed).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

fn parse_open_files(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(usize::MAX);
    }
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max open files            1024                 4096                 files\n";
        assert_eq!(parse_open_files(text), Some(1024));
        assert_eq!(
            parse_open_files("Max open files unlimited unlimited files"),
            Some(usize::MAX)
        );
        assert_eq!(parse_open_files("Max processes 10 10 processes"), None);
    }
}
