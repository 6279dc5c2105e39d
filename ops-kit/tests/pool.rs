//! Transactions survive callers that give up: a request cancelled while
//! its transaction is beginning never leaves the pooled connection inside
//! that transaction for the next request to join, and neither does a read
//! transaction ended without waiting for its rollback.

use std::time::Duration;

use ops_kit::on_backend;
use ops_kit::testing::TestDb;
use uuid::Uuid;

/// The sqlx pool inside, for queries outside any transaction of ours.
fn raw(pool: &ops_kit::sql::Pool) -> &sqlx::PgPool {
    match pool {
        ops_kit::sql::Pool::Postgres(pool) => pool,
        _ => unreachable!("a PostgreSQL pool"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_cancelled_half_way_leaves_no_transaction_behind() {
    let db = TestDb::postgres().await;
    let tenant = Uuid::new_v4();
    let mut cancelled = 0;
    for i in 0..300u64 {
        // Give up at a different moment each time, often mid-`BEGIN`.
        let wait = Duration::from_micros(20 + (i * 37) % 400);
        if tokio::time::timeout(wait, db.pool.begin_read_for_tenant(tenant))
            .await
            .is_err()
        {
            cancelled += 1;
        }
        // Whatever connection comes next is outside any transaction:
        // writable, and with no tenant. (Read with a plain query: a
        // transaction of ours would clear the tenant itself.)
        let (read_only, tenant_setting): (String, Option<String>) = sqlx::query_as(
            "SELECT current_setting('transaction_read_only'), current_setting('app.tenant_id', true)",
        )
        .fetch_one(raw(&db.pool))
        .await
        .unwrap();
        assert_eq!(
            read_only, "off",
            "round {i}: joined a read-only transaction left behind"
        );
        assert_eq!(
            tenant_setting.unwrap_or_default(),
            "",
            "round {i}: a tenant carried over"
        );
    }
    assert!(cancelled > 0, "some begins were cancelled");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_ended_without_waiting_hands_over_a_clean_connection() {
    let db = TestDb::postgres().await;
    let pool = ops_kit::sql::Pool::connect_lazy_sized(&db.url, Some(1)).unwrap();
    let tenant = Uuid::new_v4();
    let mut setup = pool.begin().await.unwrap();
    on_backend!(&mut setup, conn => {
        sqlx::query("CREATE TABLE seen (n int)").execute(&mut **conn).await.unwrap();
    });
    setup.commit().await.unwrap();
    for i in 0..50 {
        let mut read = pool.begin_read_for_tenant(tenant).await.unwrap();
        let (setting,): (String,) = on_backend!(&mut read, conn => {
            sqlx::query_as("SELECT current_setting('app.tenant_id', true)")
                .fetch_one(&mut **conn)
                .await
                .unwrap()
        });
        assert_eq!(setting, tenant.to_string());
        read.end_read().await.unwrap();
        // The pool's only connection, straight after, outside any
        // transaction of ours: out of the read transaction, with no tenant.
        let (read_only, tenant_setting): (String, Option<String>) = sqlx::query_as(
            "SELECT current_setting('transaction_read_only'), current_setting('app.tenant_id', true)",
        )
        .fetch_one(raw(&pool))
        .await
        .unwrap();
        assert_eq!(read_only, "off", "round {i}");
        assert_eq!(tenant_setting.unwrap_or_default(), "", "round {i}");
        // And a write there commits.
        let mut tx = pool.begin().await.unwrap();
        on_backend!(&mut tx, conn => {
            sqlx::query("INSERT INTO seen VALUES ($1)").bind(i).execute(&mut **conn).await.unwrap();
        });
        tx.commit().await.unwrap();
    }
    let mut tx = pool.begin().await.unwrap();
    let (rows,): (i64,) = on_backend!(&mut tx, conn => {
        sqlx::query_as("SELECT count(*) FROM seen").fetch_one(&mut **conn).await.unwrap()
    });
    assert_eq!(rows, 50, "every write after a read committed");
    tx.rollback().await.unwrap();
    pool.close().await;
    db.drop_db().await;
}
