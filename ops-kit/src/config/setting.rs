use std::fmt;
use std::sync::Arc;

use super::env::{Env, Mode, shown};

/// How a setting's value is checked for form.
type Parser = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Where a missing setting gets its development value from.
#[derive(Clone)]
pub(crate) enum Fallback {
    /// A fixed value.
    Value(String),
    /// A value that depends on the mode.
    ByMode {
        development: String,
        production: String,
    },
    /// A fresh random secret, with a warning.
    RandomSecret { warning: String },
}

/// One environment variable and the rules it must satisfy.
///
/// Rules are declared, not coded: the [`Validator`](super::Validator) checks
/// them all and reports every failure at once.
///
/// # Example
///
/// ```
/// use ops_kit::config::Setting;
///
/// let port = Setting::new("PORT").parse::<u16>("a port number").default("3000");
/// let secret = Setting::secret("JWT_SECRET")
///     .required_in_production()
///     .min_len_in_production(32)
///     .strong_in_production()
///     .random_in_development("JWT_SECRET is not set; using a generated development secret");
/// let bypass = Setting::new("BYPASS_AUTH").not_true_in_production();
/// # let _ = (port, secret, bypass);
/// ```
#[derive(Clone)]
#[must_use]
pub struct Setting {
    pub(crate) name: String,
    pub(crate) secret: bool,
    required_in_production: bool,
    required_always: bool,
    min_len_in_production: Option<usize>,
    strong_in_production: bool,
    not_true_in_production: bool,
    warn_if_missing: Option<String>,
    parser: Option<Parser>,
    pub(crate) fallback: Option<Fallback>,
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("name", &self.name)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// The result of checking one setting.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) errors: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

impl Setting {
    /// A plain (non-secret) setting: its value may appear in messages.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("REGION"));
    /// let config = validator.validate(&Env::from_pairs([("REGION", " eu-west-1 ")])).unwrap();
    /// assert_eq!(config.get("REGION"), Some("eu-west-1")); // trimmed
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            secret: false,
            required_in_production: false,
            required_always: false,
            min_len_in_production: None,
            strong_in_production: false,
            not_true_in_production: false,
            warn_if_missing: None,
            parser: None,
            fallback: None,
        }
    }

    /// A secret: its value never appears in any message and is handed out
    /// only as a [`secrecy::SecretString`].
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    /// use secrecy::ExposeSecret;
    ///
    /// let validator = Validator::new().setting(Setting::secret("API_KEY"));
    /// let config = validator.validate(&Env::from_pairs([("API_KEY", "s3cr3t-k3y")])).unwrap();
    /// assert_eq!(config.get("API_KEY"), None); // not readable as a plain value
    /// assert_eq!(config.secret("API_KEY").unwrap().expose_secret(), "s3cr3t-k3y");
    /// assert!(!format!("{config:?}").contains("s3cr3t-k3y"));
    /// ```
    pub fn secret(name: impl Into<String>) -> Self {
        Self {
            secret: true,
            ..Self::new(name)
        }
    }

    /// Fatal in production when missing.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("SMTP_HOST").required_in_production());
    /// assert!(validator.validate(&Env::default()).is_ok());
    /// let rejected = validator.validate(&Env::from_pairs([("APP_ENV", "production")])).unwrap_err();
    /// assert_eq!(rejected.errors(), ["SMTP_HOST is required in production"]);
    /// ```
    pub fn required_in_production(mut self) -> Self {
        self.required_in_production = true;
        self
    }

    /// Fatal in every mode when missing.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("TENANT_ID").required());
    /// let rejected = validator.validate(&Env::default()).unwrap_err();
    /// assert_eq!(rejected.errors(), ["TENANT_ID is required"]);
    /// ```
    pub fn required(mut self) -> Self {
        self.required_always = true;
        self
    }

    /// In production, fatal when shorter than `chars` characters; a warning
    /// in development.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::secret("API_KEY").min_len_in_production(16));
    /// let dev = validator.validate(&Env::from_pairs([("API_KEY", "abc123")])).unwrap();
    /// assert_eq!(dev.warnings(), ["API_KEY must be at least 16 characters (fatal in production)"]);
    ///
    /// let prod = Env::from_pairs([("APP_ENV", "production"), ("API_KEY", "abc123")]);
    /// let rejected = validator.validate(&prod).unwrap_err();
    /// assert_eq!(rejected.errors(), ["API_KEY must be at least 16 characters in production"]);
    /// ```
    pub fn min_len_in_production(mut self, chars: usize) -> Self {
        self.min_len_in_production = Some(chars);
        self
    }

    /// In production, fatal when the value is a well-known placeholder or
    /// has fewer than 8 distinct characters; a warning in development.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::secret("SESSION_KEY").strong_in_production());
    /// let weak = Env::from_pairs([("APP_ENV", "production"), ("SESSION_KEY", "changeme-changeme")]);
    /// assert_eq!(
    ///     validator.validate(&weak).unwrap_err().errors(),
    ///     ["SESSION_KEY is too weak: it contains a well-known placeholder in production"]
    /// );
    /// let strong = Env::from_pairs([("APP_ENV", "production"), ("SESSION_KEY", "k9#Vq2!mZr7&Lp4@")]);
    /// assert!(validator.validate(&strong).is_ok());
    /// ```
    pub fn strong_in_production(mut self) -> Self {
        self.strong_in_production = true;
        self
    }

    /// In production, fatal when the value is truthy (`true`, `1`, `yes`,
    /// `on`, in any case).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("BYPASS_AUTH").not_true_in_production());
    /// let prod = Env::from_pairs([("APP_ENV", "production"), ("BYPASS_AUTH", "Yes")]);
    /// assert_eq!(
    ///     validator.validate(&prod).unwrap_err().errors(),
    ///     ["BYPASS_AUTH must not be true in production"]
    /// );
    /// let dev = validator.validate(&Env::from_pairs([("BYPASS_AUTH", "1")])).unwrap();
    /// assert_eq!(dev.warnings(), ["BYPASS_AUTH must not be true (fatal in production)"]);
    /// ```
    pub fn not_true_in_production(mut self) -> Self {
        self.not_true_in_production = true;
        self
    }

    /// Prints `[STARTUP] WARNING: <message>` when the setting is missing.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new()
    ///     .setting(Setting::new("SENTRY_DSN").warn_if_missing("SENTRY_DSN is not set; errors are only logged"));
    /// let config = validator.validate(&Env::default()).unwrap();
    /// assert_eq!(config.warnings(), ["SENTRY_DSN is not set; errors are only logged"]);
    /// assert!(validator.validate(&Env::from_pairs([("SENTRY_DSN", "https://k@sentry/1")])).unwrap().warnings().is_empty());
    /// ```
    pub fn warn_if_missing(mut self, message: impl Into<String>) -> Self {
        self.warn_if_missing = Some(message.into());
        self
    }

    /// The value must parse as `T`; `what` names the expected form in the
    /// error message.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("WORKERS").parse::<u8>("a number of workers"));
    /// let config = validator.validate(&Env::from_pairs([("WORKERS", "4")])).unwrap();
    /// assert_eq!(config.parsed::<u8>("WORKERS"), Some(4));
    ///
    /// let rejected = validator.validate(&Env::from_pairs([("WORKERS", "many")])).unwrap_err();
    /// assert_eq!(rejected.errors(), [r#"WORKERS must be a number of workers (got "many")"#]);
    /// ```
    pub fn parse<T: std::str::FromStr>(mut self, what: &'static str) -> Self {
        self.parser = Some(Arc::new(move |value: &str| {
            value
                .trim()
                .parse::<T>()
                .map(|_| ())
                .map_err(|_| format!("must be {what}"))
        }));
        self
    }

    /// The value must be one of `choices` (compared without regard to case).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("CACHE").one_of(&["memory", "redis"]));
    /// assert!(validator.validate(&Env::from_pairs([("CACHE", "Redis")])).is_ok());
    ///
    /// let rejected = validator.validate(&Env::from_pairs([("CACHE", "disk")])).unwrap_err();
    /// assert_eq!(rejected.errors(), [r#"CACHE must be one of memory, redis (got "disk")"#]);
    /// ```
    pub fn one_of(mut self, choices: &'static [&'static str]) -> Self {
        self.parser = Some(Arc::new(move |value: &str| {
            if choices.iter().any(|c| c.eq_ignore_ascii_case(value.trim())) {
                Ok(())
            } else {
                Err(format!("must be one of {}", choices.join(", ")))
            }
        }));
        self
    }

    /// The value used when the setting is missing.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new().setting(Setting::new("PORT").default("3000"));
    /// assert_eq!(validator.validate(&Env::default()).unwrap().get("PORT"), Some("3000"));
    ///
    /// let config = validator.validate(&Env::from_pairs([("PORT", "8080")])).unwrap();
    /// assert_eq!(config.get("PORT"), Some("8080"));
    /// ```
    pub fn default(mut self, value: impl Into<String>) -> Self {
        self.fallback = Some(Fallback::Value(value.into()));
        self
    }

    /// Different defaults in development and production (for example a
    /// loopback listen address in development only).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    ///
    /// let validator = Validator::new()
    ///     .setting(Setting::new("HOST").default_by_mode("127.0.0.1", "0.0.0.0"));
    /// let dev = validator.validate(&Env::default()).unwrap();
    /// assert_eq!(dev.get("HOST"), Some("127.0.0.1"));
    ///
    /// let prod = validator.validate(&Env::from_pairs([("APP_ENV", "production")])).unwrap();
    /// assert_eq!(prod.get("HOST"), Some("0.0.0.0"));
    /// ```
    pub fn default_by_mode(
        mut self,
        development: impl Into<String>,
        production: impl Into<String>,
    ) -> Self {
        self.fallback = Some(Fallback::ByMode {
            development: development.into(),
            production: production.into(),
        });
        self
    }

    /// In development, a missing value is replaced by a fresh random secret
    /// and `warning` is printed. Production still requires the setting if
    /// [`required_in_production`](Self::required_in_production) is set.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::{Env, Setting, Validator};
    /// use secrecy::ExposeSecret;
    ///
    /// let validator = Validator::new().setting(
    ///     Setting::secret("SIGNING_KEY").random_in_development("SIGNING_KEY is not set; using a random one"),
    /// );
    /// let (a, b) = (validator.validate(&Env::default()).unwrap(), validator.validate(&Env::default()).unwrap());
    /// assert_eq!(a.warnings(), ["SIGNING_KEY is not set; using a random one"]);
    /// assert_ne!(a.secret("SIGNING_KEY").unwrap().expose_secret(), b.secret("SIGNING_KEY").unwrap().expose_secret());
    ///
    /// let prod = validator.validate(&Env::from_pairs([("APP_ENV", "production")])).unwrap();
    /// assert!(prod.secret("SIGNING_KEY").is_none()); // no fallback in production
    /// ```
    pub fn random_in_development(mut self, warning: impl Into<String>) -> Self {
        self.fallback = Some(Fallback::RandomSecret {
            warning: warning.into(),
        });
        self
    }

    pub(crate) fn check(&self, env: &Env, mode: Mode) -> Outcome {
        let mut out = Outcome::default();
        let name = &self.name;
        let Some(value) = env.get(name) else {
            if self.required_always || (self.required_in_production && mode.is_production()) {
                let when = if self.required_always {
                    ""
                } else {
                    " in production"
                };
                out.errors.push(format!("{name} is required{when}"));
            } else if let Some(message) = &self.warn_if_missing {
                out.warnings.push(message.clone());
            } else if let (Some(Fallback::RandomSecret { warning }), Mode::Development) =
                (&self.fallback, mode)
            {
                out.warnings.push(warning.clone());
            }
            return out;
        };

        if let Some(parser) = &self.parser
            && let Err(expected) = parser(value)
        {
            if self.secret {
                out.errors.push(format!("{name} {expected}"));
            } else {
                out.errors
                    .push(format!("{name} {expected} (got {})", shown(value)));
            }
        }

        // Production-only rules: fatal in production, warnings otherwise.
        let mut soft = Vec::new();
        if let Some(min) = self.min_len_in_production
            && value.chars().count() < min
        {
            soft.push(format!("{name} must be at least {min} characters"));
        }
        if self.strong_in_production
            && let Some(reason) = weakness(value)
        {
            soft.push(format!("{name} is too weak: {reason}"));
        }
        if self.not_true_in_production && is_truthy(value) {
            soft.push(format!("{name} must not be true"));
        }
        for message in soft {
            if mode.is_production() {
                out.errors.push(format!("{message} in production"));
            } else {
                out.warnings
                    .push(format!("{message} (fatal in production)"));
            }
        }
        out
    }
}

