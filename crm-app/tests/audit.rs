//! The audit trail of the CRM routes: the entry each audited route writes,
//! and the audit-log query for a tenant's admins. On PostgreSQL (as an
//! ordinary role, under Row-Level Security) and on SQLite.

mod common;

use common::{Harness, on_both_databases};
use http::StatusCode;
use serde_json::json;

on_both_databases!(
    every_audited_route_writes_its_entry_with_the_runbook_fields,
    audit_logs_are_for_admins_filtered_and_paged_within_the_tenant,
);

async fn every_audited_route_writes_its_entry_with_the_runbook_fields(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    // A refused request records nothing (and a secret it carried goes nowhere).
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"name": "Ana", "password": "hunter2"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    h.lead(&ada, json!({"name": "Ana", "email": "ana@example.com"}))
        .await;
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"name": "Ana", "email": "ana@example.com", "notes": "n"}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let a = h
        .post(
            "/api/crm/activities",
            &ada,
            json!({"leadId": id, "type": "call", "subject": "Hi"}),
        )
        .await
        .body;
    let aid = a["id"].as_str().unwrap().to_owned();
    h.patch(
        &format!("/api/crm/leads/{id}/status"),
        &ada,
        json!({"status": "contacted"}),
    )
    .await;
    h.patch(
        &format!("/api/crm/leads/{id}"),
        &ada,
        json!({"company": "Ruiz"}),
    )
    .await;
    h.patch(
        &format!("/api/crm/activities/{aid}"),
        &ada,
        json!({"outcome": "Booked a visit"}),
    )
    .await;
    h.send(
        "DELETE",
        &format!("/api/crm/activities/{aid}"),
        &ada,
        None,
        &[],
    )
    .await;
    h.post(
        &format!("/api/crm/activities/{aid}/restore"),
        &ada,
        json!({}),
    )
    .await;
    h.send("DELETE", &format!("/api/crm/leads/{id}"), &ada, None, &[])
        .await;
    h.post(&format!("/api/crm/leads/{id}/restore"), &ada, json!({}))
        .await;
    let entries = h.audit(&ada, "").await;
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["resourceType"].as_str().unwrap(),
                e["resourceId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("lead.upsert", "lead", id.as_str()),
            ("lead.upsert", "lead", id.as_str()),
            ("activity.create", "activity", aid.as_str()),
            ("lead.status_update", "lead", id.as_str()),
            ("lead.update", "lead", id.as_str()),
            ("activity.update", "activity", aid.as_str()),
            ("activity.delete", "activity", aid.as_str()),
            ("activity.restore", "activity", aid.as_str()),
            ("lead.delete", "lead", id.as_str()),
            ("lead.restore", "lead", id.as_str()),
        ]
    );
    for entry in &entries {
        assert_eq!(entry["tenantId"], ada.tenant.as_str());
        assert_eq!(entry["userId"], ada.id.as_str());
        assert_eq!(entry["userAgent"], "crm-tests/1.0");
        assert!(entry["requestId"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(entry["occurredAt"].is_string());
        assert!(entry.get("ipAddress").is_some());
    }
    let first = entries.last().unwrap();
    assert_eq!(first["changes"]["email"], "ana@example.com");
    assert_eq!(
        first["changes"],
        json!({"name": "Ana", "email": "ana@example.com"})
    );
    assert_eq!(entries[6]["changes"], json!({"status": "contacted"}));
    // The chain verifies.
    let report = ops_kit::audit::verify(&h.db.pool, Some(ada.tenant.parse().unwrap()))
        .await
        .unwrap();
    assert!(report.is_intact());
}

async fn audit_logs_are_for_admins_filtered_and_paged_within_the_tenant(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let bea = h.tenant("bea@birch.test").await;
    let r = h.get("/api/audit-logs", &bo).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            h.lead(&bo, json!({"name": format!("L{i}")})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    h.lead(&ada, json!({"name": "By Ada"})).await;
    h.lead(&bea, json!({"name": "Bea's"})).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = h
            .get(
                &format!(
                    "/api/audit-logs?limit=2&action=lead.upsert&userId={}{cursor}",
                    bo.id
                ),
                &ada,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        for e in r.body["data"].as_array().unwrap() {
            assert_eq!(e["userId"], bo.id.as_str());
            seen.push(e["resourceId"].as_str().unwrap().to_owned());
        }
        match r.body["pageInfo"]["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let one = h
        .audit(&ada, &format!("resourceType=lead&resourceId={}", ids[0]))
        .await;
    assert_eq!(one.len(), 1);
    let at = one[0]["occurredAt"].as_str().unwrap().to_owned();
    let from = h
        .audit(&ada, &format!("from={at}&action=lead.upsert"))
        .await;
    assert_eq!(from.len(), 2, "the newest of Bo's and Ada's");
    let to = h.audit(&ada, &format!("to={at}&action=lead.upsert")).await;
    assert_eq!(to.len(), 4);
    assert!(h.audit(&ada, "action=lead.delete").await.is_empty());
    assert_eq!(h.audit(&bea, "").await.len(), 1);
}
