use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use secrecy::SecretString;

use super::env::{Env, Mode};
use super::setting::{Fallback, Setting};

type Rule = Arc<dyn Fn(&Env, Mode) -> Result<(), String> + Send + Sync>;

/// The declared settings of a service, checked together once at start.
///
/// # Example
///
/// ```
/// use ops_kit::config::{Env, Setting, Validator};
///
/// let validator = Validator::standard()
///     .setting(Setting::new("PRICING_URL").required_in_production());
///
/// let env = Env::from_pairs([("APP_ENV", "production"), ("JWT_SECRET", "short")]);
/// let rejected = validator.validate(&env).unwrap_err();
/// assert!(rejected.errors().contains(&"DATABASE_URL is required in production".to_owned()));
/// assert!(rejected.errors().contains(&"PRICING_URL is required in production".to_owned()));
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Validator {
    settings: Vec<Setting>,
    rules: Vec<Rule>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("settings", &self.settings)
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl Validator {
    /// A validator with no settings yet (only `APP_ENV` is read).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Mode, Validator};
    ///
    /// let config = Validator::new().validate(&Env::from_pairs([("APP_ENV", "production"), ("PORT", "80")])).unwrap();
    /// assert_eq!(config.mode(), Mode::Production);
    /// assert_eq!(config.get("PORT"), None); // not declared, so not handed out
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The settings every ops-kit service shares, as the operations runbook
    /// states them:
    ///
    /// | variable | rule |
    /// |---|---|
    /// | `APP_ENV` | `production` or `development` (default) |
    /// | `JWT_SECRET` | secret; required in production, ≥ 32 characters, not weak; a generated fallback with a warning in development |
    /// | `DATABASE_URL` | secret (it may hold a password); required in production |
    /// | `BYPASS_AUTH`, `VITE_BYPASS_AUTH` | must not be true in production |
    /// | `REDIS_URL` | secret (it may hold a password); a warning when missing: the in-memory cache is used |
    /// | `HOST` | default `127.0.0.1` in development, `0.0.0.0` in production |
    /// | `PORT` | a port number, default 3000 |
    /// | `SHUTDOWN_TIMEOUT_SECS` | whole seconds, default 30 |
    /// | `SHUTDOWN_DELAY_SECS` | whole seconds, default 0 |
    /// | `BODY_READ_TIMEOUT_SECS` | whole seconds from 1, default 5: a request body must arrive in full within it |
    /// | `HEADER_READ_TIMEOUT_SECS` | whole seconds from 1, default 10: a request head must arrive in full within it |
    /// | `KEEP_ALIVE_TIMEOUT_SECS` | whole seconds from 1, default 75: an idle connection is closed after it |
    /// | `MAX_CONNECTIONS` | a number from 1; default: the open-file limit minus 64 |
    /// | `LOG_FORMAT` | `text` (default) or `json` |
    /// | `METRICS_ADDR` | optional `host:port`: serve `/metrics` there instead of on the main port |
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Validator};
    ///
    /// let config = Validator::standard().validate(&Env::from_pairs([("PORT", "8080")])).unwrap();
    /// assert_eq!(config.parsed::<u16>("PORT"), Some(8080));
    /// assert_eq!(config.get("HOST"), Some("127.0.0.1"));
    /// assert!(config.secret("JWT_SECRET").is_some()); // generated in development
    /// ```
    pub fn standard() -> Self {
        Self::new()
            .setting(
                Setting::secret("JWT_SECRET")
                    .required_in_production()
                    .min_len_in_production(32)
                    .strong_in_production()
                    .random_in_development(
                        "JWT_SECRET is not set; using a generated development secret (tokens will not survive a restart)",
                    ),
            )
            // URLs may carry passwords: treat them as secrets.
            .setting(Setting::secret("DATABASE_URL").required_in_production())
            .setting(Setting::new("BYPASS_AUTH").not_true_in_production())
            .setting(Setting::new("VITE_BYPASS_AUTH").not_true_in_production())
            .setting(
                Setting::secret("REDIS_URL")
                    .warn_if_missing("REDIS_URL is not set; using the in-memory cache"),
            )
            .setting(Setting::new("HOST").default_by_mode("127.0.0.1", "0.0.0.0"))
            .setting(
                Setting::new("PORT")
                    .parse::<u16>("a port number (0-65535)")
                    .default("3000"),
            )
            .setting(
                Setting::new("SHUTDOWN_TIMEOUT_SECS")
                    .parse::<u64>("a whole number of seconds")
                    .default("30"),
            )
            .setting(
                Setting::new("SHUTDOWN_DELAY_SECS")
                    .parse::<u64>("a whole number of seconds")
                    .default("0"),
            )
            .setting(
                Setting::new("BODY_READ_TIMEOUT_SECS")
                    .parse::<std::num::NonZeroU64>("a whole number of seconds from 1")
                    .default("5"),
            )
            .setting(
                Setting::new("HEADER_READ_TIMEOUT_SECS")
                    .parse::<std::num::NonZeroU64>("a whole number of seconds from 1")
                    .default("10"),
            )
            .setting(
                Setting::new("KEEP_ALIVE_TIMEOUT_SECS")
                    .parse::<std::num::NonZeroU64>("a whole number of seconds from 1")
                    .default("75"),
            )
            .setting(
                Setting::new("MAX_CONNECTIONS")
                    .parse::<std::num::NonZeroUsize>("a number of connections from 1"),
            )
            .setting(Setting::new("LOG_FORMAT").one_of(&["text", "json"]).default("text"))
            .setting(
                Setting::new("METRICS_ADDR")
                    .parse::<std::net::SocketAddr>("an address such as 0.0.0.0:9090"),
            )
    }

    /// Declares a setting (replacing an earlier one of the same name).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::standard()
    ///     .setting(Setting::new("PORT").parse::<u16>("a port number").default("8080"));
    /// let config = validator.validate(&Env::default()).unwrap();
    /// assert_eq!(config.parsed::<u16>("PORT"), Some(8080)); // the standard default was 3000
    /// ```
    pub fn setting(mut self, setting: Setting) -> Self {
        self.settings.retain(|s| s.name != setting.name);
        self.settings.push(setting);
        self
    }

    /// Adds a rule that looks at several settings at once; `Err(message)`
    /// is fatal.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Validator};
    ///
    /// let validator = Validator::new().rule(|env, _mode| {
    ///     match (env.get("TLS_CERT"), env.get("TLS_KEY")) {
    ///         (Some(_), None) => Err("TLS_KEY is required when TLS_CERT is set".into()),
    ///         _ => Ok(()),
    ///     }
    /// });
    /// assert!(validator.validate(&Env::from_pairs([("TLS_CERT", "/c.pem")])).is_err());
    /// ```
    pub fn rule<F>(mut self, rule: F) -> Self
    where
        F: Fn(&Env, Mode) -> Result<(), String> + Send + Sync + 'static,
    {
        self.rules.push(Arc::new(rule));
        self
    }

    /// Validates `env` and logs the outcome the way the runbook shows it;
    /// on failure it also flushes the logs and hands back the exit status
    /// for `main` to return (before any port is bound).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Validator};
    ///
    /// fn start(env: &Env) -> std::process::ExitCode {
    ///     let config = match Validator::standard().check(env) {
    ///         Ok(config) => config,
    ///         Err(exit) => return exit,
    ///     };
    ///     # let _ = config;
    ///     std::process::ExitCode::SUCCESS
    /// }
    /// assert_eq!(start(&Env::from_pairs([("APP_ENV", "production")])), std::process::ExitCode::FAILURE);
    /// assert_eq!(start(&Env::default()), std::process::ExitCode::SUCCESS);
    /// ```
    pub fn check(&self, env: &Env) -> Result<Validated, std::process::ExitCode> {
        match self.validate(env) {
            Ok(validated) => {
                validated.log();
                Ok(validated)
            }
            Err(rejected) => {
                rejected.log();
                crate::telemetry::flush();
                Err(std::process::ExitCode::FAILURE)
            }
        }
    }

    /// Checks every setting and rule against `env` and reports all failures.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new()
    ///     .setting(Setting::new("QUEUE_URL").required())
    ///     .setting(Setting::new("WORKERS").parse::<u8>("a number"));
    /// let rejected = validator.validate(&Env::from_pairs([("WORKERS", "lots")])).unwrap_err();
    /// assert_eq!(rejected.errors(), ["QUEUE_URL is required", r#"WORKERS must be a number (got "lots")"#]);
    /// assert!(validator.validate(&Env::from_pairs([("QUEUE_URL", "amqp://mq"), ("WORKERS", "4")])).is_ok());
    /// ```
    pub fn validate(&self, env: &Env) -> Result<Validated, Rejected> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mode = match Mode::parse(env.get("APP_ENV")) {
            Ok(mode) => mode,
            Err(message) => {
                errors.push(message);
                // Judge the rest as strictly as production would.
                Mode::Production
            }
        };
        for setting in &self.settings {
            let outcome = setting.check(env, mode);
            errors.extend(outcome.errors);
            warnings.extend(outcome.warnings);
        }
        for rule in &self.rules {
            if let Err(message) = rule(env, mode) {
                errors.push(message);
            }
        }
        if !errors.is_empty() {
            return Err(Rejected { errors, warnings });
        }

        let mut values = HashMap::new();
        let mut secrets = HashMap::new();
        for setting in &self.settings {
            let value = match (env.get(&setting.name), &setting.fallback) {
                (Some(value), _) => Some(value.trim().to_owned()),
                (None, Some(Fallback::Value(v))) => Some(v.clone()),
                (
                    None,
                    Some(Fallback::ByMode {
                        development,
                        production,
                    }),
                ) => Some(
                    if mode.is_production() {
                        production
                    } else {
                        development
                    }
                    .clone(),
                ),
                (None, Some(Fallback::RandomSecret { .. })) if !mode.is_production() => {
                    Some(random_secret())
                }
                (None, _) => None,
            };
            if let Some(value) = value {
                if setting.secret {
                    secrets.insert(setting.name.clone(), SecretString::from(value));
                } else {
                    values.insert(setting.name.clone(), value);
                }
            }
        }
        Ok(Validated {
            mode,
            values,
            secrets,
            warnings,
        })
    }
}

