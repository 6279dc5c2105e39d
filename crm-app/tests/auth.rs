//! Registration, login, refresh rotation with reuse detection, logout and
//! the current user, on PostgreSQL and on SQLite.

mod common;

use axum::body::Body;
use common::{Harness, on_both_databases};
use http::StatusCode;
use http_body_util::BodyExt;
use ops_kit::testing::TestDb;
use serde_json::{Value, json};

/// One trusted proxy: a test names its client's address in
/// X-Forwarded-For.
const ONE_PROXY: &[(&str, &str)] = &[("TRUSTED_PROXY_HOPS", "1")];

impl Harness {
    async fn login_response(&self, email: &str, password: &str) -> http::Response<Body> {
        self.post_raw(
            "/api/auth/login",
            json!({"email": email, "password": password}),
            &[],
        )
        .await
    }

    /// POSTs `body` as the client at `ip`, with a user agent.
    async fn post_from(&self, ip: &str, path: &str, body: Value) -> http::Response<Body> {
        self.post_raw(
            path,
            body,
            &[("x-forwarded-for", ip), ("user-agent", "auth-tests/1.0")],
        )
        .await
    }
}

on_both_databases!(
    env = ONE_PROXY;
    register_creates_a_tenant_and_its_admin_and_signs_them_in,
    register_accepts_an_email_another_tenant_holds_and_refuses_invalid_fields,
    eight_correct_logins_sent_at_once_all_sign_in,
    registration_is_throttled_per_client_address_with_429_and_retry_after,
    an_admin_adding_an_address_another_tenant_holds_learns_nothing,
    an_email_with_accounts_in_two_tenants_signs_in_to_the_one_its_password_opens,
    lookalike_forms_of_an_email_sign_in_to_its_account_and_invisible_ones_are_refused,
    names_with_bidirectional_overrides_are_refused,
    an_account_stored_before_emails_were_nfkc_normalized_still_signs_in,
    sign_ins_their_failures_refresh_reuse_and_sign_outs_are_audited_without_secrets,
    a_failed_sign_in_for_an_unknown_email_is_audited_without_a_tenant_or_what_was_typed,
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
    let h = Harness::start_with(db, &[ONE_PROXY[0], ("BYPASS_AUTH", "true")]).await;
    let (status, me) = h.call("GET", "/api/auth/me", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "admin@cutlist.pro");
    let (status, _) = h.call("GET", "/api/auth/me", Some("garbage"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.finish().await;

    let h = Harness::start_with(TestDb::sqlite().await, ONE_PROXY).await;
    let (status, _) = h.call("GET", "/api/auth/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.finish().await;
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

async fn register_accepts_an_email_another_tenant_holds_and_refuses_invalid_fields(h: &Harness) {
    let first = h.register("ada@example.com").await;
    // A new tenant's admin may use an address another tenant holds: the
    // answer says nothing about other tenants.
    let (status, body) = h
        .post_anonymous(
            "/api/auth/register",
            json!({"tenantName": "Other", "name": "Ada", "email": "ADA@example.com", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["user"]["tenantId"], first["user"]["tenantId"]);
    let (status, body) = h
        .post_anonymous(
            "/api/auth/register",
            json!({"tenantName": "", "name": "Eve", "email": "not-an-email", "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = common::fields(&body);
    assert_eq!(fields, ["tenantName", "email", "password"]);
}

async fn eight_correct_logins_sent_at_once_all_sign_in(h: &Harness) {
    h.register("ada@example.com").await;
    let logins = (0..8).map(|_| h.login_response("ada@example.com", "dovetail-joint"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(logins)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(statuses, [StatusCode::OK; 8]);
}

async fn registration_is_throttled_per_client_address_with_429_and_retry_after(h: &Harness) {
    // Invalid attempts count too: they probe as well.
    for i in 0..10 {
        let body = if i % 2 == 0 {
            json!({"tenantName": "Shop", "name": "Ada", "email": format!("ada{i}@example.com"), "password": "dovetail-joint"})
        } else {
            json!({"tenantName": "Shop", "name": "Ada", "email": "nope", "password": "dovetail-joint"})
        };
        let response = h
            .post_from("198.51.100.20", "/api/auth/register", body)
            .await;
        assert_ne!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "attempt {i}"
        );
    }
    let response = h
        .post_from(
            "198.51.100.20",
            "/api/auth/register",
            json!({"tenantName": "Shop", "name": "Ada", "email": "ada99@example.com", "password": "dovetail-joint"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 15 * 60 && retry_after <= 60 * 60);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "too_many_registrations");
    assert!(body["requestId"].is_string());
    // Nothing was created past the limit, and another address may register.
    let (status, _) = h.login("ada99@example.com", "dovetail-joint").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = h
        .post_from(
            "198.51.100.21",
            "/api/auth/register",
            json!({"tenantName": "Shop", "name": "Bea", "email": "bea@example.com", "password": "dovetail-joint"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn an_admin_adding_an_address_another_tenant_holds_learns_nothing(h: &Harness) {
    h.register("ada@example.com").await;
    let b = h.register("bea@example.com").await;
    let token = b["accessToken"].as_str();
    let (status, added) = h
        .call("POST", "/api/users", token, Some(json!({"email": "Ada@Example.com", "name": "Ada B", "password": "router-table", "role": "member"})))
        .await;
    // The same answer as for an address nobody holds.
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["tenantId"], b["user"]["tenantId"]);
    let (status, fresh) = h
        .call("POST", "/api/users", token, Some(json!({"email": "nobody@example.com", "name": "N", "password": "router-table", "role": "member"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        added.as_object().unwrap().keys().collect::<Vec<_>>(),
        fresh.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    // Only this tenant's own users make an address taken.
    let (status, body) = h
        .call("POST", "/api/users", token, Some(json!({"email": "ada@example.com", "name": "Again", "password": "router-table", "role": "member"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "a user of this tenant already has this email"
    );
}

async fn an_email_with_accounts_in_two_tenants_signs_in_to_the_one_its_password_opens(h: &Harness) {
    let a = h.register("ada@example.com").await;
    let b = h.register("bea@example.com").await;
    let (status, _) = h
        .call("POST", "/api/users", b["accessToken"].as_str(), Some(json!({"email": "ada@example.com", "name": "Ada B", "password": "router-table", "role": "member"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, in_a) = h.login("ada@example.com", "dovetail-joint").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(in_a["user"]["tenantId"], a["user"]["tenantId"]);
    let (status, in_b) = h.login("ada@example.com", "router-table").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(in_b["user"]["tenantId"], b["user"]["tenantId"]);
    assert_eq!(in_b["user"]["role"], "member");
    // Naming the tenant restricts the check to its account.
    let (status, _) = h
        .post_anonymous(
            "/api/auth/login",
            json!({"email": "ada@example.com", "password": "router-table", "tenantId": a["user"]["tenantId"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // One password for both accounts: the client must say which.
    let c = h.register("cy@example.com").await;
    let (status, _) = h
        .call("POST", "/api/users", c["accessToken"].as_str(), Some(json!({"email": "ada@example.com", "name": "Ada C", "password": "dovetail-joint", "role": "member"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = h.login("ada@example.com", "dovetail-joint").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "tenant_required");
    let (status, in_c) = h
        .post_anonymous(
            "/api/auth/login",
            json!({"email": "ada@example.com", "password": "dovetail-joint", "tenantId": c["user"]["tenantId"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(in_c["user"]["tenantId"], c["user"]["tenantId"]);
}

async fn lookalike_forms_of_an_email_sign_in_to_its_account_and_invisible_ones_are_refused(
    h: &Harness,
) {
    let session = h.register("ada@example.com").await;
    for form in [
        "ADA@EXAMPLE.COM",
        "\u{FF21}da@example.com",
        " ada@ｅxample.com ",
    ] {
        let (status, body) = h.login(form, "dovetail-joint").await;
        assert_eq!(status, StatusCode::OK, "{form:?}");
        assert_eq!(body["user"]["id"], session["user"]["id"]);
    }
    for lookalike in [
        "ada\u{200B}@example.com",
        "\u{202E}ada@example.com",
        "ada@example.com\u{FEFF}",
        "ada\u{2066}@example.com",
    ] {
        let (status, body) = h
            .post_anonymous(
                "/api/auth/register",
                json!({"tenantName": "Shop", "name": "Eve", "email": lookalike, "password": "dovetail-joint"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{lookalike:?}");
        assert_eq!(body["details"][0]["field"], "email");
        let (status, _) = h
            .call("POST", "/api/users", session["accessToken"].as_str(), Some(json!({"email": lookalike, "name": "Eve", "password": "router-table", "role": "member"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{lookalike:?}");
    }
}

async fn an_account_stored_before_emails_were_nfkc_normalized_still_signs_in(h: &Harness) {
    let session = h.register("ada@example.com").await;
    // As it was stored when emails were only trimmed and lowercased.
    let old_form = "\u{FF41}da@example.com";
    let mut tx = h.db.pool.begin().await.unwrap();
    ops_kit::on_backend!(&mut tx, conn => {
        for table in ["users", "user_logins"] {
            sqlx::query(&format!("UPDATE {table} SET email = $1 WHERE email = 'ada@example.com'"))
                .bind(old_form)
                .execute(&mut **conn)
                .await
                .unwrap();
        }
    });
    tx.commit().await.unwrap();
    let (status, body) = h.login(old_form, "dovetail-joint").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], session["user"]["id"]);
}

async fn names_with_bidirectional_overrides_are_refused(h: &Harness) {
    let (status, body) = h
        .post_anonymous(
            "/api/auth/register",
            json!({"tenantName": "Shop \u{202E}emoh", "name": "\u{2067}Ada", "email": "ada@example.com", "password": "dovetail-joint"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = common::fields(&body);
    assert_eq!(fields, ["tenantName", "name"]);
    // Right-to-left names, with their marks and joiners, are welcome.
    let (status, body) = h
        .post_anonymous(
            "/api/auth/register",
            json!({"tenantName": "\u{05E0}\u{05D2}\u{05E8}\u{05D5}\u{05EA}\u{200F} Ltd", "name": "\u{0645}\u{06CC}\u{200C}\u{0634}\u{0648}\u{062F}", "email": "ada@example.com", "password": "dovetail-joint"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The tenant's audit entries, oldest first, as its admin reads them.
async fn audit_entries(h: &Harness, admin_token: &str) -> Vec<Value> {
    let (status, page) = h
        .call("GET", "/api/audit-logs?limit=100", Some(admin_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut entries = page["data"].as_array().unwrap().clone();
    entries.reverse();
    entries
}

async fn sign_ins_their_failures_refresh_reuse_and_sign_outs_are_audited_without_secrets(
    h: &Harness,
) {
    let registered = h.register("ada@example.com").await;
    let tenant = registered["user"]["tenantId"].clone();
    let user = registered["user"]["id"].clone();
    let login = json!({"email": "ada@example.com", "password": "dovetail-joint"});
    let response = h.post_from("203.0.113.40", "/api/auth/login", login).await;
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let session: Value = serde_json::from_slice(&body).unwrap();
    let wrong = json!({"email": "ada@example.com", "password": "mortise-tenon"});
    let response = h.post_from("203.0.113.41", "/api/auth/login", wrong).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A refresh token exchanged twice: the second is a reuse.
    let refresh = json!({"refreshToken": session["refreshToken"]});
    let response = h
        .post_from("203.0.113.42", "/api/auth/refresh", refresh.clone())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let rotated: Value = serde_json::from_slice(&body).unwrap();
    let response = h
        .post_from("203.0.113.43", "/api/auth/refresh", refresh)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let second = h.login_response("ada@example.com", "dovetail-joint").await;
    let body = second.into_body().collect().await.unwrap().to_bytes();
    let second: Value = serde_json::from_slice(&body).unwrap();
    let logout = json!({"refreshToken": second["refreshToken"]});
    let response = h
        .post_from("203.0.113.44", "/api/auth/logout", logout)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let entries = audit_entries(h, second["accessToken"].as_str().unwrap()).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "auth.login",
            "auth.login_failed",
            "auth.refresh_reuse",
            "auth.login",
            "auth.logout"
        ]
    );
    for entry in &entries {
        assert_eq!(entry["tenantId"], tenant, "{entry}");
        assert!(entry["requestId"].is_string(), "{entry}");
    }
    let (ok, failed, reuse, logout) = (&entries[0], &entries[1], &entries[2], &entries[4]);
    assert_eq!(ok["userId"], user);
    assert_eq!(ok["ipAddress"], "203.0.113.40");
    assert_eq!(ok["userAgent"], "auth-tests/1.0");
    assert_eq!(ok["requestId"], request_id.as_str());
    assert_eq!(ok["resourceType"], "session");
    // The actor of a failed sign-in is unknown; the account tried is named.
    assert!(failed["userId"].is_null());
    assert_eq!(failed["resourceType"], "user");
    assert_eq!(failed["resourceId"], user);
    assert_eq!(failed["ipAddress"], "203.0.113.41");
    assert_eq!(failed["changes"]["reason"], "wrong_password");
    assert_eq!(reuse["userId"], user);
    assert_eq!(reuse["ipAddress"], "203.0.113.43");
    assert_eq!(
        reuse["resourceId"], ok["resourceId"],
        "the reused login's family"
    );
    assert_eq!(logout["userId"], user);
    assert_eq!(logout["ipAddress"], "203.0.113.44");
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [
        "dovetail-joint",
        "mortise-tenon",
        session["refreshToken"].as_str().unwrap(),
        rotated["refreshToken"].as_str().unwrap(),
        second["refreshToken"].as_str().unwrap(),
        session["accessToken"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "a secret reached the audit trail");
    }
}

/// `changes` as text, action, client address, user agent.
type AnonymousRow = (Option<String>, String, Option<String>, Option<String>);

async fn a_failed_sign_in_for_an_unknown_email_is_audited_without_a_tenant_or_what_was_typed(
    h: &Harness,
) {
    let typed = json!({"email": "hunter2-typed-here@example.com", "password": "mortise-tenon"});
    let response = h.post_from("203.0.113.50", "/api/auth/login", typed).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Read as the database's owner: no tenant's admin sees this entry.
    let mut tx = h.db.pool.begin().await.unwrap();
    let rows: Vec<AnonymousRow> = ops_kit::on_backend!(&mut tx, conn => {
        sqlx::query_as(
            "SELECT CAST(changes AS TEXT), action, ip_address, user_agent FROM audit_logs WHERE tenant_key = ''",
        )
        .fetch_all(&mut **conn)
        .await
        .unwrap()
    });
    drop(tx);
    assert_eq!(rows.len(), 1);
    let (changes, action, ip, agent) = &rows[0];
    assert_eq!(action, "auth.login_failed");
    assert_eq!(ip.as_deref(), Some("203.0.113.50"));
    assert_eq!(agent.as_deref(), Some("auth-tests/1.0"));
    let changes = changes.as_deref().unwrap();
    assert!(changes.contains("unknown_account"), "{changes}");
    assert!(
        !changes.contains("hunter2") && !changes.contains("mortise"),
        "{changes}"
    );
}

async fn login_answers_one_message_for_a_wrong_email_or_password(h: &Harness) {
    h.register("ada@example.com").await;
    let (status, session) = h.login("ada@example.com", "dovetail-joint").await;
    assert_eq!(status, StatusCode::OK);
    assert!(session["accessToken"].is_string() && session["refreshToken"].is_string());
    let (wrong_password, a) = h.login("ada@example.com", "mortise-tenon").await;
    let (unknown_email, b) = h.login("nobody@example.com", "mortise-tenon").await;
    assert_eq!(wrong_password, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_email, StatusCode::UNAUTHORIZED);
    assert_eq!(a["error"], "invalid email or password");
    assert_eq!(a["error"], b["error"]);
}

async fn refresh_rotates_and_a_reused_token_revokes_the_whole_login(h: &Harness) {
    let first = h.register("ada@example.com").await;
    let (status, second) = h.refresh(&first["refreshToken"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    // The first token has been used: presenting it again is a theft signal…
    let (status, _) = h.refresh(&first["refreshToken"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // …so the whole login is revoked, including the token issued since.
    let (status, _) = h.refresh(&second["refreshToken"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another login is unaffected.
    let (status, other) = h.login("ada@example.com", "dovetail-joint").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.refresh(&other["refreshToken"]).await;
    assert_eq!(status, StatusCode::OK);
}

async fn logout_revokes_the_refresh_token(h: &Harness) {
    let session = h.register("ada@example.com").await;
    let (status, _) = h.logout(&session["refreshToken"]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.refresh(&session["refreshToken"]).await;
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

    let (status, session) = h.login("joe@example.com", "router-table").await;
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
    let (status, session) = h.login("admin@cutlist.pro", "admin123").await;
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
    let (status, _) = h.refresh(&session["accessToken"]).await;
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

    let (status, _) = h.login("ada@example.com", "dovetail-joint").await;
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
    let (_, second) = h.refresh(&first["refreshToken"]).await;
    // Logging out with the older (already exchanged) token still ends the login.
    let (status, _) = h.logout(&first["refreshToken"]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.refresh(&second["refreshToken"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
