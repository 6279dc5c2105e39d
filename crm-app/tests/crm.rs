//! The CRM API (leads, activities, audit-log queries) and its conventions,
//! on PostgreSQL (connected as an ordinary role, so that Row-Level Security
//! applies) and on SQLite.

use axum::Router;
use axum::body::Body;
use crm_app::config::Config;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use ops_kit::config::Env;
use ops_kit::on_backend;
use ops_kit::sql::Pool;
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use std::collections::HashSet;
use tower::ServiceExt;

struct Harness {
    db: TestDb,
    pool: Pool,
    router: Router,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

async fn harness(mut db: TestDb) -> Harness {
    crm_app::migrate::run(&db.pool).await.unwrap();
    let pool = match db.pool.backend() {
        ops_kit::sql::Backend::Postgres => {
            db.pool_as_new_role(&crm_app::grants::statements("{role}"))
                .await
        }
        _ => db.pool.clone(),
    };
    let config = Config::load(&Env::from_pairs([(
        "JWT_SECRET",
        "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)",
    )]))
    .unwrap();
    let router = crm_app::build(&config, pool.clone()).into_router();
    Harness { db, pool, router }
}

/// A signed-in user of a tenant.
#[derive(Clone)]
struct User {
    token: String,
    id: String,
    tenant: String,
}

impl Harness {
    async fn send(
        &self,
        method: &str,
        path: &str,
        user: &User,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", user.token))
            .header("user-agent", "crm-tests/1.0");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = match body {
            Some(body) => req
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str, user: &User) -> Resp {
        self.send("GET", path, user, None, &[]).await
    }

    async fn post(&self, path: &str, user: &User, body: Value) -> Resp {
        self.send("POST", path, user, Some(body), &[]).await
    }

    async fn patch(&self, path: &str, user: &User, body: Value) -> Resp {
        self.send("PATCH", path, user, Some(body), &[]).await
    }

    async fn anonymous_post(&self, path: &str, body: Value) -> Value {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }

    /// Registers a tenant; its admin.
    async fn tenant(&self, email: &str) -> User {
        let session = self
            .anonymous_post(
                "/api/auth/register",
                json!({"tenantName": "Maple & Oak Cabinetry", "name": "Ada", "email": email, "password": "dovetail-joint"}),
            )
            .await;
        User {
            token: session["accessToken"].as_str().unwrap().into(),
            id: session["user"]["id"].as_str().unwrap().into(),
            tenant: session["user"]["tenantId"].as_str().unwrap().into(),
        }
    }

    /// Adds a member to the admin's tenant.
    async fn member(&self, admin: &User, email: &str) -> User {
        let r = self.post("/api/users", admin, json!({"email": email, "name": "Bo", "password": "mortise-tenon", "role": "member"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let session = self
            .anonymous_post(
                "/api/auth/login",
                json!({"email": email, "password": "mortise-tenon"}),
            )
            .await;
        User {
            token: session["accessToken"].as_str().unwrap().into(),
            id: session["user"]["id"].as_str().unwrap().into(),
            tenant: admin.tenant.clone(),
        }
    }

    async fn lead(&self, user: &User, body: Value) -> Value {
        let r = self.post("/api/crm/leads", user, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body
    }

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

    /// One text field of each row of a list, sorted when `sorted`.
    async fn texts(&self, user: &User, path: &str, field: &str, sorted: bool) -> Vec<String> {
        let r = self.get(path, user).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {r:?}");
        let mut texts: Vec<String> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row[field].as_str().unwrap().to_owned())
            .collect();
        if sorted {
            texts.sort();
        }
        texts
    }

    /// The audit entries of the user's tenant, newest first.
    async fn audit(&self, admin: &User, query: &str) -> Vec<Value> {
        let r = self.get(&format!("/api/audit-logs?{query}"), admin).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["data"].as_array().unwrap().clone()
    }
}

fn etag(r: &Resp) -> String {
    r.headers["etag"].to_str().unwrap().to_owned()
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let h = super::harness(super::TestDb::postgres().await).await;
                    super::$name(&h).await;
                    h.pool.close().await;
                    h.db.drop_db().await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let h = super::harness(super::TestDb::sqlite().await).await;
                    super::$name(&h).await;
                    h.db.drop_db().await;
                }
            )*
        }
    };
}

on_both_databases!(
    text_shown_to_people_refuses_bidirectional_overrides_and_writes_nothing,
    an_upsert_creates_then_updates_the_lead_matched_by_id_external_id_or_email,
    an_upsert_whose_keys_match_different_leads_is_a_conflict_and_writes_nothing,
    an_upsert_never_changes_the_status_of_a_won_lead,
    the_pipeline_allows_exactly_the_listed_moves_and_refuses_the_rest,
    status_changes_append_events_and_the_timeline_merges_them_with_activities,
    paging_through_250_leads_while_rows_are_inserted_sees_each_lead_once,
    pages_filtered_by_several_statuses_follow_the_order_of_the_whole_list,
    an_idempotent_replay_returns_the_first_answer_and_a_reused_key_is_refused,
    a_stale_if_match_is_refused_with_412_and_the_current_version,
    merge_patch_leaves_absent_fields_clears_nulls_and_refuses_read_only_fields,
    soft_deleted_records_are_hidden_until_restored,
    another_tenants_ids_answer_404_on_every_route,
    every_audited_route_writes_its_entry_with_the_runbook_fields,
    completing_a_call_moves_a_new_lead_to_contacted,
    activity_lists_filter_by_lead_type_open_overdue_and_due_window,
    lead_lists_filter_by_status_source_owner_text_and_update_time,
    a_listed_lead_is_shown_exactly_as_the_lead_read_alone,
    the_summary_counts_and_sums_live_leads_per_status_and_currency,
    the_summary_follows_every_change_to_a_lead_exactly_as_a_scan_of_the_leads,
    the_summary_adds_values_past_the_range_of_a_64_bit_integer,
    opposite_status_moves_at_the_same_time_all_succeed_and_keep_the_summary_exact,
    bad_input_is_a_4xx_in_the_envelope_and_writes_nothing,
    audit_logs_are_for_admins_filtered_and_paged_within_the_tenant,
    a_quote_upsert_computes_the_totals_and_matches_by_id_then_external_id,
    only_a_draft_quote_can_be_changed_or_deleted,
    the_quote_lifecycle_moves_the_lead_and_refuses_every_other_transition,
    quote_numbers_stay_unique_and_gap_free_under_concurrent_creation,
    quote_routes_answer_404_for_another_tenants_quotes,
    calculate_returns_the_totals_and_saves_nothing,
    metrics_count_requests_by_route_template_and_audit_entries,
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
    let fields: Vec<&str> = r.body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
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

async fn pages_filtered_by_several_statuses_follow_the_order_of_the_whole_list(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    for i in 0..30 {
        let lead = h
            .lead(&ada, json!({"name": format!("L{:02}", (i * 7) % 30)}))
            .await;
        let id = lead["id"].as_str().unwrap();
        let to = match i % 3 {
            0 => "contacted",
            1 => "qualified",
            _ => continue,
        };
        let r = h
            .patch(
                &format!("/api/crm/leads/{id}/status"),
                &ada,
                json!({"status": to}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    let ids_of = |r: &Resp, wanted: &[&str]| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| wanted.contains(&l["status"].as_str().unwrap()))
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for sort in [
        "-createdAt",
        "createdAt",
        "name",
        "-name",
        "updatedAt",
        "-updatedAt",
    ] {
        let all = h
            .get(&format!("/api/crm/leads?limit=200&sort={sort}"), &ada)
            .await;
        let expected = ids_of(&all, &["contacted", "qualified"]);
        assert_eq!(expected.len(), 20);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/crm/leads?limit=3&sort={sort}&status=qualified,contacted");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = h.get(&path, &ada).await;
            assert_eq!(r.status, StatusCode::OK, "{sort}: {r:?}");
            seen.extend(ids_of(&r, &["contacted", "qualified"]));
            assert_eq!(
                seen.len() % 3,
                if r.body["pageInfo"]["hasNextPage"] == true {
                    0
                } else {
                    2
                }
            );
            match r.body["pageInfo"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{sort}");
    }
    // A status named twice is one branch: each lead once.
    let r = h
        .get("/api/crm/leads?limit=200&status=qualified,qualified", &ada)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 10);
}

async fn paging_through_250_leads_while_rows_are_inserted_sees_each_lead_once(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let mut expected = HashSet::new();
    for i in 0..250 {
        let lead = h.lead(&ada, json!({"name": format!("Lead {i:03}")})).await;
        expected.insert(lead["id"].as_str().unwrap().to_owned());
    }
    for sort in ["-createdAt", "createdAt", "name", "-updatedAt"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/crm/leads?limit=40&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = h.get(&path, &ada).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            for lead in r.body["data"].as_array().unwrap() {
                seen.push(lead["id"].as_str().unwrap().to_owned());
            }
            pages += 1;
            // Rows arrive (and one existing row changes name) mid-walk.
            h.lead(&ada, json!({"name": format!("Late {sort} {pages}")}))
                .await;
            if r.body["pageInfo"]["hasNextPage"] == false {
                assert_eq!(r.body["pageInfo"]["nextCursor"], Value::Null);
                break;
            }
            cursor = Some(
                r.body["pageInfo"]["nextCursor"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a lead was served twice");
        assert!(expected.is_subset(&unique), "{sort}: a lead was skipped");
    }
    // The default page is 50; 200 is the most.
    let r = h.get("/api/crm/leads", &ada).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 50);
    let r = h.get("/api/crm/leads?limit=201", &ada).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A cursor made for one sort is refused by another.
    let r = h.get("/api/crm/leads?limit=1&sort=name", &ada).await;
    let cursor = r.body["pageInfo"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = h
        .get(&format!("/api/crm/leads?sort=-name&cursor={cursor}"), &ada)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_cursor"))
    );
}

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

async fn another_tenants_ids_answer_404_on_every_route(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bea = h.tenant("bea@birch.test").await;
    let lead = h
        .lead(
            &ada,
            json!({"name": "Ana", "externalId": "x-1", "email": "ana@example.com"}),
        )
        .await;
    let id = lead["id"].as_str().unwrap();
    let activity = h
        .post(
            "/api/crm/activities",
            &ada,
            json!({"leadId": id, "type": "note", "subject": "n"}),
        )
        .await
        .body;
    let aid = activity["id"].as_str().unwrap();
    let routes = [
        ("GET", format!("/api/crm/leads/{id}"), None),
        (
            "PATCH",
            format!("/api/crm/leads/{id}"),
            Some(json!({"name": "Stolen"})),
        ),
        ("DELETE", format!("/api/crm/leads/{id}"), None),
        (
            "POST",
            format!("/api/crm/leads/{id}/restore"),
            Some(json!({})),
        ),
        (
            "PATCH",
            format!("/api/crm/leads/{id}/status"),
            Some(json!({"status": "contacted"})),
        ),
        ("GET", format!("/api/crm/leads/{id}/timeline"), None),
        ("GET", format!("/api/crm/activities/{aid}"), None),
        (
            "PATCH",
            format!("/api/crm/activities/{aid}"),
            Some(json!({"subject": "Stolen"})),
        ),
        ("DELETE", format!("/api/crm/activities/{aid}"), None),
        (
            "POST",
            format!("/api/crm/activities/{aid}/restore"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in routes {
        let r = h.send(method, &path, &bea, body, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {r:?}");
        assert_eq!(r.body["code"], "not_found");
    }
    // Lists, summaries and the audit log show only the caller's tenant.
    assert_eq!(
        h.get("/api/crm/leads?deleted=include", &bea).await.body["data"],
        json!([])
    );
    assert_eq!(
        h.get("/api/crm/activities?deleted=include", &bea)
            .await
            .body["data"],
        json!([])
    );
    assert_eq!(
        h.get(&format!("/api/crm/activities?leadId={id}"), &bea)
            .await
            .body["data"],
        json!([])
    );
    let summary = h.get("/api/crm/leads/summary", &bea).await.body;
    assert!(
        summary["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["count"] == 0)
    );
    assert!(h.audit(&bea, "").await.is_empty());
    // Another tenant's lead, user or key cannot be used to write either.
    let r = h
        .post(
            "/api/crm/activities",
            &bea,
            json!({"leadId": id, "type": "note", "subject": "n"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .post(
            "/api/crm/leads",
            &bea,
            json!({"name": "Mine", "ownerUserId": ada.id}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("ownerUserId"))
    );
    // The same id, externalId and email in another tenant make a lead of its own.
    let r = h
        .post(
            "/api/crm/leads",
            &bea,
            json!({"id": id, "name": "Bea's", "externalId": "x-1", "email": "ana@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = h.get(&format!("/api/crm/leads/{id}"), &ada).await;
    assert_eq!(
        (r.body["name"].as_str(), r.body["version"].as_i64()),
        (Some("Ana"), Some(1))
    );
}

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

async fn activity_lists_filter_by_lead_type_open_overdue_and_due_window(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let a = h.lead(&ada, json!({"name": "A"})).await;
    let b = h.lead(&ada, json!({"name": "B"})).await;
    let mk = |lead: &Value, kind: &str, subject: &str, extra: Value| {
        let mut body = json!({"leadId": lead["id"], "type": kind, "subject": subject});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for body in [
        mk(
            &a,
            "task",
            "overdue",
            json!({"dueAt": "2020-01-01T00:00:00Z", "assignedUserId": bo.id}),
        ),
        mk(
            &a,
            "task",
            "future",
            json!({"dueAt": "2099-01-01T00:00:00Z"}),
        ),
        mk(
            &a,
            "call",
            "done",
            json!({"dueAt": "2020-01-01T00:00:00Z", "completed": true}),
        ),
        mk(&b, "email", "other lead", json!({"direction": "inbound"})),
    ] {
        let r = h.post("/api/crm/activities", &ada, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?overdue=true", "subject", true)
            .await,
        ["overdue"]
    );
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?open=true", "subject", true)
            .await,
        ["future", "other lead", "overdue"]
    );
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?open=false", "subject", true)
            .await,
        ["done"]
    );
    assert_eq!(
        h.texts(&ada, "/api/crm/activities?type=email", "subject", true)
            .await,
        ["other lead"]
    );
    assert_eq!(
        h.texts(
            &ada,
            "/api/crm/activities?dueBefore=2021-01-01T00:00:00Z",
            "subject",
            true
        )
        .await,
        ["done", "overdue"]
    );
    assert_eq!(
        h.texts(
            &ada,
            "/api/crm/activities?dueAfter=2021-01-01T00:00:00Z",
            "subject",
            true
        )
        .await,
        ["future"]
    );
    let r = h
        .get(
            &format!("/api/crm/activities?assignedUserId={}", bo.id),
            &ada,
        )
        .await;
    assert_eq!(r.body["data"][0]["isOverdue"], true);
    let r = h
        .get(
            &format!("/api/crm/activities?leadId={}", b["id"].as_str().unwrap()),
            &ada,
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        h.get("/api/crm/activities?type=fax", &ada).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        h.get("/api/crm/activities?dueBefore=tomorrow", &ada)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Direction is for calls and emails; an unknown user cannot be assigned.
    let r = h
        .post(
            "/api/crm/activities",
            &ada,
            mk(&a, "note", "n", json!({"direction": "inbound"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .post(
            "/api/crm/activities",
            &ada,
            mk(
                &a,
                "task",
                "t",
                json!({"assignedUserId": uuid::Uuid::new_v4()}),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.body["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("assignedUserId"))
    );
    let id = h.get("/api/crm/activities?type=email", &ada).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = h.get(&format!("/api/crm/activities/{id}"), &bo).await;
    assert_eq!(
        (r.status, r.body["direction"].as_str()),
        (StatusCode::OK, Some("inbound"))
    );
}

async fn a_listed_lead_is_shown_exactly_as_the_lead_read_alone(h: &Harness) {
    // The list writes its page from `LeadRef`s borrowed from the result
    // rows; a lead read alone is decoded into an owned `LeadRow` first. The
    // two decodings, on each database, must show the same lead.
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let full = h
        .lead(
            &ada,
            json!({
                "externalId": "web-\"77\"",
                "name": "Maïa \"Oak\" O'Brien \\ 🌳",
                "company": "Birch & Co <Ltd>",
                "email": "Maia@Example.com",
                "phone": "+1 555 0100",
                "source": "referral",
                "projectType": "kitchen",
                "estimatedValue": "18450.5",
                "currency": "BHD",
                "siteAddress": "12 Mill Rd\nUnit 4",
                "desiredInstallDate": "2027-03-15",
                "ownerUserId": bo.id,
                "tags": ["oak", "walnut \"dark\"", "ünïcode"],
                "notes": "Line one\nLine two\twith a tab\r\n\\ and a backslash",
            }),
        )
        .await;
    let bare = h.lead(&ada, json!({"name": "Bo"})).await;
    let page = h.get("/api/crm/leads?sort=name", &ada).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let listed = page.body["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for (lead, listed) in [(&bare, &listed[0]), (&full, &listed[1])] {
        let id = lead["id"].as_str().unwrap();
        let alone = h.get(&format!("/api/crm/leads/{id}"), &ada).await;
        assert_eq!(alone.status, StatusCode::OK, "{alone:?}");
        assert_eq!(listed, &alone.body);
    }
    assert_eq!(listed[1]["estimatedValue"], "18450.500");
    assert_eq!(
        listed[1]["tags"],
        json!(["oak", "walnut \"dark\"", "ünïcode"])
    );
    assert_eq!(listed[0]["company"], Value::Null);
}

async fn lead_lists_filter_by_status_source_owner_text_and_update_time(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bo = h.member(&ada, "bo@maple.test").await;
    let a = h.lead(&ada, json!({"name": "Ana Ruiz", "company": "Oak_Works", "source": "referral", "ownerUserId": bo.id})).await;
    let b = h
        .lead(
            &ada,
            json!({"name": "Bo Chen", "email": "bo@CHEN.example", "source": "showroom"}),
        )
        .await;
    let c = h
        .lead(
            &ada,
            json!({"name": "Cy Diaz", "phone": "+44 20 7946 0958", "source": "referral"}),
        )
        .await;
    h.patch(
        &format!("/api/crm/leads/{}/status", c["id"].as_str().unwrap()),
        &ada,
        json!({"status": "lost", "lostReason": "timing"}),
    )
    .await;
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "status=new"),
            "name",
            false
        )
        .await,
        ["Ana Ruiz", "Bo Chen"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "status=lost,won"),
            "name",
            false
        )
        .await,
        ["Cy Diaz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "source=referral"),
            "name",
            false
        )
        .await,
        ["Ana Ruiz", "Cy Diaz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&ownerUserId={}", bo.id),
            "name",
            false
        )
        .await,
        ["Ana Ruiz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=chen"),
            "name",
            false
        )
        .await,
        ["Bo Chen"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=oak_"),
            "name",
            false
        )
        .await,
        ["Ana Ruiz"]
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=%25"),
            "name",
            false
        )
        .await,
        Vec::<String>::new(),
        "% is a literal"
    );
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&{}", "q=7946"),
            "name",
            false
        )
        .await,
        ["Cy Diaz"]
    );
    let since = b["updatedAt"].as_str().unwrap().to_owned();
    assert_eq!(
        h.texts(
            &bo,
            &format!("/api/crm/leads?sort=name&updatedAfter={since}"),
            "name",
            false
        )
        .await,
        ["Cy Diaz"]
    );
    let r = h.get("/api/crm/leads?sort=-name", &bo).await;
    let order: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["Cy Diaz", "Bo Chen", "Ana Ruiz"]);
    for bad in [
        "status=open",
        "source=billboard",
        "sort=password",
        "updatedAfter=yesterday",
        "limit=0",
    ] {
        let r = h.get(&format!("/api/crm/leads?{bad}"), &bo).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
    }
    let _ = a;
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
            .header("authorization", format!("Bearer {}", ada.token))
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

#[tokio::test]
async fn the_openapi_document_is_3_1_and_every_described_route_is_served() {
    let h = harness(TestDb::sqlite().await).await;
    let ada = h.tenant("ada@maple.test").await;
    let req = Request::get("/api/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = h.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        doc,
        serde_json::to_value(crm_app::openapi_document()).unwrap()
    );
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let r = h
                .send(&method.to_uppercase(), &concrete, &ada, None, &[])
                .await;
            // Served: the router knows the path and the method (an unknown
            // route answers "no route for …", a known path with another
            // method 405).
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let error = r.body["error"].as_str().unwrap_or_default();
            assert!(!error.starts_with("no route for"), "{method} {path}: {r:?}");
            let op = &item[method];
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has a tag"
            );
        }
    }
    // Every route of the service, and nothing else.
    let expected = [
        "GET /api/health",
        "GET /api/health/live",
        "GET /api/health/ready",
        "GET /api/openapi.json",
        "POST /api/auth/register",
        "POST /api/auth/login",
        "POST /api/auth/refresh",
        "POST /api/auth/logout",
        "GET /api/auth/me",
        "POST /api/auth/password",
        "GET /api/users",
        "POST /api/users",
        "PATCH /api/users/{id}",
        "DELETE /api/users/{id}",
        "GET /api/crm/leads",
        "POST /api/crm/leads",
        "GET /api/crm/leads/summary",
        "GET /api/crm/leads/{id}",
        "PATCH /api/crm/leads/{id}",
        "DELETE /api/crm/leads/{id}",
        "POST /api/crm/leads/{id}/restore",
        "PATCH /api/crm/leads/{id}/status",
        "GET /api/crm/leads/{id}/timeline",
        "GET /api/crm/lead-statuses",
        "GET /api/crm/activities",
        "POST /api/crm/activities",
        "GET /api/crm/activities/{id}",
        "PATCH /api/crm/activities/{id}",
        "DELETE /api/crm/activities/{id}",
        "POST /api/crm/activities/{id}/restore",
        "GET /api/audit-logs",
        "GET /api/crm/quotes",
        "POST /api/crm/quotes",
        "POST /api/crm/quotes/calculate",
        "GET /api/crm/quotes/{id}",
        "PATCH /api/crm/quotes/{id}",
        "DELETE /api/crm/quotes/{id}",
        "POST /api/crm/quotes/{id}/send",
        "POST /api/crm/quotes/{id}/accept",
        "POST /api/crm/quotes/{id}/reject",
        "POST /api/crm/quotes/{id}/revise",
        "GET /api/crm/quotes/{id}/revisions",
    ];
    assert_eq!(operations, expected.len());
    for op in expected {
        let (method, path) = op.split_once(' ').unwrap();
        assert!(
            doc["paths"][path][method.to_lowercase()].is_object(),
            "{op} is described"
        );
    }
    h.db.drop_db().await;
}

fn kitchen_lines() -> Value {
    json!([
        {"kind": "cabinet", "name": "Base cabinet 600 mm", "unit": "ea", "quantity": "4", "unitPrice": "385.00",
         "discount": {"type": "percent", "value": "10"}, "taxable": true, "taxRate": "8.25", "unitCost": "210.00"},
        {"kind": "edge_banding", "name": "Walnut edge banding", "unit": "m", "quantity": "37.5", "unitPrice": "0.4375",
         "taxable": true, "taxRate": "8.25"},
        {"kind": "installation", "name": "Installation", "unit": "hr", "quantity": "6", "unitPrice": "72.50"}
    ])
}

impl Harness {
    async fn quote(&self, user: &User, lead: &Value, extra: Value) -> Value {
        let mut body = json!({"leadId": lead["id"], "title": "Kitchen", "currency": "USD", "lineItems": kitchen_lines()});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = self.post("/api/crm/quotes", user, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body
    }

    async fn act(&self, user: &User, quote: &Value, action: &str, body: Value) -> Resp {
        self.post(
            &format!("/api/crm/quotes/{}/{action}", quote["id"].as_str().unwrap()),
            user,
            body,
        )
        .await
    }
}

async fn a_quote_upsert_computes_the_totals_and_matches_by_id_then_external_id(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let q = h
        .quote(&ada, &lead, json!({"externalId": "cut-77", "discount": {"type": "amount", "value": "50.00"}, "total": "1.00"}))
        .await;
    assert_eq!(q["created"], true);
    assert_eq!(q["status"], "draft");
    assert_eq!(q["revision"], 1);
    assert!(q["quoteNumber"].as_str().unwrap().starts_with("Q-"));
    assert_eq!(
        (q["subtotal"].as_str(), q["discountTotal"].as_str()),
        (Some("1837.41"), Some("50.00"))
    );
    assert_eq!(
        (q["taxTotal"].as_str(), q["total"].as_str()),
        (Some("112.55"), Some("1899.96")),
        "the client's total is ignored"
    );
    assert_eq!(q["lineItems"][1]["lineSubtotal"], "16.41");
    assert_eq!(q["lineItems"][0]["unitCost"], "210.00");
    let valid_until =
        chrono::NaiveDate::parse_from_str(q["validUntil"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert_eq!(
        valid_until,
        chrono::Utc::now().date_naive() + chrono::Duration::days(30)
    );
    // By externalId: the lines are replaced.
    let r = h
        .post("/api/crm/quotes", &ada, json!({"externalId": "cut-77", "lineItems": [{"kind": "hardware", "name": "Hinges", "unit": "ea", "quantity": "10", "unitPrice": "4.125"}]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.body["id"].clone(), r.body["created"].clone()),
        (q["id"].clone(), json!(false))
    );
    assert_eq!(r.body["lineItems"].as_array().unwrap().len(), 1);
    // 41.25 − the 50.00 discount capped at the subtotal.
    assert_eq!(
        (r.body["subtotal"].as_str(), r.body["total"].as_str()),
        (Some("41.25"), Some("0.00"))
    );
    assert_eq!(r.body["version"], 2);
    // By id; the same body again changes nothing.
    let body = json!({"id": q["id"], "title": "Kitchen and pantry"});
    let r = h.post("/api/crm/quotes", &ada, body.clone()).await;
    assert_eq!(
        (r.status, r.body["version"].as_i64()),
        (StatusCode::OK, Some(3))
    );
    let r = h.post("/api/crm/quotes", &ada, body).await;
    assert_eq!(r.body["version"], 3);
    // Conflicting keys, missing fields, bad lines.
    let other = h.quote(&ada, &lead, json!({"externalId": "cut-78"})).await;
    let r = h
        .post(
            "/api/crm/quotes",
            &ada,
            json!({"id": other["id"], "externalId": "cut-77"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("quote_conflict"))
    );
    let r = h
        .post(
            "/api/crm/quotes",
            &ada,
            json!({"title": "x", "currency": "USD"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("leadId"))
    );
    for line in [
        json!({"kind": "cabinet", "name": "x", "unit": "ea", "quantity": "0", "unitPrice": "1"}),
        json!({"kind": "cabinet", "name": "x", "unit": "ea", "quantity": "1", "unitPrice": 1.5}),
        json!({"kind": "cabinet", "name": "x", "unit": "ea", "quantity": "1", "unitPrice": "-1"}),
        json!({"kind": "cabinet", "name": "x", "unit": "ea", "quantity": "1", "unitPrice": "1.1234567"}),
        json!({"kind": "robot", "name": "x", "unit": "ea", "quantity": "1", "unitPrice": "1"}),
        json!({"kind": "cabinet", "name": "x", "unit": "ea", "quantity": "1", "unitPrice": "1", "taxRate": "101"}),
        json!({"kind": "cabinet", "name": "x", "unit": "ea", "quantity": "1", "unitPrice": "1", "discount": {"type": "percent", "value": "120"}}),
        json!({"kind": "cabinet", "name": "x", "unit": "ea", "quantity": "1", "unitPrice": "1", "colour": "red"}),
    ] {
        let r = h
            .post(
                "/api/crm/quotes",
                &ada,
                json!({"id": q["id"], "lineItems": [line.clone()]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{line}: {r:?}");
    }
    let r = h
        .post(
            "/api/crm/quotes",
            &ada,
            json!({"id": q["id"], "status": "accepted"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        h.get(
            &format!("/api/crm/quotes/{}", q["id"].as_str().unwrap()),
            &ada
        )
        .await
        .body["version"],
        3
    );
}

async fn only_a_draft_quote_can_be_changed_or_deleted(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let q = h.quote(&ada, &lead, json!({"externalId": "cut-1"})).await;
    let path = format!("/api/crm/quotes/{}", q["id"].as_str().unwrap());
    let r = h.send("PATCH", &path, &ada, Some(json!({"notes": "Soft-close hinges", "discount": {"type": "percent", "value": "5"}})), &[("if-match", "\"1\"")]).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.body["notes"].as_str(), r.body["discountTotal"].as_str()),
        (Some("Soft-close hinges"), Some("91.87"))
    );
    let r = h.patch(&path, &ada, json!({"lineItems": []})).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "lines are replaced through the upsert"
    );
    assert_eq!(
        h.send(
            "PATCH",
            &path,
            &ada,
            Some(json!({"notes": null})),
            &[("if-match", "\"1\"")]
        )
        .await
        .status,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        h.act(&ada, &q, "send", json!({})).await.status,
        StatusCode::OK
    );
    for r in [
        h.patch(&path, &ada, json!({"title": "Changed"})).await,
        h.post(
            "/api/crm/quotes",
            &ada,
            json!({"externalId": "cut-1", "title": "Changed"}),
        )
        .await,
        h.send("DELETE", &path, &ada, None, &[]).await,
    ] {
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::CONFLICT, Some("quote_not_editable")),
            "{r:?}"
        );
    }
    // A draft is deleted softly.
    let draft = h.quote(&ada, &lead, json!({})).await;
    let dpath = format!("/api/crm/quotes/{}", draft["id"].as_str().unwrap());
    assert_eq!(
        h.send("DELETE", &dpath, &ada, None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(h.get(&dpath, &ada).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.get(&format!("{dpath}?deleted=include"), &ada)
            .await
            .status,
        StatusCode::OK
    );
    let ids = h.texts(&ada, "/api/crm/quotes", "id", false).await;
    assert_eq!(ids, [q["id"].as_str().unwrap()]);
}

async fn the_quote_lifecycle_moves_the_lead_and_refuses_every_other_transition(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let lid = lead["id"].as_str().unwrap();
    let q = h.quote(&ada, &lead, json!({})).await;
    // A draft cannot be accepted, rejected or revised.
    for action in ["accept", "reject", "revise"] {
        let r = h.act(&ada, &q, action, json!({"reason": "x"})).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::CONFLICT, Some("illegal_transition")),
            "{action}: {r:?}"
        );
    }
    // Send: the new lead becomes quoted, with its event and audit entry.
    let key = [("idempotency-key", "send-1")];
    let r = h
        .send(
            "POST",
            &format!("/api/crm/quotes/{}/send", q["id"].as_str().unwrap()),
            &ada,
            Some(json!({})),
            &key,
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("sent")),
        "{r:?}"
    );
    assert!(r.body["sentAt"].is_string());
    let again = h
        .send(
            "POST",
            &format!("/api/crm/quotes/{}/send", q["id"].as_str().unwrap()),
            &ada,
            Some(json!({})),
            &key,
        )
        .await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(
        h.get(&format!("/api/crm/leads/{lid}"), &ada).await.body["status"],
        "quoted"
    );
    let lead_entries = h
        .audit(&ada, &format!("action=lead.status_update&resourceId={lid}"))
        .await;
    assert_eq!(lead_entries.len(), 1);
    assert_eq!(lead_entries[0]["changes"]["cause"], "quote.send");
    assert_eq!(
        h.act(&ada, &q, "send", json!({})).await.status,
        StatusCode::CONFLICT
    );
    // Reject, then revise: a new draft with the same number.
    let r = h
        .act(&ada, &q, "reject", json!({"reason": "Too dear"}))
        .await;
    assert_eq!(
        (r.status, r.body["rejectionReason"].as_str()),
        (StatusCode::OK, Some("Too dear"))
    );
    for action in ["send", "accept", "reject"] {
        let r = h.act(&ada, &q, action, json!({"reason": "x"})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "rejected: {action}: {r:?}");
    }
    let r = h.act(&ada, &q, "revise", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let rev = r.body;
    assert_eq!(
        (rev["revision"].as_i64(), rev["status"].as_str()),
        (Some(2), Some("draft"))
    );
    assert_eq!(
        (&rev["quoteNumber"], &rev["supersedesQuoteId"]),
        (&q["quoteNumber"], &q["id"])
    );
    assert_eq!(rev["total"], q["total"]);
    assert_eq!(
        h.get(
            &format!("/api/crm/quotes/{}", q["id"].as_str().unwrap()),
            &ada
        )
        .await
        .body["status"],
        "superseded"
    );
    let revisions = h
        .get(
            &format!("/api/crm/quotes/{}/revisions", rev["id"].as_str().unwrap()),
            &ada,
        )
        .await
        .body;
    let numbers: Vec<i64> = revisions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["revision"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    for action in ["send", "accept", "reject", "revise"] {
        assert_eq!(
            h.act(&ada, &q, action, json!({"reason": "x"})).await.status,
            StatusCode::CONFLICT,
            "superseded: {action}"
        );
    }
    // Send and accept the revision: the lead is won; accepted is locked.
    assert_eq!(
        h.act(&ada, &rev, "send", json!({})).await.status,
        StatusCode::OK
    );
    let r = h
        .send(
            "POST",
            &format!("/api/crm/quotes/{}/accept", rev["id"].as_str().unwrap()),
            &ada,
            Some(json!({})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = h.act(&ada, &rev, "accept", json!({})).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{r:?}"
    );
    assert_eq!(
        h.get(&format!("/api/crm/leads/{lid}"), &ada).await.body["status"],
        "won"
    );
    for action in ["send", "accept", "reject", "revise"] {
        assert_eq!(
            h.act(&ada, &rev, action, json!({"reason": "x"}))
                .await
                .status,
            StatusCode::CONFLICT,
            "accepted: {action}"
        );
    }
    // A quote without lines cannot be sent; a rejection needs a reason.
    let elsewhere = h.lead(&ada, json!({"name": "Cy"})).await;
    let empty = h
        .post(
            "/api/crm/quotes",
            &ada,
            json!({"leadId": elsewhere["id"], "title": "Empty", "currency": "USD"}),
        )
        .await
        .body;
    let r = h.act(&ada, &empty, "send", json!({})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("quote_empty"))
    );
    // An expired quote reads so and cannot be accepted.
    let other = h.lead(&ada, json!({"name": "Bo"})).await;
    let old = h
        .quote(&ada, &other, json!({"validUntil": "2020-01-31"}))
        .await;
    h.act(&ada, &old, "send", json!({})).await;
    let r = h
        .get(
            &format!("/api/crm/quotes/{}", old["id"].as_str().unwrap()),
            &ada,
        )
        .await;
    assert_eq!(r.body["isExpired"], true);
    let r = h.act(&ada, &old, "accept", json!({})).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("quote_expired"))
    );
    // Every step is on the lead's timeline and in the audit log.
    let timeline = h
        .get(&format!("/api/crm/leads/{lid}/timeline?limit=200"), &ada)
        .await
        .body;
    let actions: Vec<&str> = timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "quote_event")
        .map(|e| e["item"]["action"].as_str().unwrap())
        .collect();
    // Newest first; a revision's "revise" and its new draft's "created"
    // happen in the same instant, in either order.
    assert_eq!(actions[..2], ["accept", "send"]);
    assert_eq!(actions[4..], ["reject", "send", "created"]);
    let mut middle = actions[2..4].to_vec();
    middle.sort();
    assert_eq!(middle, ["created", "revise"]);
    let audited: Vec<String> = h
        .audit(&ada, "resourceType=quote")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in [
        "quote.upsert",
        "quote.send",
        "quote.reject",
        "quote.revise",
        "quote.accept",
    ] {
        assert!(audited.contains(&action.to_string()), "{action}");
    }
    let report = ops_kit::audit::verify(&h.db.pool, Some(ada.tenant.parse().unwrap()))
        .await
        .unwrap();
    assert!(report.is_intact());
}

async fn quote_numbers_stay_unique_and_gap_free_under_concurrent_creation(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    // One fails validation after taking no number at all.
    let bad = h
        .post(
            "/api/crm/quotes",
            &ada,
            json!({"leadId": lead["id"], "title": "x", "currency": "USD", "lineItems": [{}]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = json!({"leadId": lead["id"], "title": "Kitchen", "currency": "USD", "lineItems": kitchen_lines()});
    let requests = (0..20).map(|_| h.post("/api/crm/quotes", &ada, body.clone()));
    let responses = futures_util::future::join_all(requests).await;
    let mut numbers: Vec<String> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
            r.body["quoteNumber"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("Q-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

async fn quote_routes_answer_404_for_another_tenants_quotes(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let bea = h.tenant("bea@birch.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    let q = h.quote(&ada, &lead, json!({"externalId": "cut-9"})).await;
    let id = q["id"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", format!("/api/crm/quotes/{id}"), None),
        (
            "PATCH",
            format!("/api/crm/quotes/{id}"),
            Some(json!({"title": "Stolen"})),
        ),
        ("DELETE", format!("/api/crm/quotes/{id}"), None),
        (
            "POST",
            format!("/api/crm/quotes/{id}/send"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/api/crm/quotes/{id}/accept"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/api/crm/quotes/{id}/reject"),
            Some(json!({"reason": "x"})),
        ),
        (
            "POST",
            format!("/api/crm/quotes/{id}/revise"),
            Some(json!({})),
        ),
        ("GET", format!("/api/crm/quotes/{id}/revisions"), None),
    ] {
        let r = h.send(method, &path, &bea, body, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {r:?}");
    }
    assert_eq!(
        h.get("/api/crm/quotes?deleted=include", &bea).await.body["data"],
        json!([])
    );
    // Another tenant's lead cannot be quoted; its externalId is free here.
    let r = h
        .post(
            "/api/crm/quotes",
            &bea,
            json!({"leadId": lead["id"], "title": "x", "currency": "USD"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mine = h.lead(&bea, json!({"name": "Bo"})).await;
    let r = h.quote(&bea, &mine, json!({"externalId": "cut-9"})).await;
    assert_eq!(r["quoteNumber"], "Q-000001", "numbers are per tenant");
    assert_eq!(
        h.get(&format!("/api/crm/quotes/{id}"), &ada).await.body["version"],
        1
    );
}

async fn calculate_returns_the_totals_and_saves_nothing(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/quotes.md")).unwrap();
    let blocks: Vec<&str> = page
        .split("```json")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let request: Value = serde_json::from_str(blocks[0]).unwrap();
    let expected: Value = serde_json::from_str(blocks[1]).unwrap();
    let r = h.post("/api/crm/quotes/calculate", &ada, request).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&r.body[key], value, "docs/quotes.md: {key}");
    }
    // The table of the worked example, line by line.
    let lines: Vec<(&str, &str, &str, &str)> = r.body["lineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["lineSubtotal"].as_str().unwrap(),
                l["quoteDiscountShare"].as_str().unwrap(),
                l["lineTax"].as_str().unwrap(),
                l["lineTotal"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("1540.00", "37.71", "111.23", "1459.52"),
            ("16.41", "0.45", "1.32", "17.28"),
            ("435.00", "11.84", "0.00", "423.16")
        ]
    );
    for row in [
        "| 1540.00 | 154.00 | 1386.00 | 37.71 | 1348.29 | 111.23 | 1459.52 |",
        "| 16.41 | 0.00 | 16.41 | 0.45 | 15.96 | 1.32 | 17.28 |",
        "| 435.00 | 0.00 | 435.00 | 11.84 | 423.16 | 0.00 | 423.16 |",
    ] {
        assert!(page.contains(row), "docs/quotes.md shows {row}");
    }
    assert_eq!(h.get("/api/crm/quotes", &ada).await.body["data"], json!([]));
    let r = h
        .post("/api/crm/quotes/calculate", &ada, json!({"lineItems": []}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a currency is needed"
    );
}

async fn metrics_count_requests_by_route_template_and_audit_entries(h: &Harness) {
    let ada = h.tenant("ada@maple.test").await;
    let lead = h.lead(&ada, json!({"name": "Ana"})).await;
    for _ in 0..2 {
        h.get(
            &format!("/api/crm/leads/{}", lead["id"].as_str().unwrap()),
            &ada,
        )
        .await;
    }
    h.get(&format!("/api/crm/leads/{}", uuid::Uuid::new_v4()), &ada)
        .await;
    h.get("/no/such/route", &ada).await;
    let response = h
        .router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for expected in [
        r#"http_requests_total{method="GET",route="/api/crm/leads/{id}",status="2xx"} 2"#,
        r#"http_requests_total{method="GET",route="/api/crm/leads/{id}",status="4xx"} 1"#,
        r#"http_requests_total{method="POST",route="/api/crm/leads",status="2xx"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="4xx"} 1"#,
        r#"audit_entries_total{result="written"} 1"#,
        r#"audit_entries_total{result="failed"} 0"#,
        r#"db_pool_connections{state="open"}"#,
        "http_requests_in_flight 1",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    assert!(
        !text.contains(lead["id"].as_str().unwrap()),
        "raw paths never become labels"
    );
}
