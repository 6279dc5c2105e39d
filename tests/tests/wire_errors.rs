//! Requests refused on the wire, before any route: hyper's own refusals
//! (malformed request line or headers, a URI over 64 KiB, more than 100
//! headers) still answer with the JSON envelope, a request id and a
//! `[METRICS]` line; a body refused as too large reaches a client that is
//! still sending it; a compressed body is refused with 415.

use std::time::Duration;

use e2e::{Binary, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn started() -> (Proc, String) {
    let (server, base) = Proc::start_listening(Binary::Hello, &[("HOST", "127.0.0.1")]);
    let addr = base.trim_start_matches("http://").to_owned();
    for _ in 0..200 {
        if TcpStream::connect(&addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, addr)
}

/// Sends `request` as it is and returns everything the server answers
/// before closing (at most 5 s).
async fn exchange(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}

/// Asserts an envelope response with `status` and `code`; returns its id.
fn envelope(response: &str, status: u16, code: &str) -> String {
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status} ")),
        "{response}"
    );
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: application/json"), "{head}");
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("an x-request-id header")
        .to_owned();
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["requestId"], id.as_str(), "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    id
}

fn metrics_line_for(server: &Proc, id: &str) -> String {
    server.wait_for_line(
        |l| l.starts_with("[METRICS]") && l.contains(id),
        Duration::from_secs(5),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_64_kib_gets_414_in_the_envelope_with_a_metrics_line() {
    let (server, addr) = started().await;
    let request = format!(
        "GET /api/health/live?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let response = exchange(&addr, request.as_bytes()).await;
    let id = envelope(&response, 414, "uri_too_long");
    let line = metrics_line_for(&server, &id);
    assert!(line.contains("status=414"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_100_headers_get_431_in_the_envelope() {
    let (server, addr) = started().await;
    let mut request = String::from("GET /api/health/live HTTP/1.1\r\nhost: x\r\n");
    for i in 0..101 {
        request.push_str(&format!("x-h{i}: v\r\n"));
    }
    request.push_str("\r\n");
    let response = exchange(&addr, request.as_bytes()).await;
    let id = envelope(&response, 431, "client_error");
    let line = metrics_line_for(&server, &id);
    assert!(
        line.contains("status=431") && line.contains("method=GET path=/api/health/live"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_lengths_headers_and_request_lines_get_400_in_the_envelope() {
    let (server, addr) = started().await;
    let cases: [&[u8]; 6] = [
        b"POST /api/x HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
        b"POST /api/x HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n",
        b"POST /api/x HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        b"GET /api/health/live HTTP/1.1\r\nhost: x\r\nx-bad: a\0b\r\n\r\n",
        b"NOT A REQUEST LINE\r\n\r\n",
        b"GET /api/health/live HTTP/9.9\r\nhost: x\r\n\r\n",
    ];
    for case in cases {
        let response = exchange(&addr, case).await;
        let id = envelope(&response, 400, "bad_request");
        let line = metrics_line_for(&server, &id);
        assert!(line.contains("status=400"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_its_whole_body_before_reading_gets_the_413_not_a_reset() {
    let (_server, addr) = started().await;
    let body = vec![b'x'; 2 * 1024 * 1024];
    // As Python's urllib does: the whole upload, then the response.
    for attempt in 0..5 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/things HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        // In pieces, as a client slower than the loopback sends them.
        let sent = async {
            stream.write_all(head.as_bytes()).await?;
            for piece in body.chunks(64 * 1024) {
                stream.write_all(piece).await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<(), std::io::Error>(())
        }
        .await;
        assert!(
            sent.is_ok(),
            "attempt {attempt}: the upload broke off: {sent:?}"
        );
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
            .await
            .expect("an answer within 5 s")
            .unwrap_or_else(|e| panic!("attempt {attempt}: a reset instead of the answer: {e}"));
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_encoded_body_gets_415() {
    let (_server, addr) = started().await;
    let response = exchange(
        &addr,
        b"POST /api/things HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    )
    .await;
    envelope(&response, 415, "unsupported_media_type");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("accept-encoding: identity"),
        "{response}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_expecting_100_continue_for_a_body_over_the_limit_gets_the_413_first() {
    let (_server, addr) = started().await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/things HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 2097152\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
}
