//! Clients that send a request body slowly hold no database connection:
//! crm-app reads every body in full before a route takes a transaction,
//! and a body that does not arrive in time is answered with 408.

use std::time::{Duration, Instant};

use e2e::{Binary, Proc};
use ops_kit::testing::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";
const POOL: usize = 2;

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("{base}/api/health/ready")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became ready");
}

/// Opens a connection that declares a 100-byte body on `path` and sends 9.
async fn slow_body(addr: &str, path: &str, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\":\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Everything the server sends until it closes or `limit` passes.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut received = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}

async fn slow_bodies_leave_the_pool_free(database_url: &str) {
    let (_server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", database_url),
            ("DATABASE_MAX_CONNECTIONS", &POOL.to_string()),
            ("BODY_READ_TIMEOUT_SECS", "3"),
        ],
    );
    let addr = base.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    wait_ready(&client, &base).await;
    let token = e2e::register(&base, "ada@slow-bodies.test").await;

    // Twice as many stalled bodies as the pool has connections, on both
    // routes that write.
    let mut stalled = Vec::new();
    for i in 0..POOL * 2 {
        let path = if i % 2 == 0 {
            "/api/crm/leads"
        } else {
            "/api/crm/activities"
        };
        stalled.push(slow_body(&addr, path, &token).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let list = client
        .get(format!("{base}/api/crm/leads"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("the lead list answers within 2 s");
    assert_eq!(list.status(), 200, "after {:?}", started.elapsed());
    let ready = client
        .get(format!("{base}/api/health/ready"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("readiness answers within 2 s");
    assert_eq!(ready.status(), 200);

    // Each stalled body gets 408 in the envelope once its deadline passes.
    for mut stream in stalled {
        let response = read_until_closed(&mut stream, Duration::from_secs(6)).await;
        assert!(
            response.starts_with("HTTP/1.1 408"),
            "a stalled body is answered 408: {response:?}"
        );
        assert!(
            response.contains("\"code\":\"request_timeout\""),
            "{response}"
        );
        assert!(
            response.contains("request body did not arrive within 3000 ms"),
            "{response}"
        );
        assert!(response.contains("x-request-id: "), "{response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_hold_no_connection_of_the_postgres_pool() {
    let db = TestDb::postgres().await;
    slow_bodies_leave_the_pool_free(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_hold_no_connection_of_the_sqlite_pool() {
    slow_bodies_leave_the_pool_free(&e2e::temp_sqlite_url()).await;
}
