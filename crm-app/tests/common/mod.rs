//! The harness every integration test of crm-app uses: the service on a
//! fresh database (PostgreSQL, connected as an ordinary role so that
//! Row-Level Security applies as in production, or SQLite), JSON requests
//! through its router, and the sign-ups and sign-ins the tests start from.
//!
//! Each file in `tests/` is its own crate and declares `mod common;`; a test
//! written once for both databases is a plain `async fn name(h: &Harness)`
//! listed in [`on_both_databases!`]. Helpers that one test file alone uses
//! live in that file, as further `impl App` or `impl Harness` blocks.

// Every test crate uses a different part of the harness.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use crm_app::config::Config;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use ops_kit::config::Env;
use ops_kit::sql::{Backend, Pool};
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The signing secret of every service the tests start.
pub(crate) const JWT_SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

/// The user agent of the requests a signed-in user sends.
pub(crate) const USER_AGENT: &str = "crm-tests/1.0";

/// The password of every tenant's first admin.
pub(crate) const ADMIN_PASSWORD: &str = "dovetail-joint";

/// The password of every user an admin adds.
pub(crate) const USER_PASSWORD: &str = "router-table";

/// A running service: its router, and the requests the tests send it.
pub(crate) struct App {
    pub(crate) router: Router,
}

/// The service on a fresh test database.
pub(crate) struct Harness {
    /// The database, with the owner's pool for the tests' own reads.
    pub(crate) db: TestDb,
    /// The pool the service uses: an ordinary role's on PostgreSQL.
    pub(crate) pool: Pool,
    pub(crate) app: App,
}

/// A response, its body read as JSON (`Null` when it is not JSON).
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// A signed-in user of a tenant: the session's tokens and who it is.
#[derive(Clone)]
pub(crate) struct User {
    pub(crate) access: String,
    pub(crate) refresh: String,
    pub(crate) id: String,
    pub(crate) tenant: String,
}

impl User {
    /// The user a session answer (register, login, refresh) signs in.
    pub(crate) fn from_session(session: &Value) -> Self {
        Self {
            access: session["accessToken"].as_str().unwrap().to_owned(),
            refresh: session["refreshToken"].as_str().unwrap().to_owned(),
            id: session["user"]["id"].as_str().unwrap().to_owned(),
            tenant: session["user"]["tenantId"].as_str().unwrap().to_owned(),
        }
    }
}

/// The `ETag` header of a response.
pub(crate) fn etag(r: &Resp) -> String {
    r.headers["etag"].to_str().unwrap().to_owned()
}

/// The fields an error's `details` name, in order.
pub(crate) fn fields(body: &Value) -> Vec<&str> {
    body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect()
}

impl Harness {
    /// The service on `db`, migrated, with the service's own grants.
    pub(crate) async fn start(db: TestDb) -> Self {
        Self::start_with(db, &[]).await
    }

    /// The service on `db` with settings `env` besides the secret.
    pub(crate) async fn start_with(db: TestDb, env: &[(&str, &str)]) -> Self {
        Self::start_as(db, &crm_app::grants::statements("{role}"), env).await
    }

    /// The service on `db`, connected on PostgreSQL as a new role given
    /// `grants` (statements naming it `{role}`); `db.pool` stays the owner's.
    pub(crate) async fn start_as(mut db: TestDb, grants: &str, env: &[(&str, &str)]) -> Self {
        crm_app::migrate::run(&db.pool).await.unwrap();
        let pool = match db.pool.backend() {
            Backend::Postgres => db.pool_as_new_role(grants).await,
            _ => db.pool.clone(),
        };
        let app = App::new(&pool, env);
        Self { db, pool, app }
    }

    /// Closes the service's pool and drops the database.
    pub(crate) async fn finish(self) {
        if self.pool.backend() == Backend::Postgres {
            self.pool.close().await;
        }
        self.db.drop_db().await;
    }
}

impl std::ops::Deref for Harness {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl App {
    /// The service on `pool`, with settings `env` besides the secret.
    pub(crate) fn new(pool: &Pool, env: &[(&str, &str)]) -> Self {
        let mut pairs = vec![("JWT_SECRET", JWT_SECRET)];
        pairs.extend_from_slice(env);
        let config = Config::load(&Env::from_pairs(pairs)).unwrap();
        Self {
            router: crm_app::build(&config, pool.clone()).into_router(),
        }
    }

    /// Sends `req` as it is.
    pub(crate) async fn oneshot(&self, req: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(req).await.unwrap()
    }

    /// POSTs `body` with `headers` and nothing else: the answer as it is.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Response<Body> {
        let mut req = Request::post(path).header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// Sends a request with `token` as its bearer, and the tests' user
    /// agent, `body` as JSON and `headers`; reads the answer.
    pub(crate) async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", USER_AGENT);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
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
        let response = self.oneshot(req).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// A request with `token` as its bearer, if any: status and body.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let r = self.request(method, path, token, body, &[]).await;
        (r.status, r.body)
    }

