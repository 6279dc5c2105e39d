//! The rules of signing in and registering a shop, shared by the JSON API
//! (which answers with tokens) and the console (which opens a browser
//! session): validation, the login throttle, the password check against
//! each account of the email, and the audit entries of failed sign-ins.
//! What each front end issues on success is its own.

use axum::http::StatusCode;
use ops_kit::ApiError;
use ops_kit::auth::Role;
use ops_kit::sql::{Pool, Transaction};
use uuid::Uuid;

use super::events::{self, Origin};
use super::session::{db, too_many};
use super::{input, password, store};
use crate::state::AppState;

/// The one message for every failed login: it does not say whether the
/// email exists.
pub const BAD_CREDENTIALS: &str = "invalid email or password";

/// Checks an email and password, as typed, under the login throttle, and
/// returns the account they open. The password is checked against each
/// account of the email (one per tenant, at most
/// `store::MAX_ACCOUNTS_PER_LOGIN`; only `tenant`'s when given), outside
/// any transaction: a connection is never held while argon2 runs.
///
/// Fails with 401 (wrong email or password, one message for both), 409
/// `tenant_required` (the password opens accounts in several tenants) or
/// 429 (too many attempts, with `Retry-After`).
pub async fn sign_in(
    state: &AppState,
    origin: &Origin,
    email_input: &str,
    tenant: Option<Uuid>,
    password_text: String,
) -> Result<store::UserRow, ApiError> {
    let mut invalid = Vec::new();
    let email = input::email("email", email_input, &mut invalid);
    // Failures are counted; one email's password checks take turns, so
    // that parallel guesses cannot slip past the limit. Refusals are not
    // audited: they cost nothing and would let anyone fill the trail.
    let turn = state
        .throttle
        .attempt(&email, origin.ip())
        .await
        .map_err(|wait| {
            too_many(
                "too_many_attempts",
                "too many login attempts; try again later",
                wait,
            )
        })?;
    let user = if invalid.is_empty() {
        let legacy = email_input.trim().to_lowercase();
        check(state, origin, &email, &legacy, tenant, password_text).await
    } else {
        // Not an address anyone can have registered: the same answer, in
        // the same time, as a wrong password.
        password::verify(password_text, state.dummy_hash.to_string()).await;
        events::login_failed(&state.pool, origin, None).await;
        Err(ApiError::unauthorized(BAD_CREDENTIALS))
    };
    match &user {
        Ok(_) => state.throttle.succeeded(turn).await,
        Err(err) if err.status() == StatusCode::UNAUTHORIZED => state.throttle.failed(turn).await,
        Err(_) => drop(turn),
    }
    user
}

async fn check(
    state: &AppState,
    origin: &Origin,
    email: &str,
    legacy: &str,
    tenant: Option<Uuid>,
    password_text: String,
) -> Result<store::UserRow, ApiError> {
    let accounts = accounts(&state.pool, email, legacy, tenant).await?;
    let mut matched = Vec::new();
    if accounts.is_empty() {
        // Unknown emails are checked against a real hash too, so that both
        // answers take as long.
        password::verify(password_text, state.dummy_hash.to_string()).await;
    } else {
        for user in &accounts {
            if password::verify(password_text.clone(), user.password_hash.clone()).await {
                matched.push(user);
            }
        }
    }
    match matched.as_slice() {
        [user] => Ok((*user).clone()),
        [] => {
            if accounts.is_empty() {
                events::login_failed(&state.pool, origin, None).await;
            }
            for user in &accounts {
                let account = (user.tenant_id, user.id, user.email.as_str());
                events::login_failed(&state.pool, origin, Some(account)).await;
            }
            Err(ApiError::unauthorized(BAD_CREDENTIALS))
        }
        // Whoever knows the password may learn that it opens several
        // accounts; nobody else gets this far.
        _ => Err(ApiError::conflict(
            "tenant_required",
            "this email and password sign in to several tenants; name one with tenantId",
        )),
    }
}

/// The accounts an email signs in to, with their hashes.
async fn accounts(
    pool: &Pool,
    email: &str,
    legacy: &str,
    tenant: Option<Uuid>,
) -> Result<Vec<store::UserRow>, ApiError> {
    let mut lookup = pool.begin().await.map_err(db)?;
    let logins = store::find_logins(&mut lookup, email, legacy, tenant)
        .await
        .map_err(db)?;
    lookup.rollback().await.map_err(db)?;
    let mut users = Vec::with_capacity(logins.len());
    for (tenant, user_id) in logins {
        let mut tx = pool.begin_for_tenant(tenant).await.map_err(db)?;
        let user = store::user(&mut tx, tenant, user_id).await.map_err(db)?;
        tx.rollback().await.map_err(db)?;
        users.extend(user);
    }
    Ok(users)
}

/// A new shop (tenant) and its first user, as typed.
#[derive(Clone)]
pub struct NewShop {
    /// The shop's name.
    pub tenant_name: String,
    /// The first user's name.
    pub name: String,
    /// The first user's email.
    pub email: String,
    /// The first user's password.
    pub password: String,
}

impl std::fmt::Debug for NewShop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewShop")
            .field("tenant_name", &self.tenant_name)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Creates a tenant and its first user, an admin, under the registration
/// throttle (per client address). Returns the open transaction of the new
/// tenant, for the caller to add its session to and commit, and the user.
///
/// Fails with 422 (the fields, named `tenantName`, `name`, `email`,
/// `password`) or 429.
pub async fn register(
    state: &AppState,
    origin: &Origin,
    shop: NewShop,
) -> Result<(Transaction, store::UserRow), ApiError> {
    // Counted before anything else, invalid attempts included.
    if let Some(wait) = state.throttle.register(origin.ip()).await {
        return Err(too_many(
            "too_many_registrations",
            "too many registrations from this address; try again later",
            wait,
        ));
    }
    let mut errors = Vec::new();
    let tenant_name = input::name("tenantName", &shop.tenant_name, &mut errors);
    let name = input::name("name", &shop.name, &mut errors);
    let email = input::email("email", &shop.email, &mut errors);
    input::password("password", &shop.password, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let password_hash = password::hash(shop.password).await.map_err(|e| {
        ApiError::internal_message("the password could not be hashed").with_source(e)
    })?;
    let tenant_id = Uuid::new_v4();
    let user = store::UserRow {
        tenant_id,
        id: Uuid::new_v4(),
        email,
        name,
        password_hash,
        role: Role::Admin.as_str().into(),
    };
    let mut tx = state.pool.begin_for_tenant(tenant_id).await.map_err(db)?;
    // A new tenant has no users yet, so its admin's email cannot be taken
    // there; other tenants' accounts of the same email do not count.
    if !store::create_tenant_with_admin(&mut tx, tenant_id, &tenant_name, &user)
        .await
        .map_err(db)?
    {
        return Err(ApiError::internal_message(
            "the new tenant's admin could not be stored",
        ));
    }
    Ok((tx, user))
}
