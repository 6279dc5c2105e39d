//! Declarative start-up configuration validation.
//!
//! A service declares its settings once ([`Setting`]), usually on top of
//! [`Validator::standard`] (the runbook's critical settings), and validates a
//! snapshot of the environment ([`Env`]) before doing anything else. Every
//! failure is reported, not just the first:
//!
//! ```text
//! [STARTUP ERROR] FATAL: JWT_SECRET is required in production
//! [STARTUP ERROR] FATAL: BYPASS_AUTH must not be true in production
//! [STARTUP] Aborting due to critical configuration errors
//! ```
//!
//! and the process exits with status 1 before binding a port. On success:
//! `[STARTUP] Configuration validation passed`, preceded by one
//! `[STARTUP] WARNING: …` line per fallback in use.
//!
//! The mode comes from `APP_ENV` (`production` | `development`, default
//! development; anything else is an error). Production-only rules are
//! warnings in development. Secret values never appear in a message or a
//! `Debug` output and are handed out as [`secrecy::SecretString`].
//!
//! # Example
//!
//! ```
//! use ops_kit::config::{Env, Setting, Validator};
//!
//! let validator = Validator::standard()
//!     .setting(Setting::new("CRM_PUBLIC_URL").required_in_production());
//!
//! match validator.validate(&Env::from_process()) {
//!     Ok(config) => {
//!         config.log();
//!         let port: u16 = config.parsed("PORT").unwrap();
//!         # let _ = port;
//!     }
//!     Err(rejected) => {
//!         rejected.log();
//!         // std::process::exit(1) in a real main
//!     }
//! }
//! ```

mod env;
mod setting;
mod validator;

pub use self::env::{Env, Mode};
pub use self::setting::Setting;
pub use self::setting::is_truthy;
pub use self::validator::{Rejected, Validated, Validator};
