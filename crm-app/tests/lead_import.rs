//! Importing leads from a CSV file, through the domain functions the
//! console calls: the preview writes nothing but the import, the run
//! writes each row through the API's upsert with its audit entry, and two
//! tasks on one import write each row once.

mod common;

use axum::extract::FromRequestParts;
use common::{Harness, User, on_both_databases};
use crm_app::leads::import::{self, ImportError, ImportState, LeadImport};
use ops_kit::audit::AuditContext;
use ops_kit::auth::{Principal, Role};
use serde_json::json;

on_both_databases!(
    a_preview_checks_every_row_and_writes_nothing_but_the_import,
    an_import_writes_each_row_by_the_apis_upsert_and_audits_it_as_lead_upsert,
    two_tasks_running_one_import_write_each_row_once,
    an_import_starts_once_and_is_discarded_only_before_it_starts,
);

fn admin(user: &User) -> Principal {
    Principal::new(
        user.id.parse().unwrap(),
        user.tenant.parse().unwrap(),
        Role::Admin,
    )
}

/// The audit facts of a request by `actor`, as the console's handlers get
/// them.
async fn facts(actor: &Principal) -> AuditContext {
    let request = http::Request::builder()
        .header("user-agent", "crm-tests/1.0")
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    parts.extensions.insert(actor.clone());
    AuditContext::from_request_parts(&mut parts, &())
        .await
        .unwrap()
}

async fn preview(h: &Harness, actor: &Principal, csv: &str) -> LeadImport {
    let mut tx = h.pool.begin_for_tenant(actor.tenant_id).await.unwrap();
    let import = import::preview(&mut tx, actor, "leads.csv", csv.as_bytes(), "USD")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    import
}

async fn start(h: &Harness, actor: &Principal, id: uuid::Uuid) -> Result<(), ImportError> {
    let mut tx = h.pool.begin_for_tenant(actor.tenant_id).await.unwrap();
    import::start(&mut tx, actor, id).await?;
    tx.commit().await.unwrap();
    Ok(())
}

async fn reread(h: &Harness, actor: &Principal, id: uuid::Uuid) -> LeadImport {
    let mut tx = h.pool.begin_for_tenant(actor.tenant_id).await.unwrap();
    let import = import::get(&mut tx, actor, id).await.unwrap();
    tx.rollback().await.unwrap();
    import
}

const FILE: &str = "name,email,external_id,company,estimated_value\n\
    New One,new1@customer.test,,Oak & Ash,\"$1,200.00\"\n\
    Renamed,old@customer.test,,,\n\
    By Reference,,SHOP-7,Walnut Works,\n\
    Bad Row,not-an-email,,,\n\
    New One Again,new1@customer.test,,,\n";

async fn shop(h: &Harness) -> (User, Principal, String) {
    let ada = h.tenant("ada@import.test").await;
    let existing = h
        .lead(
            &ada,
            json!({"name": "Old Name", "email": "old@customer.test", "externalId": "SHOP-7"}),
        )
        .await;
    let actor = admin(&ada);
    (ada, actor, existing["id"].as_str().unwrap().to_owned())
}

async fn a_preview_checks_every_row_and_writes_nothing_but_the_import(h: &Harness) {
    let (ada, actor, existing) = shop(h).await;
    let import = preview(h, &actor, FILE).await;

    assert_eq!(import.state(), ImportState::Previewed);
    let lines: Vec<u64> = import.rows.0.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4, 6]);
    let rows = &import.rows.0;
    assert_eq!(rows[0].matches, None, "a new lead");
    assert_eq!(rows[0].fields["estimatedValue"], "1200.00");
    assert_eq!(rows[1].matches, Some(existing.parse().unwrap()), "by email");
    assert_eq!(
        rows[2].matches,
        Some(existing.parse().unwrap()),
        "by external id"
    );
    assert_eq!(rows[3].after_line, Some(2), "the lead line 2 creates");
    let refused = &import.refused.0;
    assert_eq!(refused.len(), 1);
    assert_eq!((refused[0].line, refused[0].name.as_str()), (5, "Bad Row"));
    assert_eq!(refused[0].problems[0].field, "email");

    let leads = h.get("/api/crm/leads", &ada).await;
    assert_eq!(
        leads.body["data"].as_array().unwrap().len(),
        1,
        "nothing written"
    );
    assert_eq!(h.audit(&ada, "action=lead.upsert").await.len(), 1);
}

