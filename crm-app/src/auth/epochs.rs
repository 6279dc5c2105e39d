//! Where the auth layer reads a user's token epoch on a cache miss: the
//! `users` table, in a transaction scoped to the token's tenant.

use ops_kit::auth::EpochStore;
use ops_kit::sql::Pool;
use uuid::Uuid;

/// The users' token epochs, as the database holds them.
#[derive(Debug, Clone)]
pub struct UserEpochs {
    pool: Pool,
}

impl UserEpochs {
    /// Reads from `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

impl EpochStore for UserEpochs {
    type Error = sqlx::Error;

    async fn epoch(&self, tenant: Uuid, user: Uuid) -> Result<Option<u64>, sqlx::Error> {
        let mut tx = self.pool.begin_read_for_tenant(tenant).await?;
        let epoch = crate::users::store::token_epoch(&mut tx, tenant, user).await?;
        tx.end_read().await?;
        // The column is checked non-negative; a negative one would be a
        // corrupt row, which refuses the token rather than wrapping.
        Ok(epoch.and_then(|e| u64::try_from(e).ok()))
    }
}
