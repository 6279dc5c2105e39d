//! [`Sessions`]: browser sessions kept in the service's database, so that
//! signing out, signing out everywhere and removing a user end them at
//! once on every instance.
//!
//! The browser holds a random token in an HttpOnly cookie; the database
//! holds only its SHA-256 digest, with the user, the tenant, the session's
//! CSRF token and its times. A session ends at the first of: its idle
//! timeout since the last request, its absolute lifetime since sign-in, or
//! its revocation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::sql::Pool;

/// How long a session lasts and how its cookie is sent.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ops_kit::web::SessionConfig;
///
/// let config = SessionConfig::production().idle_timeout(Duration::from_secs(30 * 60));
/// assert_eq!(config.cookie_name(), "__Host-session");
/// assert_eq!(config.idle(), Duration::from_secs(1800));
/// assert_eq!(config.lifetime(), Duration::from_secs(12 * 3600));
/// assert_eq!(SessionConfig::development().cookie_name(), "session");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SessionConfig {
    idle: Duration,
    lifetime: Duration,
    secure: bool,
}

impl SessionConfig {
    /// Behind HTTPS: the cookie is `Secure` and named with the `__Host-`
    /// prefix (the browser then refuses it from a subdomain, over plain
    /// HTTP, or with a `Domain`). Two hours idle, twelve hours in all (a
    /// working day).
    ///
    /// # Example
    ///
    /// ```
    /// assert!(ops_kit::web::SessionConfig::production().is_secure());
    /// ```
    pub fn production() -> Self {
        Self {
            idle: Duration::from_secs(2 * 3600),
            lifetime: Duration::from_secs(12 * 3600),
            secure: true,
        }
    }

    /// As [`production`](Self::production), but for `http://127.0.0.1`:
    /// neither `Secure` nor the prefix, which need HTTPS.
    ///
    /// # Example
    ///
    /// ```
    /// assert!(!ops_kit::web::SessionConfig::development().is_secure());
    /// ```
    pub fn development() -> Self {
        Self {
            secure: false,
            ..Self::production()
        }
    }

    /// Ends a session this long after its last request.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = ops_kit::web::SessionConfig::development().idle_timeout(Duration::from_secs(600));
    /// assert_eq!(config.idle(), Duration::from_secs(600));
    /// ```
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Ends a session this long after sign-in, however active.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = ops_kit::web::SessionConfig::development().absolute_lifetime(Duration::from_secs(3600));
    /// assert_eq!(config.lifetime(), Duration::from_secs(3600));
    /// ```
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The idle timeout.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(ops_kit::web::SessionConfig::production().idle(), Duration::from_secs(7200));
    /// ```
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The absolute lifetime.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert_eq!(ops_kit::web::SessionConfig::production().lifetime(), Duration::from_secs(43200));
    /// ```
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Whether cookies are `Secure` and `__Host-` prefixed.
    ///
    /// # Example
    ///
    /// ```
    /// assert!(ops_kit::web::SessionConfig::production().is_secure());
    /// ```
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The session cookie's name.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ops_kit::web::SessionConfig::production().cookie_name(), "__Host-session");
    /// ```
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-session"
        } else {
            "session"
        }
    }
}

/// A signed-in browser session, as [`Sessions::find`] and
/// [`Sessions::create`] give it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// # ops_kit::web::migrate(&pool).await?;
/// use ops_kit::web::{SessionConfig, Sessions};
/// let sessions = Sessions::new(pool, SessionConfig::development());
/// let (tenant, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
/// let session = sessions.create(tenant, user).await?.session;
/// assert_eq!((session.tenant_id, session.user_id), (tenant, user));
/// assert_eq!(session.csrf_token().len(), 43);
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The user's tenant.
    pub tenant_id: Uuid,
    /// The signed-in user.
    pub user_id: Uuid,
    /// When the user signed in (Unix seconds).
    pub created_at: i64,
    /// The last request of the session (Unix seconds, to the minute).
    pub last_seen_at: i64,
    /// When the absolute lifetime ends (Unix seconds).
    pub expires_at: i64,
    id_hash: String,
    csrf_token: String,
}

