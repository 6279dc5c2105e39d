//! Fresh databases for a service's integration tests (feature `testing`).
//!
//! Each test gets its own database: a new PostgreSQL database on the
//! server at `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), or a new SQLite file in
//! the temporary directory. [`TestDb::drop_db`] removes it.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use ops_kit::testing::TestDb;
//!
//! let db = TestDb::sqlite().await;
//! db.pool.ping().await.unwrap();
//! db.drop_db().await;
//! # }
//! ```

use sqlx::Connection;

use crate::sql::Pool;

/// The PostgreSQL server the tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDb {
    /// A pool on it.
    pub pool: Pool,
    /// Its URL.
    pub url: String,
    postgres_name: Option<String>,
    roles: Vec<String>,
}

impl TestDb {
    /// A new, empty PostgreSQL database. Panics when the server cannot be
    /// reached: a test suite that needs PostgreSQL fails without it.
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be running for the test suite (scripts/test starts it)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let (server, _) = admin
            .rsplit_once('/')
            .expect("TEST_POSTGRES_URL names a database");
        let url = format!("{server}/{name}");
        Self {
            pool: Pool::connect_lazy(&url).expect("a valid URL"),
            url,
            postgres_name: Some(name),
            roles: Vec::new(),
        }
    }

    /// A new SQLite file in the temporary directory.
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("ops-kit-test-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/test.db", dir.display());
        Self {
            pool: Pool::connect_lazy(&url).expect("a valid URL"),
            url,
            postgres_name: None,
            roles: Vec::new(),
        }
    }

    /// A pool connected as a new ordinary role (`LOGIN NOSUPERUSER
    /// NOBYPASSRLS`) that has exactly `grants`: SQL statements in which
    /// `{role}` stands for the role's name. PostgreSQL only; the role is
    /// dropped by [`drop_db`](Self::drop_db).
    pub async fn pool_as_new_role(&mut self, grants: &str) -> Pool {
        let url = self.new_role(grants).await;
        Pool::connect_lazy(&url).expect("a valid URL")
    }

    /// Like [`pool_as_new_role`](Self::pool_as_new_role), but returns the
    /// role's connection URL (to hand to a process under test).
    pub async fn new_role(&mut self, grants: &str) -> String {
        let Pool::Postgres(owner) = &self.pool else {
            panic!("roles exist on PostgreSQL only");
        };
        let role = format!("test_role_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"))
            .execute(owner)
            .await
            .expect("create the role");
        sqlx::raw_sql(&grants.replace("{role}", &role))
            .execute(owner)
            .await
            .expect("grant the role its privileges");
        self.roles.push(role.clone());
        let (scheme, rest) = self.url.split_once("://").expect("a URL");
        let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{role}@{host_and_db}")
    }

    /// Closes the pool and removes the database (and the roles made by
    /// [`pool_as_new_role`](Self::pool_as_new_role)).
    pub async fn drop_db(self) {
        if let Pool::Postgres(owner) = &self.pool {
            for role in &self.roles {
                let _ = sqlx::query(&format!("DROP OWNED BY {role}"))
                    .execute(owner)
                    .await;
            }
        }
        self.pool.close().await;
        if let Some(name) = self.postgres_name {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
                for role in &self.roles {
                    let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
                        .execute(&mut conn)
                        .await;
                }
            }
        } else if let Some(path) = self.url.strip_prefix("sqlite://")
            && let Some(dir) = std::path::Path::new(path).parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
