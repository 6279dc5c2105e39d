//! Team management and token revocation, on PostgreSQL and on SQLite:
//! typed claims, role changes, removal, password changes, the last-admin
//! rule, their audit entries, and the token epochs that make each change
//! take effect on tokens already issued.

mod common;

use common::{App, Harness, User, on_both_databases};
use http::StatusCode;
use ops_kit::testing::TestDb;
use serde_json::{Value, json};

impl App {
    async fn me(&self, token: &str) -> StatusCode {
        self.call("GET", "/api/auth/me", Some(token), None).await.0
    }

    async fn set_role(&self, admin: &User, id: &str, role: &str) -> (StatusCode, Value) {
        self.call(
            "PATCH",
            &format!("/api/users/{id}"),
            Some(&admin.access),
            Some(json!({"role": role})),
        )
        .await
    }

    async fn remove(&self, admin: &User, id: &str) -> (StatusCode, Value) {
        self.call(
            "DELETE",
            &format!("/api/users/{id}"),
            Some(&admin.access),
            None,
        )
        .await
    }
}

on_both_databases!(
    a_token_claiming_a_role_that_does_not_exist_is_refused,
    a_token_dated_in_the_future_is_refused,
    a_demoted_admins_token_loses_admin_rights_at_once,
    a_promoted_members_refresh_brings_the_admin_role,
    a_removed_users_access_and_refresh_tokens_are_refused_at_once,
    a_removed_users_leads_are_left_unassigned_and_their_email_is_free_again,
    changing_a_password_needs_the_current_one_and_ends_every_other_login,
    wrong_current_passwords_are_throttled_like_failed_logins,
    the_last_admin_can_be_neither_demoted_nor_removed,
    two_admins_demoting_each_other_at_once_leave_one_admin,
    a_member_may_not_change_roles_or_remove_users,
    another_tenants_user_is_not_found,
    a_role_change_refuses_input_that_is_not_a_role,
    team_changes_are_audited_with_the_request_and_never_a_password,
);

