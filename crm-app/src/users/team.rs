//! The rules of team management, for every front end: adding a user,
//! changing a role, removing a user; who may do it, the last admin, and
//! the audit entry of each change. Each step takes the request's
//! transaction and the acting [`Caller`] and answers a typed
//! [`TeamError`] when it refuses; the routes commit and then publish the
//! new token epoch.

use ops_kit::audit::{self, AuditError};
use ops_kit::auth::Role;
use ops_kit::sql::Transaction;
use ops_kit::{ApiError, FieldError};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::NewUser;
use super::store;
use crate::api::{self, Unique, now};
use crate::auth::store::{self as auth_store, UserRow};
use crate::auth::{input, password};

pub use crate::api::caller::Caller;

/// Why a team change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// The caller is not an admin.
    #[error("this action requires the admin role")]
    NotAdmin,
    /// No such user in the caller's tenant.
    #[error("no such user in this tenant")]
    NotFound,
    /// The change would leave the tenant without an admin; `what` it would
    /// have done to the last one (`demoted`, `removed`).
    #[error("the tenant's last admin cannot be {what}")]
    LastAdmin {
        /// `demoted` or `removed`.
        what: &'static str,
    },
    /// A user of the tenant already has the email.
    #[error("a user of this tenant already has this email")]
    EmailTaken,
    /// The fields, one entry per problem.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// The new password could not be hashed.
    #[error("the password could not be hashed")]
    Hashing(#[source] password_hash::Error),
    /// A stored user breaks the schema's rules (an unknown role, a negative
    /// token epoch).
    #[error("{0}")]
    Corrupt(&'static str),
    /// The database failed; a broken uniqueness rule is another request's
    /// change at the same time ([`Unique::Race`]).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Storing a new user failed: a fault whatever its kind, as adding
    /// answers a taken email itself ([`Unique::Fault`]).
    #[error("the user could not be stored")]
    Storing(#[source] sqlx::Error),
    /// The audit entry could not be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<TeamError> for ApiError {
    fn from(err: TeamError) -> Self {
        match err {
            TeamError::NotAdmin => ApiError::forbidden("this action requires the admin role"),
            TeamError::NotFound => ApiError::not_found("no such user in this tenant"),
            TeamError::LastAdmin { what } => ApiError::conflict(
                "last_admin",
                format!(
                    "the tenant's last admin cannot be {what}; make another user an admin first"
                ),
            ),
            TeamError::EmailTaken => ApiError::conflict(
                "email_taken",
                "a user of this tenant already has this email",
            ),
            TeamError::Invalid(details) => ApiError::validation(details),
            TeamError::Hashing(e) => {
                ApiError::internal_message("the password could not be hashed").with_source(e)
            }
            TeamError::Corrupt(what) => ApiError::internal_message(what),
            TeamError::Database(e) => api::database(e, Unique::Race),
            TeamError::Storing(e) => api::database(e, Unique::Fault),
            TeamError::Audit(e) => ApiError::from(e),
        }
    }
}

fn require_admin(caller: &Caller) -> Result<(), TeamError> {
    if caller.principal.is_admin() {
        Ok(())
    } else {
        Err(TeamError::NotAdmin)
    }
}

/// Writes the entry for `action` on user `user` into `tx`. `changes` must
/// already be free of secrets; it is redacted again all the same.
pub async fn record(
    tx: &mut Transaction,
    caller: &Caller,
    action: &str,
    user: Uuid,
    changes: Option<Value>,
) -> Result<(), TeamError> {
    let mut entry = caller.entry(action, "user", user.to_string());
    entry.changes = changes.map(|mut c| {
        audit::redact(&mut c, &[]);
        c
    });
    Ok(audit::record(tx, &entry).await?)
}

/// The stored role, which the schema limits to `admin` and `member`.
fn role_of(user: &UserRow) -> Result<Role, TeamError> {
    user.role
        .parse()
        .map_err(|_| TeamError::Corrupt("a user has an unknown role"))
}

/// The caller's tenant's users, by email (for everyone).
pub async fn members(tx: &mut Transaction, caller: &Caller) -> Result<Vec<UserRow>, TeamError> {
    Ok(auth_store::users(tx, caller.principal.tenant_id).await?)
}

/// A user to add: its fields checked, its password hashed.
pub struct NewMember {
    email: String,
    name: String,
    role: Role,
    password_hash: String,
}

impl std::fmt::Debug for NewMember {
    // The hash stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMember")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl NewMember {
    /// Checks `input`, every problem in one [`TeamError::Invalid`], and
    /// hashes its password. argon2 is slow on purpose: call this before
    /// taking a connection.
    pub async fn prepare(input: NewUser) -> Result<Self, TeamError> {
        let mut errors = Vec::new();
        let email = input::email("email", &input.email, &mut errors);
        let name = input::name("name", &input.name, &mut errors);
        input::password("password", &input.password, &mut errors);
        let role = input.role.parse::<Role>();
        if role.is_err() {
            errors.push(FieldError::new("role", "must be admin or member"));
        }
        let (Ok(role), true) = (role, errors.is_empty()) else {
            return Err(TeamError::Invalid(errors));
        };
        let password_hash = password::hash(input.password)
            .await
            .map_err(TeamError::Hashing)?;
        Ok(Self {
            email,
            name,
            role,
            password_hash,
        })
    }
}

/// Adds `member` to the caller's tenant (admins only), audited as
/// `user.create`.
pub async fn add(
    tx: &mut Transaction,
    caller: &Caller,
    member: NewMember,
) -> Result<UserRow, TeamError> {
    require_admin(caller)?;
    let user = UserRow {
        tenant_id: caller.principal.tenant_id,
        id: Uuid::new_v4(),
        email: member.email,
        name: member.name,
        password_hash: member.password_hash,
        role: member.role.as_str().to_owned(),
    };
    // Only this tenant's users count: an address other tenants hold gets
    // an account of its own here, so this answer says nothing about them.
    if !auth_store::create_user(tx, &user)
        .await
        .map_err(TeamError::Storing)?
    {
        return Err(TeamError::EmailTaken);
    }
    // What was asked for, as an audited handler records its body; the
    // password is not part of it.
    let changes = json!({ "email": user.email, "name": user.name, "role": member.role });
    record(tx, caller, "user.create", user.id, Some(changes)).await?;
    Ok(user)
}

/// A role change: the user after it, and its new token epoch when the role
/// did change (`None`: it already had that role, nothing was written).
pub async fn change_role(
    tx: &mut Transaction,
    caller: &Caller,
    id: Uuid,
    role: Role,
) -> Result<(UserRow, Option<u64>), TeamError> {
    require_admin(caller)?;
    let tenant = caller.principal.tenant_id;
    // Admins first, then the user, in the same order as removal: two
    // requests never wait for each other's locks in opposite orders.
    let admins = store::admins_for_update(tx, tenant).await?;
    let mut user = store::user_for_update(tx, tenant, id)
        .await?
        .ok_or(TeamError::NotFound)?;
    let before = role_of(&user)?;
    if before == role {
        return Ok((user, None));
    }
    if before.is_admin() && admins <= 1 {
        return Err(TeamError::LastAdmin { what: "demoted" });
    }
    let at = now();
    store::set_role(tx, tenant, id, role.as_str(), at).await?;
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
pub async fn remove(tx: &mut Transaction, caller: &Caller, id: Uuid) -> Result<(), TeamError> {
    require_admin(caller)?;
    let tenant = caller.principal.tenant_id;
    let admins = store::admins_for_update(tx, tenant).await?;
    let user = store::user_for_update(tx, tenant, id)
        .await?
        .ok_or(TeamError::NotFound)?;
    let role = role_of(&user)?;
    if role.is_admin() && admins <= 1 {
        return Err(TeamError::LastAdmin { what: "removed" });
    }
    store::remove(tx, tenant, id, now()).await?;
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
) -> Result<u64, TeamError> {
    let epoch = store::bump_epoch(tx, tenant, user, at)
        .await?
        .ok_or(TeamError::NotFound)?;
    u64::try_from(epoch).map_err(|_| TeamError::Corrupt("a user's token epoch is negative"))
}
