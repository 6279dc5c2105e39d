//! Development conveniences: a demo tenant and the dev admin
//! (`admin@cutlist.pro` / `admin123`). Never in production: `run` seeds
//! only in development, and the production configuration refuses the auth
//! bypass flags outright.

use ops_kit::auth::{Principal, Role};
use ops_kit::sql::Pool;
use uuid::Uuid;

use crate::auth::store::{self, UserRow};

/// The demo tenant's id (fixed, so that seeding is idempotent).
pub const DEMO_TENANT_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
/// The dev admin's id.
pub const DEV_ADMIN_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0002);
/// The dev admin's email.
pub const DEV_ADMIN_EMAIL: &str = "admin@cutlist.pro";
/// The dev admin's password (development only; shorter than real
/// passwords may be, which is why it is seeded and not registered).
pub const DEV_ADMIN_PASSWORD: &str = "admin123";

/// The principal requests act as under `BYPASS_AUTH=true` in development.
pub fn dev_admin() -> Principal {
    Principal::new(DEV_ADMIN_ID, DEMO_TENANT_ID, Role::Admin)
}

/// Creates the demo tenant and the dev admin unless they exist.
pub async fn run(pool: &Pool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut tx = pool.begin_for_tenant(DEMO_TENANT_ID).await?;
    if store::tenant_exists(&mut tx, DEMO_TENANT_ID).await? {
        return Ok(());
    }
    let admin = UserRow {
        tenant_id: DEMO_TENANT_ID,
        id: DEV_ADMIN_ID,
        email: DEV_ADMIN_EMAIL.into(),
        name: "Dev Admin".into(),
        password_hash: crate::auth::password::hash(DEV_ADMIN_PASSWORD.into()).await?,
        role: Role::Admin.as_str().into(),
    };
    store::create_tenant_with_admin(&mut tx, DEMO_TENANT_ID, "Cutlist Demo Shop", &admin).await?;
    tx.commit().await?;
    tracing::info!(
        target: "ops_kit::startup",
        "[STARTUP] Seeded the demo tenant and the dev admin {DEV_ADMIN_EMAIL} (development only)"
    );
    Ok(())
}
