//! Schema migrations: ops-kit's audit and browser-session tables, then the
//! CRM's own.

use ops_kit::sql::Pool;

/// Applies every pending migration.
pub async fn run(pool: &Pool) -> Result<(), sqlx::migrate::MigrateError> {
    ops_kit::audit::migrate(pool).await?;
    ops_kit::web::migrate(pool).await?;
    match pool {
        Pool::Postgres(pool) => {
            let mut migrator = sqlx::migrate!("./migrations/postgres");
            // ops-kit's migrations share the history table.
            migrator.set_ignore_missing(true);
            migrator.run(pool).await
        }
        Pool::Sqlite(pool) => {
            let mut migrator = sqlx::migrate!("./migrations/sqlite");
            migrator.set_ignore_missing(true);
            migrator.run(pool).await
        }
    }
}
