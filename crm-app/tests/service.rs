//! The service as a whole, as clients and operators see it: the OpenAPI
//! document and the routes it describes, the metrics, and the deployment
//! files (probe paths and ports, the shutdown budget, the environment, and
//! the commands the containers run), which must agree with the code.

mod common;

use axum::body::Body;
use clap::Parser;
use common::{Harness, on_both_databases};
use crm_app::commands::{Cli, Command};
use crm_app::config::Config;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ops_kit::config::Env;
use ops_kit::health::{LIVE_PATH, READY_PATH};
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use tower::ServiceExt;

on_both_databases!(metrics_count_requests_by_route_template_and_audit_entries,);

#[tokio::test]
async fn the_openapi_document_is_3_1_and_every_described_route_is_served() {
    let h = Harness::start(TestDb::sqlite().await).await;
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
    h.finish().await;
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

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The values of `key:` on the lines after the line containing `after`.
fn value_after(text: &str, after: &str, key: &str) -> String {
    let start = text
        .find(after)
        .unwrap_or_else(|| panic!("{after} in the manifest"));
    text[start..]
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("{key} after {after}"))
}

/// The `{name: X, value: "Y"}` pairs of a manifest.
fn plain_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().strip_prefix("- {name: ")?;
            let (name, rest) = line.split_once(", value: ")?;
            Some((
                name.to_owned(),
                rest.trim_end_matches('}').trim_matches('"').to_owned(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn the_kubernetes_manifest_matches_the_routes_ports_and_shutdown_budget() {
    let manifest = read("k8s/crm-app.yaml");
    let live = value_after(&manifest, "livenessProbe:", "path");
    let ready = value_after(&manifest, "readinessProbe:", "path");
    assert_eq!((live.as_str(), ready.as_str()), (LIVE_PATH, READY_PATH));
    let container_port = value_after(&manifest, "containerPort", "containerPort");
    for probe in ["livenessProbe:", "readinessProbe:"] {
        assert_eq!(
            value_after(&manifest, probe, "port"),
            container_port,
            "{probe} port"
        );
    }
    assert_eq!(
        value_after(&manifest, "kind: Service", "targetPort"),
        container_port
    );
    let env = plain_env(&manifest);
    let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(get("PORT").as_deref(), Some(container_port.as_str()));
    assert!(read("Dockerfile").contains(&format!("EXPOSE {container_port}")));

    // The plain settings pass the service's own validation, with the
    // secrets the Secret would provide.
    let mut pairs: Vec<(String, String)> = env.clone();
    pairs.push(("DATABASE_URL".into(), "postgres://crm@db/crm".into()));
    pairs.push(("JWT_SECRET".into(), common::JWT_SECRET.into()));
    pairs.push(("REDIS_URL".into(), "redis://cache:6379".into()));
    let config =
        Config::load(&Env::from_pairs(pairs)).expect("the manifest's environment is valid");
    assert!(config.mode.is_production());

    // The grace period covers the pre-stop delay, the drain, one cleanup
    // handler (5 s) and a margin (runbook section 6).
    let grace: u64 = value_after(
        &manifest,
        "terminationGracePeriodSeconds",
        "terminationGracePeriodSeconds",
    )
    .parse()
    .unwrap();
    let delay: u64 = get("SHUTDOWN_DELAY_SECS").unwrap().parse().unwrap();
    let timeout: u64 = get("SHUTDOWN_TIMEOUT_SECS")
        .unwrap_or("30".into())
        .parse()
        .unwrap();
    assert!(
        grace >= delay + timeout + 5 + 5,
        "grace {grace} s for {delay} + {timeout} + 5 + 5"
    );

    // The probe paths answer on the real service.
    let h = Harness::start(TestDb::sqlite().await).await;
    for path in [live, ready] {
        let r = h
            .oneshot(Request::get(path.as_str()).body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status(), 200, "{path}");
    }
    h.finish().await;
}

#[test]
fn the_containers_run_commands_the_binary_has() {
    let manifest = read("k8s/crm-app.yaml");
    assert!(manifest.contains(r#"args: ["serve"]"#));
    assert!(matches!(
        Cli::try_parse_from(["crm-app", "serve"]).unwrap().command,
        Some(Command::Serve)
    ));
    let job = read("k8s/migrate-job.yaml");
    assert!(job.contains(r#"args: ["migrate"]"#) && job.contains("MIGRATION_DATABASE_URL"));
    assert!(matches!(
        Cli::try_parse_from(["crm-app", "migrate"]).unwrap().command,
        Some(Command::Migrate)
    ));
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains(r#"ENTRYPOINT ["/crm-app"]"#)
            && dockerfile.contains(r#"CMD ["serve"]"#)
    );
}
