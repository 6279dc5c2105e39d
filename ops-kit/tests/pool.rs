//! Transactions survive callers that give up: a request cancelled while
//! its transaction is beginning never leaves the pooled connection inside
//! that transaction for the next request to join.

use std::time::Duration;

use ops_kit::on_backend;
use ops_kit::testing::TestDb;
use uuid::Uuid;

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
        // Whatever connection comes next starts a transaction of its own:
        // writable, and with no tenant.
        let mut tx = db.pool.begin().await.unwrap();
        let (read_only, tenant_setting): (String, String) = on_backend!(&mut tx, conn => {
            sqlx::query_as(
                "SELECT current_setting('transaction_read_only'), current_setting('app.tenant_id', true)",
            )
            .fetch_one(&mut **conn)
            .await
            .unwrap()
        });
        assert_eq!(
            read_only, "off",
            "round {i}: joined a read-only transaction left behind"
        );
        assert_eq!(tenant_setting, "", "round {i}: a tenant carried over");
        tx.rollback().await.unwrap();
    }
    assert!(cancelled > 0, "some begins were cancelled");
    db.drop_db().await;
}
