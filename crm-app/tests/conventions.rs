//! The conventions every write route follows: idempotent replays,
//! If-Match versions, JSON merge patch, soft delete and restore, and bad
//! input answered in the error envelope without writing anything. On
//! PostgreSQL (as an ordinary role, under Row-Level Security) and on SQLite.

mod common;

use axum::body::Body;
use common::{Harness, Resp, etag, on_both_databases};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

on_both_databases!(
    an_idempotent_replay_returns_the_first_answer_and_a_reused_key_is_refused,
    a_stale_if_match_is_refused_with_412_and_the_current_version,
    merge_patch_leaves_absent_fields_clears_nulls_and_refuses_read_only_fields,
    soft_deleted_records_are_hidden_until_restored,
    bad_input_is_a_4xx_in_the_envelope_and_writes_nothing,
);

async fn an_idempotent_replay_returns_the_first_answer_and_a_reused_key_is_refused(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bea = h.tenant("bea@birch.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let body = json!({"leadId": lead["id"], "type": "call", "subject": "Intro call", "direction": "outbound"});
    let key = [("idempotency-key", "call-7f3a")];
    let first = h
        .send(
            "POST",
            "/api/crm/activities",
            &ada,
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert!(first.headers.get("idempotent-replayed").is_none());
    // The same body with its keys in another order is the same request.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"direction":"outbound","subject":"Intro call","type":"call","leadId":{}}}"#,
        lead["id"]
    ))
    .unwrap();
    let again = h
        .send("POST", "/api/crm/activities", &ada, Some(reordered), &key)
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);
    let list = h.get("/api/crm/activities", &ada).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        h.audit(&ada, "action=activity.create").await.len(),
        1,
        "a replay records nothing"
    );
    // Concurrent duplicates: one does the work, the others wait and replay it.
    let body = json!({"leadId": lead["id"], "type": "email", "subject": "Quote sent"});
    let key = [("idempotency-key", "email-burst")];
    let (a, b, c) = tokio::join!(
        h.send(
            "POST",
            "/api/crm/activities",
            &ada,
            Some(body.clone()),
            &key
        ),
        h.send(
            "POST",
            "/api/crm/activities",
            &ada,
            Some(body.clone()),
            &key
        ),
        h.send(
            "POST",
            "/api/crm/activities",
            &ada,
            Some(body.clone()),
            &key
        ),
    );
    for r in [&a, &b, &c] {
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert_eq!(r.body["id"], a.body["id"]);
    }
    let replays = [&a, &b, &c]
        .iter()
        .filter(|r| r.headers.contains_key("idempotent-replayed"))
        .count();
    assert_eq!(replays, 2);
    let emails = h.get("/api/crm/activities?type=email", &ada).await;
    assert_eq!(emails.body["data"].as_array().unwrap().len(), 1);
    // The same key with another body.
    let other = json!({"leadId": lead["id"], "type": "call", "subject": "Second call"});
    let r = h
        .send("POST", "/api/crm/activities", &ada, Some(other), &key)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
    // Keys belong to a tenant: another tenant's request with it is its own.
    let bea_lead = h.lead(&bea, json!({"name": "Bo"})).await;
    let r = h
        .send(
            "POST",
            "/api/crm/activities",
            &bea,
            Some(json!({"leadId": bea_lead["id"], "type": "note", "subject": "x"})),
            &key,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.headers.get("idempotent-replayed").is_none());
    // A failed request keeps no answer: the retry does the work.
    let bad = json!({"leadId": lead["id"], "type": "call"});
    let fail_key = [("idempotency-key", "retry-me")];
    assert_eq!(
        h.send("POST", "/api/crm/activities", &ada, Some(bad), &fail_key)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let good = json!({"leadId": lead["id"], "type": "call", "subject": "Fixed"});
    assert_eq!(
        h.send("POST", "/api/crm/activities", &ada, Some(good), &fail_key)
            .await
            .status,
        StatusCode::CREATED
    );
    // A malformed key is a 400.
    let r = h
        .send(
            "POST",
            "/api/crm/activities",
            &ada,
            Some(body),
            &[("idempotency-key", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn a_stale_if_match_is_refused_with_412_and_the_current_version(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let id = lead["id"].as_str().unwrap();
    let path = format!("/api/crm/leads/{id}");
    let r = h
        .send(
            "PATCH",
            &path,
            &ada,
            Some(json!({"company": "Ruiz Homes"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(etag(&r), "\"2\"");
    let stale = [("if-match", "\"1\"")];
    let checks = [
        ("PATCH", path.clone(), Some(json!({"company": "Stale"}))),
        (
            "PATCH",
            format!("{path}/status"),
            Some(json!({"status": "contacted"})),
        ),
        ("DELETE", path.clone(), None),
        ("POST", format!("{path}/restore"), None),
    ];
    for (method, p, body) in checks {
        let r = h.send(method, &p, &ada, body, &stale).await;
        assert_eq!(
            r.status,
            StatusCode::PRECONDITION_FAILED,
            "{method} {p}: {r:?}"
        );
        assert_eq!(r.body["code"], "version_mismatch");
        assert_eq!(r.body["currentVersion"], 2);
        assert_eq!(etag(&r), "\"2\"");
    }
    let r = h.get(&path, &ada).await;
    assert_eq!(
        (r.body["company"].as_str(), r.body["version"].as_i64()),
        (Some("Ruiz Homes"), Some(2))
    );
    // The current version, or *, goes through.
    let r = h
        .send(
            "PATCH",
            &format!("{path}/status"),
            &ada,
            Some(json!({"status": "contacted"})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h
        .send("DELETE", &path, &ada, None, &[("if-match", "*")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Activities honour it too.
    let lead = h.lead(&ada, json!({"name": "Bo"})).await;
    let a = h
        .post(
            "/api/crm/activities",
            &ada,
            json!({"leadId": lead["id"], "type": "task", "subject": "Measure"}),
        )
        .await;
    let apath = format!("/api/crm/activities/{}", a.body["id"].as_str().unwrap());
    let r = h
        .send(
            "PATCH",
            &apath,
            &ada,
            Some(json!({"completed": true})),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(
        (r.status, &r.body["currentVersion"]),
        (StatusCode::PRECONDITION_FAILED, &json!(1))
    );
    let r = h
        .send(
            "PATCH",
            &apath,
            &ada,
            Some(json!({"completed": true})),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "an unquoted tag is malformed"
    );
}

async fn merge_patch_leaves_absent_fields_clears_nulls_and_refuses_read_only_fields(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h
        .lead(&ada, json!({"name": "Ana", "company": "Ruiz Homes", "phone": "555 0100", "estimatedValue": "900", "currency": "EUR", "tags": ["oak"]}))
        .await;
    let path = format!("/api/crm/leads/{}", lead["id"].as_str().unwrap());
    let r = h
        .send(
            "PATCH",
            &path,
            &ada,
            Some(json!({"company": null, "notes": "Call after 5"})),
            &[("content-type", "application/merge-patch+json")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["company"], Value::Null);
    assert_eq!(r.body["notes"], "Call after 5");
    assert_eq!(r.body["phone"], "555 0100");
    assert_eq!(r.body["estimatedValue"], "900.00");
    assert_eq!(r.body["tags"], json!(["oak"]));
    // Clearing the value clears its currency.
    let r = h.patch(&path, &ada, json!({"estimatedValue": null})).await;
    assert_eq!(
        (&r.body["estimatedValue"], &r.body["currency"]),
        (&Value::Null, &Value::Null)
    );
    for body in [
        json!({"status": "won"}),
        json!({"version": 9}),
        json!({"createdAt": "2020-01-01T00:00:00Z"}),
        json!({"colour": "red"}),
        json!({"name": null}),
        json!(["name"]),
    ] {
        let r = h.patch(&path, &ada, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {r:?}");
        assert_eq!(r.body["code"], "validation_failed");
    }
    let r = h.get(&path, &ada).await;
    assert_eq!(
        (
            r.body["name"].as_str(),
            r.body["status"].as_str(),
            r.body["version"].as_i64()
        ),
        (Some("Ana"), Some("new"), Some(3))
    );
    // An empty patch changes nothing.
    let r = h.patch(&path, &ada, json!({})).await;
    assert_eq!(
        (r.status, r.body["version"].as_i64()),
        (StatusCode::OK, Some(3))
    );
}

async fn soft_deleted_records_are_hidden_until_restored(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let keep = h.lead(&ada, json!({"name": "Keep"})).await;
    let gone = h
        .lead(&ada, json!({"name": "Gone", "email": "gone@example.com"}))
        .await;
    let id = gone["id"].as_str().unwrap();
    let a = h
        .post(
            "/api/crm/activities",
            &ada,
            json!({"leadId": id, "type": "note", "subject": "n"}),
        )
        .await
        .body;
    let r = h
        .send("DELETE", &format!("/api/crm/leads/{id}"), &ada, None, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["deletedAt"].is_string());
    let ids = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&h.get("/api/crm/leads", &ada).await),
        [keep["id"].as_str().unwrap()]
    );
    assert_eq!(ids(&h.get("/api/crm/leads?deleted=only", &ada).await), [id]);
    assert_eq!(
        ids(&h.get("/api/crm/leads?deleted=include", &ada).await).len(),
        2
    );
    assert_eq!(
        h.get("/api/crm/leads?deleted=maybe", &ada).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get(&format!("/api/crm/leads/{id}"), &ada).await.status,
        StatusCode::NOT_FOUND
    );
    let r = h
        .get(&format!("/api/crm/leads/{id}?deleted=include"), &ada)
        .await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (StatusCode::OK, Some("Gone"))
    );
    assert_eq!(
        h.get(&format!("/api/crm/leads/{id}"), &ada).await.status,
        StatusCode::NOT_FOUND
    );
    let r = h
        .get(&format!("/api/crm/leads/{id}?deleted=include"), &ada)
        .await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (StatusCode::OK, Some("Gone"))
    );
    // Deleted: no changes, no timeline, no new activities, no second delete.
    assert_eq!(
        h.patch(&format!("/api/crm/leads/{id}"), &ada, json!({"name": "x"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get(&format!("/api/crm/leads/{id}/timeline"), &ada)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.send("DELETE", &format!("/api/crm/leads/{id}"), &ada, None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = h
        .post(
            "/api/crm/activities",
            &ada,
            json!({"leadId": id, "type": "note", "subject": "n"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // An upsert that matches it says so instead of writing.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"email": "gone@example.com", "name": "Again"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("lead_deleted"))
    );
    // Restored, it is back, with a new version.
    let r = h
        .post(&format!("/api/crm/leads/{id}/restore"), &ada, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (&r.body["deletedAt"], r.body["version"].as_i64()),
        (&Value::Null, Some(3))
    );
    assert_eq!(ids(&h.get("/api/crm/leads", &ada).await).len(), 2);
    // Activities the same way.
    let apath = format!("/api/crm/activities/{}", a["id"].as_str().unwrap());
    assert_eq!(
        h.send("DELETE", &apath, &ada, None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.get("/api/crm/activities", &ada).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        h.get("/api/crm/activities?deleted=only", &ada).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        h.post(&format!("{apath}/restore"), &ada, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.get("/api/crm/activities", &ada).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let actions: Vec<String> = h
        .audit(&ada, "")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in [
        "lead.delete",
        "lead.restore",
        "activity.delete",
        "activity.restore",
    ] {
        assert!(actions.contains(&action.to_string()), "{action}");
    }
}

async fn bad_input_is_a_4xx_in_the_envelope_and_writes_nothing(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let id = lead["id"].as_str().unwrap();
    let bodies = [
        json!({"name": "x\u{0}y"}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "A", "email": "not-an-email"}),
        json!({"name": "A", "estimatedValue": 1000.5, "currency": "USD"}),
        json!({"name": "A", "estimatedValue": "-5", "currency": "USD"}),
        json!({"name": "A", "estimatedValue": "1.001", "currency": "USD"}),
        json!({"name": "A", "estimatedValue": "99999999999999999999", "currency": "USD"}),
        json!({"name": "A", "estimatedValue": "5", "currency": "usd"}),
        json!({"name": "A", "desiredInstallDate": "2027-02-30"}),
        json!({"name": "A", "projectType": "garage"}),
        json!({"name": "A", "tags": [1]}),
        json!({"name": "A", "ownerUserId": "nobody"}),
        json!({"name": "A", "phone": "call me"}),
        json!({"id": "not-a-uuid", "name": "A"}),
        json!("just a string"),
    ];
    for body in bodies {
        let r = h.post("/api/crm/leads", &ada, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {r:?}");
        assert!(r.body["requestId"].is_string() && r.body["error"].is_string());
        assert!(!r.body["details"].as_array().unwrap().is_empty(), "{body}");
    }
    // Several problems are reported together.
    let r = h
        .post(
            "/api/crm/leads",
            &ada,
            json!({"name": "", "source": "tv", "email": "x"}),
        )
        .await;
    assert_eq!(r.body["details"].as_array().unwrap().len(), 3);
    let raw = |method: &str, path: &str, body: &'static str| {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", ada.access))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        h.router.clone().oneshot(req)
    };
    for (method, path, body) in [
        ("POST", "/api/crm/leads".to_string(), "{\"name\": "),
        (
            "PATCH",
            format!("/api/crm/leads/{id}/status"),
            "{\"status\": \"won\", \"extra\": 1}",
        ),
        ("POST", "/api/crm/activities".to_string(), "[1, 2"),
    ] {
        let response = raw(method, &path, body).await.unwrap();
        assert!(
            response.status().is_client_error(),
            "{method} {path}: {}",
            response.status()
        );
    }
    for path in [
        "/api/crm/leads/not-a-uuid".to_string(),
        "/api/crm/leads?cursor=%%%".to_string(),
        "/api/crm/leads?cursor=bm90IGpzb24".to_string(),
        "/api/crm/leads?limit=ten".to_string(),
        "/api/crm/leads?colour=red".to_string(),
        format!("/api/crm/leads?q={}", "x".repeat(300)),
        "/api/crm/leads?q=%00".to_string(),
        format!("/api/crm/leads/{id}/timeline?cursor=abc"),
        "/api/audit-logs?from=never".to_string(),
    ] {
        let r = h.get(&path, &ada).await;
        assert!(r.status.is_client_error(), "{path}: {r:?}");
        assert!(r.body["requestId"].is_string(), "{path}: {r:?}");
    }
    let r = h.get("/api/crm/leads", &ada).await;
    assert_eq!(
        r.body["data"].as_array().unwrap().len(),
        1,
        "nothing was written"
    );
    assert_eq!(
        h.get(&format!("/api/crm/leads/{id}"), &ada).await.body["version"],
        1
    );
}
