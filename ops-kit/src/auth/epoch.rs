//! Token epochs: revoking a user's access tokens at once while verification
//! stays stateless for the common case.
//!
//! Every user has an epoch, a counter the service keeps next to the user
//! and bumps, in the same transaction, whenever the user's existing tokens
//! must stop working (removal, a role change, a password change). Tokens
//! carry the epoch they were issued at (`ver`). The [`AuthLayer`] compares
//! the two on every request: the current epoch comes from the [`Cache`]
//! (one `GET` on Redis, a map lookup in memory), and only a miss asks the
//! service's [`EpochStore`] (its database), which then fills the cache.
//!
//! [`AuthLayer`]: super::AuthLayer

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{Claims, TokenError};
use crate::ApiError;
use crate::cache::Cache;

/// How long a cached epoch is trusted by default: 30 seconds. With Redis
/// every instance sees a bump at once and this only bounds how often a
/// user's epoch is read from the database; with an in-memory cache shared
/// by nothing, it is how long another instance may still accept a token a
/// bump revoked.
///
/// # Example
///
/// ```
/// assert_eq!(ops_kit::auth::EPOCH_CACHE_TTL.as_secs(), 30);
/// ```
pub const EPOCH_CACHE_TTL: Duration = Duration::from_secs(30);

/// What the cache holds for a user that does not exist (any more).
const GONE: &str = "gone";

/// The service's record of its users' epochs, asked on a cache miss.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use ops_kit::auth::EpochStore;
/// use uuid::Uuid;
///
/// /// Users and their epochs, as a database would hold them.
/// struct Users(HashMap<(Uuid, Uuid), u64>);
///
/// impl EpochStore for Users {
///     type Error = std::convert::Infallible;
///
///     async fn epoch(&self, tenant: Uuid, user: Uuid) -> Result<Option<u64>, Self::Error> {
///         Ok(self.0.get(&(tenant, user)).copied())
///     }
/// }
/// ```
pub trait EpochStore: Send + Sync + 'static {
    /// Why the store could not answer.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The current epoch of `user` of `tenant`; `None` when there is no
    /// such user.
    fn epoch(
        &self,
        tenant: Uuid,
        user: Uuid,
    ) -> impl Future<Output = Result<Option<u64>, Self::Error>> + Send;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type EpochFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<u64>, BoxError>> + Send + 'a>>;

/// [`EpochStore`] made object-safe, so that [`TokenEpochs`] is one type
/// whatever the store.
trait DynStore: Send + Sync {
    fn epoch(&self, tenant: Uuid, user: Uuid) -> EpochFuture<'_>;
}

impl<T: EpochStore> DynStore for T {
    fn epoch(&self, tenant: Uuid, user: Uuid) -> EpochFuture<'_> {
        Box::pin(async move {
            EpochStore::epoch(self, tenant, user)
                .await
                .map_err(|e| Box::new(e) as BoxError)
        })
    }
}

/// Why an epoch check did not let a token through.
///
/// # Example
///
/// ```
/// use axum::response::IntoResponse;
/// use ops_kit::auth::EpochError;
///
/// assert_eq!(EpochError::Revoked.into_response().status(), 401);
///
/// // A store that cannot answer: 503 with `Retry-After`, like every
/// // database fault, never a pass.
/// let down = EpochError::Unavailable("connection refused".into()).into_response();
/// assert_eq!(down.status(), 503);
/// assert_eq!(down.headers()["retry-after"], "5");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EpochError {
    /// The token's epoch is not the user's current one, or the user is gone.
    #[error("the token was revoked")]
    Revoked,
    /// Neither the cache nor the store could say (answers 503: the check
    /// fails closed).
    #[error("the token epoch could not be read")]
    Unavailable(#[source] BoxError),
}

impl axum::response::IntoResponse for EpochError {
    fn into_response(self) -> axum::response::Response {
        match self {
            EpochError::Revoked => TokenError::Revoked.into_response(),
            EpochError::Unavailable(source) => {
                ApiError::unavailable("authentication is unavailable; try again")
                    .with_header(
                        http::header::RETRY_AFTER,
                        http::HeaderValue::from_static(crate::error::RETRY_UNAVAILABLE),
                    )
                    .with_source(UnavailableSource(source))
                    .into_response()
            }
        }
    }
}

