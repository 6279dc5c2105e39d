//! Leads: the upsert that creates or updates the lead matched by id,
//! external id or email, its conflicts, the rules for text shown to people,
//! and what an upsert may not change. On PostgreSQL (as an ordinary role,
//! under Row-Level Security) and on SQLite.

mod common;

use common::{Harness, etag, on_both_databases};
use http::StatusCode;
use serde_json::json;

on_both_databases!(
    text_shown_to_people_refuses_bidirectional_overrides_and_writes_nothing,
    an_upsert_creates_then_updates_the_lead_matched_by_id_external_id_or_email,
    an_upsert_whose_keys_match_different_leads_is_a_conflict_and_writes_nothing,
    an_upsert_never_changes_the_status_of_a_won_lead,
);

async fn an_upsert_creates_then_updates_the_lead_matched_by_id_external_id_or_email(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"name": "Ana Ruiz", "email": "Ana@Example.com", "externalId": "wf-1", "projectType": "kitchen",
                   "source": "web_form", "estimatedValue": "18450.5", "currency": "USD", "tags": ["walnut", "walnut"],
                   "desiredInstallDate": "2027-03-15"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(etag(&r), "\"1\"");
    let lead = r.body;
    assert_eq!(lead["created"], true);
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["estimatedValue"], "18450.50");
    assert_eq!(lead["tags"], json!(["walnut"]));
    assert_eq!(lead["desiredInstallDate"], "2027-03-15");
    let id = lead["id"].as_str().unwrap();

    // By email, ignoring case.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"email": "ana@EXAMPLE.com", "phone": "+1 555 0100"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.body["id"].as_str(), &r.body["created"]),
        (Some(id), &json!(false))
    );
    assert_eq!(r.body["phone"], "+1 555 0100");
    assert_eq!(r.body["name"], "Ana Ruiz");
    assert_eq!(r.body["version"], 2);
    // By externalId.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"externalId": "wf-1", "company": "Ruiz Homes"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (StatusCode::OK, Some(id))
    );
    // By id.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"id": id, "notes": "prefers walnut"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (StatusCode::OK, Some(id))
    );
    assert_eq!(r.body["version"], 4);
    // The same submission again changes nothing, not even the version.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"id": id, "notes": "prefers walnut"}),
        )
        .await;
    assert_eq!(r.body["version"], 4);
    // A new id with the email of an existing lead contradicts itself.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"id": uuid::Uuid::new_v4(), "email": "ana@example.com"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("lead_conflict"))
    );
    // A new client-chosen id creates a lead with that id.
    let fresh = uuid::Uuid::new_v4().to_string();
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"id": fresh, "name": "Bo Chen"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (StatusCode::CREATED, Some(fresh.as_str()))
    );
    // Creating needs a name.
    let r = h
        .post("/api/crm/leads", &ada, json!({"email": "new@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["details"][0]["field"], "name");
    let r = h.get(&format!("/api/crm/leads/{id}"), &ada).await;
    assert_eq!(r.body["company"], "Ruiz Homes");
    assert_eq!(etag(&r), "\"4\"");
}

async fn an_upsert_whose_keys_match_different_leads_is_a_conflict_and_writes_nothing(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let a = h
        .lead(&ada, json!({"name": "A", "email": "a@example.com"}))
        .await;
    let b = h
        .lead(&ada, json!({"name": "B", "externalId": "crm-2"}))
        .await;
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"externalId": "crm-2", "email": "a@example.com", "name": "Merged"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert_eq!(r.body["code"], "lead_conflict");
    assert_eq!(r.body["matches"]["email"], a["id"]);
    assert_eq!(r.body["matches"]["externalId"], b["id"]);
    assert!(r.body["requestId"].is_string());
    for lead in [&a, &b] {
        let r = h
            .get(
                &format!("/api/crm/leads/{}", lead["id"].as_str().unwrap()),
                &ada,
            )
            .await;
        assert_eq!(r.body["version"], 1);
        assert_ne!(r.body["name"], "Merged");
    }
    // An id naming one lead and an email another is a conflict too.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"id": b["id"], "email": "A@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // PATCH cannot take another lead's email either.
    let r = h
        .patch(
            &format!("/api/crm/leads/{}", b["id"].as_str().unwrap()),
            &ada,
            json!({"email": "a@EXAMPLE.com"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    assert_eq!(h.audit(&ada, "action=lead.upsert").await.len(), 2);
}

async fn text_shown_to_people_refuses_bidirectional_overrides_and_writes_nothing(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"name": "Ana \u{202E}zuiR", "company": "\u{2066}Oak\u{2069}", "siteAddress": "1 Elm St"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    let fields = common::fields(&r.body);
    assert_eq!(fields, ["name", "company"]);
    let lead = h.lead(&ada, json!({"name": "Ana Ruiz"})).await;
    let r = h
        .patch(
            &format!("/api/crm/leads/{}", lead["id"].as_str().unwrap()),
            &ada,
            json!({"siteAddress": "1 \u{202D}Elm St"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    let r = h.get("/api/crm/leads", &ada).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert!(r.body["data"][0]["siteAddress"].is_null());
}

async fn an_upsert_never_changes_the_status_of_a_won_lead(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h
        .lead(&ada, json!({"name": "Ana", "externalId": "wf-9"}))
        .await;
    let id = lead["id"].as_str().unwrap();
    for status in ["qualified", "quoted", "won"] {
        let r = h
            .patch(
                &format!("/api/crm/leads/{id}/status"),
                &ada,
                json!({"status": status}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{status}: {r:?}");
    }
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"externalId": "wf-9", "name": "Ana", "notes": "resubmitted"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "won");
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"externalId": "wf-9", "status": "new"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body["details"][0],
        json!({"field": "status", "message": "is read-only"})
    );
}