fn random_secret() -> String {
    // Two v4 UUIDs: 244 random bits from the OS generator.
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A configuration that passed validation.
///
/// # Example
///
/// ```
/// use ops_kit::config::{Env, Mode, Validator};
/// use secrecy::ExposeSecret;
///
/// let env = Env::from_pairs([
///     ("APP_ENV", "production"),
///     ("DATABASE_URL", "postgres://app@db/crm"),
///     ("JWT_SECRET", "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"),
///     ("REDIS_URL", "redis://cache:6379"),
/// ]);
/// let config = Validator::standard().validate(&env).unwrap();
/// assert_eq!(config.mode(), Mode::Production);
/// assert_eq!(config.get("HOST"), Some("0.0.0.0"));
/// assert_eq!(config.secret("JWT_SECRET").unwrap().expose_secret().len(), 32);
/// assert!(config.warnings().is_empty());
/// ```
pub struct Validated {
    mode: Mode,
    values: HashMap<String, String>,
    secrets: HashMap<String, SecretString>,
    warnings: Vec<String>,
}

impl fmt::Debug for Validated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validated")
            .field("mode", &self.mode)
            .field("values", &self.values)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl Validated {
    /// The mode from `APP_ENV`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Mode, Validator};
    ///
    /// assert_eq!(Validator::new().validate(&Env::default()).unwrap().mode(), Mode::Development);
    /// let env = Env::from_pairs([("APP_ENV", "production")]);
    /// assert_eq!(Validator::new().validate(&env).unwrap().mode(), Mode::Production);
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A plain setting's value (or its default).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new()
    ///     .setting(Setting::new("REGION").default("eu-west-1"))
    ///     .setting(Setting::secret("API_KEY"));
    /// let config = validator.validate(&Env::from_pairs([("API_KEY", "k-123")])).unwrap();
    /// assert_eq!(config.get("REGION"), Some("eu-west-1"));
    /// assert_eq!(config.get("API_KEY"), None); // secrets are read with `secret`
    /// assert_eq!(config.get("UNDECLARED"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A plain setting parsed as `T`; `None` when missing or unparsable
    /// (declare it with [`Setting::parse`] to make that impossible).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Validator};
    ///
    /// let env = Env::from_pairs([("SHUTDOWN_DELAY_SECS", "5")]);
    /// let config = Validator::standard().validate(&env).unwrap();
    /// assert_eq!(config.parsed::<u64>("SHUTDOWN_DELAY_SECS"), Some(5));
    /// assert_eq!(config.parsed::<u64>("SHUTDOWN_TIMEOUT_SECS"), Some(30)); // the default
    /// assert_eq!(config.parsed::<u64>("HOST"), None); // "127.0.0.1" is not a number
    /// ```
    pub fn parsed<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.parse().ok()
    }

    /// The address to listen on, from `HOST` and `PORT` (see
    /// [`Validator::standard`]); an IPv6 host gets its brackets. Defaults
    /// to `127.0.0.1:3000` when the settings were not declared.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Validator};
    ///
    /// let config = Validator::standard().validate(&Env::from_pairs([("HOST", "::1"), ("PORT", "8080")])).unwrap();
    /// assert_eq!(config.listen_addr(), "[::1]:8080");
    /// let config = Validator::standard().validate(&Env::default()).unwrap();
    /// assert_eq!(config.listen_addr(), "127.0.0.1:3000");
    /// ```
    pub fn listen_addr(&self) -> String {
        let host = self.get("HOST").unwrap_or("127.0.0.1");
        let port: u16 = self.parsed("PORT").unwrap_or(3000);
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
            // A host name, resolved when binding.
            Err(_) => format!("{host}:{port}"),
        }
    }

    /// A secret setting (or its generated development fallback).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    /// use secrecy::ExposeSecret;
    ///
    /// let validator = Validator::new().setting(Setting::secret("SMTP_PASSWORD"));
    /// let config = validator.validate(&Env::from_pairs([("SMTP_PASSWORD", "hunter2")])).unwrap();
    /// assert_eq!(config.secret("SMTP_PASSWORD").unwrap().expose_secret(), "hunter2");
    /// assert!(!format!("{:?}", config.secret("SMTP_PASSWORD").unwrap()).contains("hunter2"));
    /// ```
    pub fn secret(&self, name: &str) -> Option<&SecretString> {
        self.secrets.get(name)
    }

    /// The warnings, without the `[STARTUP] WARNING: ` prefix.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Validator};
    ///
    /// let config = Validator::standard().validate(&Env::default()).unwrap();
    /// assert!(config.warnings().iter().any(|w| w.starts_with("REDIS_URL is not set")));
    ///
    /// let env = Env::from_pairs([("REDIS_URL", "redis://cache:6379"), ("JWT_SECRET", "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)")]);
    /// assert!(Validator::standard().validate(&env).unwrap().warnings().is_empty());
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Logs each warning as `[STARTUP] WARNING: …`, then
    /// `[STARTUP] Configuration validation passed`.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # #[derive(Clone, Default)]
    /// # struct Capture(Arc<Mutex<Vec<u8>>>);
    /// # impl std::io::Write for Capture {
    /// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
    /// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// # impl Capture { fn text(&self) -> String { String::from_utf8(self.0.lock().unwrap().clone()).unwrap() } }
    /// use ops_kit::config::{Env, Setting, Validator};
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    ///
    /// let out = Capture::default();
    /// let (subscriber, logs) = Telemetry::new(LogFormat::Text).writer(out.clone()).build();
    /// let validator = Validator::new().setting(Setting::new("SENTRY_DSN").warn_if_missing("no SENTRY_DSN"));
    /// let config = validator.validate(&Env::default()).unwrap();
    /// tracing::subscriber::with_default(subscriber, || config.log());
    /// logs.flush();
    /// assert_eq!(out.text(), "[STARTUP] WARNING: no SENTRY_DSN\n[STARTUP] Configuration validation passed mode=development\n");
    /// ```
    pub fn log(&self) {
        for warning in &self.warnings {
            tracing::warn!(target: "ops_kit::startup", "[STARTUP] WARNING: {warning}");
        }
        tracing::info!(
            target: "ops_kit::startup",
            mode = self.mode.as_str(),
            "[STARTUP] Configuration validation passed"
        );
    }
}

