//! The lead pipeline: the moves it allows, the status events and the
//! timeline, the moves the service makes on its own, and the per-status
//! summary the database keeps exact under every change. On PostgreSQL (as
//! an ordinary role, under Row-Level Security) and on SQLite.

mod common;

use common::{Harness, User, on_both_databases};
use http::StatusCode;
use ops_kit::on_backend;
use serde_json::{Value, json};

on_both_databases!(
    the_pipeline_allows_exactly_the_listed_moves_and_refuses_the_rest,
    status_changes_append_events_and_the_timeline_merges_them_with_activities,
    completing_a_call_moves_a_new_lead_to_contacted,
    the_summary_counts_and_sums_live_leads_per_status_and_currency,
    the_summary_follows_every_change_to_a_lead_exactly_as_a_scan_of_the_leads,
    the_summary_adds_values_past_the_range_of_a_64_bit_integer,
    opposite_status_moves_at_the_same_time_all_succeed_and_keep_the_summary_exact,
);

impl Harness {
    /// Puts a lead in a status directly in the database (test set-up for
    /// the pipeline table).
    async fn force_status(&self, id: &str, status: &str) {
        let reason = (status == "lost").then_some("price");
        let id: uuid::Uuid = id.parse().unwrap();
        let mut tx = self.db.pool.begin().await.unwrap();
        on_backend!(&mut tx, conn => {
            sqlx::query("UPDATE leads SET status = $1, lost_reason = $2 WHERE id = $3")
                .bind(status).bind(reason).bind(id)
                .execute(&mut **conn).await.unwrap();
        });
        tx.commit().await.unwrap();
    }
}

