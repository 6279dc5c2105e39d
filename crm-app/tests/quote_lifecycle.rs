//! The quote lifecycle: send, accept, reject and revise, the lead moves
//! they make and every other transition refused, and the rules that reach
//! beyond the quote (a revision's audit entry names the new revision;
//! accepting a quote follows its lead's pipeline). On PostgreSQL (as an
//! ordinary role, under Row-Level Security) and on SQLite.

mod common;

use common::{Harness, User, on_both_databases};
use http::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    the_quote_lifecycle_moves_the_lead_and_refuses_every_other_transition,
    a_revision_is_audited_under_its_own_id_with_the_superseded_quote_in_its_changes,
    accepting_a_quote_whose_lead_is_lost_or_deleted_is_refused_with_the_allowed_actions,
);

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