/// A configuration that failed validation: every error, not just the first.
///
/// # Example
///
/// ```
/// use ops_kit::config::{Env, Setting, Validator};
///
/// let validator = Validator::new().setting(Setting::new("QUEUE_URL").required());
/// let rejected = validator.validate(&Env::from_pairs([("APP_ENV", "staging")])).unwrap_err();
/// assert_eq!(rejected.errors().len(), 2);
/// assert_eq!(
///     rejected.to_string(),
///     r#"APP_ENV must be `production` or `development` (got "staging"); QUEUE_URL is required"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl Rejected {
    /// The fatal errors, without the `[STARTUP ERROR] FATAL: ` prefix.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("QUEUE_URL").required_in_production());
    /// let rejected = validator.validate(&Env::from_pairs([("APP_ENV", "production")])).unwrap_err();
    /// assert_eq!(rejected.errors(), ["QUEUE_URL is required in production"]);
    /// ```
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Logs each error as `[STARTUP ERROR] FATAL: …`, then
    /// `[STARTUP] Aborting due to critical configuration errors`.
    ///
    /// The caller then exits with status 1, before binding any port.
    ///
    /// # Example
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # #[derive(Clone, Default)]
    /// # struct Capture(Arc<Mutex<Vec<u8>>>);
    /// # impl std::io::Write for Capture {
    /// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
    /// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// # impl Capture { fn text(&self) -> String { String::from_utf8(self.0.lock().unwrap().clone()).unwrap() } }
    /// use ops_kit::config::{Env, Setting, Validator};
    /// use ops_kit::telemetry::{LogFormat, Telemetry};
    ///
    /// let out = Capture::default();
    /// let (subscriber, logs) = Telemetry::new(LogFormat::Text).writer(out.clone()).build();
    /// let rejected = Validator::new().setting(Setting::new("QUEUE_URL").required()).validate(&Env::default()).unwrap_err();
    /// tracing::subscriber::with_default(subscriber, || rejected.log());
    /// logs.flush();
    /// assert_eq!(out.text(), "[STARTUP ERROR] FATAL: QUEUE_URL is required\n[STARTUP] Aborting due to critical configuration errors\n");
    /// ```
    pub fn log(&self) {
        for warning in &self.warnings {
            tracing::warn!(target: "ops_kit::startup", "[STARTUP] WARNING: {warning}");
        }
        for error in &self.errors {
            tracing::error!(target: "ops_kit::startup", "[STARTUP ERROR] FATAL: {error}");
        }
        tracing::error!(
            target: "ops_kit::startup",
            "[STARTUP] Aborting due to critical configuration errors"
        );
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.errors.join("; "))
    }
}