async fn an_import_writes_each_row_by_the_apis_upsert_and_audits_it_as_lead_upsert(h: &Harness) {
    let (ada, actor, existing) = shop(h).await;
    let import = preview(h, &actor, FILE).await;
    start(h, &actor, import.id).await.unwrap();
    import::run(&h.pool, &actor, &facts(&actor).await, import.id)
        .await
        .unwrap();

    let done = reread(h, &actor, import.id).await;
    assert_eq!(done.state(), ImportState::Done);
    assert_eq!((done.processed, done.total), (4, 4));
    assert_eq!((done.created, done.updated, done.unchanged), (1, 3, 0));
    assert!(done.failed.0.is_empty());
    assert!(done.finished_at.is_some());

    let old = h.get(&format!("/api/crm/leads/{existing}"), &ada).await;
    assert_eq!(old.body["name"], "By Reference", "the later row wins");
    assert_eq!(old.body["company"], "Walnut Works");
    assert_eq!(
        old.body["email"], "old@customer.test",
        "a blank cell changes nothing"
    );
    let new = h.get("/api/crm/leads?q=new1%40customer.test", &ada).await;
    let new = &new.body["data"][0];
    assert_eq!(new["name"], "New One Again");
    assert_eq!(new["estimatedValue"], "1200.00");
    assert_eq!(new["currency"], "USD");
    assert_eq!(new["status"], "new");

    let entries = h.audit(&ada, "action=lead.upsert").await;
    assert_eq!(entries.len(), 1 + 4, "the API's lead and each imported row");
    let imported = &entries[..4];
    for entry in imported {
        assert_eq!(entry["userId"], ada.id.as_str());
        assert_eq!(entry["resourceType"], "lead");
    }
    assert_eq!(imported[3]["changes"]["name"], "New One");
    assert_eq!(imported[0]["changes"]["name"], "New One Again");
    assert_eq!(imported[0]["resourceId"], new["id"]);
    let report = ops_kit::audit::verify(&h.db.pool, Some(actor.tenant_id))
        .await
        .unwrap();
    assert!(report.is_intact());
}

async fn two_tasks_running_one_import_write_each_row_once(h: &Harness) {
    let (_ada, actor, _) = shop(h).await;
    let mut file = String::from("name,email\n");
    for i in 0..(import::BATCH * 2 + 50) {
        file.push_str(&format!("Customer {i},customer{i}@import.test\n"));
    }
    let import = preview(h, &actor, &file).await;
    let before = ops_kit::audit::verify(&h.db.pool, Some(actor.tenant_id))
        .await
        .unwrap()
        .entries;
    start(h, &actor, import.id).await.unwrap();
    let facts = facts(&actor).await;
    let (a, b) = tokio::join!(
        import::run(&h.pool, &actor, &facts, import.id),
        import::run(&h.pool, &actor, &facts, import.id),
    );
    a.unwrap();
    b.unwrap();

    let done = reread(h, &actor, import.id).await;
    let rows = (import::BATCH * 2 + 50) as i32;
    assert_eq!(done.state(), ImportState::Done);
    assert_eq!(
        (done.processed, done.created, done.updated),
        (rows, rows, 0)
    );
    let mut tx = h.db.pool.begin().await.unwrap();
    let count: i64 = ops_kit::on_backend!(&mut tx, conn => {
        sqlx::query_scalar("SELECT count(*) FROM leads WHERE tenant_id = $1")
            .bind(actor.tenant_id)
            .fetch_one(&mut **conn)
            .await
            .unwrap()
    });
    drop(tx);
    assert_eq!(count, i64::from(rows) + 1);
    let report = ops_kit::audit::verify(&h.db.pool, Some(actor.tenant_id))
        .await
        .unwrap();
    assert!(report.is_intact());
    assert_eq!(
        report.entries,
        before + rows as u64,
        "each row audited once"
    );
}

async fn an_import_starts_once_and_is_discarded_only_before_it_starts(h: &Harness) {
    let (_ada, actor, _) = shop(h).await;
    let first = preview(h, &actor, FILE).await;
    let mut tx = h.pool.begin_for_tenant(actor.tenant_id).await.unwrap();
    import::discard(&mut tx, &actor, first.id).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = h.pool.begin_for_tenant(actor.tenant_id).await.unwrap();
    assert!(matches!(
        import::get(&mut tx, &actor, first.id).await,
        Err(ImportError::NotFound)
    ));
    drop(tx);

    let second = preview(h, &actor, FILE).await;
    start(h, &actor, second.id).await.unwrap();
    assert!(matches!(
        start(h, &actor, second.id).await,
        Err(ImportError::Started)
    ));
    let mut tx = h.pool.begin_for_tenant(actor.tenant_id).await.unwrap();
    assert!(matches!(
        import::discard(&mut tx, &actor, second.id).await,
        Err(ImportError::Started)
    ));
    drop(tx);

    // Another tenant cannot see it.
    let other = h.tenant("bo@elsewhere.test").await;
    let other = admin(&other);
    let mut tx = h.pool.begin_for_tenant(other.tenant_id).await.unwrap();
    assert!(matches!(
        import::get(&mut tx, &other, second.id).await,
        Err(ImportError::NotFound)
    ));
}