impl Session {
    /// The token every form of this session carries (in the
    /// [`csrf::FIELD`](super::csrf::FIELD) field).
    ///
    /// # Example
    ///
    /// See [`Session`].
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The digest and the CSRF token stay out of logs.
        f.debug_struct("Session")
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A session just created, with the token for its cookie.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// # ops_kit::web::migrate(&pool).await?;
/// # let sessions = ops_kit::web::Sessions::new(pool, ops_kit::web::SessionConfig::development());
/// let new = sessions.create(uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).await?;
/// let cookie = sessions.cookie(&new);
/// assert!(cookie.to_str()?.starts_with("session="));
/// assert!(!format!("{new:?}").contains(new.token())); // never in a log
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NewSession {
    token: String,
    /// The session.
    pub session: Session,
}

impl NewSession {
    /// The cookie's token (a secret: only ever sent in `Set-Cookie`).
    ///
    /// # Example
    ///
    /// See [`NewSession`].
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("token", &"<redacted>")
            .field("session", &self.session)
            .finish()
    }
}

/// The session store failed.
///
/// # Example
///
/// ```
/// let err = ops_kit::web::SessionError::from(sqlx::Error::PoolTimedOut);
/// assert!(err.to_string().starts_with("the session store failed"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the session store failed: {0}")]
pub struct SessionError(#[from] sqlx::Error);

/// Browser sessions in the `browser_sessions` table (create it with
/// [`migrate`]).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use http::{HeaderMap, HeaderValue};
/// use ops_kit::web::{SessionConfig, Sessions};
///
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// ops_kit::web::migrate(&pool).await?;
/// let sessions = Sessions::new(pool, SessionConfig::development());
///
/// // Sign-in: a new session, its token in the cookie.
/// let new = sessions.create(uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).await?;
/// let mut request = HeaderMap::new();
/// request.insert("cookie", HeaderValue::from_str(&format!("session={}", new.token()))?);
/// let found = sessions.find(&request).await?.expect("signed in");
/// assert_eq!(found.user_id, new.session.user_id);
///
/// // Sign-out: gone for every instance.
/// sessions.revoke(&found).await?;
/// assert!(sessions.find(&request).await?.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Sessions {
    pool: Pool,
    config: Arc<SessionConfig>,
}

/// Runs `$body` with `$p` bound to the backend's pool.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres($p) => $body,
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($p) => $body,
        }
    };
}

const SELECT: &str = "SELECT tenant_id, user_id, csrf_token, created_at, last_seen_at, expires_at \
FROM browser_sessions WHERE id_hash = $1";

/// A session's last-seen time is written at most this often.
const TOUCH_EVERY_SECS: i64 = 60;

impl Sessions {
    /// Sessions in `pool`, lasting as `config` says.
    ///
    /// # Example
    ///
    /// See [`Sessions`].
    pub fn new(pool: Pool, config: SessionConfig) -> Self {
        Self {
            pool,
            config: Arc::new(config),
        }
    }