    /// A request as `user`.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        user: &User,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.request(method, path, Some(&user.access), body, headers)
            .await
    }

    pub(crate) async fn get(&self, path: &str, user: &User) -> Resp {
        self.send("GET", path, user, None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, user: &User, body: Value) -> Resp {
        self.send("POST", path, user, Some(body), &[]).await
    }

    pub(crate) async fn patch(&self, path: &str, user: &User, body: Value) -> Resp {
        self.send("PATCH", path, user, Some(body), &[]).await
    }

    /// POSTs `body` without a token: status and body.
    pub(crate) async fn post_anonymous(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, None, Some(body)).await
    }

    /// Registers a tenant and its admin `email`: the session answer.
    pub(crate) async fn register(&self, email: &str) -> Value {
        let (status, body) = self
            .post_anonymous(
                "/api/auth/register",
                json!({"tenantName": "Maple & Oak Cabinetry", "name": "Ada", "email": email, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Registers a tenant; its admin, signed in.
    pub(crate) async fn tenant(&self, email: &str) -> User {
        User::from_session(&self.register(email).await)
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post_anonymous(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs `email` in: the user.
    pub(crate) async fn sign_in(&self, email: &str, password: &str) -> User {
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        User::from_session(&body)
    }

    /// Exchanges a refresh token (any JSON value) for a new session.
    pub(crate) async fn refresh(&self, token: impl serde::Serialize) -> (StatusCode, Value) {
        self.post_anonymous("/api/auth/refresh", json!({"refreshToken": token}))
            .await
    }

    /// Signs out the login of a refresh token (any JSON value).
    pub(crate) async fn logout(&self, token: impl serde::Serialize) -> (StatusCode, Value) {
        self.post_anonymous("/api/auth/logout", json!({"refreshToken": token}))
            .await
    }

    /// Adds a user with `role` to the admin's tenant, not signed in.
    pub(crate) async fn add_user(&self, admin: &User, email: &str, role: &str) {
        let r = self
            .post(
                "/api/users",
                admin,
                json!({"email": email, "name": "Joe", "password": USER_PASSWORD, "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }

    /// Adds a user with `role` to the admin's tenant, and signs them in.
    pub(crate) async fn add(&self, admin: &User, email: &str, role: &str) -> User {
        self.add_user(admin, email, role).await;
        self.sign_in(email, USER_PASSWORD).await
    }

    /// Adds a member to the admin's tenant, signed in.
    pub(crate) async fn member(&self, admin: &User, email: &str) -> User {
        self.add(admin, email, "member").await
    }

    /// Creates a lead: its body.
    pub(crate) async fn lead(&self, user: &User, body: Value) -> Value {
        let r = self.post("/api/crm/leads", user, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body
    }

    /// One text field of each row of a list, sorted when `sorted`.
    pub(crate) async fn texts(
        &self,
        user: &User,
        path: &str,
        field: &str,
        sorted: bool,
    ) -> Vec<String> {
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

    /// The audit entries of the admin's tenant, newest first.
    pub(crate) async fn audit(&self, admin: &User, query: &str) -> Vec<Value> {
        let r = self.get(&format!("/api/audit-logs?{query}"), admin).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["data"].as_array().unwrap().clone()
    }
}

/// Three line items of a kitchen quote: a discounted, taxed cabinet line,
/// edge banding by the metre, and untaxed installation hours.
pub(crate) fn kitchen_lines() -> Value {
    json!([
        {"kind": "cabinet", "name": "Base cabinet 600 mm", "unit": "ea", "quantity": "4", "unitPrice": "385.00",
         "discount": {"type": "percent", "value": "10"}, "taxable": true, "taxRate": "8.25", "unitCost": "210.00"},
        {"kind": "edge_banding", "name": "Walnut edge banding", "unit": "m", "quantity": "37.5", "unitPrice": "0.4375",
         "taxable": true, "taxRate": "8.25"},
        {"kind": "installation", "name": "Installation", "unit": "hr", "quantity": "6", "unitPrice": "72.50"}
    ])
}

impl App {
    /// Creates a quote of the kitchen lines for `lead`, with `extra` fields.
    pub(crate) async fn quote(&self, user: &User, lead: &Value, extra: Value) -> Value {
        let mut body = json!({"leadId": lead["id"], "title": "Kitchen", "currency": "USD", "lineItems": kitchen_lines()});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = self.post("/api/crm/quotes", user, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body
    }

    /// POSTs a lifecycle action (`send`, `accept`, …) on `quote`.
    pub(crate) async fn act(&self, user: &User, quote: &Value, action: &str, body: Value) -> Resp {
        self.post(
            &format!("/api/crm/quotes/{}/{action}", quote["id"].as_str().unwrap()),
            user,
            body,
        )
        .await
    }
}

/// Runs each listed `async fn name(h: &Harness)` as a test on PostgreSQL
/// (`postgres::name`) and on SQLite (`sqlite::name`), each on a fresh
/// database. `env = NAME;` first starts the service with the settings of
/// the file's constant `NAME: &[(&str, &str)]`.
macro_rules! on_both_databases {
    (env = $env:ident; $($name:ident),* $(,)?) => {
        on_both_databases!(@ super::$env; $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        on_both_databases!(@ &[]; $($name),*);
    };
    (@ $env:expr; $($name:ident),*) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = ::ops_kit::testing::TestDb::postgres().await;
                    let h = $crate::common::Harness::start_with(db, $env).await;
                    super::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = ::ops_kit::testing::TestDb::sqlite().await;
                    let h = $crate::common::Harness::start_with(db, $env).await;
                    super::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;
