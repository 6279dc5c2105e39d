//! Registration, login, refresh rotation with reuse detection, logout and
//! the current user, on PostgreSQL and on SQLite.

use axum::Router;
use axum::body::Body;
use crm_app::config::Config;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ops_kit::config::Env;
use ops_kit::testing::TestDb;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Harness {
    db: TestDb,
    router: Router,
}

async fn harness(db: TestDb) -> Harness {
    harness_with(db, &[]).await
}

async fn harness_with(db: TestDb, env: &[(&str, &str)]) -> Harness {
    crm_app::migrate::run(&db.pool).await.unwrap();
    let mut pairs = vec![("JWT_SECRET", "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)")];
    pairs.extend_from_slice(env);
    let config = Config::load(&Env::from_pairs(pairs)).unwrap();
    let router = crm_app::build(&config, db.pool.clone()).into_router();
    Harness { db, router }
}

impl Harness {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
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
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn login_response(&self, email: &str, password: &str) -> http::Response<Body> {
        let req = Request::post("/api/auth/login")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"email": email, "password": password}).to_string(),
            ))
            .unwrap();
        self.router.clone().oneshot(req).await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, None, Some(body)).await
    }

    async fn register(&self, email: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/auth/register",
                json!({"tenantName": "Maple & Oak Cabinetry", "name": "Ada", "email": email, "password": "dovetail-joint"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
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
    register_creates_a_tenant_and_its_admin_and_signs_them_in,
    register_refuses_a_taken_email_and_invalid_fields,
    login_answers_one_message_for_a_wrong_email_or_password,
    refresh_rotates_and_a_reused_token_revokes_the_whole_login,
    logout_revokes_the_refresh_token,
    me_needs_a_valid_access_token_and_refuses_a_refresh_token,
    repeated_failed_logins_are_refused_with_429_and_retry_after,
    an_admin_adds_users_and_a_member_may_not,
    users_of_one_tenant_never_see_another_tenants_users,
    the_development_seed_signs_in_the_dev_admin_and_is_idempotent,
    every_kind_of_bad_token_is_refused_with_the_envelope,
    a_new_session_removes_the_users_expired_refresh_tokens,
    a_stale_access_token_sent_along_does_not_block_refresh_or_login,
    logout_ends_the_whole_login,
);

#[tokio::test]
async fn bypass_auth_in_development_acts_as_the_dev_admin_only_without_a_token() {
    let db = TestDb::sqlite().await;
    crm_app::migrate::run(&db.pool).await.unwrap();
    crm_app::seed::run(&db.pool).await.unwrap();
    let h = harness_with(db, &[("BYPASS_AUTH", "true")]).await;
    let (status, me) = h.call("GET", "/api/auth/me", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "admin@cutlist.pro");
    let (status, _) = h.call("GET", "/api/auth/me", Some("garbage"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.db.drop_db().await;

    let h = harness(TestDb::sqlite().await).await;
    let (status, _) = h.call("GET", "/api/auth/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.db.drop_db().await;
}

async fn register_creates_a_tenant_and_its_admin_and_signs_them_in(h: &Harness) {
    let session = h.register("Ada@Example.com").await;
    assert_eq!(session["tokenType"], "Bearer");
    assert_eq!(session["expiresIn"], 900);
    assert_eq!(session["user"]["email"], "ada@example.com");
    assert_eq!(session["user"]["role"], "admin");
    assert!(session["user"]["tenantId"].is_string());
    let (status, me) = h
        .call("GET", "/api/auth/me", session["accessToken"].as_str(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], session["user"]["id"]);
    assert!(me.get("passwordHash").is_none());
}

async fn register_refuses_a_taken_email_and_invalid_fields(h: &Harness) {
    h.register("ada@example.com").await;
    let (status, body) = h
        .post(
            "/api/auth/register",
            json!({"tenantName": "Other", "name": "Eve", "email": "ADA@example.com", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "email_taken");
    let (status, body) = h
        .post(
            "/api/auth/register",
            json!({"tenantName": "", "name": "Eve", "email": "not-an-email", "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tenantName", "email", "password"]);
}

async fn login_answers_one_message_for_a_wrong_email_or_password(h: &Harness) {
    h.register("ada@example.com").await;
    let (status, session) = h
        .post(
            "/api/auth/login",
            json!({"email": "ada@example.com", "password": "dovetail-joint"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(session["accessToken"].is_string() && session["refreshToken"].is_string());
    let (wrong_password, a) = h
        .post(
            "/api/auth/login",
            json!({"email": "ada@example.com", "password": "mortise-tenon"}),
        )
        .await;
    let (unknown_email, b) = h
        .post(
            "/api/auth/login",
            json!({"email": "nobody@example.com", "password": "mortise-tenon"}),
        )
        .await;
    assert_eq!(wrong_password, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email, StatusCode::UNAUTHORIZED);
    assert_eq!(a["error"], "invalid email or password");
    assert_eq!(a["error"], b["error"]);
}

async fn refresh_rotates_and_a_reused_token_revokes_the_whole_login(h: &Harness) {
    let first = h.register("ada@example.com").await;
    let (status, second) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": first["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    // The first token has been used: presenting it again is a theft signal…
    let (status, _) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": first["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // …so the whole login is revoked, including the token issued since.
    let (status, _) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": second["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another login is unaffected.
    let (status, other) = h
        .post(
            "/api/auth/login",
            json!({"email": "ada@example.com", "password": "dovetail-joint"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": other["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn logout_revokes_the_refresh_token(h: &Harness) {
    let session = h.register("ada@example.com").await;
    let (status, _) = h
        .post(
            "/api/auth/logout",
            json!({"refreshToken": session["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": session["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn me_needs_a_valid_access_token_and_refuses_a_refresh_token(h: &Harness) {
    let session = h.register("ada@example.com").await;
    let (status, body) = h.call("GET", "/api/auth/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["requestId"].is_string());
    let (status, _) = h
        .call(
            "GET",
            "/api/auth/me",
            session["refreshToken"].as_str(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.call("GET", "/api/auth/me", Some("garbage"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn repeated_failed_logins_are_refused_with_429_and_retry_after(h: &Harness) {
    h.register("ada@example.com").await;
    for _ in 0..5 {
        let response = h.login_response("ada@example.com", "wrong-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the email is throttled.
    let response = h.login_response("ada@example.com", "dovetail-joint").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 15 * 60);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    assert!(body["requestId"].is_string());
}

async fn an_admin_adds_users_and_a_member_may_not(h: &Harness) {
    let admin = h.register("ada@example.com").await;
    let token = admin["accessToken"].as_str().unwrap();
    let new_user = json!({"email": "Joe@Example.com", "name": "Joe", "password": "router-table", "role": "member"});
    let (status, joe) = h
        .call("POST", "/api/users", Some(token), Some(new_user.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{joe}");
    assert_eq!(joe["email"], "joe@example.com");
    assert_eq!(joe["tenantId"], admin["user"]["tenantId"]);
    let (status, body) = h
        .call("POST", "/api/users", Some(token), Some(new_user))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "email_taken");
    let (status, body) = h
        .call("POST", "/api/users", Some(token), Some(json!({"email": "x@example.com", "name": "X", "password": "long enough", "role": "owner"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["field"], "role");

    let (status, session) = h
        .post(
            "/api/auth/login",
            json!({"email": "joe@example.com", "password": "router-table"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let member = session["accessToken"].as_str().unwrap();
    let (status, body) = h
        .call("POST", "/api/users", Some(member), Some(json!({"email": "y@example.com", "name": "Y", "password": "long enough", "role": "admin"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "forbidden");
    let (status, list) = h.call("GET", "/api/users", Some(member), None).await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@example.com", "joe@example.com"]);
}

async fn users_of_one_tenant_never_see_another_tenants_users(h: &Harness) {
    let a = h.register("ada@example.com").await;
    let b = h.register("bea@example.com").await;
    assert_ne!(a["user"]["tenantId"], b["user"]["tenantId"]);
    let (status, list) = h
        .call("GET", "/api/users", b["accessToken"].as_str(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["email"], "bea@example.com");
}

async fn the_development_seed_signs_in_the_dev_admin_and_is_idempotent(h: &Harness) {
    crm_app::seed::run(&h.db.pool).await.unwrap();
    crm_app::seed::run(&h.db.pool).await.unwrap();
    let (status, session) = h
        .post(
            "/api/auth/login",
            json!({"email": "admin@cutlist.pro", "password": "admin123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["role"], "admin");
}

async fn every_kind_of_bad_token_is_refused_with_the_envelope(h: &Harness) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
    let session = h.register("ada@example.com").await;
    let user = &session["user"];
    let claims = |typ: &str, exp: u64, iss: &str| {
        json!({
            "sub": user["id"], "tid": user["tenantId"], "role": "admin", "typ": typ,
            "jti": uuid::Uuid::new_v4(), "fam": uuid::Uuid::new_v4(),
            "iat": get_current_timestamp(), "exp": exp, "iss": iss, "aud": "crm-app-api",
        })
    };
    let sign = |claims: &Value, secret: &str| {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let secret = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";
    let now = get_current_timestamp();
    let valid = sign(&claims("access", now + 600, "crm-app"), secret);
    let (status, _) = h.call("GET", "/api/auth/me", Some(&valid), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the forged-by-us control token works"
    );

    let mut parts: Vec<&str> = valid.split('.').collect();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    parts[0] = none_header;
    let alg_none = format!("{}.{}.", parts[0], parts[1]);
    // A payload edited after signing (the role raised), signature kept.
    let tampered = {
        let segments: Vec<&str> = valid.split('.').collect();
        let forged_payload = sign(&claims("access", now + 3600, "crm-app"), secret);
        format!(
            "{}.{}.{}",
            segments[0],
            forged_payload.split('.').nth(1).unwrap(),
            segments[2]
        )
    };
    let bad = [
        (
            "expired",
            sign(&claims("access", now - 120, "crm-app"), secret),
        ),
        (
            "wrong secret",
            sign(
                &claims("access", now + 600, "crm-app"),
                "another-secret-that-is-long-enough",
            ),
        ),
        (
            "wrong issuer",
            sign(&claims("access", now + 600, "someone-else"), secret),
        ),
        (
            "refresh as access",
            session["refreshToken"].as_str().unwrap().to_owned(),
        ),
        ("alg none", alg_none),
        ("tampered", tampered),
        ("malformed", "not-a-jwt".to_owned()),
    ];
    for (what, token) in bad {
        let (status, body) = h.call("GET", "/api/auth/me", Some(&token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(body["error"], "invalid or expired token", "{what}");
        assert!(body["requestId"].is_string(), "{what}");
    }
    // And an access token is not a refresh token.
    let (status, _) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": session["accessToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_new_session_removes_the_users_expired_refresh_tokens(h: &Harness) {
    let session = h.register("ada@example.com").await;
    let tenant: uuid::Uuid = session["user"]["tenantId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let user: uuid::Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let mut tx = h.db.pool.begin_for_tenant(tenant).await.unwrap();
    let stale = uuid::Uuid::new_v4();
    crm_app::auth::store::insert_refresh(
        &mut tx,
        tenant,
        stale,
        user,
        uuid::Uuid::new_v4(),
        b"old",
        chrono::Utc::now() - chrono::Duration::days(1),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let (status, _) = h
        .post(
            "/api/auth/login",
            json!({"email": "ada@example.com", "password": "dovetail-joint"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut tx = h.db.pool.begin_for_tenant(tenant).await.unwrap();
    let left = crm_app::auth::store::refresh_for_update(&mut tx, tenant, stale)
        .await
        .unwrap();
    assert!(left.is_none(), "the expired token is gone");
}

async fn a_stale_access_token_sent_along_does_not_block_refresh_or_login(h: &Harness) {
    let session = h.register("ada@example.com").await;
    let (status, _) = h
        .call(
            "POST",
            "/api/auth/refresh",
            Some("expired.or.garbage"),
            Some(json!({"refreshToken": session["refreshToken"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .call(
            "POST",
            "/api/auth/login",
            Some("expired.or.garbage"),
            Some(json!({"email": "ada@example.com", "password": "dovetail-joint"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn logout_ends_the_whole_login(h: &Harness) {
    let first = h.register("ada@example.com").await;
    let (_, second) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": first["refreshToken"]}),
        )
        .await;
    // Logging out with the older (already exchanged) token still ends the login.
    let (status, _) = h
        .post(
            "/api/auth/logout",
            json!({"refreshToken": first["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": second["refreshToken"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