    /// The configuration.
    ///
    /// # Example
    ///
    /// ```
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let sessions = ops_kit::web::Sessions::new(pool, ops_kit::web::SessionConfig::production());
    /// assert!(sessions.config().is_secure());
    /// ```
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Starts a session for `user_id` of `tenant_id`, with a new random
    /// token and a new CSRF token. At sign-in, revoke the session the
    /// request came with (if any) too: the id changes at every sign-in.
    ///
    /// # Example
    ///
    /// See [`Sessions`].
    pub async fn create(&self, tenant_id: Uuid, user_id: Uuid) -> Result<NewSession, SessionError> {
        let token = random_token();
        let now = now();
        let session = Session {
            tenant_id,
            user_id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + secs(self.config.lifetime),
            id_hash: digest(&token),
            csrf_token: random_token(),
        };
        const INSERT: &str = "INSERT INTO browser_sessions \
            (id_hash, tenant_id, user_id, csrf_token, created_at, last_seen_at, expires_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(&self.pool, p => {
            sqlx::query(INSERT)
                .bind(&session.id_hash)
                .bind(tenant_id)
                .bind(user_id)
                .bind(&session.csrf_token)
                .bind(session.created_at)
                .bind(session.last_seen_at)
                .bind(session.expires_at)
                .execute(p)
                .await?;
        });
        Ok(NewSession { token, session })
    }

    /// The live session of the request's cookie, if any. An expired one
    /// (idle or past its lifetime) is deleted and not returned; a live one
    /// has its last-seen time moved on (at most once a minute).
    ///
    /// # Example
    ///
    /// See [`Sessions`].
    pub async fn find(&self, headers: &HeaderMap) -> Result<Option<Session>, SessionError> {
        match cookie_value(headers, self.config.cookie_name()) {
            Some(token) => self.find_token(token).await,
            None => Ok(None),
        }
    }

    /// As [`find`](Self::find), for a cookie's token.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # ops_kit::web::migrate(&pool).await?;
    /// use std::time::Duration;
    /// use ops_kit::web::{SessionConfig, Sessions};
    /// let config = SessionConfig::development().idle_timeout(Duration::ZERO);
    /// let sessions = Sessions::new(pool, config);
    /// let new = sessions.create(uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).await?;
    /// assert!(sessions.find_token(new.token()).await?.is_none()); // idle at once
    /// assert!(sessions.find_token("not-a-session").await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn find_token(&self, token: &str) -> Result<Option<Session>, SessionError> {
        let id_hash = digest(token);
        type Row = (Uuid, Uuid, String, i64, i64, i64);
        let row: Option<Row> = on_pool!(&self.pool, p => {
            sqlx::query_as(SELECT).bind(&id_hash).fetch_optional(p).await?
        });
        let Some((tenant_id, user_id, csrf_token, created_at, last_seen_at, expires_at)) = row
        else {
            return Ok(None);
        };
        let now = now();
        if now >= expires_at || now >= last_seen_at + secs(self.config.idle) {
            self.delete(&id_hash).await?;
            return Ok(None);
        }
        let mut session = Session {
            tenant_id,
            user_id,
            created_at,
            last_seen_at,
            expires_at,
            id_hash,
            csrf_token,
        };
        if now - last_seen_at >= TOUCH_EVERY_SECS {
            const TOUCH: &str = "UPDATE browser_sessions SET last_seen_at = $1 WHERE id_hash = $2";
            on_pool!(&self.pool, p => {
                sqlx::query(TOUCH).bind(now).bind(&session.id_hash).execute(p).await?;
            });
            session.last_seen_at = now;
        }
        Ok(Some(session))
    }

    /// Ends `session` (sign-out).
    ///
    /// # Example
    ///
    /// See [`Sessions`].
    pub async fn revoke(&self, session: &Session) -> Result<(), SessionError> {
        self.delete(&session.id_hash).await
    }

    /// Ends every session of a user (sign out everywhere, the user removed
    /// or their password changed). Returns how many there were.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # ops_kit::web::migrate(&pool).await?;
    /// # let sessions = ops_kit::web::Sessions::new(pool, ops_kit::web::SessionConfig::development());
    /// let (tenant, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    /// let desk = sessions.create(tenant, user).await?;
    /// let tablet = sessions.create(tenant, user).await?;
    /// let other = sessions.create(tenant, uuid::Uuid::new_v4()).await?;
    /// assert_eq!(sessions.revoke_user(tenant, user).await?, 2);
    /// assert!(sessions.find_token(desk.token()).await?.is_none());
    /// assert!(sessions.find_token(tablet.token()).await?.is_none());
    /// assert!(sessions.find_token(other.token()).await?.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn revoke_user(&self, tenant_id: Uuid, user_id: Uuid) -> Result<u64, SessionError> {
        const DELETE: &str = "DELETE FROM browser_sessions WHERE tenant_id = $1 AND user_id = $2";
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(DELETE).bind(tenant_id).bind(user_id).execute(p).await?.rows_affected()
        }))
    }

    /// Deletes the sessions that have ended (for a periodic clean-up; an
    /// ended session is refused whether or not it was purged). Returns how
    /// many.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # ops_kit::web::migrate(&pool).await?;
    /// use std::time::Duration;
    /// let config = ops_kit::web::SessionConfig::development().absolute_lifetime(Duration::ZERO);
    /// let sessions = ops_kit::web::Sessions::new(pool, config);
    /// sessions.create(uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).await?;
    /// assert_eq!(sessions.purge_ended().await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn purge_ended(&self) -> Result<u64, SessionError> {
        const PURGE: &str =
            "DELETE FROM browser_sessions WHERE expires_at <= $1 OR last_seen_at <= $2";
        let now = now();
        let idle_since = now - secs(self.config.idle);
        Ok(on_pool!(&self.pool, p => {
            sqlx::query(PURGE).bind(now).bind(idle_since).execute(p).await?.rows_affected()
        }))
    }

    /// The `Set-Cookie` value carrying a new session's token: HttpOnly,
    /// `SameSite=Lax` (a link from an email still opens the console signed
    /// in; a cross-site form post does not carry it), `Secure` and
    /// `__Host-` in production, for the absolute lifetime.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
    /// # ops_kit::web::migrate(&pool).await?;
    /// use ops_kit::web::{SessionConfig, Sessions};
    /// let sessions = Sessions::new(pool, SessionConfig::production());
    /// let new = sessions.create(uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).await?;
    /// assert_eq!(
    ///     sessions.cookie(&new).to_str()?,
    ///     format!("__Host-session={}; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=43200", new.token())
    /// );
    /// # Ok(()) }
    /// ```
    pub fn cookie(&self, new: &NewSession) -> HeaderValue {
        cookie_header(
            self.config.cookie_name(),
            &new.token,
            self.config.secure,
            cookie::SameSite::Lax,
            Some(secs(self.config.lifetime)),
        )
    }

    /// The `Set-Cookie` value that removes the session cookie (sign-out).
    ///
    /// # Example
    ///
    /// ```
    /// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:").unwrap();
    /// let sessions = ops_kit::web::Sessions::new(pool, ops_kit::web::SessionConfig::development());
    /// assert_eq!(
    ///     sessions.removal_cookie().to_str().unwrap(),
    ///     "session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
    /// );
    /// ```
    pub fn removal_cookie(&self) -> HeaderValue {
        cookie_header(
            self.config.cookie_name(),
            "",
            self.config.secure,
            cookie::SameSite::Lax,
            Some(0),
        )
    }

    async fn delete(&self, id_hash: &str) -> Result<(), SessionError> {
        const DELETE: &str = "DELETE FROM browser_sessions WHERE id_hash = $1";
        on_pool!(&self.pool, p => {
            sqlx::query(DELETE).bind(id_hash).execute(p).await?;
        });
        Ok(())
    }
}

