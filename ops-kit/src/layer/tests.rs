use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Json, Path};
use axum::response::Response;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::telemetry::{LogFormat, testing::capture};
use crate::{ApiError, App, RequestId};

fn app() -> Router {
    let routes = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/id", get(|id: RequestId| async move { id.to_string() }))
        .route(
            "/leads/{id}",
            get(|Path(id): Path<u32>| async move { id.to_string() }),
        )
        .route("/echo", post(|Json(v): Json<Value>| async move { Json(v) }))
        .route(
            "/upload",
            post(|body: bytes::Bytes| async move { body.len().to_string() }),
        )
        .route("/typed", post(|Json(v): Json<Typed>| async move { v.name }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
        .route("/panic", get(panics))
        .route(
            "/page-refused",
            get(|| async {
                (
                    StatusCode::FORBIDDEN,
                    [("content-type", "text/html; charset=utf-8")],
                    "<h1>This form could not be accepted</h1>",
                )
            }),
        )
        .route(
            "/missing",
            get(|| async { Err::<(), _>(ApiError::not_found("lead not found")) }),
        );
    App::new("test", "0.0.0")
        .body_limit(1024)
        .body_limit_for("/upload", 4096, Duration::from_secs(10))
        .request_timeout(Duration::from_secs(5))
        .router(routes)
        .into_router()
}

async fn panics() -> &'static str {
    panic!("boom in handler")
}

#[derive(serde::Deserialize)]
struct Typed {
    name: String,
}

async fn send(req: Request<Body>) -> Response {
    app().oneshot(req).await.unwrap()
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn json_of(response: Response) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).expect("a JSON body")
}

async fn text_of(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).expect("a UTF-8 body")
}

