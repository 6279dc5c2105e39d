use std::collections::HashMap;
use std::fmt;

/// A snapshot of the environment variables a service reads.
///
/// Validation runs against a snapshot rather than the live process
/// environment, so tests can build one from pairs. An empty value counts as
/// unset (orchestrators often render missing values as empty strings).
///
/// # Example
///
/// ```
/// use ops_kit::config::Env;
///
/// let env = Env::from_pairs([("APP_ENV", "production"), ("PORT", "")]);
/// assert_eq!(env.get("APP_ENV"), Some("production"));
/// assert_eq!(env.get("PORT"), None);
/// ```
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The variables of the running process (non-UTF-8 ones are skipped).
    ///
    /// # Example
    ///
    /// ```
    /// let env = ops_kit::config::Env::from_process();
    /// let path = std::env::var("PATH").ok().filter(|v| !v.is_empty());
    /// assert_eq!(env.get("PATH"), path.as_deref());
    /// ```
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// A snapshot made of `pairs`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::Env;
    ///
    /// let env = Env::from_pairs([("PORT", "8080"), ("HOST", "0.0.0.0")]);
    /// assert_eq!(env.get("PORT"), Some("8080"));
    ///
    /// let owned = Env::from_pairs(vec![(String::from("APP_ENV"), String::from("production"))]);
    /// assert_eq!(owned.get("APP_ENV"), Some("production"));
    /// ```
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`, or `None` when it is unset or empty.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::Env;
    ///
    /// let env = Env::from_pairs([("PORT", "3000"), ("REDIS_URL", "")]);
    /// assert_eq!(env.get("PORT"), Some("3000"));
    /// assert_eq!(env.get("REDIS_URL"), None); // empty counts as unset
    /// assert_eq!(env.get("DATABASE_URL"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    // Values may be secrets: show names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

/// How the service runs, from `APP_ENV`.
///
/// # Example
///
/// ```
/// use ops_kit::config::Mode;
///
/// assert_eq!(Mode::parse(None), Ok(Mode::Development));
/// assert_eq!(Mode::parse(Some("production")), Ok(Mode::Production));
/// assert!(Mode::parse(Some("staging")).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Local work: fallbacks and warnings instead of hard failures.
    #[default]
    Development,
    /// Real traffic: every critical rule is enforced.
    Production,
}

impl Mode {
    /// Parses `APP_ENV` (unset means development).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::Mode;
    ///
    /// assert_eq!(Mode::parse(Some(" production ")), Ok(Mode::Production));
    /// assert_eq!(Mode::parse(Some("")), Ok(Mode::Development));
    /// assert_eq!(
    ///     Mode::parse(Some("prod")).unwrap_err(),
    ///     r#"APP_ENV must be `production` or `development` (got "prod")"#
    /// );
    /// ```
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("development") => Ok(Self::Development),
            Some("production") => Ok(Self::Production),
            Some(other) => Err(format!(
                "APP_ENV must be `production` or `development` (got {})",
                shown(other)
            )),
        }
    }

    /// `"production"` or `"development"`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::Mode;
    ///
    /// assert_eq!(Mode::Production.as_str(), "production");
    /// assert_eq!(Mode::default().as_str(), "development");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }

    /// Whether this is production.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::config::Mode;
    ///
    /// assert!(Mode::Production.is_production());
    /// assert!(!Mode::parse(None).unwrap().is_production());
    /// ```
    pub fn is_production(self) -> bool {
        self == Self::Production
    }
}

/// A non-secret value as it may appear in a message: quoted, escaped, short.
pub(crate) fn shown(value: &str) -> String {
    let short: String = value.chars().take(64).collect();
    let ellipsis = if short.len() < value.len() { "…" } else { "" };
    format!("{short:?}{ellipsis}")
}
