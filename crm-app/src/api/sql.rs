//! SQL text with numbered arguments, for the queries whose filters depend
//! on the request. The same text runs on PostgreSQL and SQLite (`$1`, `$2`
//! … on both); [`bind_args!`](crate::bind_args) binds the arguments inside
//! an [`on_backend!`](ops_kit::on_backend) block.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// One argument of a dynamic query.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// An id.
    Uuid(Uuid),
    /// Text.
    Text(String),
    /// A point in time.
    Time(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// An integer.
    Int(i64),
}

/// A query under construction: its text and its arguments, in order.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    /// The SQL text.
    pub text: String,
    /// The arguments its placeholders refer to.
    pub args: Vec<Arg>,
}

impl Sql {
    /// A query starting with `text`.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Adds an argument and returns its placeholder (`$n`).
    pub fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Appends `text` with each `?` replaced by the next of `args`.
    ///
    /// ```
    /// use crm_app::api::sql::{Arg, Sql};
    /// let mut sql = Sql::new("SELECT id FROM leads WHERE tenant_id = $1");
    /// sql.args.push(Arg::Int(0));
    /// sql.and(" AND status = ?", [Arg::Text("won".into())]);
    /// assert_eq!(sql.text, "SELECT id FROM leads WHERE tenant_id = $1 AND status = $2");
    /// ```
    pub fn and(&mut self, text: &str, args: impl IntoIterator<Item = Arg>) -> &mut Self {
        let mut args = args.into_iter();
        let mut pieces = text.split('?');
        if let Some(first) = pieces.next() {
            self.text.push_str(first);
        }
        for piece in pieces {
            let placeholder = self.arg(args.next().expect("one argument per `?`"));
            self.text.push_str(&placeholder);
            self.text.push_str(piece);
        }
        self
    }
}

impl Sql {
    /// Appends `(<p1>, <p2>, …)` with one placeholder per id, for
    /// `id IN …`. The list must not be empty.
    ///
    /// ```
    /// use crm_app::api::sql::Sql;
    /// let mut sql = Sql::new("SELECT id FROM leads WHERE id IN ");
    /// sql.in_list(&[uuid::Uuid::nil(), uuid::Uuid::max()]);
    /// assert_eq!(sql.text, "SELECT id FROM leads WHERE id IN ($1, $2)");
    /// ```
    pub fn in_list(&mut self, ids: &[Uuid]) -> &mut Self {
        debug_assert!(!ids.is_empty(), "IN () is not valid SQL");
        let placeholders: Vec<String> = ids.iter().map(|id| self.arg(Arg::Uuid(*id))).collect();
        self.text.push('(');
        self.text.push_str(&placeholders.join(", "));
        self.text.push(')');
        self
    }
}

/// Binds a [`Sql`]'s arguments to a `sqlx` query, in order.
#[macro_export]
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::api::sql::Arg::Uuid(v) => query.bind(*v),
                $crate::api::sql::Arg::Text(v) => query.bind(v.as_str()),
                $crate::api::sql::Arg::Time(v) => query.bind(*v),
                $crate::api::sql::Arg::Date(v) => query.bind(*v),
                $crate::api::sql::Arg::Int(v) => query.bind(*v),
            };
        }
        query
    }};
}

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\`
/// escaped (use with `ESCAPE '\'`), lowercased.
///
/// ```
/// assert_eq!(crm_app::api::sql::contains_pattern("50%_Off"), "%50\\%\\_off%");
/// ```
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
