//! crm-app when its dependencies go away: PostgreSQL behind a TCP proxy the
//! test cuts and restores, and Redis pointed at a port nothing listens on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Binary, Proc};
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

/// A TCP proxy to PostgreSQL that can be cut (every open connection
/// dropped, new ones closed on arrival) and restored.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        Self { addr, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn status_of(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Polls `url` until it answers `status`; how long that took.
async fn until(client: &reqwest::Client, url: &str, status: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if status_of(client, url, None).await.0 == status {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer {status} within {limit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_fast_and_the_service_recovers_without_a_restart() {
    let db = TestDb::postgres().await;
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let url = db
        .url
        .replace("127.0.0.1:5432", &proxy.addr.to_string())
        .replace("localhost:5432", &proxy.addr.to_string());
    assert_ne!(url, db.url, "the service talks through the proxy");
    let (_server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", &url),
        ],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    until(
        &client,
        &format!("{base}/api/health/ready"),
        200,
        Duration::from_secs(20),
    )
    .await;
    let token = e2e::register(&base, "ada@outage.test").await;
    let leads = format!("{base}/api/crm/leads");
    assert_eq!(status_of(&client, &leads, Some(&token)).await.0, 200);

    proxy.cut();
    let took = until(
        &client,
        &format!("{base}/api/health/ready"),
        503,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        took <= Duration::from_secs(2),
        "readiness turned 503 after {took:?}"
    );
    let (live, _) = status_of(&client, &format!("{base}/api/health/live"), None).await;
    assert_eq!(live, 200, "liveness does not depend on the database");
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = status_of(&client, &leads, Some(&token)).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["requestId"].is_string() && body["error"].is_string(),
            "{body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "failed fast: {:?}",
            started.elapsed()
        );
    }

    proxy.restore();
    until(
        &client,
        &format!("{base}/api/health/ready"),
        200,
        Duration::from_secs(15),
    )
    .await;
    let (status, body) = status_of(&client, &leads, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_the_service_serving_and_readiness_names_the_cache() {
    // Nothing listens on port 1: the cache is down from the start.
    let db_url = e2e::temp_sqlite_url();
    let (server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("HOST", "127.0.0.1"),
            ("DATABASE_URL", &db_url),
            ("REDIS_URL", "redis://127.0.0.1:1"),
        ],
    );
    // Past start-up (migrations, seed): readiness now reflects the checks.
    server.wait_for_line(|l| l.contains("Ready in"), Duration::from_secs(30));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ready = format!("{base}/api/health/ready");
    until(&client, &ready, 503, Duration::from_secs(20)).await;
    let (_, body) = status_of(&client, &ready, None).await;
    assert_eq!(body["checks"]["database"], "connected", "{body}");
    assert_ne!(body["checks"]["cache"], "connected", "{body}");
    // Logins still work: throttling counts in this process while Redis is
    // away (docs/tenancy.md), so the service neither locks everyone out nor
    // stops counting.
    let token = &e2e::dev_login(&base).await;
    let (status, _) = status_of(&client, &format!("{base}/api/crm/leads"), Some(token)).await;
    assert_eq!(status, 200);
    for _ in 0..5 {
        client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": "admin@cutlist.pro", "password": "wrong"}))
            .send()
            .await
            .unwrap();
    }
    let r = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "admin@cutlist.pro", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        429,
        "failed logins are still limited without Redis"
    );
}