fn id_of(response: &Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts the envelope shape and returns the body.
async fn envelope(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let id = id_of(&response);
    let body = json_of(response).await;
    assert_eq!(
        body["requestId"], id,
        "requestId matches the header: {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(body["code"].is_string(), "{body}");
    body
}

#[tokio::test]
async fn echoes_a_safe_client_request_id() {
    let response = send(
        Request::get("/ok")
            .header("x-request-id", "client-abc.123")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(id_of(&response), "client-abc.123");
}

#[tokio::test]
async fn replaces_unsafe_request_ids_with_a_fresh_uuid() {
    let too_long = "a".repeat(129);
    for bad in ["", "has space", "semi;colon", too_long.as_str()] {
        let response = send(
            Request::get("/ok")
                .header("x-request-id", bad)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let id = id_of(&response);
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id} is a UUID");
    }
    let non_ascii = http::HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap();
    let mut req = get_req("/ok");
    req.headers_mut().insert("x-request-id", non_ascii);
    let id = id_of(&send(req).await);
    assert!(uuid::Uuid::parse_str(&id).is_ok());
}

#[tokio::test]
async fn generates_a_request_id_when_none_is_sent() {
    let response = send(get_req("/ok")).await;
    assert!(uuid::Uuid::parse_str(&id_of(&response)).is_ok());
}

#[tokio::test]
async fn handlers_read_the_same_request_id_with_the_extractor() {
    let response = send(
        Request::get("/id")
            .header("x-request-id", "trace-me")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"trace-me");
}

#[tokio::test]
async fn passes_on_an_html_error_page_that_a_front_end_wrote() {
    let response = send(get_req("/page-refused")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(
        text_of(response).await,
        "<h1>This form could not be accepted</h1>"
    );
}

#[tokio::test]
async fn answers_an_unknown_route_with_a_404_envelope() {
    let body = envelope(send(get_req("/nope")).await, StatusCode::NOT_FOUND).await;
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["error"], "no route for GET /nope");
}

#[tokio::test]
async fn answers_a_wrong_method_with_a_405_envelope_and_keeps_allow() {
    let response = send(Request::delete("/ok").body(Body::empty()).unwrap()).await;
    assert!(response.headers().contains_key("allow"));
    let body = envelope(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(body["code"], "method_not_allowed");
}

#[tokio::test]
async fn answers_malformed_json_with_a_400_envelope() {
    let response = send(
        Request::post("/echo")
            .header("content-type", "application/json")
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    let body = envelope(response, StatusCode::BAD_REQUEST).await;
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
}

#[tokio::test]
async fn answers_a_missing_content_type_with_a_415_envelope() {
    let response = send(Request::post("/echo").body(Body::from("{}")).unwrap()).await;
    envelope(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[tokio::test]
async fn answers_json_of_the_wrong_shape_with_a_422_envelope() {
    let response = send(
        Request::post("/typed")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"nom":"x"}"#))
            .unwrap(),
    )
    .await;
    let body = envelope(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body["error"].as_str().unwrap().contains("name"), "{body}");
}

#[tokio::test]
async fn answers_a_bad_path_parameter_with_a_400_envelope() {
    envelope(send(get_req("/leads/abc")).await, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn refuses_a_declared_body_over_the_limit_with_413() {
    let response = send(
        Request::post("/echo")
            .header("content-type", "application/json")
            .header("content-length", "5000")
            .body(Body::from(vec![b' '; 5000]))
            .unwrap(),
    )
    .await;
    let body = envelope(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(
        body["error"],
        "request body is larger than the limit of 1024 bytes"
    );
}

#[tokio::test]
async fn a_path_with_its_own_body_limit_takes_a_larger_body_while_others_keep_theirs() {
    let upload = |path: &str, size: usize| {
        Request::post(path)
            .header("content-length", size.to_string())
            .body(Body::from(vec![b'x'; size]))
            .unwrap()
    };
    let taken = send(upload("/upload", 3000)).await;
    assert_eq!(taken.status(), StatusCode::OK);
    assert_eq!(text_of(taken).await, "3000");

    let body = envelope(
        send(upload("/upload", 5000)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(
        body["error"],
        "request body is larger than the limit of 4096 bytes"
    );
    // The path is matched exactly: a neighbour keeps the service's limit.
    envelope(
        send(upload("/upload/more", 3000)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
}

#[tokio::test]
async fn refuses_a_streamed_body_over_the_limit_with_413() {
    let chunks = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 200]))),
    );
    let response = send(
        Request::post("/echo")
            .header("content-type", "application/json")
            .body(Body::from_stream(chunks))
            .unwrap(),
    )
    .await;
    envelope(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test(start_paused = true)]
async fn answers_a_request_past_the_timeout_with_a_503_envelope() {
    let body = envelope(
        send(get_req("/slow")).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(body["error"], "request timed out after 5000 ms");
}

#[tokio::test]
async fn answers_a_panic_with_a_500_envelope_and_keeps_serving() {
    let router = app();
    let response = router.clone().oneshot(get_req("/panic")).await.unwrap();
    let body = envelope(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(body["error"], "internal server error");
    assert!(!body.to_string().contains("boom"));
    let after = router.oneshot(get_req("/ok")).await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test]
async fn fills_the_request_id_of_handler_errors() {
    let response = send(
        Request::get("/missing")
            .header("x-request-id", "req-77")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let body = envelope(response, StatusCode::NOT_FOUND).await;
    assert_eq!(body["requestId"], "req-77");
    assert_eq!(body["error"], "lead not found");
}

#[tokio::test]
async fn logs_one_metrics_line_per_request_without_the_query_string() {
    let (out, guard, _d) = capture(LogFormat::Text);
    send(
        Request::get("/leads/7?token=secret")
            .header("x-request-id", "m-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let lines: Vec<String> = out
        .lines(&guard)
        .into_iter()
        .filter(|l| l.starts_with("[METRICS]"))
        .collect();
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert!(
        line.starts_with("[METRICS] requestId=m-1 request_duration_ms="),
        "{line}"
    );
    assert!(
        line.ends_with(" method=GET path=/leads/7 status=200 route=/leads/{id}"),
        "{line}"
    );
    assert!(!line.contains("secret"));
}

#[tokio::test]
async fn logs_the_metrics_line_for_unmatched_routes_without_a_route() {
    let (out, guard, _d) = capture(LogFormat::Text);
    send(get_req("/nope")).await;
    let lines = out.lines(&guard);
    let line = lines.iter().find(|l| l.starts_with("[METRICS]")).unwrap();
    assert!(line.ends_with("method=GET path=/nope status=404"), "{line}");
}

#[tokio::test]
async fn logs_the_metrics_line_as_json_with_the_same_keys() {
    let (out, guard, _d) = capture(LogFormat::Json);
    send(get_req("/ok")).await;
    let lines = out.lines(&guard);
    let metrics: Value = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["message"] == "[METRICS]")
        .unwrap();
    assert!(metrics["requestId"].is_string());
    assert!(metrics["request_duration_ms"].is_number());
    assert_eq!(metrics["method"], "GET");
    assert_eq!(metrics["path"], "/ok");
    assert_eq!(metrics["status"], 200);
}

#[tokio::test]
async fn logs_a_handler_panic_with_the_request_id() {
    let (out, guard, _d) = capture(LogFormat::Text);
    // The ops-kit panic hook is global; in this test, log like it does.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(target: "ops_kit::panic", "[PANIC] {info}");
    }));
    send(
        Request::get("/panic")
            .header("x-request-id", "p-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    std::panic::set_hook(previous);
    let lines = out.lines(&guard);
    let panic_line = lines.iter().find(|l| l.starts_with("[PANIC]")).unwrap();
    assert!(panic_line.contains("boom in handler"), "{panic_line}");
    assert!(panic_line.ends_with(" requestId=p-1"), "{panic_line}");
}

#[tokio::test]
async fn a_traceparent_adds_its_trace_id_to_the_metrics_line_and_none_is_invented() {
    let (out, guard, _d) = capture(LogFormat::Text);
    send(
        Request::get("/leads/7")
            .header("x-request-id", "t-1")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    for traceparent in [None, Some("00-garbage")] {
        let mut req = Request::get("/leads/8").header("x-request-id", "t-2");
        if let Some(value) = traceparent {
            req = req.header("traceparent", value);
        }
        send(req.body(Body::empty()).unwrap()).await;
    }
    let all = out.lines(&guard);
    let lines: Vec<String> = all
        .iter()
        .filter(|l| l.starts_with("[METRICS]"))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 3, "{all:?}");
    assert!(
        lines[0].ends_with("route=/leads/{id} traceId=4bf92f3577b34da6a3ce929d0e0e4736"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1..].iter().all(|l| !l.contains("traceId")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn code_reading_the_header_never_sees_a_clients_unsafe_id() {
    let router = App::new("test", "0.0.0")
        .router(Router::new().route(
            "/header",
            get(|headers: http::HeaderMap, id: RequestId| async move {
                let header = headers
                    .get("x-request-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                format!("{header:?} {id}")
            }),
        ))
        .into_router();
    let forged = Request::get("/header")
        .header("x-request-id", "evil id")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(forged).await.unwrap();
    let id = id_of(&response);
    assert_eq!(text_of(response).await, format!("Some({id:?}) {id}"));

    let twice = Request::get("/header")
        .header("x-request-id", "edge-0")
        .header("x-request-id", "evil\tid")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(twice).await.unwrap();
    assert_eq!(id_of(&response), "edge-0");
    assert_eq!(text_of(response).await, "Some(\"edge-0\") edge-0");

    let safe = Request::get("/header")
        .header("x-request-id", "edge-1")
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(safe).await.unwrap();
    assert_eq!(text_of(response).await, "Some(\"edge-1\") edge-1");
}

#[tokio::test]
async fn prometheus_series_are_labelled_by_the_template_of_each_route() {
    let router = app();
    for path in ["/leads/1", "/leads/2", "/ok", "/nowhere"] {
        router.clone().oneshot(get_req(path)).await.unwrap();
    }
    router
        .clone()
        .oneshot(Request::post("/leads/3").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let response = router.oneshot(get_req("/metrics")).await.unwrap();
    let text = text_of(response).await;
    for series in [
        r#"http_requests_total{method="GET",route="/leads/{id}",status="2xx"} 2"#,
        r#"http_requests_total{method="GET",route="/ok",status="2xx"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="4xx"} 1"#,
        r#"http_requests_total{method="POST",route="/leads/{id}",status="4xx"} 1"#,
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
}

/// Records the fields of every `request` span it sees.
#[derive(Clone, Default)]
struct RequestSpans(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RequestSpans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        if attrs.metadata().target() == "ops_kit::request" {
            let mut fields = Fields(String::new());
            attrs.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[tokio::test]
async fn the_request_id_is_a_field_of_the_request_span_under_any_subscriber() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = RequestSpans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _default = crate::telemetry::testing::set_default(subscriber);
    let response = send(
        Request::get("/leads/7?secret=1")
            .header("x-request-id", "span-check-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let spans = spans.0.lock().unwrap().clone();
    assert_eq!(
        spans,
        vec![r#"requestId="span-check-1" method="GET" path="/leads/7" "#.to_owned()]
    );
}

#[tokio::test]
async fn lines_logged_by_a_handler_carry_the_request_id_though_the_request_span_is_declined() {
    let (out, guard, _default) = capture(LogFormat::Text);
    // The subscriber declines the request span: nothing to enter or close.
    let span = tracing::info_span!(target: "ops_kit::request", "request", requestId = "x");
    assert!(span.is_disabled());
    let router = App::new("test", "0.0.0")
        .router(Router::new().route(
            "/warn",
            get(|| async {
                tracing::warn!(target: "crm", "slow lookup");
            }),
        ))
        .into_router();
    let response = router
        .oneshot(
            Request::get("/warn")
                .header("x-request-id", "line-check-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let lines = out.lines(&guard);
    assert!(
        lines.contains(&"[WARN] crm: slow lookup requestId=line-check-1".to_owned()),
        "{lines:?}"
    );
}
