//! The rules of team management: who may change whom, the last admin, and
//! the audit entry of each change. Each step takes the request's
//! transaction and the acting [`Caller`]; the routes commit and then
//! publish the new token epoch.

use ops_kit::ApiError;
use ops_kit::audit;
use ops_kit::auth::Role;
use ops_kit::sql::Transaction;
use serde_json::{Value, json};
use uuid::Uuid;

use super::store;
use crate::api::{db, now};
use crate::auth::store::UserRow;

pub use crate::api::caller::Caller;

/// Writes the entry for `action` on user `user` into `tx`. `changes` must
/// already be free of secrets; it is redacted again all the same.
pub async fn record(
    tx: &mut Transaction,
    caller: &Caller,
    action: &str,
    user: Uuid,
    changes: Option<Value>,
) -> Result<(), ApiError> {
    let mut entry = caller.entry(action, "user", user.to_string());
    entry.changes = changes.map(|mut c| {
        audit::redact(&mut c, &[]);
        c
    });
    audit::insert(tx, &entry).await.map_err(ApiError::from)
}

fn not_found() -> ApiError {
    ApiError::not_found("no such user in this tenant")
}

fn last_admin(what: &str) -> ApiError {
    ApiError::conflict(
        "last_admin",
        format!("the tenant's last admin cannot be {what}; make another user an admin first"),
    )
}

/// The stored role, which the schema limits to `admin` and `member`.
fn role_of(user: &UserRow) -> Result<Role, ApiError> {
    user.role
        .parse()
        .map_err(|e| ApiError::internal_message("a user has an unknown role").with_source(e))
}

/// A role change: the user after it, and its new token epoch when the role
/// did change (`None`: it already had that role, nothing was written).
pub async fn change_role(
    tx: &mut Transaction,
    caller: &Caller,
    id: Uuid,
    role: Role,
) -> Result<(UserRow, Option<u64>), ApiError> {
    caller.principal.require_admin()?;
    let tenant = caller.principal.tenant_id;
    // Admins first, then the user, in the same order as removal: two
    // requests never wait for each other's locks in opposite orders.
    let admins = store::admins_for_update(tx, tenant).await.map_err(db)?;
    let mut user = store::user_for_update(tx, tenant, id)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    let before = role_of(&user)?;
    if before == role {
        return Ok((user, None));
    }
    if before.is_admin() && admins <= 1 {
        return Err(last_admin("demoted"));
    }
    let at = now();
    store::set_role(tx, tenant, id, role.as_str(), at)
        .await
        .map_err(db)?;
    let epoch = bump(tx, tenant, id, at).await?;
    record(
        tx,
        caller,
        "user.role_change",
        id,
        Some(json!({ "role": role, "previousRole": before })),
    )
    .await?;
    user.role = role.as_str().to_owned();
    Ok((user, Some(epoch)))
}

/// Removes a user of the caller's tenant.
pub async fn remove(tx: &mut Transaction, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    caller.principal.require_admin()?;
    let tenant = caller.principal.tenant_id;
    let admins = store::admins_for_update(tx, tenant).await.map_err(db)?;
    let user = store::user_for_update(tx, tenant, id)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    let role = role_of(&user)?;
    if role.is_admin() && admins <= 1 {
        return Err(last_admin("removed"));
    }
    store::remove(tx, tenant, id, now()).await.map_err(db)?;
    record(
        tx,
        caller,
        "user.remove",
        id,
        Some(json!({ "email": user.email, "role": role })),
    )
    .await
}

/// Moves the user's token epoch on; the new one.
pub async fn bump(
    tx: &mut Transaction,
    tenant: Uuid,
    user: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<u64, ApiError> {
    let epoch = store::bump_epoch(tx, tenant, user, at)
        .await
        .map_err(db)?
        .ok_or_else(not_found)?;
    u64::try_from(epoch).map_err(|_| ApiError::internal_message("a user's token epoch is negative"))
}
