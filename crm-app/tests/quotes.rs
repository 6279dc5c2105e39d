//! Quotes: the upsert and its totals, drafts, numbering, another tenant's
//! quotes, and the calculator. On PostgreSQL (as an ordinary role, under
//! Row-Level Security) and on SQLite. The lifecycle (send, accept, reject,
//! revise) is in quote_lifecycle.rs.

mod common;

use common::{Harness, kitchen_lines, on_both_databases};
use http::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    a_quote_upsert_computes_the_totals_and_matches_by_id_then_external_id,
    only_a_draft_quote_can_be_changed_or_deleted,
    quote_numbers_stay_unique_and_gap_free_under_concurrent_creation,
    quote_routes_answer_404_for_another_tenants_quotes,
    calculate_returns_the_totals_and_saves_nothing,
);

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