/// Whether a flag's value means "on": `true`, `1`, `yes` or `on`, in any case.
///
/// # Example
///
/// ```
/// assert!(ops_kit::config::is_truthy("TRUE"));
/// assert!(!ops_kit::config::is_truthy("false"));
/// ```
pub fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

/// Placeholders seen in tutorials, templates and `.env.example` files,
/// compared with case and punctuation removed.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "changeit",
    "changethis",
    "changeinproduction",
    "replaceme",
    "yoursecret",
    "yourjwtsecret",
    "your256bitsecret",
    "secretkey",
    "jwtsecret",
    "supersecret",
    "mysecret",
    "devsecret",
    "testsecret",
    "placeholder",
    "example",
    "default",
    "password",
    "qwerty",
    "letmein",
    "todo",
];

/// Why a secret is weak, if it is.
fn weakness(value: &str) -> Option<&'static str> {
    let folded: String = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if PLACEHOLDERS.iter().any(|p| folded.contains(p)) {
        return Some("it contains a well-known placeholder");
    }
    let mut distinct: Vec<char> = value.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 8 {
        return Some("it has fewer than 8 distinct characters");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(setting: &Setting, pairs: &[(&str, &str)], mode: Mode) -> Outcome {
        setting.check(&Env::from_pairs(pairs.iter().copied()), mode)
    }

    #[test]
    fn a_missing_required_setting_is_fatal_only_in_production() {
        let s = Setting::new("DATABASE_URL").required_in_production();
        assert_eq!(
            check(&s, &[], Mode::Production).errors,
            vec!["DATABASE_URL is required in production"]
        );
        assert!(check(&s, &[], Mode::Development).errors.is_empty());
    }

    #[test]
    fn a_short_secret_is_fatal_in_production_and_a_warning_in_development() {
        let s = Setting::secret("JWT_SECRET").min_len_in_production(32);
        let short = [("JWT_SECRET", "aB3$dE6&hI9")];
        assert_eq!(
            check(&s, &short, Mode::Production).errors,
            vec!["JWT_SECRET must be at least 32 characters in production"]
        );
        let dev = check(&s, &short, Mode::Development);
        assert!(dev.errors.is_empty());
        assert_eq!(dev.warnings.len(), 1);
    }

    #[test]
    fn weak_secrets_are_rejected_without_showing_them() {
        let s = Setting::secret("JWT_SECRET").strong_in_production();
        for weak in [
            "your-super-secret-jwt-key-change-in-production",
            "CHANGEME-CHANGEME-CHANGEME-CHANGEME",
            "abababababababababababababababababab",
        ] {
            let out = check(&s, &[("JWT_SECRET", weak)], Mode::Production);
            assert_eq!(out.errors.len(), 1, "{weak} should be weak");
            assert!(!out.errors[0].contains(weak));
        }
        let strong = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";
        assert!(
            check(&s, &[("JWT_SECRET", strong)], Mode::Production)
                .errors
                .is_empty()
        );
    }

    #[test]
    fn any_truthy_spelling_of_a_forbidden_flag_is_fatal_in_production() {
        let s = Setting::new("BYPASS_AUTH").not_true_in_production();
        for value in ["true", "TRUE", "1", "yes", " on "] {
            assert_eq!(
                check(&s, &[("BYPASS_AUTH", value)], Mode::Production).errors,
                vec!["BYPASS_AUTH must not be true in production"]
            );
        }
        assert!(
            check(&s, &[("BYPASS_AUTH", "false")], Mode::Production)
                .errors
                .is_empty()
        );
    }

    #[test]
    fn a_malformed_value_is_fatal_in_every_mode_and_is_shown_escaped() {
        let s = Setting::new("PORT").parse::<u16>("a port number (0-65535)");
        let out = check(&s, &[("PORT", "80\n80")], Mode::Development);
        assert_eq!(
            out.errors,
            vec![r#"PORT must be a port number (0-65535) (got "80\n80")"#]
        );
    }

    #[test]
    fn a_malformed_secret_is_reported_without_its_value() {
        let s = Setting::secret("API_KEY").parse::<u8>("a small number");
        let out = check(&s, &[("API_KEY", "hunter2")], Mode::Development);
        assert_eq!(out.errors, vec!["API_KEY must be a small number"]);
    }
}
