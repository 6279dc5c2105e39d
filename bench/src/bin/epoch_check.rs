//! The cost of the token epoch check, in process: the same trivial route
//! behind `AuthLayer` without the check, with it on the in-memory cache,
//! and with it on Redis (skipped when `REDIS_URL` does not answer), each
//! request carrying a valid access token. The variants alternate, round
//! after round, so that a slower period of the host slows all of them; the
//! report is the median time per request of each and its ratio to the run
//! without the check.
//!
//!   cargo run --release -p ops-kit-bench --bin epoch_check -- [rounds] [requests]
//!
//! Every user's epoch is found in the cache after the first request (the
//! common case); the database is never asked, as it is not for a cached
//! epoch in crm-app.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use ops_kit::auth::{AuthLayer, EpochStore, Principal, Role, TokenEpochs, TokenKind, Tokens};
use ops_kit::cache::Cache;
use secrecy::SecretString;
use tower::ServiceExt;
use uuid::Uuid;

/// Every user is at epoch 0, as a user who never changed is.
struct AtZero;

impl EpochStore for AtZero {
    type Error = Infallible;

    async fn epoch(&self, _: Uuid, _: Uuid) -> Result<Option<u64>, Infallible> {
        Ok(Some(0))
    }
}

fn app(tokens: &Arc<Tokens>, epochs: Option<TokenEpochs>) -> Router {
    let mut layer = AuthLayer::new(tokens.clone());
    if let Some(epochs) = epochs {
        layer = layer.check_epochs(epochs);
    }
    Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.user_id.to_string() }),
        )
        .layer(layer)
}

/// Nanoseconds per request over `n` requests, each with one of `tokens`.
async fn round(app: &Router, bearer: &[String], n: usize) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        let request = http::Request::get("/me")
            .header("authorization", &bearer[i % bearer.len()])
            .body(Body::empty())
            .expect("a request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200);
    }
    started.elapsed().as_nanos() as f64 / n as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(15);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let tokens = Arc::new(Tokens::new(
            &SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"),
            "bench",
            "bench-api",
        ));
        // 100 users of one tenant, so that the cache holds more than one key.
        let tenant = Uuid::new_v4();
        let bearer: Vec<String> = (0..100)
            .map(|_| {
                let user = Principal::new(Uuid::new_v4(), tenant, Role::Member);
                let (token, _) = tokens
                    .issue_with_epoch(TokenKind::Access, &user, Uuid::new_v4(), 0)
                    .expect("a token");
                format!("Bearer {token}")
            })
            .collect();
        let mut variants = vec![
            ("without the check", app(&tokens, None)),
            (
                "with the check, memory cache",
                app(&tokens, Some(TokenEpochs::new(Cache::memory(), AtZero))),
            ),
        ];
        let redis_url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        if let Ok(redis) = Cache::redis(&redis_url)
            && redis.ping().await.is_ok()
        {
            variants.push((
                "with the check, Redis cache",
                app(&tokens, Some(TokenEpochs::new(redis, AtZero))),
            ));
        }
        // Warm up: fill the caches and the allocator.
        for (_, app) in &variants {
            round(app, &bearer, 2_000).await;
        }
        let mut samples = vec![Vec::new(); variants.len()];
        for _ in 0..rounds {
            for (i, (name, app)) in variants.iter().enumerate() {
                // Redis costs a round trip per request: fewer of them.
                let n = if name.contains("Redis") {
                    requests / 10
                } else {
                    requests
                };
                samples[i].push(round(app, &bearer, n).await);
            }
        }
        let base = median(&mut samples[0].clone());
        println!("{rounds} rounds, {requests} requests per round (a tenth of them on Redis)");
        for (i, (name, _)) in variants.iter().enumerate() {
            let m = median(&mut samples[i]);
            println!(
                "{name:<30} median {:>9.0} ns/request  ratio {:.2}",
                m,
                m / base
            );
        }
    });
}