/// The store's error, as a concrete type for [`ApiError::with_source`].
#[derive(Debug)]
struct UnavailableSource(BoxError);

impl fmt::Display for UnavailableSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the token epoch could not be read: {}", self.0)
    }
}

impl std::error::Error for UnavailableSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Users' current token epochs: cached, read through to an [`EpochStore`].
/// Cheap to clone. Give it to [`AuthLayer::check_epochs`] and call
/// [`publish`](Self::publish) after each committed bump.
///
/// # Rules
///
/// - A token is accepted when its `ver` equals the user's current epoch.
/// - Lower (the user was removed, changed role or password since): 401.
/// - The user does not exist: 401.
/// - Higher than the cached epoch (another instance bumped it and this
///   instance's cache is behind): the store decides, and its answer
///   replaces the cached one.
/// - The cache fails: the store is asked. The store fails too: 503.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::sync::{Arc, Mutex}; use std::collections::HashMap;
/// # use uuid::Uuid;
/// use ops_kit::auth::{EpochError, EpochStore, Principal, Role, TokenEpochs, TokenKind, Tokens};
/// use ops_kit::cache::Cache;
///
/// #[derive(Clone, Default)]
/// struct Users(Arc<Mutex<HashMap<(Uuid, Uuid), u64>>>);
/// impl EpochStore for Users {
///     type Error = std::convert::Infallible;
///     async fn epoch(&self, tenant: Uuid, user: Uuid) -> Result<Option<u64>, Self::Error> {
///         Ok(self.0.lock().unwrap().get(&(tenant, user)).copied())
///     }
/// }
///
/// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
/// let ada = Principal::new(Uuid::new_v4(), Uuid::new_v4(), Role::Admin);
/// let users = Users::default();
/// users.0.lock().unwrap().insert((ada.tenant_id, ada.user_id), 0);
/// let epochs = TokenEpochs::new(Cache::memory(), users.clone());
///
/// let (token, _) = tokens.issue_with_epoch(TokenKind::Access, &ada, Uuid::new_v4(), 0)?;
/// let claims = tokens.verify(TokenKind::Access, &token)?;
/// assert!(epochs.check(&claims).await.is_ok());
///
/// // Ada is demoted: the service bumps her epoch with the change, then publishes it.
/// users.0.lock().unwrap().insert((ada.tenant_id, ada.user_id), 1);
/// epochs.publish(ada.tenant_id, ada.user_id, Some(1)).await?;
/// assert!(matches!(epochs.check(&claims).await, Err(EpochError::Revoked)));
/// # Ok(()) }
/// ```
///
/// [`AuthLayer::check_epochs`]: super::AuthLayer::check_epochs
#[derive(Clone)]
pub struct TokenEpochs {
    cache: Cache,
    store: Arc<dyn DynStore>,
    ttl: Duration,
}

