//! The database steps of authentication. Each takes the request's
//! transaction; every query names its tenant even where Row-Level Security
//! would filter anyway.

use chrono::{DateTime, Utc};
use ops_kit::on_backend;
use ops_kit::sql::{Backend, Transaction};
use uuid::Uuid;

/// A user as stored (with the hash, which never leaves the server).
#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    /// The user's tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub id: Uuid,
    /// Lowercased email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// `admin` or `member`.
    pub role: String,
}

impl std::fmt::Debug for UserRow {
    // The hash stays out of any log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A stored refresh token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    /// The user it was issued to.
    pub user_id: Uuid,
    /// Its login's family.
    pub family_id: Uuid,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// When it was exchanged, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The most accounts of one email that a login checks the password of.
pub const MAX_ACCOUNTS_PER_LOGIN: i64 = 10;

/// The accounts (tenant, user) an email signs in to, looked up before any
/// tenant is known: in `tenant` only when given, at most
/// [`MAX_ACCOUNTS_PER_LOGIN`], in tenant id order. `legacy` is the
/// email as it was stored before emails were NFKC-normalized (trimmed and
/// lowercased only), so that accounts created then still sign in.
pub async fn find_logins(
    tx: &mut Transaction,
    email: &str,
    legacy: &str,
    tenant: Option<Uuid>,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    let sql = match tenant {
        Some(_) => {
            "SELECT tenant_id, user_id FROM user_logins \
             WHERE email IN ($1, $2) AND tenant_id = $4 ORDER BY tenant_id, user_id LIMIT $3"
        }
        None => {
            "SELECT tenant_id, user_id FROM user_logins \
             WHERE email IN ($1, $2) ORDER BY tenant_id, user_id LIMIT $3"
        }
    };
    if tx.backend() == Backend::Postgres {
        // Row-Level Security shows a transaction without a tenant only the
        // logins of the addresses it names (emails never hold a line break:
        // control characters are refused before this).
        let forms = format!("{email}\n{legacy}");
        on_backend!(tx, conn => {
            sqlx::query("SELECT set_config('app.login_email', $1, true)")
                .bind(forms)
                .execute(&mut **conn)
                .await?;
        });
    }
    on_backend!(tx, conn => {
        let query = sqlx::query_as(sql)
            .bind(email)
            .bind(legacy)
            .bind(MAX_ACCOUNTS_PER_LOGIN);
        match tenant {
            Some(tenant) => query.bind(tenant),
            None => query,
        }
        .fetch_all(&mut **conn)
        .await
    })
}

/// Creates a tenant and its first user (an admin), with the login row.
/// `false` when the email is taken.
pub async fn create_tenant_with_admin(
    tx: &mut Transaction,
    tenant_id: Uuid,
    tenant_name: &str,
    user: &UserRow,
) -> Result<bool, sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant_id)
            .bind(tenant_name)
            .bind(Utc::now())
            .execute(&mut **conn)
            .await?;
    });
    create_user(tx, user).await
}

/// Adds a user to its tenant, with the login row. `false` when the email
/// is taken in this tenant (other tenants may hold it too: an email may
/// have one account per tenant).
pub async fn create_user(tx: &mut Transaction, user: &UserRow) -> Result<bool, sqlx::Error> {
    let taken = on_backend!(tx, conn => {
        sqlx::query(
            "INSERT INTO user_logins (email, tenant_id, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT (email, tenant_id) DO NOTHING",
        )
        .bind(&user.email)
        .bind(user.tenant_id)
        .bind(user.id)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            == 0
    });
    if taken {
        return Ok(false);
    }
    insert_user(tx, user, Utc::now()).await?;
    Ok(true)
}

/// Whether the tenant exists.
pub async fn tenant_exists(tx: &mut Transaction, tenant: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<(Uuid,)> = on_backend!(tx, conn => {
        sqlx::query_as("SELECT id FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&mut **conn)
            .await?
    });
    Ok(found.is_some())
}

/// The tenant's name, if it exists.
pub async fn tenant_name(
    tx: &mut Transaction,
    tenant: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&mut **conn)
            .await
    })
}

/// The tenant's users, by email.
pub async fn users(tx: &mut Transaction, tenant: Uuid) -> Result<Vec<UserRow>, sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query_as(
            "SELECT tenant_id, id, email, name, password_hash, role FROM users \
             WHERE tenant_id = $1 ORDER BY email, id",
        )
        .bind(tenant)
        .fetch_all(&mut **conn)
        .await
    })
}

async fn insert_user(
    tx: &mut Transaction,
    user: &UserRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "INSERT INTO users (tenant_id, id, email, name, password_hash, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(user.tenant_id)
        .bind(user.id)
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(&user.role)
        .bind(now)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// The user `id` of `tenant`, if it (still) exists.
pub async fn user(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<UserRow>, sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query_as(
            "SELECT tenant_id, id, email, name, password_hash, role FROM users \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&mut **conn)
        .await
    })
}

/// Stores a new refresh token (hashed).
pub async fn insert_refresh(
    tx: &mut Transaction,
    tenant: Uuid,
    jti: Uuid,
    user: Uuid,
    family: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "INSERT INTO refresh_tokens (tenant_id, id, user_id, family_id, token_hash, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant)
        .bind(jti)
        .bind(user)
        .bind(family)
        .bind(token_hash)
        .bind(expires_at)
        .bind(Utc::now())
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// The stored refresh token `jti`, locked for this transaction on
/// PostgreSQL (SQLite's write transaction already excludes others), so that
/// two concurrent exchanges of one token cannot both succeed.
pub async fn refresh_for_update(
    tx: &mut Transaction,
    tenant: Uuid,
    jti: Uuid,
) -> Result<Option<RefreshRow>, sqlx::Error> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT user_id, family_id, token_hash, used_at, revoked_at FROM refresh_tokens \
         WHERE tenant_id = $1 AND id = $2{lock}"
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(jti)
            .fetch_optional(&mut **conn)
            .await
    })
}

/// Marks a refresh token as exchanged.
pub async fn mark_used(tx: &mut Transaction, tenant: Uuid, jti: Uuid) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query("UPDATE refresh_tokens SET used_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(jti)
            .bind(Utc::now())
            .execute(&mut **conn)
            .await?;
    });
    Ok(())
}

/// Revokes every token of a login (reuse detected).
pub async fn revoke_family(
    tx: &mut Transaction,
    tenant: Uuid,
    family: Uuid,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $3 \
             WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant)
        .bind(family)
        .bind(Utc::now())
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// Removes the user's refresh tokens that have expired: their JWTs are
/// refused anyway, so reuse detection no longer needs them.
pub async fn purge_expired_refresh(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2 AND expires_at < $3",
        )
        .bind(tenant)
        .bind(user)
        .bind(Utc::now())
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}
