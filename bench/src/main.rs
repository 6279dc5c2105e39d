//! The servers of `bench/ops_overhead.sh`: the same trivial JSON route served
//! by a bare axum router (`bare`) or under the full ops-kit stack (`ops`:
//! request id, span, limits, error envelope and one `[METRICS]` line per
//! request through the lossless log writer).
//!
//! `ops-kit-bench <bare|ops> <port>`; one runtime worker, so that pinning the
//! process to one core measures one core's worth of work. The `ops` server
//! reads `LOG_FORMAT` and `LOG_LEVEL` like any ops-kit service.
//!
//! `ops-kit-bench <insert|insert-audited> <port>` serve `POST /items` on the
//! database at `DATABASE_URL` (for `bench/audit_overhead.sh`): the same
//! insert in a request transaction, without and with `#[audited]`.

mod items;

use std::process::ExitCode;

use axum::{Json, Router, routing::get};
use ops_kit::telemetry::Telemetry;
use serde_json::{Value, json};

async fn route() -> Json<Value> {
    Json(json!({ "status": "ok", "items": [1, 2, 3] }))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_default();
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the port is free");
        let router = Router::new().route("/json", get(route));
        match variant.as_str() {
            "bare" => {
                println!("listening on {}", listener.local_addr().unwrap());
                axum::serve(listener, router).await.expect("serving");
                ExitCode::SUCCESS
            }
            "ops" => {
                let _logs = Telemetry::from_env()
                    .expect("valid LOG_FORMAT and LOG_LEVEL")
                    .init()
                    .expect("one subscriber");
                ops_kit::App::new("bench", "0")
                    .router(router)
                    .serve_listener(listener)
                    .await
                    .exit_code()
            }
            "insert" | "insert-audited" => {
                let _logs = Telemetry::from_env()
                    .expect("valid LOG_FORMAT and LOG_LEVEL")
                    .init()
                    .expect("one subscriber");
                let url = std::env::var("DATABASE_URL").expect("DATABASE_URL is set");
                items::app(&url, variant == "insert-audited")
                    .serve_listener(listener)
                    .await
                    .exit_code()
            }
            _ => {
                eprintln!("usage: ops-kit-bench <bare|ops|insert|insert-audited> <port>");
                ExitCode::FAILURE
            }
        }
    })
}
