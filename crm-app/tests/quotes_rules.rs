//! The quote rules that reach beyond the quote: a revision's audit entry
//! names the new revision, and accepting a quote follows its lead's
//! pipeline. On PostgreSQL (as an ordinary role, under Row-Level Security)
//! and on SQLite.

use axum::Router;
use axum::body::Body;
use crm_app::config::Config;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ops_kit::config::Env;
use ops_kit::sql::Pool;
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Harness {
    db: TestDb,
    pool: Pool,
    router: Router,
    token: String,
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
    let mut h = Harness {
        db,
        pool,
        router,
        token: String::new(),
    };
    let (status, session) = h
        .send(
            "POST",
            "/api/auth/register",
            Some(json!({"tenantName": "Maple & Oak Cabinetry", "name": "Ada",
                        "email": "ada@maple.test", "password": "dovetail-joint"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    h.token = session["accessToken"].as_str().unwrap().to_owned();
    h
}

impl Harness {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        let req = match body {
            Some(body) => req
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.send(method, path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    /// A lead with a sent quote; the lead is `quoted`.
    async fn lead_with_sent_quote(&self, name: &str) -> (String, String) {
        let lead = self
            .ok("POST", "/api/crm/leads", Some(json!({"name": name})))
            .await;
        let lead = lead["id"].as_str().unwrap().to_owned();
        let quote = self
            .ok(
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
        self.ok("POST", &format!("/api/crm/quotes/{quote}/send"), None)
            .await;
        (lead, quote)
    }

    async fn audit(&self, query: &str) -> Vec<Value> {
        let body = self
            .ok("GET", &format!("/api/audit-logs?{query}"), None)
            .await;
        body["data"].as_array().unwrap().clone()
    }

    async fn status_of(&self, path: &str) -> String {
        self.ok("GET", path, None).await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
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
    a_revision_is_audited_under_its_own_id_with_the_superseded_quote_in_its_changes,
    accepting_a_quote_whose_lead_is_lost_or_deleted_is_refused_with_the_allowed_actions,
);

async fn a_revision_is_audited_under_its_own_id_with_the_superseded_quote_in_its_changes(
    h: &Harness,
) {
    let (_, old) = h.lead_with_sent_quote("Ana").await;
    let new = h
        .ok("POST", &format!("/api/crm/quotes/{old}/revise"), None)
        .await;
    let new = new["id"].as_str().unwrap();
    assert_ne!(new, old);

    let entries = h.audit(&format!("resourceId={new}")).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "quote.revise");
    assert_eq!(entries[0]["resourceType"], "quote");
    assert_eq!(entries[0]["changes"], json!({ "supersedesQuoteId": old }));
    // The superseded quote's own log keeps its history, without the revise.
    let old_actions: Vec<String> = h
        .audit(&format!("resourceId={old}"))
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
    // A lost lead.
    let (lead, quote) = h.lead_with_sent_quote("Ana").await;
    h.ok(
        "PATCH",
        &format!("/api/crm/leads/{lead}/status"),
        Some(json!({"status": "lost", "lostReason": "price"})),
    )
    .await;
    let (status, body) = h
        .send("POST", &format!("/api/crm/quotes/{quote}/accept"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "lead_lost");
    assert_eq!(body["leadId"], json!(lead));
    assert_eq!(body["allowedActions"], json!(["reject", "revise"]));
    assert_eq!(body["leadAllowedTransitions"], json!(["new", "contacted"]));
    assert!(body["requestId"].is_string());
    // Nothing moved, nothing was recorded.
    assert_eq!(
        h.status_of(&format!("/api/crm/quotes/{quote}")).await,
        "sent"
    );
    assert_eq!(h.status_of(&format!("/api/crm/leads/{lead}")).await, "lost");
    assert!(h.audit("action=quote.accept").await.is_empty());
    // Reopened, the lead follows its quote to won.
    h.ok(
        "PATCH",
        &format!("/api/crm/leads/{lead}/status"),
        Some(json!({"status": "contacted"})),
    )
    .await;
    h.ok("POST", &format!("/api/crm/quotes/{quote}/accept"), None)
        .await;
    assert_eq!(h.status_of(&format!("/api/crm/leads/{lead}")).await, "won");

    // A soft-deleted lead.
    let (lead, quote) = h.lead_with_sent_quote("Bo").await;
    h.ok("DELETE", &format!("/api/crm/leads/{lead}"), None)
        .await;
    let (status, body) = h
        .send("POST", &format!("/api/crm/quotes/{quote}/accept"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "lead_deleted");
    assert_eq!(body["allowedActions"], json!(["reject", "revise"]));
    assert_eq!(body["leadAllowedActions"], json!(["restore"]));
    assert_eq!(
        h.status_of(&format!("/api/crm/quotes/{quote}")).await,
        "sent"
    );
    // Restored, it can be won again.
    h.ok("POST", &format!("/api/crm/leads/{lead}/restore"), None)
        .await;
    h.ok("POST", &format!("/api/crm/quotes/{quote}/accept"), None)
        .await;
    assert_eq!(h.status_of(&format!("/api/crm/leads/{lead}")).await, "won");
    assert_eq!(h.audit("action=quote.accept").await.len(), 2);
}
