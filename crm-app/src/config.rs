//! crm-app's settings: the ops-kit standard set plus the CRM's own.
//!
//! Every variable, its default and its production rule is listed in
//! `docs/configuration.md`.

use std::time::Duration;

use ops_kit::config::{Env, Mode, Rejected, Setting, Validated, Validator};
use secrecy::SecretString;

/// Where the development database lives when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/crm-app.db";

/// The validated configuration of crm-app.
#[derive(Debug)]
pub struct Config {
    /// Development or production.
    pub mode: Mode,
    /// The address to listen on (`HOST`:`PORT`).
    pub listen: String,
    /// The database URL (`DATABASE_URL`, or the SQLite file in development);
    /// secret because it may hold a password.
    pub database_url: SecretString,
    /// `MIGRATION_DATABASE_URL`: the schema owner's connection for the
    /// start-up migrations, so that the service itself can connect as a
    /// role that may not change the schema. Unset: `DATABASE_URL` migrates.
    pub migration_url: Option<SecretString>,
    /// Whether `DATABASE_URL` was unset and the development default is used.
    pub database_is_default: bool,
    /// The key that signs tokens (`JWT_SECRET`, or a generated one in development).
    pub jwt_secret: SecretString,
    /// `REDIS_URL`, when set.
    pub redis_url: Option<SecretString>,
    /// How long in-flight requests get at shutdown.
    pub shutdown_timeout: Duration,
    /// The pre-stop delay.
    pub shutdown_delay: Duration,
    /// The most database connections to open (`DATABASE_MAX_CONNECTIONS`;
    /// default: twice the cores plus two on PostgreSQL, 8 on SQLite).
    pub database_max_connections: Option<u32>,
    /// How many reverse proxies in front of the service append to
    /// `X-Forwarded-For` and are trusted (`TRUSTED_PROXY_HOPS`, default 0).
    pub trusted_proxy_hops: usize,
    /// `BYPASS_AUTH=true` in development: requests without a token act as
    /// the dev admin. Always false in production (the flag stops the
    /// process there).
    pub bypass_auth: bool,
    validated: Validated,
}

impl Config {
    /// The declared settings.
    pub fn validator() -> Validator {
        Validator::standard()
            .setting(Setting::secret("MIGRATION_DATABASE_URL"))
            .setting(
                Setting::new("DATABASE_MAX_CONNECTIONS")
                    .parse::<std::num::NonZeroU16>("a number of connections from 1 to 65535"),
            )
            .setting(
                Setting::new("TRUSTED_PROXY_HOPS")
                    .parse::<u8>("the number of trusted proxies in front of the service (0-255)")
                    .default("0"),
            )
            .rule(|env, _mode| match env.get("REDIS_URL") {
                Some(url) if !(url.starts_with("redis://") || url.starts_with("rediss://")) => {
                    Err("REDIS_URL must start with redis:// or rediss://".into())
                }
                _ => Ok(()),
            })
    }

    /// Validates `env`; every failure is in the error.
    pub fn load(env: &Env) -> Result<Self, Rejected> {
        Ok(Self::from_validated(Self::validator().validate(env)?))
    }

    /// The configuration of settings that passed validation.
    pub fn from_validated(validated: Validated) -> Self {
        let listen = validated.listen_addr();
        let (database_url, database_is_default) = match validated.secret("DATABASE_URL") {
            Some(url) => (url.clone(), false),
            None => (SecretString::from(DEFAULT_SQLITE_URL), true),
        };
        Self {
            mode: validated.mode(),
            listen,
            database_url,
            migration_url: validated.secret("MIGRATION_DATABASE_URL").cloned(),
            database_is_default,
            jwt_secret: validated
                .secret("JWT_SECRET")
                .cloned()
                .expect("validation guarantees a JWT secret or a development fallback"),
            redis_url: validated.secret("REDIS_URL").cloned(),
            shutdown_timeout: Duration::from_secs(
                validated.parsed("SHUTDOWN_TIMEOUT_SECS").unwrap_or(30),
            ),
            shutdown_delay: Duration::from_secs(
                validated.parsed("SHUTDOWN_DELAY_SECS").unwrap_or(0),
            ),
            database_max_connections: validated
                .parsed::<std::num::NonZeroU16>("DATABASE_MAX_CONNECTIONS")
                .map(|n| u32::from(n.get())),
            trusted_proxy_hops: validated
                .parsed::<u8>("TRUSTED_PROXY_HOPS")
                .map_or(0, usize::from),
            bypass_auth: !validated.mode().is_production()
                && validated
                    .get("BYPASS_AUTH")
                    .is_some_and(ops_kit::config::is_truthy),
            validated,
        }
    }

    /// The raw validated settings.
    pub fn validated(&self) -> &Validated {
        &self.validated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn development_defaults_to_an_embedded_sqlite_file_on_loopback() {
        let config = Config::load(&Env::default()).unwrap();
        assert_eq!(config.mode, Mode::Development);
        assert_eq!(config.listen, "127.0.0.1:3000");
        assert_eq!(config.database_url.expose_secret(), DEFAULT_SQLITE_URL);
        assert!(config.database_is_default);
    }

    #[test]
    fn the_pool_size_is_a_positive_number_when_set() {
        assert_eq!(
            Config::load(&Env::default())
                .unwrap()
                .database_max_connections,
            None
        );
        let config = Config::load(&Env::from_pairs([("DATABASE_MAX_CONNECTIONS", "6")])).unwrap();
        assert_eq!(config.database_max_connections, Some(6));
        for bad in ["0", "-1", "many", "70000"] {
            assert!(
                Config::load(&Env::from_pairs([("DATABASE_MAX_CONNECTIONS", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_redis_url_must_name_redis_without_being_shown() {
        let rejected =
            Config::load(&Env::from_pairs([("REDIS_URL", "http://:pw@cache")])).unwrap_err();
        assert_eq!(
            rejected.errors(),
            ["REDIS_URL must start with redis:// or rediss://"]
        );
    }

    #[test]
    fn production_requires_a_database_url() {
        let env = Env::from_pairs([
            ("APP_ENV", "production"),
            ("JWT_SECRET", "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"),
        ]);
        let rejected = Config::load(&env).unwrap_err();
        assert_eq!(
            rejected.errors(),
            ["DATABASE_URL is required in production"]
        );
    }
}