async fn the_pipeline_allows_exactly_the_listed_moves_and_refuses_the_rest(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let table = h.get("/api/crm/lead-statuses", &bo).await.body;
    let statuses = ["new", "contacted", "qualified", "quoted", "won", "lost"];
    let allowed = |from: &str| -> Vec<String> {
        let row = table["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["status"] == from)
            .unwrap();
        serde_json::from_value(row["allowedTransitions"].clone()).unwrap()
    };
    assert_eq!(allowed("new"), ["contacted", "qualified", "lost"]);
    assert_eq!(allowed("lost"), ["new", "contacted"]);
    for from in statuses {
        for to in statuses {
            let lead = h
                .lead(&ada, json!({"name": format!("{from} to {to}")}))
                .await;
            let id = lead["id"].as_str().unwrap();
            h.force_status(id, from).await;
            let mut body = json!({"status": to});
            if to == "lost" {
                body["lostReason"] = json!("competitor");
            }
            let r = h
                .patch(&format!("/api/crm/leads/{id}/status"), &ada, body)
                .await;
            if from == to {
                assert_eq!(r.status, StatusCode::OK, "{from} -> {to}: {r:?}");
                assert_eq!(r.body["version"], 1, "a same-status move is a no-op");
            } else if allowed(from).contains(&to.to_string()) {
                assert_eq!(r.status, StatusCode::OK, "{from} -> {to}: {r:?}");
                assert_eq!(r.body["status"], to);
                assert_eq!(r.body["version"], 2);
                let reason = if to == "lost" {
                    json!("competitor")
                } else {
                    Value::Null
                };
                assert_eq!(r.body["lostReason"], reason, "{from} -> {to}");
            } else {
                assert_eq!(r.status, StatusCode::CONFLICT, "{from} -> {to}: {r:?}");
                assert_eq!(r.body["code"], "illegal_transition");
                assert_eq!(r.body["allowedTransitions"], json!(allowed(from)));
            }
        }
    }
    // Reopening a won job is for admins.
    let lead = h.lead(&ada, json!({"name": "Won job"})).await;
    let id = lead["id"].as_str().unwrap();
    h.force_status(id, "won").await;
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &bo,
            json!({"status": "qualified"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // Lost needs a known reason; other statuses take none.
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &ada,
            json!({"status": "lost", "lostReason": "price"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "won cannot move to lost");
    let lead = h.lead(&ada, json!({"name": "Fresh"})).await;
    let id = lead["id"].as_str().unwrap();
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &ada,
            json!({"status": "lost"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("lostReason"))
    );
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &ada,
            json!({"status": "lost", "lostReason": "bored"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &ada,
            json!({"status": "contacted", "lostReason": "price"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &ada,
            json!({"status": "archived"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Reopening a lost lead clears its reason.
    h.patch(
        &format!("/api/crm/leads/{id}/status"),
        &ada,
        json!({"status": "lost", "lostReason": "timing"}),
    )
    .await;
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &ada,
            json!({"status": "new"}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["lostReason"]),
        (StatusCode::OK, &Value::Null)
    );
}

async fn status_changes_append_events_and_the_timeline_merges_them_with_activities(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let id = lead["id"].as_str().unwrap();
    let r = h
        .post(
            "/api/crm/activities",
            &ada,
            json!({"leadId": id, "type": "note", "subject": "Wants shaker doors"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = h
        .patch(
            &format!("/api/crm/leads/{id}/status"),
            &ada,
            json!({"status": "qualified", "note": "budget confirmed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.body["statusChangedAt"], lead["statusChangedAt"]);
    let r = h
        .get(&format!("/api/crm/leads/{id}/timeline?limit=2"), &ada)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let first = r.body["data"].as_array().unwrap().clone();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["type"], "status_change");
    assert_eq!(first[0]["item"]["fromStatus"], "new");
    assert_eq!(first[0]["item"]["toStatus"], "qualified");
    assert_eq!(first[0]["item"]["note"], "budget confirmed");
    assert_eq!(first[1]["type"], "activity");
    assert_eq!(first[1]["item"]["subject"], "Wants shaker doors");
    assert_eq!(r.body["pageInfo"]["hasNextPage"], true);
    let cursor = r.body["pageInfo"]["nextCursor"].as_str().unwrap();
    let r = h
        .get(
            &format!("/api/crm/leads/{id}/timeline?limit=2&cursor={cursor}"),
            &ada,
        )
        .await;
    let rest = r.body["data"].as_array().unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["item"]["toStatus"], "new");
    assert_eq!(rest[0]["item"]["fromStatus"], Value::Null);
    assert_eq!(
        r.body["pageInfo"],
        json!({"nextCursor": null, "hasNextPage": false})
    );
}

async fn completing_a_call_moves_a_new_lead_to_contacted(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let id = lead["id"].as_str().unwrap();
    // A note, or an open call, does not count as contact.
    h.post(
        "/api/crm/activities",
        &ada,
        json!({"leadId": id, "type": "note", "subject": "n", "completed": true}),
    )
    .await;
    let call = h.post("/api/crm/activities", &ada, json!({"leadId": id, "type": "call", "subject": "Call", "dueAt": "2030-01-01T09:00:00Z"})).await.body;
    assert_eq!(
        h.get(&format!("/api/crm/leads/{id}"), &ada).await.body["status"],
        "new"
    );
    let r = h
        .patch(
            &format!("/api/crm/activities/{}", call["id"].as_str().unwrap()),
            &ada,
            json!({"completed": true, "outcome": "Booked a site visit"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert!(r.body["completedAt"].is_string());
    assert_eq!(r.body["version"], 2);
    let lead = h.get(&format!("/api/crm/leads/{id}"), &ada).await.body;
    assert_eq!(
        (lead["status"].as_str(), lead["version"].as_i64()),
        (Some("contacted"), Some(2))
    );
    let timeline = h
        .get(&format!("/api/crm/leads/{id}/timeline"), &ada)
        .await
        .body;
    let moves: Vec<&Value> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "status_change")
        .collect();
    assert_eq!(moves[0]["item"]["toStatus"], "contacted");
    // A site visit recorded as completed on creation does it too.
    let other = h.lead(&ada, json!({"name": "Bo"})).await;
    let oid = other["id"].as_str().unwrap();
    let r = h.post("/api/crm/activities", &ada, json!({"leadId": oid, "type": "site_visit", "subject": "Measured", "completedAt": "2026-01-05T10:00:00Z", "durationMinutes": 90})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(
        h.get(&format!("/api/crm/leads/{oid}"), &ada).await.body["status"],
        "contacted"
    );
}

async fn the_summary_counts_and_sums_live_leads_per_status_and_currency(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    h.lead(
        &ada,
        json!({"name": "A", "estimatedValue": "1000.10", "currency": "USD"}),
    )
    .await;
    h.lead(
        &ada,
        json!({"name": "B", "estimatedValue": "0.15", "currency": "USD"}),
    )
    .await;
    h.lead(
        &ada,
        json!({"name": "C", "estimatedValue": "250000", "currency": "JPY"}),
    )
    .await;
    h.lead(&ada, json!({"name": "D"})).await;
    let gone = h
        .lead(
            &ada,
            json!({"name": "E", "estimatedValue": "5", "currency": "USD"}),
        )
        .await;
    h.send(
        "DELETE",
        &format!("/api/crm/leads/{}", gone["id"].as_str().unwrap()),
        &ada,
        None,
        &[],
    )
    .await;
    let r = h.get("/api/crm/leads/summary", &ada).await;
    assert_eq!(r.status, StatusCode::OK);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 6);
    assert_eq!(data[0]["status"], "new");
    assert_eq!(data[0]["count"], 4);
    assert_eq!(
        data[0]["totals"],
        json!([
            {"currency": "JPY", "count": 1, "estimatedValue": "250000"},
            {"currency": "USD", "count": 2, "estimatedValue": "1000.25"},
        ])
    );
    assert_eq!(data[5], json!({"status": "lost", "count": 0, "totals": []}));
}

/// The summary as a scan of the leads computes it, for comparison with
/// the totals the database keeps: (status, currency, count, sum), sorted
/// like [`served_summary`] (no currency first).
async fn scanned_summary(h: &Harness, tenant: &str) -> Vec<(String, Option<String>, i64, i64)> {
    let tenant: uuid::Uuid = tenant.parse().unwrap();
    let mut tx = h.db.pool.begin().await.unwrap();
    let mut rows: Vec<(String, Option<String>, i64, i64)> = on_backend!(&mut tx, conn => {
        sqlx::query_as(
            "SELECT status, currency, COUNT(*), CAST(COALESCE(SUM(estimated_value_e4), 0) AS BIGINT) FROM leads \
             WHERE tenant_id = $1 AND deleted_at IS NULL GROUP BY status, currency",
        )
        .bind(tenant)
        .fetch_all(&mut **conn)
        .await
        .unwrap()
    });
    tx.rollback().await.unwrap();
    rows.sort();
    rows
}

/// The summary route's answer in the shape of [`scanned_summary`].
async fn served_summary(h: &Harness, user: &User) -> Vec<(String, Option<String>, i64, i64)> {
    let r = h.get("/api/crm/leads/summary", user).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let mut rows = Vec::new();
    for status in r.body["data"].as_array().unwrap() {
        let name = status["status"].as_str().unwrap().to_owned();
        let totals = status["totals"].as_array().unwrap();
        let with_value: i64 = totals.iter().map(|t| t["count"].as_i64().unwrap()).sum();
        let without = status["count"].as_i64().unwrap() - with_value;
        if without > 0 {
            rows.push((name.clone(), None, without, 0));
        }
        for t in totals {
            let currency = t["currency"].as_str().unwrap().to_owned();
            let decimals = crm_app::api::money::decimals(&currency).unwrap();
            let value = crm_app::api::money::parse(t["estimatedValue"].as_str().unwrap(), decimals)
                .unwrap();
            rows.push((
                name.clone(),
                Some(currency),
                t["count"].as_i64().unwrap(),
                value,
            ));
        }
    }
    rows.sort();
    rows
}

async fn the_summary_follows_every_change_to_a_lead_exactly_as_a_scan_of_the_leads(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let other = h.tenant("bo@walnut.test").await;
    h.lead(
        &other,
        json!({"name": "Elsewhere", "estimatedValue": "7", "currency": "USD"}),
    )
    .await;
    let user = &ada;
    let check = |step: &'static str| async move {
        let scanned = scanned_summary(h, &user.tenant).await;
        assert_eq!(served_summary(h, user).await, scanned, "after {step}");
    };
    let a = h
        .lead(
            &ada,
            json!({"name": "A", "estimatedValue": "1000.10", "currency": "USD"}),
        )
        .await;
    let b = h
        .lead(
            &ada,
            json!({"name": "B", "estimatedValue": "250000", "currency": "JPY"}),
        )
        .await;
    let c = h.lead(&ada, json!({"name": "C"})).await;
    check("three creations").await;
    let (a, b, c) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
        c["id"].as_str().unwrap().to_owned(),
    );
    let steps = [
        (
            "PATCH",
            format!("/api/crm/leads/{a}"),
            Some(json!({"estimatedValue": "5.25"})),
            "a new value",
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{b}"),
            Some(json!({"estimatedValue": "99.5", "currency": "EUR"})),
            "a new currency",
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{c}"),
            Some(json!({"estimatedValue": "12", "currency": "USD"})),
            "a first value",
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{a}"),
            Some(json!({"notes": "prefers walnut"})),
            "a change to an uncounted field",
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{a}/status"),
            Some(json!({"status": "contacted"})),
            "a status move",
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{b}/status"),
            Some(json!({"status": "contacted"})),
            "a move to the same row",
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{a}/status"),
            Some(json!({"status": "qualified"})),
            "a move onward",
        ),
        ("DELETE", format!("/api/crm/leads/{b}"), None, "a deletion"),
        (
            "POST",
            format!("/api/crm/leads/{b}/restore"),
            None,
            "a restore",
        ),
    ];
    for (method, path, body, step) in steps {
        let r = h.send(method, &path, &ada, body, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{step}: {r:?}");
        check(step).await;
    }
    h.force_status(&c, "lost").await;
    check("a direct update in the database").await;
    assert_eq!(
        served_summary(h, &other).await,
        [("new".to_owned(), Some("USD".to_owned()), 1, 70_000)]
    );

    // A lead moved to another tenant in the database (with its status
    // history out of the way) moves its count and value too.
    let (id, to): (uuid::Uuid, uuid::Uuid) = (c.parse().unwrap(), other.tenant.parse().unwrap());
    let mut tx = h.db.pool.begin().await.unwrap();
    on_backend!(&mut tx, conn => {
        sqlx::query("DELETE FROM lead_status_events WHERE lead_id = $1")
            .bind(id).execute(&mut **conn).await.unwrap();
        sqlx::query("UPDATE leads SET tenant_id = $1 WHERE id = $2")
            .bind(to).bind(id).execute(&mut **conn).await.unwrap();
    });
    tx.commit().await.unwrap();
    check("a move to another tenant").await;
    assert_eq!(
        served_summary(h, &other).await,
        scanned_summary(h, &other.tenant).await
    );
    assert_eq!(
        served_summary(h, &other).await,
        [
            ("lost".to_owned(), Some("USD".to_owned()), 1, 120_000),
            ("new".to_owned(), Some("USD".to_owned()), 1, 70_000),
        ]
    );
}

/// Moves between two statuses in both directions at once touch the same
/// two summary rows; they must queue behind each other, not deadlock.
async fn opposite_status_moves_at_the_same_time_all_succeed_and_keep_the_summary_exact(
    h: &Harness,
) {
    let ada = h.tenant("ada@maple.test").await;
    let mut moves = Vec::new();
    for i in 0..8 {
        let lead = h
            .lead(
                &ada,
                json!({"name": format!("L{i}"), "estimatedValue": "10", "currency": "USD"}),
            )
            .await;
        let id = lead["id"].as_str().unwrap().to_owned();
        let r = h
            .patch(
                &format!("/api/crm/leads/{id}/status"),
                &ada,
                json!({"status": "contacted"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        if i % 2 == 1 {
            let r = h
                .patch(
                    &format!("/api/crm/leads/{id}/status"),
                    &ada,
                    json!({"status": "qualified"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            moves.push((id, "contacted"));
        } else {
            moves.push((id, "qualified"));
        }
    }
    let paths: Vec<(String, &str)> = moves
        .iter()
        .map(|(id, to)| (format!("/api/crm/leads/{id}/status"), *to))
        .collect();
    let requests = paths
        .iter()
        .map(|(path, to)| h.patch(path, &ada, json!({"status": to})));
    for r in futures_util::future::join_all(requests).await {
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    let scanned = scanned_summary(h, &ada.tenant).await;
    assert_eq!(served_summary(h, &ada).await, scanned);
    assert_eq!(
        scanned,
        [
            ("contacted".to_owned(), Some("USD".to_owned()), 4, 400_000),
            ("qualified".to_owned(), Some("USD".to_owned()), 4, 400_000),
        ]
    );
}

async fn the_summary_adds_values_past_the_range_of_a_64_bit_integer(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let max = format!("{}", crm_app::api::money::MAX_UNITS);
    let mut ids = Vec::new();
    for name in ["A", "B"] {
        let lead = h
            .lead(
                &ada,
                json!({"name": name, "estimatedValue": max, "currency": "JPY"}),
            )
            .await;
        ids.push(lead["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap());
    }
    // Two values of 2^62 ten-thousandths: more than the API accepts for one
    // lead, as an import straight into the database could write them.
    let mut tx = h.db.pool.begin().await.unwrap();
    on_backend!(&mut tx, conn => {
        sqlx::query("UPDATE leads SET estimated_value_e4 = $1 WHERE id = $2 OR id = $3")
            .bind(1_i64 << 62).bind(ids[0]).bind(ids[1])
            .execute(&mut **conn).await.unwrap();
    });
    tx.commit().await.unwrap();
    let r = h.get("/api/crm/leads/summary", &ada).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let total = r.body["data"][0]["totals"][0]["estimatedValue"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.body["data"][0]["totals"][0]["count"], 2);
    // 2^63 / 10^4 JPY: exact on PostgreSQL, to double precision on SQLite.
    match h.db.pool.backend() {
        ops_kit::sql::Backend::Postgres => assert_eq!(total, "922337203685477"),
        _ => assert!(total.starts_with("92233720368547"), "{total}"),
    }
}
