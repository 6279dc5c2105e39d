//! Crash consistency: SIGKILL in the middle of a write-heavy load, then a
//! restart. Every lead, activity and quote has its audit entry, no audit
//! entry points at a change that is not there, the hash chains verify, and
//! the pipeline totals match the leads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::{Binary, Proc};
use ops_kit::testing::TestDb;
use serde_json::{Value, json};

const SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

fn start(db: &TestDb) -> (Proc, String) {
    let (server, base) = Proc::start_listening(
        Binary::CrmApp,
        &[
            ("APP_ENV", "production"),
            ("HOST", "127.0.0.1"),
            ("JWT_SECRET", SECRET),
            ("DATABASE_URL", &db.url),
        ],
    );
    server.wait_for_line(|l| l.contains("Ready in"), Duration::from_secs(30));
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_leaves_every_change_with_its_audit_entry() {
    let db = TestDb::postgres().await;
    let (mut server, base) = start(&db);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let token = e2e::register(&base, "ada@crash.test").await;
    let lead: Value = client
        .post(format!("{base}/api/crm/leads"))
        .bearer_auth(&token)
        .json(&json!({"name": "Anchor lead"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..8 {
        let (client, base, token, stop, lead_id) = (
            client.clone(),
            base.clone(),
            token.clone(),
            stop.clone(),
            lead["id"].clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let (path, body) = match n % 3 {
                    0 => ("leads", json!({"externalId": format!("k-{worker}-{n}"), "name": "Crash test"})),
                    1 => ("activities", json!({"leadId": lead_id, "type": "call", "subject": "Call", "completed": true})),
                    _ => (
                        "quotes",
                        json!({"leadId": lead_id, "title": "Kitchen", "currency": "USD", "lineItems": [
                            {"kind": "cabinet", "name": "Base", "unit": "ea", "quantity": "2", "unitPrice": "385.00"}]}),
                    ),
                };
                // Errors are expected once the process is gone.
                let _ = client.post(format!("{base}/api/crm/{path}")).bearer_auth(&token).json(&body).send().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }

    // The restarted service serves the same data.
    let (_server, base) = start(&db);
    let r = client
        .get(format!("{base}/api/crm/leads"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let ops_kit::sql::Pool::Postgres(pg) = &db.pool else {
        unreachable!("a PostgreSQL test database")
    };
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pg)
            .await
            .unwrap()
    };
    let written = count("SELECT (SELECT count(*) FROM leads) + (SELECT count(*) FROM activities) + (SELECT count(*) FROM quotes)").await;
    assert!(written > 20, "the load wrote something: {written}");
    for (table, kind) in [
        ("leads", "lead"),
        ("activities", "activity"),
        ("quotes", "quote"),
    ] {
        let unaudited: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} t WHERE NOT EXISTS \
             (SELECT 1 FROM audit_logs a WHERE a.resource_type = '{kind}' AND a.resource_id = t.id::text)"
        ))
        .fetch_one(pg)
        .await
        .unwrap();
        assert_eq!(unaudited, 0, "{table} rows without an audit entry");
        let orphans: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM audit_logs a WHERE a.resource_type = '{kind}' AND NOT EXISTS \
             (SELECT 1 FROM {table} t WHERE t.id::text = a.resource_id)"
        ))
        .fetch_one(pg)
        .await
        .unwrap();
        assert_eq!(orphans, 0, "{kind} audit entries without their change");
    }
    let drift = count(
        "SELECT count(*) FROM lead_pipeline_totals p FULL JOIN \
         (SELECT tenant_id, status, coalesce(currency, '') AS currency, count(*) AS n, \
                 coalesce(sum(estimated_value_e4), 0) AS v \
            FROM leads WHERE deleted_at IS NULL GROUP BY 1, 2, 3) s \
         USING (tenant_id, status, currency) \
         WHERE coalesce(p.lead_count, 0) <> coalesce(s.n, 0) OR coalesce(p.value_e4, 0) <> coalesce(s.v, 0)",
    )
    .await;
    assert_eq!(
        drift, 0,
        "pipeline totals that differ from a scan of the leads"
    );
    let report = ops_kit::audit::verify(&db.pool, None).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.broken);
    db.drop_db().await;
}