impl std::error::Error for Rejected {}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const STRONG: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

    fn production(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://app@db/crm"),
            ("JWT_SECRET", STRONG),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn reports_every_failure_not_just_the_first() {
        let env = Env::from_pairs([
            ("APP_ENV", "production"),
            ("BYPASS_AUTH", "true"),
            ("VITE_BYPASS_AUTH", "true"),
        ]);
        let rejected = Validator::standard().validate(&env).unwrap_err();
        assert_eq!(
            rejected.errors(),
            [
                "JWT_SECRET is required in production",
                "DATABASE_URL is required in production",
                "BYPASS_AUTH must not be true in production",
                "VITE_BYPASS_AUTH must not be true in production",
            ]
        );
    }

    #[test]
    fn an_unknown_app_env_is_fatal() {
        let env = Env::from_pairs([("APP_ENV", "staging")]);
        let rejected = Validator::standard().validate(&env).unwrap_err();
        assert_eq!(
            rejected.errors()[0],
            r#"APP_ENV must be `production` or `development` (got "staging")"#
        );
    }

    #[test]
    fn development_generates_a_jwt_secret_and_warns_about_it_and_redis() {
        let config = Validator::standard().validate(&Env::default()).unwrap();
        assert_eq!(config.mode(), Mode::Development);
        assert_eq!(
            config.secret("JWT_SECRET").unwrap().expose_secret().len(),
            64
        );
        assert_eq!(config.warnings().len(), 2);
        assert!(config.warnings()[0].starts_with("JWT_SECRET is not set"));
        assert!(config.warnings()[1].starts_with("REDIS_URL is not set"));
    }

    #[test]
    fn production_listens_on_all_interfaces_by_default() {
        let config = Validator::standard().validate(&production(&[])).unwrap();
        assert_eq!(config.get("HOST"), Some("0.0.0.0"));
        assert_eq!(config.parsed::<u16>("PORT"), Some(3000));
        assert_eq!(config.parsed::<u64>("SHUTDOWN_TIMEOUT_SECS"), Some(30));
    }

    #[test]
    fn database_and_redis_urls_are_handed_out_as_secrets() {
        let url = "postgres://app:hunter2@db/crm";
        let config = Validator::standard()
            .validate(&production(&[
                ("DATABASE_URL", url),
                ("REDIS_URL", "redis://:pw@cache"),
            ]))
            .unwrap();
        assert_eq!(config.get("DATABASE_URL"), None);
        assert_eq!(config.secret("DATABASE_URL").unwrap().expose_secret(), url);
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn log_format_is_accepted_in_any_case() {
        let config = Validator::standard()
            .validate(&Env::from_pairs([("LOG_FORMAT", "JSON")]))
            .unwrap();
        assert_eq!(config.get("LOG_FORMAT"), Some("JSON"));
    }

    #[test]
    fn no_message_and_no_debug_output_contains_a_secret() {
        let weak = "password-password-password-password";
        let rejected = Validator::standard()
            .validate(&production(&[("JWT_SECRET", weak)]))
            .unwrap_err();
        assert!(!rejected.to_string().contains(weak));
        assert!(!format!("{rejected:?}").contains(weak));
        let config = Validator::standard().validate(&production(&[])).unwrap();
        assert!(!format!("{config:?}").contains(STRONG));
    }

    #[test]
    fn services_add_their_own_settings_with_the_same_mechanism() {
        let validator = Validator::standard().setting(
            Setting::new("LOGIN_MAX_ATTEMPTS")
                .parse::<u32>("a whole number")
                .default("5"),
        );
        let config = validator.validate(&production(&[])).unwrap();
        assert_eq!(config.parsed::<u32>("LOGIN_MAX_ATTEMPTS"), Some(5));
        let rejected = validator
            .validate(&production(&[("LOGIN_MAX_ATTEMPTS", "many")]))
            .unwrap_err();
        assert_eq!(
            rejected.errors(),
            [r#"LOGIN_MAX_ATTEMPTS must be a whole number (got "many")"#]
        );
    }
}