impl fmt::Debug for TokenEpochs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEpochs")
            .field("cache", &self.cache.backend())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenEpochs {
    /// Epochs cached in `cache` for [`EPOCH_CACHE_TTL`], read from `store`
    /// on a miss.
    ///
    /// # Example
    ///
    /// ```
    /// # struct Users;
    /// # impl ops_kit::auth::EpochStore for Users {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn epoch(&self, _: uuid::Uuid, _: uuid::Uuid) -> Result<Option<u64>, Self::Error> { Ok(Some(0)) }
    /// # }
    /// use ops_kit::auth::TokenEpochs;
    ///
    /// let epochs = TokenEpochs::new(ops_kit::cache::Cache::memory(), Users);
    /// # let _ = epochs;
    /// ```
    pub fn new(cache: Cache, store: impl EpochStore) -> Self {
        Self {
            cache,
            store: Arc::new(store),
            ttl: EPOCH_CACHE_TTL,
        }
    }

    /// Trusts a cached epoch for `ttl` instead.
    ///
    /// # Example
    ///
    /// ```
    /// # struct Users;
    /// # impl ops_kit::auth::EpochStore for Users {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn epoch(&self, _: uuid::Uuid, _: uuid::Uuid) -> Result<Option<u64>, Self::Error> { Ok(Some(0)) }
    /// # }
    /// use std::time::Duration;
    /// use ops_kit::auth::TokenEpochs;
    ///
    /// let epochs = TokenEpochs::new(ops_kit::cache::Cache::memory(), Users)
    ///     .with_ttl(Duration::from_secs(5));
    /// assert_eq!(epochs.ttl(), Duration::from_secs(5));
    /// ```
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a cached epoch is trusted.
    ///
    /// # Example
    ///
    /// ```
    /// # struct Users;
    /// # impl ops_kit::auth::EpochStore for Users {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn epoch(&self, _: uuid::Uuid, _: uuid::Uuid) -> Result<Option<u64>, Self::Error> { Ok(Some(0)) }
    /// # }
    /// use ops_kit::auth::{EPOCH_CACHE_TTL, TokenEpochs};
    ///
    /// let epochs = TokenEpochs::new(ops_kit::cache::Cache::memory(), Users);
    /// assert_eq!(epochs.ttl(), EPOCH_CACHE_TTL);
    /// ```
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether `claims` were issued at the user's current epoch (see the
    /// rules above).
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # struct Nobody;
    /// # impl ops_kit::auth::EpochStore for Nobody {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn epoch(&self, _: uuid::Uuid, _: uuid::Uuid) -> Result<Option<u64>, Self::Error> { Ok(None) }
    /// # }
    /// # let tokens = ops_kit::auth::Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
    /// # let gone = ops_kit::auth::Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), ops_kit::auth::Role::Member);
    /// use ops_kit::auth::{EpochError, TokenEpochs, TokenKind};
    ///
    /// let epochs = TokenEpochs::new(ops_kit::cache::Cache::memory(), Nobody);
    /// let (_, claims) = tokens.issue(TokenKind::Access, &gone, uuid::Uuid::new_v4())?;
    /// // The store knows no such user: the token is refused.
    /// assert!(matches!(epochs.check(&claims).await, Err(EpochError::Revoked)));
    /// # Ok(()) }
    /// ```
    pub async fn check(&self, claims: &Claims) -> Result<(), EpochError> {
        let key = key(claims.tid, claims.sub);
        let cached = self.cache.get(&key).await.ok().flatten();
        match cached.as_deref().map(parse) {
            Some(Some(epoch)) if epoch == claims.ver => return Ok(()),
            Some(Some(epoch)) if epoch > claims.ver => return Err(EpochError::Revoked),
            Some(None) => return Err(EpochError::Revoked),
            // A miss, or a cached epoch behind the token's.
            _ => {}
        }
        let current = self.current_from_store(claims.tid, claims.sub).await?;
        let value = encode(current);
        // A miss fills the cache only if nobody has since (a writer's
        // `publish` must win over a read made before its commit); a stale
        // entry is replaced by the store's answer, which is the truth.
        let _ = if cached.is_some() {
            self.cache.set(&key, &value, self.ttl).await.map(|_| true)
        } else {
            self.cache.set_if_absent(&key, &value, self.ttl).await
        };
        match current {
            Some(epoch) if epoch == claims.ver => Ok(()),
            _ => Err(EpochError::Revoked),
        }
    }

    /// The user's current epoch, from the cache or the store; `None` when
    /// the user does not exist.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # struct Users;
    /// # impl ops_kit::auth::EpochStore for Users {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn epoch(&self, _: uuid::Uuid, _: uuid::Uuid) -> Result<Option<u64>, Self::Error> { Ok(Some(3)) }
    /// # }
    /// let epochs = ops_kit::auth::TokenEpochs::new(ops_kit::cache::Cache::memory(), Users);
    /// let (tenant, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    /// assert_eq!(epochs.current(tenant, user).await?, Some(3));
    /// epochs.publish(tenant, user, Some(4)).await?;
    /// assert_eq!(epochs.current(tenant, user).await?, Some(4));
    /// # Ok(()) }
    /// ```
    pub async fn current(&self, tenant: Uuid, user: Uuid) -> Result<Option<u64>, EpochError> {
        let key = key(tenant, user);
        if let Ok(Some(cached)) = self.cache.get(&key).await {
            return Ok(parse(&cached));
        }
        let current = self.current_from_store(tenant, user).await?;
        let _ = self
            .cache
            .set_if_absent(&key, &encode(current), self.ttl)
            .await;
        Ok(current)
    }

    /// Makes a committed change of the user's epoch visible: `Some(epoch)`
    /// after a bump, `None` after the user's removal. Call it after the
    /// transaction that bumped the epoch has committed; with Redis every
    /// instance sees it at once.
    ///
    /// An error means the cache still holds the old epoch, for at most the
    /// [`ttl`](Self::ttl): the caller should log it.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # struct Users;
    /// # impl ops_kit::auth::EpochStore for Users {
    /// #     type Error = std::convert::Infallible;
    /// #     async fn epoch(&self, _: uuid::Uuid, _: uuid::Uuid) -> Result<Option<u64>, Self::Error> { Ok(Some(0)) }
    /// # }
    /// let epochs = ops_kit::auth::TokenEpochs::new(ops_kit::cache::Cache::memory(), Users);
    /// let (tenant, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    /// epochs.publish(tenant, user, None).await?;
    /// assert_eq!(epochs.current(tenant, user).await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn publish(
        &self,
        tenant: Uuid,
        user: Uuid,
        epoch: Option<u64>,
    ) -> Result<(), crate::cache::CacheError> {
        self.cache
            .set(&key(tenant, user), &encode(epoch), self.ttl)
            .await
    }

    async fn current_from_store(
        &self,
        tenant: Uuid,
        user: Uuid,
    ) -> Result<Option<u64>, EpochError> {
        self.store
            .epoch(tenant, user)
            .await
            .map_err(EpochError::Unavailable)
    }
}

