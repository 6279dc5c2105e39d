//! Slow and idle connections: a connection that trickles its head or sends
//! nothing is closed after the header read timeout, an idle keep-alive
//! connection after the keep-alive timeout, and a flood of sockets beyond
//! the connection cap does not stop the liveness probe from answering,
//! even under a low open-file limit.

use std::time::{Duration, Instant};

use e2e::{Binary, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn wait_live(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client
            .get(format!("{base}/api/health/live"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never answered");
}

/// Waits until the server closes `stream` (EOF or reset), at most `limit`;
/// returns how long that took, or `None` if it stayed open.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .ok()
        .map(|()| started.elapsed())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_trickling_its_head_is_closed_within_the_header_timeout() {
    let (_server, base) = Proc::start_listening(
        Binary::Hello,
        &[("HOST", "127.0.0.1"), ("HEADER_READ_TIMEOUT_SECS", "2")],
    );
    let addr = base.trim_start_matches("http://").to_owned();
    wait_live(&client(), &base).await;

    let mut trickling = TcpStream::connect(&addr).await.unwrap();
    trickling
        .write_all(b"GET /api/health/live HTTP/1.1\r\nx-slow: ")
        .await
        .unwrap();
    let (mut reader, mut writer) = trickling.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the trickling connection is closed without a response: {read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed after {:?}",
        started.elapsed()
    );
    trickle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_within_the_header_timeout() {
    let (_server, base) = Proc::start_listening(
        Binary::Hello,
        &[("HOST", "127.0.0.1"), ("HEADER_READ_TIMEOUT_SECS", "2")],
    );
    let addr = base.trim_start_matches("http://").to_owned();
    wait_live(&client(), &base).await;

    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(4)),
        "closed after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_kept_past_the_header_timeout_and_closed_after_its_own() {
    let (_server, base) = Proc::start_listening(
        Binary::Hello,
        &[
            ("HOST", "127.0.0.1"),
            ("HEADER_READ_TIMEOUT_SECS", "1"),
            ("KEEP_ALIVE_TIMEOUT_SECS", "3"),
        ],
    );
    let addr = base.trim_start_matches("http://").to_owned();
    wait_live(&client(), &base).await;

    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let request = b"GET /api/health/live HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    conn.write_all(request).await.unwrap();
    let n = conn.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    // Idle for longer than the header timeout: still open for a second
    // request, since the keep-alive timeout applies between requests.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    conn.write_all(request).await.unwrap();
    let n = conn.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );

    let took = closed_within(&mut conn, Duration::from_secs(6)).await;
    assert!(
        took.is_some_and(|t| t > Duration::from_secs(2) && t < Duration::from_secs(5)),
        "an idle connection is closed after the 3 s keep-alive timeout: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_liveness_probe_keeps_answering_through_a_flood_of_trickling_sockets() {
    // 300 trickling sockets against a process that may open 128 files: the
    // cap (64) keeps the server under its file limit, and the oldest idle
    // socket makes room for each new connection.
    let (_server, base) = Proc::start_listening_with_file_limit(
        Binary::Hello,
        &[
            ("HOST", "127.0.0.1"),
            ("MAX_CONNECTIONS", "64"),
            ("HEADER_READ_TIMEOUT_SECS", "30"),
        ],
        128,
    );
    let addr = base.trim_start_matches("http://").to_owned();
    // A new connection for every probe, as the kubelet makes.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    wait_live(&client, &base).await;

    let mut flood = Vec::new();
    for _ in 0..300 {
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            continue;
        };
        let _ = stream
            .write_all(b"GET /api/health/live HTTP/1.1\r\nx-slow: ")
            .await;
        flood.push(stream);
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..30 {
            for stream in &mut flood {
                let _ = stream.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    for _ in 0..20 {
        let r = client
            .get(format!("{base}/api/health/live"))
            .send()
            .await
            .expect("the liveness probe answers within 2 s during the flood");
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    trickle.abort();
}
