//! The database steps of team management: roles, removal, passwords and
//! token epochs. Each takes the request's transaction and names its tenant.

use chrono::{DateTime, Utc};
use ops_kit::on_backend;
use ops_kit::sql::{Backend, Transaction};
use uuid::Uuid;

use crate::auth::store::UserRow;

/// The user's token epoch; `None` when there is no such user.
pub async fn token_epoch(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    epoch(
        tx,
        "SELECT token_epoch FROM users WHERE tenant_id = $1 AND id = $2",
        tenant,
        user,
        None,
    )
    .await
}

/// Moves the user's token epoch on by one, so that every token issued
/// before is refused; the new epoch (`None`: no such user).
pub async fn bump_epoch(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    epoch(
        tx,
        "UPDATE users SET token_epoch = token_epoch + 1, updated_at = $3 \
         WHERE tenant_id = $1 AND id = $2 RETURNING token_epoch",
        tenant,
        user,
        Some(now),
    )
    .await
}

/// Runs `sql`, a statement on the user `user` of `tenant` (`$1`, `$2`,
/// and `$3` = `at` when given) giving its token epoch.
async fn epoch(
    tx: &mut Transaction,
    sql: &str,
    tenant: Uuid,
    user: Uuid,
    at: Option<DateTime<Utc>>,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = on_backend!(tx, conn => {
        let query = sqlx::query_as(sql).bind(tenant).bind(user);
        let query = match at {
            Some(at) => query.bind(at),
            None => query,
        };
        query.fetch_optional(&mut **conn).await?
    });
    Ok(row.map(|(epoch,)| epoch))
}

/// The user `id` of `tenant`, locked until the transaction ends on
/// PostgreSQL (SQLite's write transaction already excludes other writers).
pub async fn user_for_update(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!(
        "SELECT tenant_id, id, email, name, password_hash, role FROM users \
         WHERE tenant_id = $1 AND id = $2{}",
        lock(tx)
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut **conn)
            .await
    })
}

/// How many admins the tenant has, with their rows locked: two admins
/// demoting or removing each other at the same time take turns, and the
/// second sees the first's change.
pub async fn admins_for_update(tx: &mut Transaction, tenant: Uuid) -> Result<usize, sqlx::Error> {
    let sql = format!(
        "SELECT id FROM users WHERE tenant_id = $1 AND role = 'admin'{}",
        lock(tx)
    );
    let rows: Vec<(Uuid,)> = on_backend!(tx, conn => {
        sqlx::query_as(&sql)
            .bind(tenant)
            .fetch_all(&mut **conn)
            .await?
    });
    Ok(rows.len())
}

fn lock(tx: &Transaction) -> &'static str {
    match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

/// Gives the user `role`.
pub async fn set_role(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
    role: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query("UPDATE users SET role = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(user)
            .bind(role)
            .bind(now)
            .execute(&mut **conn)
            .await?;
    });
    Ok(())
}

/// Replaces the user's password hash if it is still `old_hash`; `false`
/// when it changed in the meantime.
pub async fn set_password_hash(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
    old_hash: &str,
    new_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let changed = on_backend!(tx, conn => {
        sqlx::query(
            "UPDATE users SET password_hash = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND password_hash = $3",
        )
        .bind(tenant)
        .bind(user)
        .bind(old_hash)
        .bind(new_hash)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
    });
    Ok(changed == 1)
}

/// Revokes every refresh token of the user, whatever its login.
pub async fn revoke_all_refresh(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_user(
        tx,
        "UPDATE refresh_tokens SET revoked_at = $3 \
         WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        tenant,
        user,
        Some(now),
    )
    .await
}

/// Removes the user: its leads and activities are left unassigned (their
/// versions move on, as any change does), its refresh tokens go with it,
/// and its email is free to be registered again.
pub async fn remove(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (sql, at) in [
        (
            "UPDATE leads SET owner_user_id = NULL, version = version + 1, updated_at = $3 \
             WHERE tenant_id = $1 AND owner_user_id = $2",
            Some(now),
        ),
        (
            "UPDATE activities SET assigned_user_id = NULL, version = version + 1, updated_at = $3 \
             WHERE tenant_id = $1 AND assigned_user_id = $2",
            Some(now),
        ),
        // refresh_tokens cascade.
        ("DELETE FROM users WHERE tenant_id = $1 AND id = $2", None),
        (
            "DELETE FROM user_logins WHERE tenant_id = $1 AND user_id = $2",
            None,
        ),
    ] {
        on_user(tx, sql, tenant, user, at).await?;
    }
    Ok(())
}

/// Runs `sql`, a statement on the user `user` of `tenant` (`$1`, `$2`,
/// and `$3` = `at` when given).
async fn on_user(
    tx: &mut Transaction,
    sql: &str,
    tenant: Uuid,
    user: Uuid,
    at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        let query = sqlx::query(sql).bind(tenant).bind(user);
        let query = match at {
            Some(at) => query.bind(at),
            None => query,
        };
        query.execute(&mut **conn).await?;
    });
    Ok(())
}