/// Creates the `browser_sessions` table (ops-kit's migrations share the
/// service's migration history; run before the service's own).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// ops_kit::web::migrate(&pool).await?;
/// ops_kit::web::migrate(&pool).await?; // applied once
/// # Ok(()) }
/// ```
pub async fn migrate(pool: &Pool) -> Result<(), sqlx::migrate::MigrateError> {
    match pool {
        #[cfg(feature = "postgres")]
        Pool::Postgres(pool) => {
            let mut migrator = sqlx::migrate!("./migrations/web/postgres");
            migrator.set_ignore_missing(true);
            migrator.run(pool).await
        }
        #[cfg(feature = "sqlite")]
        Pool::Sqlite(pool) => {
            let mut migrator = sqlx::migrate!("./migrations/web/sqlite");
            migrator.set_ignore_missing(true);
            migrator.run(pool).await
        }
    }
}

/// 32 random bytes from the operating system, URL-safe base64 without
/// padding (43 characters): session and CSRF tokens.
///
/// # Example
///
/// ```
/// let a = ops_kit::web::random_token();
/// assert_eq!(a.len(), 43);
/// assert_ne!(a, ops_kit::web::random_token());
/// ```
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> String {
    let hash = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in hash {
        use fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
}

/// A `Set-Cookie` value: HttpOnly, `Path=/`, `Secure` when `secure`.
pub(super) fn cookie_header(
    name: &str,
    value: &str,
    secure: bool,
    same_site: cookie::SameSite,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut builder = cookie::Cookie::build((name, value))
        .http_only(true)
        .same_site(same_site)
        .secure(secure)
        .path("/");
    if let Some(age) = max_age {
        builder = builder.max_age(cookie::time::Duration::seconds(age));
    }
    HeaderValue::from_str(&builder.build().to_string())
        .expect("names and tokens are cookie-safe ASCII")
}

/// The value of cookie `name` in the request's `Cookie` headers.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// let mut headers = HeaderMap::new();
/// headers.append("cookie", HeaderValue::from_static("theme=dark; flash=ZG9uZQ"));
/// headers.append("cookie", HeaderValue::from_static("session=abc"));
/// assert_eq!(ops_kit::web::cookie_value(&headers, "flash"), Some("ZG9uZQ"));
/// assert_eq!(ops_kit::web::cookie_value(&headers, "session"), Some("abc"));
/// assert_eq!(ops_kit::web::cookie_value(&headers, "lang"), None);
/// ```
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}
