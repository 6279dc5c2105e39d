//! crm-app when its dependencies go away: PostgreSQL behind a TCP proxy the
//! test cuts and restores, and Redis pointed at a port nothing listens on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Binary, Proc};
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

/// What the proxy does with traffic.
const UP: u8 = 0;
/// Every open connection dropped, new ones closed on arrival.
const CUT: u8 = 1;
/// Nothing forwarded, every socket kept open: a database that stopped
/// answering.
const HUNG: u8 = 2;

/// A TCP proxy to PostgreSQL that can be cut, hung and restored.
struct Proxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    hung: Arc<Notify>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(UP));
        let hung = Arc::new(Notify::new());
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (mode2, hung2, links2) = (mode.clone(), hung.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if mode2.load(Ordering::SeqCst) == CUT {
                    drop(inbound);
                    continue;
                }
                let (mode, hung) = (mode2.clone(), hung2.clone());
                let link = tokio::spawn(async move {
                    let on_hang = hung.notified();
                    tokio::pin!(on_hang);
                    on_hang.as_mut().enable();
                    // Hung: the sockets stay open (until cut), nothing moves.
                    if mode.load(Ordering::SeqCst) == HUNG {
                        std::future::pending::<()>().await;
                    }
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = on_hang => std::future::pending::<()>().await,
                        }
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        Self {
            addr,
            mode,
            hung,
            links,
        }
    }

    fn cut(&self) {
        self.mode.store(CUT, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Stops forwarding on every connection, open or new, keeping them open.
    fn hang(&self) {
        self.mode.store(HUNG, Ordering::SeqCst);
        self.hung.notify_waiters();
    }

    fn restore(&self) {
        self.mode.store(UP, Ordering::SeqCst);
    }
}

/// The service started on `db` through `proxy`, in production mode.
fn start_through(db: &TestDb, proxy: &Proxy, extra: &[(&str, &str)]) -> (Proc, String) {
    let url = db
        .url
        .replace("127.0.0.1:5432", &proxy.addr.to_string())
        .replace("localhost:5432", &proxy.addr.to_string());
    assert_ne!(url, db.url, "the service talks through the proxy");
    let mut env = vec![
        ("APP_ENV", "production"),
        ("HOST", "127.0.0.1"),
        ("JWT_SECRET", SECRET),
        ("DATABASE_URL", url.as_str()),
    ];
    env.extend_from_slice(extra);
    Proc::start_listening(Binary::CrmApp, &env)
}

/// Asserts a 503 in the envelope with `Retry-After`, answered within 1 s.
async fn assert_fails_fast(client: &reqwest::Client, url: &str, token: &str) {
    let started = Instant::now();
    let r = client.get(url).bearer_auth(token).send().await.unwrap();
    let took = started.elapsed();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").cloned();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "service_unavailable", "{body}");
    assert!(body["requestId"].is_string(), "{body}");
    assert!(retry.is_some(), "Retry-After on {body}");
    assert!(took < Duration::from_secs(1), "failed fast: {took:?}");
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
    let (_server, base) = start_through(&db, &proxy, &[]);
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
        assert_fails_fast(&client, &leads, &token).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_ends_requests_at_their_timeout_fails_fast_once_known_and_does_not_hold_shutdown()
 {
    let db = TestDb::postgres().await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let (mut server, base) = start_through(&db, &proxy, &[("SHUTDOWN_TIMEOUT_SECS", "2")]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let ready = format!("{base}/api/health/ready");
    until(&client, &ready, 200, Duration::from_secs(20)).await;
    let token = e2e::register(&base, "ada@hung.test").await;
    let leads = format!("{base}/api/crm/leads");
    // The pool now holds a connection that answered a moment ago.
    assert_eq!(status_of(&client, &leads, Some(&token)).await.0, 200);

    proxy.hang();
    // A request on the hung connection ends at the 30 s request timeout.
    let held = {
        let (client, leads, token) = (client.clone(), leads.clone(), token.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let (status, body) = status_of(&client, &leads, Some(&token)).await;
            (status, body, started.elapsed())
        })
    };
    // Readiness sees it within its check timeout; then routes fail fast.
    until(&client, &ready, 503, Duration::from_secs(5)).await;
    for _ in 0..3 {
        assert_fails_fast(&client, &leads, &token).await;
    }
    let (status, body, took) = held.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "service_unavailable", "{body}");
    assert!(took < Duration::from_secs(35), "ended after {took:?}");

    // Shutdown: the drain (2 s) and the pool's cleanup (5 s) are bounded,
    // whatever the hung connections do.
    let started = Instant::now();
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(2 + 5 + 5));
    assert!(
        started.elapsed() < Duration::from_secs(2 + 5 + 3),
        "exited after {:?}",
        started.elapsed()
    );
    proxy.restore();
    db.drop_db().await;
}

/// What one request of the load saw.
#[derive(Debug)]
enum Seen {
    Ok,
    Unavailable(String),
    Other(String),
}

async fn classify(r: Result<reqwest::Response, reqwest::Error>) -> Seen {
    let r = match r {
        Ok(r) => r,
        Err(err) => return Seen::Other(format!("no answer: {err}")),
    };
    let status = r.status().as_u16();
    let retry = r.headers().contains_key("retry-after");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    match status {
        200..=299 => Seen::Ok,
        503 if retry
            && body["code"] == "service_unavailable"
            && body["requestId"].is_string()
            && body["error"].is_string() =>
        {
            Seen::Unavailable(body["error"].as_str().unwrap_or_default().to_owned())
        }
        _ => Seen::Other(format!("{status} {body}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_services_connections_under_load_answers_503_and_never_500_or_a_partial_write()
{
    let db = TestDb::postgres().await;
    let (_server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", &db.url),
        ],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ready = format!("{base}/api/health/ready");
    until(&client, &ready, 200, Duration::from_secs(20)).await;
    let token = e2e::register(&base, "ada@kill.test").await;
    let database = db.url.rsplit('/').next().unwrap().to_owned();

    // Kill every session of this database, and only this one, in a loop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (stop, database) = (stop.clone(), database.clone());
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(&ops_kit::testing::postgres_admin_url())
                .await
                .unwrap();
            let mut killed = 0_i64;
            while !stop.load(Ordering::SeqCst) {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&database)
                .fetch_one(&mut admin)
                .await
                .unwrap();
                killed += n;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            killed
        })
    };

    // A bounded load: 8 clients, 30 requests each, writes and reads mixed.
    let mut clients = Vec::new();
    for c in 0..8 {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for i in 0..30 {
                let r = if i % 2 == 0 {
                    client
                        .post(format!("{base}/api/crm/leads"))
                        .bearer_auth(&token)
                        .json(&json!({"name": format!("Lead {c}-{i}"), "projectType": "kitchen"}))
                        .send()
                        .await
                } else {
                    client
                        .get(format!("{base}/api/crm/leads?limit=20"))
                        .bearer_auth(&token)
                        .send()
                        .await
                };
                seen.push((i % 2 == 0, classify(r).await));
            }
            seen
        }));
    }
    let mut seen = Vec::new();
    for c in clients {
        seen.extend(c.await.unwrap());
    }
    stop.store(true, Ordering::SeqCst);
    let killed = killer.await.unwrap();

    let others: Vec<&String> = seen
        .iter()
        .filter_map(|(_, s)| match s {
            Seen::Other(what) => Some(what),
            _ => None,
        })
        .collect();
    let count = |write: bool, ok: bool| {
        seen.iter()
            .filter(|(w, s)| *w == write && matches!(s, Seen::Ok) == ok)
            .count()
    };
    let mut reasons: Vec<&str> = seen
        .iter()
        .filter_map(|(_, s)| match s {
            Seen::Unavailable(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    reasons.sort();
    reasons.dedup();
    println!("503 said: {reasons:?}");
    println!(
        "{killed} sessions killed; writes {} 2xx, {} 503; reads {} 2xx, {} 503",
        count(true, true),
        count(true, false),
        count(false, true),
        count(false, false)
    );
    assert!(killed > 0, "sessions were killed");
    assert!(
        others.is_empty(),
        "every failure is a 503 envelope with Retry-After: {others:?}"
    );

    // Back to normal by itself; nothing partial was kept.
    until(&client, &ready, 200, Duration::from_secs(10)).await;
    let mut tx = db.pool.begin().await.unwrap();
    let (leads, entries): (i64, i64) = ops_kit::on_backend!(&mut tx, conn => {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM leads), \
                    (SELECT count(*) FROM audit_logs WHERE action = 'lead.upsert')",
        )
        .fetch_one(&mut **conn)
        .await
        .unwrap()
    });
    tx.rollback().await.unwrap();
    assert_eq!(leads, entries, "every lead has its audit entry");
    let out = e2e::run_to_end(
        Binary::CrmApp,
        &["verify-audit"],
        &[("DATABASE_URL", &db.url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out.text);
    assert!(out.text.contains("audit trail intact"), "{}", out.text);
    db.drop_db().await;
}