/// Signs `claims` with the service's own secret: what a holder of the key
/// (or a bug) could mint, so that only the claims' checks stand in the way.
fn forge(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(common::JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// The claims of `token`, unverified.
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn a_token_claiming_a_role_that_does_not_exist_is_refused(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let mut claims = claims_of(&ada.access);
    // The same claims are accepted as issued…
    assert_eq!(h.me(&forge(&claims)).await, StatusCode::OK);
    for role in ["superadmin", "Admin", "", "owner"] {
        claims["role"] = role.into();
        let (status, body) = h
            .call("GET", "/api/auth/me", Some(&forge(&claims)), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "role {role:?}");
        assert_eq!(body["error"], "invalid or expired token");
    }
}

async fn a_token_dated_in_the_future_is_refused(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let claims = claims_of(&ada.access);
    let now = claims["iat"].as_u64().unwrap();
    let mut not_before = claims.clone();
    not_before["nbf"] = (now + 3600).into();
    assert_eq!(h.me(&forge(&not_before)).await, StatusCode::UNAUTHORIZED);
    let mut issued_later = claims.clone();
    issued_later["iat"] = (now + 3600).into();
    assert_eq!(h.me(&forge(&issued_later)).await, StatusCode::UNAUTHORIZED);
    // Within the documented 30 s of clock skew, both are accepted.
    let mut skewed = claims;
    skewed["nbf"] = (now + 5).into();
    skewed["iat"] = (now + 5).into();
    assert_eq!(h.me(&forge(&skewed)).await, StatusCode::OK);
}

async fn a_demoted_admins_token_loses_admin_rights_at_once(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "admin").await;
    let new_user = |email: &str| json!({"email": email, "name": "N", "password": "long enough", "role": "member"});
    let (status, _) = h
        .call(
            "POST",
            "/api/users",
            Some(&joe.access),
            Some(new_user("n1@example.com")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = h.set_role(&ada, &joe.id, "member").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "member");
    // The token Joe holds still says admin: it is refused outright.
    let (status, _) = h
        .call(
            "POST",
            "/api/users",
            Some(&joe.access),
            Some(new_user("n2@example.com")),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.me(&joe.access).await, StatusCode::UNAUTHORIZED);
    // A refresh gives him tokens with his new role.
    let (status, session) = h.refresh(&joe.refresh).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["user"]["role"], "member");
    let joe = User::from_session(&session);
    assert_eq!(claims_of(&joe.access)["role"], "member");
    let (status, _) = h
        .call(
            "POST",
            "/api/users",
            Some(&joe.access),
            Some(new_user("n3@example.com")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Ada's own token is untouched.
    assert_eq!(h.me(&ada.access).await, StatusCode::OK);
}

async fn a_promoted_members_refresh_brings_the_admin_role(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    let (status, _) = h.set_role(&ada, &joe.id, "admin").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.me(&joe.access).await, StatusCode::UNAUTHORIZED);
    let (status, session) = h.refresh(&joe.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let joe = User::from_session(&session);
    let (status, _) = h.remove(&joe, &ada.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Setting the role a user already has changes nothing, tokens included.
    let (status, body) = h.set_role(&joe, &joe.id, "admin").await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("admin"))
    );
    assert_eq!(h.me(&joe.access).await, StatusCode::OK);
}

async fn a_removed_users_access_and_refresh_tokens_are_refused_at_once(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    assert_eq!(h.me(&joe.access).await, StatusCode::OK);
    let (status, body) = h.remove(&ada, &joe.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = h
        .call("GET", "/api/crm/leads", Some(&joe.access), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid or expired token");
    assert!(body["requestId"].is_string());
    assert_eq!(h.refresh(&joe.refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.login("joe@example.com", "router-table").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = h.call("GET", "/api/users", Some(&ada.access), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // Removing again: there is no such user any more.
    assert_eq!(h.remove(&ada, &joe.id).await.0, StatusCode::NOT_FOUND);
}

async fn a_removed_users_leads_are_left_unassigned_and_their_email_is_free_again(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    let (status, lead) = h
        .call(
            "POST",
            "/api/crm/leads",
            Some(&ada.access),
            Some(json!({"name": "Ana Ruiz", "ownerUserId": joe.id})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    let (status, body) = h.remove(&ada, &joe.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let id = lead["id"].as_str().unwrap();
    let (_, after) = h
        .call(
            "GET",
            &format!("/api/crm/leads/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(after["ownerUserId"], Value::Null);
    assert_eq!(after["version"], lead["version"].as_i64().unwrap() + 1);
    // The email can be given to a new user.
    let again = h.add(&ada, "joe@example.com", "member").await;
    assert_ne!(again.id, joe.id);
    assert_eq!(h.me(&again.access).await, StatusCode::OK);
}

async fn changing_a_password_needs_the_current_one_and_ends_every_other_login(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    let (_, phone) = h.login("joe@example.com", "router-table").await;
    let phone = User::from_session(&phone);
    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});

    let (status, body) = h
        .call(
            "POST",
            "/api/auth/password",
            Some(&joe.access),
            Some(change("wrong-password", "mortise-and-tenon")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = h
        .call(
            "POST",
            "/api/auth/password",
            Some(&joe.access),
            Some(change("router-table", "short")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["details"][0]["field"], "newPassword");
    let (status, body) = h
        .call(
            "POST",
            "/api/auth/password",
            Some(&joe.access),
            Some(change("router-table", "router-table")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        h.call(
            "POST",
            "/api/auth/password",
            None,
            Some(change("router-table", "mortise-and-tenon"))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // Nothing has changed so far.
    assert_eq!(h.me(&phone.access).await, StatusCode::OK);

    let (status, body) = h
        .call(
            "POST",
            "/api/auth/password",
            Some(&joe.access),
            Some(change("router-table", "mortise-and-tenon")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = User::from_session(&body);
    // Every earlier token of Joe's, on every device, is refused…
    for old in [&joe, &phone] {
        assert_eq!(h.me(&old.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(h.refresh(&old.refresh).await.0, StatusCode::UNAUTHORIZED);
    }
    // …while the device that made the change has a new session…
    assert_eq!(h.me(&fresh.access).await, StatusCode::OK);
    assert_eq!(h.refresh(&fresh.refresh).await.0, StatusCode::OK);
    // …other users are untouched, and only the new password signs in.
    assert_eq!(h.me(&ada.access).await, StatusCode::OK);
    assert_eq!(
        h.login("joe@example.com", "router-table").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.login("joe@example.com", "mortise-and-tenon").await.0,
        StatusCode::OK
    );
}

async fn wrong_current_passwords_are_throttled_like_failed_logins(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    let change =
        |current: &str| json!({"currentPassword": current, "newPassword": "mortise-and-tenon"});
    for _ in 0..5 {
        let (status, body) = h
            .call(
                "POST",
                "/api/auth/password",
                Some(&joe.access),
                Some(change("wrong-password")),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    // Past the limit even the right password is not checked.
    let (status, body) = h
        .call(
            "POST",
            "/api/auth/password",
            Some(&joe.access),
            Some(change("router-table")),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_attempts");
    assert!(
        body["retryAfterSeconds"].as_u64().is_some_and(|s| s > 0),
        "{body}"
    );
    // The same count guards the login.
    let (status, _) = h
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "joe@example.com", "password": "router-table"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Nothing changed: the old password is still the password.
    assert_eq!(h.me(&joe.access).await, StatusCode::OK);
}

async fn the_last_admin_can_be_neither_demoted_nor_removed(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    let (status, body) = h.set_role(&ada, &ada.id, "member").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "last_admin");
    assert!(body["error"].as_str().unwrap().contains("last admin"));
    let (status, body) = h.remove(&ada, &ada.id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_admin"))
    );
    // Nothing changed: Ada is still an admin with a working token.
    assert_eq!(h.me(&ada.access).await, StatusCode::OK);
    // With a second admin, the first may step down.
    assert_eq!(h.set_role(&ada, &joe.id, "admin").await.0, StatusCode::OK);
    let (status, body) = h.set_role(&ada, &ada.id, "member").await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("member"))
    );
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "admin").await;
    let (a, b) = tokio::join!(
        h.set_role(&ada, &joe.id, "member"),
        h.set_role(&joe, &ada.id, "member")
    );
    let statuses = [a.0, b.0];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{a:?} {b:?}"
    );
    // The other is refused: by the rule, by the epoch check (its caller was
    // demoted first), or (SQLite, one writer at a time) as busy; never a
    // second demotion.
    assert!(
        statuses.iter().all(|s| [
            StatusCode::OK,
            StatusCode::CONFLICT,
            StatusCode::UNAUTHORIZED,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(s)),
        "{a:?} {b:?}"
    );
    // The one demoted holds a stale token now: read as the admin left.
    let admin = if a.0 == StatusCode::OK { &ada } else { &joe };
    let (_, list) = h.call("GET", "/api/users", Some(&admin.access), None).await;
    let admins = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin")
        .count();
    assert_eq!(admins, 1);
}

async fn a_member_may_not_change_roles_or_remove_users(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    let (status, body) = h.set_role(&joe, &joe.id, "admin").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(h.remove(&joe, &ada.id).await.0, StatusCode::FORBIDDEN);
    let (_, list) = h.call("GET", "/api/users", Some(&ada.access), None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(h.me(&joe.access).await, StatusCode::OK);
}

async fn another_tenants_user_is_not_found(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let bea = h.tenant("bea@example.com").await;
    assert_ne!(ada.tenant, bea.tenant);
    let (status, body) = h.set_role(&ada, &bea.id, "member").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(h.remove(&ada, &bea.id).await.0, StatusCode::NOT_FOUND);
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(h.remove(&ada, &unknown).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.me(&bea.access).await, StatusCode::OK);
}

async fn a_role_change_refuses_input_that_is_not_a_role(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    for role in ["superadmin", "Admin", ""] {
        let (status, body) = h.set_role(&ada, &joe.id, role).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{role:?}: {body}");
        assert_eq!(body["details"][0]["field"], "role");
    }
    let (status, _) = h
        .call(
            "PATCH",
            &format!("/api/users/{}", joe.id),
            Some(&ada.access),
            Some(json!({"role": "admin", "email": "x@example.com"})),
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    let (status, _) = h
        .call(
            "PATCH",
            "/api/users/not-a-uuid",
            Some(&ada.access),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(h.me(&joe.access).await, StatusCode::OK);
}

async fn team_changes_are_audited_with_the_request_and_never_a_password(h: &Harness) {
    let ada = h.tenant("ada@example.com").await;
    let joe = h.add(&ada, "joe@example.com", "member").await;
    assert_eq!(h.set_role(&ada, &joe.id, "admin").await.0, StatusCode::OK);
    let (_, session) = h.refresh(&joe.refresh).await;
    let joe_again = User::from_session(&session);
    let (status, _) = h
        .call(
            "POST",
            "/api/auth/password",
            Some(&joe_again.access),
            Some(json!({"currentPassword": "router-table", "newPassword": "mortise-and-tenon"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.remove(&ada, &joe.id).await.0, StatusCode::NO_CONTENT);

    let (status, log) = h
        .call(
            "GET",
            "/api/audit-logs?resourceType=user",
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.remove",
            "user.password_change",
            "user.role_change",
            "user.create"
        ]
    );
    for entry in entries {
        assert_eq!(entry["resourceType"], "user");
        assert_eq!(entry["resourceId"], joe.id.as_str());
        assert!(
            entry["requestId"].as_str().is_some_and(|r| !r.is_empty()),
            "{entry}"
        );
        assert!(entry["occurredAt"].is_string());
    }
    let by = |action: &str| entries.iter().find(|e| e["action"] == action).unwrap();
    assert_eq!(by("user.create")["userId"], ada.id.as_str());
    assert_eq!(
        by("user.create")["changes"],
        json!({"email": "joe@example.com", "name": "Joe", "role": "member"})
    );
    assert_eq!(by("user.create")["userAgent"], common::USER_AGENT);
    assert_eq!(
        by("user.role_change")["changes"],
        json!({"role": "admin", "previousRole": "member"})
    );
    assert_eq!(by("user.password_change")["userId"], joe.id.as_str());
    assert_eq!(by("user.password_change")["changes"], Value::Null);
    assert_eq!(
        by("user.remove")["changes"],
        json!({"email": "joe@example.com", "role": "admin"})
    );
    let text = log.to_string();
    for secret in ["router-table", "mortise-and-tenon", "argon2"] {
        assert!(!text.contains(secret), "the audit trail holds {secret}");
    }
    // The raw rows, every column, hold no password either.
    let mut raw = h.db.pool.begin().await.unwrap();
    let rows = ops_kit::on_backend!(&mut raw, conn => {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT COALESCE(CAST(changes AS TEXT), '') || COALESCE(user_agent, '') FROM audit_logs")
            .fetch_all(&mut **conn).await.unwrap();
        rows
    });
    assert!(rows.len() >= 4);
    for (row,) in rows {
        assert!(
            !row.contains("router-table") && !row.contains("mortise-and-tenon"),
            "{row}"
        );
    }
}

/// Two instances sharing one database and one Redis: a demotion on one is
/// refused by the other at once, with no wait for a cache entry to expire.
#[tokio::test]
async fn with_redis_a_change_on_one_instance_revokes_the_token_on_every_instance() {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let env = [("REDIS_URL", redis.as_str())];
    let h = Harness::start_with(TestDb::postgres().await, &env).await;
    let (one, two) = (&h.app, App::new(&h.pool, &env));
    let ada = one.tenant("ada@example.com").await;
    one.add_user(&ada, "joe@example.com", "admin").await;
    let joe = two.sign_in("joe@example.com", "router-table").await;
    // Instance two has Joe's epoch cached.
    assert_eq!(two.me(&joe.access).await, StatusCode::OK);
    let (status, _) = one.set_role(&ada, &joe.id, "member").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(two.me(&joe.access).await, StatusCode::UNAUTHORIZED);
    let (status, _) = one.remove(&ada, &joe.id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(two.refresh(&joe.refresh).await.0, StatusCode::UNAUTHORIZED);
    h.finish().await;
}

/// Without Redis each instance caches on its own: a token issued after a
/// change on another instance is still accepted at once (the cache behind
/// it defers to the database).
#[tokio::test]
async fn without_redis_a_token_newer_than_another_instances_cache_is_accepted() {
    let h = Harness::start(TestDb::sqlite().await).await;
    let (one, two) = (&h.app, App::new(&h.pool, &[]));
    let ada = one.tenant("ada@example.com").await;
    let joe = one.add(&ada, "joe@example.com", "member").await;
    assert_eq!(two.me(&joe.access).await, StatusCode::OK);
    one.set_role(&ada, &joe.id, "admin").await;
    let (status, body) = one.refresh(&joe.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let promoted = User::from_session(&body);
    let (status, _) = two
        .call("GET", "/api/users", Some(&promoted.access), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    h.finish().await;
}
