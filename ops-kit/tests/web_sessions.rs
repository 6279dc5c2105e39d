//! Browser sessions on real PostgreSQL and SQLite databases: every
//! scenario runs on both.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use ops_kit::sql::Pool;
use ops_kit::testing::TestDb;
use ops_kit::web::{self, SessionConfig, Sessions};
use uuid::Uuid;

async fn both(scenario: impl AsyncFn(Pool)) {
    for db in [TestDb::postgres().await, TestDb::sqlite().await] {
        web::migrate(&db.pool).await.expect("migrate");
        scenario(db.pool.clone()).await;
        db.drop_db().await;
    }
}

fn cookie(name: &str, token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = format!("theme=dark; {name}={token}");
    headers.insert("cookie", HeaderValue::from_str(&value).unwrap());
    headers
}

async fn stored_rows(pool: &Pool) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    let n = ops_kit::on_backend!(&mut tx, conn => {
        sqlx::query_scalar("SELECT count(*) FROM browser_sessions").fetch_one(&mut **conn).await.unwrap()
    });
    tx.rollback().await.unwrap();
    n
}

#[tokio::test]
async fn a_session_is_found_by_its_cookie_and_ends_at_sign_out() {
    both(async |pool| {
        let sessions = Sessions::new(pool, SessionConfig::development());
        let (tenant, user) = (Uuid::new_v4(), Uuid::new_v4());
        let new = sessions.create(tenant, user).await.unwrap();
        let headers = cookie("session", new.token());
        let found = sessions.find(&headers).await.unwrap().expect("live");
        assert_eq!((found.tenant_id, found.user_id), (tenant, user));
        assert_eq!(found.csrf_token(), new.session.csrf_token());
        sessions.revoke(&found).await.unwrap();
        assert!(sessions.find(&headers).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn the_database_keeps_a_digest_of_the_token_not_the_token() {
    both(async |pool| {
        let sessions = Sessions::new(pool.clone(), SessionConfig::development());
        let new = sessions.create(Uuid::new_v4(), Uuid::new_v4()).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        let stored: String = ops_kit::on_backend!(&mut tx, conn => {
            sqlx::query_scalar("SELECT id_hash FROM browser_sessions").fetch_one(&mut **conn).await.unwrap()
        });
        tx.rollback().await.unwrap();
        assert_ne!(stored, new.token());
        assert_eq!(stored.len(), 64);
    })
    .await;
}

#[tokio::test]
async fn a_production_session_is_not_read_from_a_cookie_without_the_host_prefix() {
    both(async |pool| {
        let sessions = Sessions::new(pool, SessionConfig::production());
        let new = sessions
            .create(Uuid::new_v4(), Uuid::new_v4())
            .await
            .unwrap();
        assert!(
            sessions
                .find(&cookie("session", new.token()))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            sessions
                .find(&cookie("__Host-session", new.token()))
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn a_session_idle_past_its_timeout_is_refused_and_deleted() {
    both(async |pool| {
        let config = SessionConfig::development().idle_timeout(Duration::from_secs(1));
        let sessions = Sessions::new(pool.clone(), config);
        let new = sessions
            .create(Uuid::new_v4(), Uuid::new_v4())
            .await
            .unwrap();
        assert!(sessions.find_token(new.token()).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(sessions.find_token(new.token()).await.unwrap().is_none());
        assert_eq!(stored_rows(&pool).await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_session_past_its_absolute_lifetime_is_refused_however_active() {
    both(async |pool| {
        let config = SessionConfig::development().absolute_lifetime(Duration::ZERO);
        let sessions = Sessions::new(pool, config);
        let new = sessions
            .create(Uuid::new_v4(), Uuid::new_v4())
            .await
            .unwrap();
        assert!(sessions.find_token(new.token()).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_only_that_users_sessions() {
    both(async |pool| {
        let sessions = Sessions::new(pool, SessionConfig::development());
        let tenant = Uuid::new_v4();
        let (user, colleague) = (Uuid::new_v4(), Uuid::new_v4());
        let desk = sessions.create(tenant, user).await.unwrap();
        let tablet = sessions.create(tenant, user).await.unwrap();
        let other = sessions.create(tenant, colleague).await.unwrap();
        assert_eq!(sessions.revoke_user(tenant, user).await.unwrap(), 2);
        assert!(sessions.find_token(desk.token()).await.unwrap().is_none());
        assert!(sessions.find_token(tablet.token()).await.unwrap().is_none());
        assert!(sessions.find_token(other.token()).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn each_session_gets_its_own_token_and_csrf_token() {
    both(async |pool| {
        let sessions = Sessions::new(pool, SessionConfig::development());
        let (tenant, user) = (Uuid::new_v4(), Uuid::new_v4());
        let first = sessions.create(tenant, user).await.unwrap();
        let second = sessions.create(tenant, user).await.unwrap();
        assert_ne!(first.token(), second.token());
        assert_ne!(first.session.csrf_token(), second.session.csrf_token());
    })
    .await;
}
