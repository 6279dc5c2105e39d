//! Quotes: the upsert and its totals, drafts, the lifecycle and the lead
//! moves it makes, numbering, tenancy, the calculator, and the rules that
//! reach beyond the quote (a revision's audit entry names the new revision;
//! accepting a quote follows its lead's pipeline). On PostgreSQL (as an
//! ordinary role, under Row-Level Security) and on SQLite.

mod common;

use common::{Harness, Resp, User, on_both_databases};
use http::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    a_quote_upsert_computes_the_totals_and_matches_by_id_then_external_id,
    only_a_draft_quote_can_be_changed_or_deleted,
    the_quote_lifecycle_moves_the_lead_and_refuses_every_other_transition,
    quote_numbers_stay_unique_and_gap_free_under_concurrent_creation,
    quote_routes_answer_404_for_another_tenants_quotes,
    calculate_returns_the_totals_and_saves_nothing,
    a_revision_is_audited_under_its_own_id_with_the_superseded_quote_in_its_changes,
    accepting_a_quote_whose_lead_is_lost_or_deleted_is_refused_with_the_allowed_actions,
);

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

impl Harness {
    /// A request as `user` that must succeed: its body.
    async fn ok(&self, user: &User, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.send(method, path, user, body, &[]).await;
        assert!(r.status.is_success(), "{method} {path}: {r:?}");
        r.body
    }

    /// A lead with a sent quote; the lead is `quoted`.
    async fn lead_with_sent_quote(&self, user: &User, name: &str) -> (String, String) {
        let lead = self
            .ok(user, "POST", "/api/crm/leads", Some(json!({"name": name})))
            .await;
        let lead = lead["id"].as_str().unwrap().to_owned();
        let quote = self
            .ok(
                user,
                "POST",
                "/api/crm/quotes",
                Some(
                    json!({"leadId": lead, "title": "Kitchen", "currency": "USD", "lineItems": [
                    {"kind": "cabinet", "name": "Base cabinet 600 mm", "unit": "ea",
                     "quantity": "4", "unitPrice": "385.00"}]}),
                ),
            )
            .await;
        let quote = quote["id"].as_str().unwrap().to_owned();
        self.ok(user, "POST", &format!("/api/crm/quotes/{quote}/send"), None)
            .await;
        (lead, quote)
    }

    async fn status_of(&self, user: &User, path: &str) -> String {
        self.ok(user, "GET", path, None).await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn a_revision_is_audited_under_its_own_id_with_the_superseded_quote_in_its_changes(
    h: &Harness,
) {
    let ada = h.tenant("ada@maple.test").await;
    let (_, old) = h.lead_with_sent_quote(&ada, "Ana").await;
    let new = h
        .ok(&ada, "POST", &format!("/api/crm/quotes/{old}/revise"), None)
        .await;
    let new = new["id"].as_str().unwrap();
    assert_ne!(new, old);

    let entries = h.audit(&ada, &format!("resourceId={new}")).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "quote.revise");
    assert_eq!(entries[0]["resourceType"], "quote");
    assert_eq!(entries[0]["changes"], json!({ "supersedesQuoteId": old }));
    // The superseded quote's own log keeps its history, without the revise.
    let old_actions: Vec<String> = h
        .audit(&ada, &format!("resourceId={old}"))
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        old_actions.contains(&"quote.send".to_owned()),
        "{old_actions:?}"
    );
    assert!(
        !old_actions.contains(&"quote.revise".to_owned()),
        "{old_actions:?}"
    );
}

async fn accepting_a_quote_whose_lead_is_lost_or_deleted_is_refused_with_the_allowed_actions(
    h: &Harness,
) {
    let ada = h.tenant("ada@maple.test").await;
    // A lost lead.
    let (lead, quote) = h.lead_with_sent_quote(&ada, "Ana").await;
    h.ok(
        &ada,
        "PATCH",
        &format!("/api/crm/leads/{lead}/status"),
        Some(json!({"status": "lost", "lostReason": "price"})),
    )
    .await;
    let (status, body) = h
        .call(
            "POST",
            &format!("/api/crm/quotes/{quote}/accept"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "lead_lost");
    assert_eq!(body["leadId"], json!(lead));
    assert_eq!(body["allowedActions"], json!(["reject", "revise"]));
    assert_eq!(body["leadAllowedTransitions"], json!(["new", "contacted"]));
    assert!(body["requestId"].is_string());
    // Nothing moved, nothing was recorded.
    assert_eq!(
        h.status_of(&ada, &format!("/api/crm/quotes/{quote}")).await,
        "sent"
    );
    assert_eq!(
        h.status_of(&ada, &format!("/api/crm/leads/{lead}")).await,
        "lost"
    );
    assert!(h.audit(&ada, "action=quote.accept").await.is_empty());
    // Reopened, the lead follows its quote to won.
    h.ok(
        &ada,
        "PATCH",
        &format!("/api/crm/leads/{lead}/status"),
        Some(json!({"status": "contacted"})),
    )
    .await;
    h.ok(
        &ada,
        "POST",
        &format!("/api/crm/quotes/{quote}/accept"),
        None,
    )
    .await;
    assert_eq!(
        h.status_of(&ada, &format!("/api/crm/leads/{lead}")).await,
        "won"
    );

    // A soft-deleted lead.
    let (lead, quote) = h.lead_with_sent_quote(&ada, "Bo").await;
    h.ok(&ada, "DELETE", &format!("/api/crm/leads/{lead}"), None)
        .await;
    let (status, body) = h
        .call(
            "POST",
            &format!("/api/crm/quotes/{quote}/accept"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "lead_deleted");
    assert_eq!(body["allowedActions"], json!(["reject", "revise"]));
    assert_eq!(body["leadAllowedActions"], json!(["restore"]));
    assert_eq!(
        h.status_of(&ada, &format!("/api/crm/quotes/{quote}")).await,
        "sent"
    );
    // Restored, it can be won again.
    h.ok(
        &ada,
        "POST",
        &format!("/api/crm/leads/{lead}/restore"),
        None,
    )
    .await;
    h.ok(
        &ada,
        "POST",
        &format!("/api/crm/quotes/{quote}/accept"),
        None,
    )
    .await;
    assert_eq!(
        h.status_of(&ada, &format!("/api/crm/leads/{lead}")).await,
        "won"
    );
    assert_eq!(h.audit(&ada, "action=quote.accept").await.len(), 2);
}
