//! Drain under load: SIGTERM, with a pre-stop delay, while clients keep
//! writing and reading. The clients play the load balancer's part: they
//! keep sending until readiness has said 503 for half a second (the time a
//! balancer takes to notice), well inside the one-second pre-stop delay. No
//! request fails, the process exits 0 within its budget, and every write
//! that was answered 2xx is in the database with its audit entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::{Binary, Proc};
use ops_kit::testing::TestDb;
use serde_json::json;

const SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

#[derive(Debug, Default)]
struct Seen {
    written: Vec<String>,
    reads: usize,
    refused: usize,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_accepted_request_and_no_acknowledged_write() {
    let db = TestDb::postgres().await;
    let (mut server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", &db.url),
            ("SHUTDOWN_DELAY_SECS", "1"),
            ("SHUTDOWN_TIMEOUT_SECS", "10"),
        ],
    );
    server.wait_for_line(|l| l.contains("Ready in"), Duration::from_secs(30));
    // One connection per request: a refused connection then means "not
    // accepted", never a keep-alive race.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let token = e2e::register(&base, "ada@drain.test").await;

    let stop = Arc::new(AtomicBool::new(false));
    // The balancer: stops routing half a second after readiness fails.
    let balancer = {
        let (client, ready, stop) = (
            client.clone(),
            format!("{base}/api/health/ready"),
            stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                if client
                    .get(&ready)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 503)
                {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut clients = Vec::new();
    for worker in 0..8 {
        let (client, base, token, stop) =
            (client.clone(), base.clone(), token.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let external_id = format!("drain-{worker}-{n}");
                let result = if n % 2 == 0 {
                    client.get(format!("{base}/api/crm/leads?limit=5")).bearer_auth(&token).send().await
                } else {
                    client
                        .post(format!("{base}/api/crm/leads"))
                        .bearer_auth(&token)
                        .json(&json!({"externalId": external_id, "name": format!("Customer {worker}-{n}")}))
                        .send()
                        .await
                };
                match result {
                    Ok(r) if r.status().is_success() => {
                        if n % 2 == 1 {
                            seen.written.push(external_id);
                        } else {
                            seen.reads += 1;
                        }
                    }
                    Ok(r) => seen.failures.push(format!("{} {}", r.status(), r.text().await.unwrap_or_default())),
                    // The listener is closed: the request was never accepted.
                    Err(e) if e.is_connect() => {
                        seen.refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => seen.failures.push(format!("{e:?}")),
                }
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("TERM");
    balancer.await.unwrap();
    let mut total = Seen::default();
    for client in clients {
        let seen = client.await.unwrap();
        total.written.extend(seen.written);
        total.reads += seen.reads;
        total.refused += seen.refused;
        total.failures.extend(seen.failures);
    }
    let status = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(15)))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert!(
        total.failures.is_empty(),
        "accepted requests failed: {:?}",
        &total.failures[..total.failures.len().min(5)]
    );
    assert!(
        total.written.len() > 10 && total.reads > 10,
        "{} writes, {} reads",
        total.written.len(),
        total.reads
    );
    assert_eq!(
        total.refused, 0,
        "the listener stayed open through the pre-stop delay"
    );

    // Every acknowledged write is there, with its audit entry.
    let ops_kit::sql::Pool::Postgres(pg) = &db.pool else {
        unreachable!("a PostgreSQL test database")
    };
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads WHERE external_id = ANY($1)")
        .bind(&total.written)
        .fetch_one(pg)
        .await
        .unwrap();
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_logs a JOIN leads l ON a.resource_id = l.id::text \
         WHERE a.action = 'lead.upsert' AND l.external_id = ANY($1)",
    )
    .bind(&total.written)
    .fetch_one(pg)
    .await
    .unwrap();
    assert_eq!(leads as usize, total.written.len());
    assert_eq!(audited as usize, total.written.len());
    db.drop_db().await;
}
