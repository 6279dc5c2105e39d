//! Many connections: a thousand idle keep-alive clients and a few that
//! send their headers one byte at a time do not stop the probes from
//! answering.

use std::time::Duration;

use e2e::{Binary, Proc};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_and_slow_headers_do_not_starve_the_probes() {
    let (_server, base) = Proc::start_listening(Binary::Hello, &[("HOST", "127.0.0.1")]);
    let addr = base.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..100 {
        if client
            .get(format!("{base}/api/health/live"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A thousand keep-alive connections: each sends one request, reads
    // nothing more, and stays open.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        stream
            .write_all(
                b"GET /api/health/live HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n",
            )
            .await
            .unwrap();
        idle.push(stream);
    }
    // Slow clients: a header line, then a byte every 100 ms.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        stream
            .write_all(b"GET /api/health HTTP/1.1\r\nx-slow: ")
            .await
            .unwrap();
        slow.push(tokio::spawn(async move {
            for _ in 0..100 {
                if stream.write_all(b"a").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    for probe in ["/api/health/live", "/api/health/ready", "/api/health"] {
        for _ in 0..5 {
            let r = client
                .get(format!("{base}{probe}"))
                .send()
                .await
                .expect("the probe answers");
            assert_eq!(r.status(), 200, "{probe}");
        }
    }
    assert_eq!(idle.len(), 1000);
    for task in slow {
        task.abort();
    }
}
