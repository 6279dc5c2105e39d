//! Fresh databases for integration tests: a new PostgreSQL database per
//! test on the local server, or a new SQLite file.

#![allow(dead_code, unreachable_pub)]

use ops_kit::sql::Pool;
use sqlx::Connection;

/// The server the tests use; override with `TEST_POSTGRES_URL`.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that is dropped when the test is done with it.
pub struct TestDb {
    pub pool: Pool,
    pub url: String,
    postgres_name: Option<String>,
}

impl TestDb {
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("ops_kit_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be running for the test suite (see .ci/run)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("TEST_POSTGRES_URL must name a database"),
        };
        Self {
            pool: Pool::connect_lazy(&url).unwrap(),
            url,
            postgres_name: Some(name),
        }
    }

    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("ops-kit-test-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/test.db", dir.display());
        Self {
            pool: Pool::connect_lazy(&url).unwrap(),
            url,
            postgres_name: None,
        }
    }

    /// Closes the pool and drops the database.
    pub async fn drop_db(self) {
        self.pool.close().await;
        if let Some(name) = self.postgres_name {
            let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                .await
                .unwrap();
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}