fn key(tenant: Uuid, user: Uuid) -> String {
    format!("auth:epoch:{tenant}:{user}")
}

fn encode(epoch: Option<u64>) -> String {
    epoch.map_or_else(|| GONE.to_owned(), |e| e.to_string())
}

/// `None` for a removed user (or anything unreadable, which fails closed).
fn parse(value: &str) -> Option<u64> {
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::auth::{Principal, Role, TokenKind, Tokens};

    #[derive(Default)]
    struct Users {
        epochs: Mutex<HashMap<(Uuid, Uuid), u64>>,
        reads: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
        /// A writer that commits a bump and publishes it while this read is
        /// under way: the read still returns what it saw before.
        bump_during_read: Mutex<Option<(Cache, String)>>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the database is down")]
    struct Down;

    impl EpochStore for Arc<Users> {
        type Error = Down;

        async fn epoch(&self, tenant: Uuid, user: Uuid) -> Result<Option<u64>, Down> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(Down);
            }
            let seen = self.epochs.lock().unwrap().get(&(tenant, user)).copied();
            let writer = self.bump_during_read.lock().unwrap().take();
            if let Some((cache, key)) = writer {
                cache.set(&key, "1", EPOCH_CACHE_TTL).await.unwrap();
            }
            Ok(seen)
        }
    }

    fn claims_at(principal: &Principal, epoch: u64) -> Claims {
        let tokens = Tokens::new(
            &secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"),
            "crm",
            "crm-api",
        );
        tokens
            .issue_with_epoch(TokenKind::Access, principal, Uuid::new_v4(), epoch)
            .unwrap()
            .1
    }

    fn setup(epoch: u64) -> (Arc<Users>, Principal) {
        let users = Arc::new(Users::default());
        let p = Principal::new(Uuid::new_v4(), Uuid::new_v4(), Role::Member);
        users
            .epochs
            .lock()
            .unwrap()
            .insert((p.tenant_id, p.user_id), epoch);
        (users, p)
    }

    #[tokio::test]
    async fn a_hit_answers_without_the_store_and_a_miss_fills_the_cache() {
        let (users, p) = setup(2);
        let epochs = TokenEpochs::new(Cache::memory(), users.clone());
        for _ in 0..5 {
            epochs.check(&claims_at(&p, 2)).await.unwrap();
        }
        assert_eq!(users.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_token_from_an_earlier_epoch_is_revoked_once_the_bump_is_published() {
        let (users, p) = setup(0);
        let epochs = TokenEpochs::new(Cache::memory(), users.clone());
        let old = claims_at(&p, 0);
        epochs.check(&old).await.unwrap();
        users
            .epochs
            .lock()
            .unwrap()
            .insert((p.tenant_id, p.user_id), 1);
        epochs
            .publish(p.tenant_id, p.user_id, Some(1))
            .await
            .unwrap();
        assert!(matches!(epochs.check(&old).await, Err(EpochError::Revoked)));
        epochs.check(&claims_at(&p, 1)).await.unwrap();
    }

    #[tokio::test]
    async fn a_removed_user_is_revoked_from_the_cache_and_from_the_store() {
        let (users, p) = setup(0);
        let epochs = TokenEpochs::new(Cache::memory(), users.clone());
        users.epochs.lock().unwrap().clear();
        epochs.publish(p.tenant_id, p.user_id, None).await.unwrap();
        assert!(matches!(
            epochs.check(&claims_at(&p, 0)).await,
            Err(EpochError::Revoked)
        ));
        assert_eq!(users.reads.load(Ordering::SeqCst), 0);
        // Another instance, whose cache never heard of the removal.
        let other = TokenEpochs::new(Cache::memory(), users.clone());
        assert!(matches!(
            other.check(&claims_at(&p, 0)).await,
            Err(EpochError::Revoked)
        ));
    }

    #[tokio::test]
    async fn a_cache_behind_the_token_asks_the_store_and_takes_its_answer() {
        let (users, p) = setup(0);
        let behind = TokenEpochs::new(Cache::memory(), users.clone());
        behind.check(&claims_at(&p, 0)).await.unwrap();
        // Bumped on another instance, whose publish this cache did not see.
        users
            .epochs
            .lock()
            .unwrap()
            .insert((p.tenant_id, p.user_id), 1);
        behind.check(&claims_at(&p, 1)).await.unwrap();
        assert!(matches!(
            behind.check(&claims_at(&p, 0)).await,
            Err(EpochError::Revoked)
        ));
    }

    #[tokio::test]
    async fn a_fill_read_before_a_bump_does_not_overwrite_the_published_epoch() {
        let (users, p) = setup(0);
        let cache = Cache::memory();
        let k = key(p.tenant_id, p.user_id);
        *users.bump_during_read.lock().unwrap() = Some((cache.clone(), k.clone()));
        let epochs = TokenEpochs::new(cache.clone(), users.clone());
        // The read saw epoch 0 and lets this request through (it began
        // before the bump committed), but the cache keeps the bump.
        epochs.check(&claims_at(&p, 0)).await.unwrap();
        assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some("1"));
        assert!(matches!(
            epochs.check(&claims_at(&p, 0)).await,
            Err(EpochError::Revoked)
        ));
    }

    #[tokio::test]
    async fn the_check_fails_closed_when_the_store_cannot_answer() {
        let (users, p) = setup(0);
        users.down.store(true, Ordering::SeqCst);
        let epochs = TokenEpochs::new(Cache::memory(), users.clone());
        let err = epochs.check(&claims_at(&p, 0)).await.unwrap_err();
        assert!(matches!(err, EpochError::Unavailable(_)));
        let response = axum::response::IntoResponse::into_response(err);
        assert_eq!(response.status(), 503);
    }

    #[tokio::test]
    async fn a_redis_outage_falls_back_to_the_store() {
        let (users, p) = setup(0);
        let epochs = TokenEpochs::new(Cache::redis("redis://127.0.0.1:1").unwrap(), users.clone());
        epochs.check(&claims_at(&p, 0)).await.unwrap();
        assert!(epochs.check(&claims_at(&p, 1)).await.is_err());
    }
}
