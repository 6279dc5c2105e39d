//! What a server-rendered front end needs on top of the API's hardening:
//! browser sessions in the database ([`Sessions`]), protection against
//! cross-site request forgery ([`csrf`]) and the security headers every
//! HTML response should carry ([`SecurityHeadersLayer`]).
//!
//! The three are independent; a console typically uses all of them:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use ops_kit::sql::Pool;
//! use ops_kit::web::{SecurityHeadersLayer, SessionConfig, Sessions};
//!
//! let pool = Pool::connect_lazy("sqlite::memory:")?;
//! ops_kit::web::migrate(&pool).await?;
//! let sessions = Sessions::new(pool, SessionConfig::development());
//! let console: Router = Router::new()
//!     .route("/", get(|| async { "<h1>Console</h1>" }))
//!     .layer(SecurityHeadersLayer::new());
//! # let _ = (sessions, console);
//! # Ok(()) }
//! ```

pub mod csrf;
mod headers;
mod session;

pub use self::headers::{
    DEFAULT_CSP, HSTS, HeadersFuture, SecurityHeaders, SecurityHeadersLayer, SecurityHeadersService,
};
pub use self::session::{
    NewSession, Session, SessionConfig, SessionError, Sessions, cookie_value, migrate, random_token,
};
