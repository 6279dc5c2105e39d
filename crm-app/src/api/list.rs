//! Lists: `limit`, an opaque `cursor`, a whitelisted `sort`, soft-deleted
//! rows on request, and the `{"data", "pageInfo"}` response.
//!
//! Pages are keyset pages: a cursor holds the sort key and id of the last
//! row served, and the next page starts strictly after it. Rows inserted
//! or changed while a client walks the list never make it skip or repeat a
//! row that stayed put.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::IntoResponse as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ops_kit::{ApiError, FieldError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::json::{Out, WriteJson};
use super::sql::{Arg, Sql};

/// The default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page size.
pub const MAX_LIMIT: i64 = 200;

/// The query string, parsed; a malformed one is a 400 in the envelope
/// (unknown parameters included, so that a misspelt filter is noticed).
#[derive(Debug, Clone)]
pub struct ListQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ListQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                let message = rejection.body_text();
                let message = message
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&message)
                    .to_owned();
                Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("invalid query string: {message}"),
                ))
            }
        }
    }
}

/// Which rows a list shows with respect to soft deletion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Deleted {
    /// Live rows only (the default).
    #[default]
    Exclude,
    /// Live and deleted rows.
    Include,
    /// Deleted rows only.
    Only,
}

impl Deleted {
    /// The condition on `deleted_at`.
    pub fn condition(self) -> &'static str {
        match self {
            Self::Exclude => " AND deleted_at IS NULL",
            Self::Include => "",
            Self::Only => " AND deleted_at IS NOT NULL",
        }
    }
}

impl Deleted {
    /// Whether a row with this `deleted_at` is shown.
    pub fn shows<T>(self, deleted_at: Option<&T>) -> bool {
        match self {
            Self::Exclude => deleted_at.is_none(),
            Self::Include => true,
            Self::Only => deleted_at.is_some(),
        }
    }
}

/// The query string of a single-record read: `?deleted=include` shows a
/// soft-deleted record (hidden otherwise, like in lists).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// `include` or `only` to read a soft-deleted record.
    #[param(inline)]
    pub deleted: Option<Deleted>,
}

/// What a sort key is, for reading it back from a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A timestamp column.
    Time,
    /// A text column.
    Text,
    /// An integer column.
    Int,
}

/// One sortable field: its API name, its column, its kind.
pub type SortField = (&'static str, &'static str, KeyKind);

/// A validated sort order: one field, ascending or descending, then `id`
/// the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// As the client wrote it (`-updatedAt`); cursors remember it.
    pub name: String,
    /// The column.
    pub column: &'static str,
    /// The column's kind.
    pub kind: KeyKind,
    /// Newest / largest first.
    pub descending: bool,
}

impl Sort {
    /// Checks `requested` (or `default`) against the whitelist.
    pub fn parse(
        requested: Option<&str>,
        fields: &[SortField],
        default: &str,
    ) -> Result<Self, ApiError> {
        let name = requested.unwrap_or(default);
        let (descending, field) = match name.strip_prefix('-') {
            Some(field) => (true, field),
            None => (false, name),
        };
        let Some((_, column, kind)) = fields.iter().find(|(api, _, _)| *api == field) else {
            let allowed: Vec<String> = fields
                .iter()
                .flat_map(|(api, _, _)| [api.to_string(), format!("-{api}")])
                .collect();
            return Err(ApiError::validation(vec![FieldError::new(
                "sort",
                format!("must be one of {}", allowed.join(", ")),
            )]));
        };
        Ok(Self {
            name: name.to_owned(),
            column,
            kind: *kind,
            descending,
        })
    }

    /// `ORDER BY` for this sort, ending with the id.
    pub fn order_by(&self, id_column: &str) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        format!(" ORDER BY {} {dir}, {id_column} {dir}", self.column)
    }

    /// Appends the keyset condition for a page after `cursor`.
    pub fn after(&self, sql: &mut Sql, cursor: &Cursor, id_column: &str) {
        let op = if self.descending { "<" } else { ">" };
        let key = sql.arg(cursor.key.clone());
        let id = sql.arg(Arg::Uuid(cursor.id));
        sql.push(&format!(
            " AND ({}, {id_column}) {op} ({key}, {id})",
            self.column
        ));
    }
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The sort key of the last row served.
    pub key: Arg,
    /// Its id.
    pub id: Uuid,
}

#[derive(Serialize, Deserialize)]
struct Encoded {
    s: String,
    k: Value,
    i: Uuid,
}

impl Cursor {
    /// The opaque form of a cursor for `sort`.
    pub fn encode(&self, sort: &Sort) -> String {
        let key = match &self.key {
            Arg::Time(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            Arg::Text(t) => json!(t),
            Arg::Int(n) => json!(n),
            Arg::Uuid(u) => json!(u),
            Arg::Date(d) => json!(d),
        };
        let encoded = Encoded {
            s: sort.name.clone(),
            k: key,
            i: self.id,
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&encoded).expect("a cursor serializes"))
    }

    /// Reads a cursor back; a cursor that is malformed or was made for
    /// another sort order is a 400.
    pub fn decode(text: &str, sort: &Sort) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "cursor is not one this list handed out; start again without it",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let encoded: Encoded = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if encoded.s != sort.name {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "cursor was made for another sort order; keep the sort of the first page",
            ));
        }
        let key = match (sort.kind, encoded.k) {
            (KeyKind::Time, Value::String(t)) => Arg::Time(
                DateTime::parse_from_rfc3339(&t)
                    .map_err(|_| invalid())?
                    .with_timezone(&Utc),
            ),
            (KeyKind::Text, Value::String(t)) => Arg::Text(t),
            (KeyKind::Int, Value::Number(n)) => Arg::Int(n.as_i64().ok_or_else(invalid)?),
            _ => return Err(invalid()),
        };
        Ok(Self { key, id: encoded.i })
    }
}

/// Appends ` AND <column> IN (…)` for a comma-separated filter such as
/// `status=new,won`; a value outside `allowed` is recorded against `field`
/// instead.
pub fn any_of(
    sql: &mut Sql,
    column: &str,
    field: &str,
    raw: &str,
    allowed: &[&str],
    errors: &mut super::fields::Errors,
) {
    let wanted = one_of(field, raw, allowed, errors);
    if wanted.is_empty() {
        return;
    }
    let placeholders: Vec<String> = wanted
        .iter()
        .map(|value| sql.arg(Arg::Text((*value).into())))
        .collect();
    sql.push(&format!(" AND {column} IN ({})", placeholders.join(", ")));
}

/// The values of a comma-separated filter such as `status=qualified,quoted`,
/// each one of `allowed`, without repeats; on a value outside `allowed`,
/// an error for `field` and no values.
///
/// ```
/// use crm_app::api::{fields::Errors, list::one_of};
/// let mut errors = Errors::default();
/// assert_eq!(one_of("status", "won, lost,won", &["won", "lost"], &mut errors), ["won", "lost"]);
/// assert!(one_of("status", "won,maybe", &["won", "lost"], &mut errors).is_empty());
/// assert!(errors.finish().is_err());
/// ```
pub fn one_of<'a>(
    field: &str,
    raw: &'a str,
    allowed: &[&str],
    errors: &mut super::fields::Errors,
) -> Vec<&'a str> {
    let mut wanted: Vec<&str> = Vec::new();
    for value in raw.split(',').map(str::trim) {
        if !allowed.contains(&value) {
            errors.add(
                field,
                format!("must be a comma-separated list of {}", allowed.join(", ")),
            );
            return Vec::new();
        }
        if !wanted.contains(&value) {
            wanted.push(value);
        }
    }
    wanted
}

/// Turns a keyset page query that filters a column on one of several
/// values into one branch per value, merged: `branch` is the whole page
/// query (ending in `order_by` and `LIMIT limit`) with `marker` where a
/// value's placeholder goes. Each branch reads its value's rows in index
/// order and stops at the page size, so a page costs a few index entries
/// per value however many rows of other values sort before them; a single
/// `IN (…)` would walk the sort index past all of those.
///
/// ```
/// use crm_app::api::list::merge_branches;
/// let branch = "SELECT id, created_at FROM leads WHERE status = \u{1} ORDER BY created_at DESC, id DESC LIMIT $4";
/// let sql = merge_branches(branch, "\u{1}", &["$2".into(), "$3".into()], " ORDER BY created_at DESC, id DESC", "$4");
/// assert_eq!(
///     sql,
///     "SELECT * FROM (SELECT * FROM (SELECT id, created_at FROM leads WHERE status = $2 ORDER BY created_at DESC, id DESC LIMIT $4) AS b0 \
///      UNION ALL SELECT * FROM (SELECT id, created_at FROM leads WHERE status = $3 ORDER BY created_at DESC, id DESC LIMIT $4) AS b1) AS merged \
///      ORDER BY created_at DESC, id DESC LIMIT $4"
/// );
/// ```
pub fn merge_branches(
    branch: &str,
    marker: &str,
    placeholders: &[String],
    order_by: &str,
    limit: &str,
) -> String {
    let branches: Vec<String> = placeholders
        .iter()
        .enumerate()
        .map(|(i, p)| format!("SELECT * FROM ({}) AS b{i}", branch.replace(marker, p)))
        .collect();
    format!(
        "SELECT * FROM ({}) AS merged{order_by} LIMIT {limit}",
        branches.join(" UNION ALL ")
    )
}

/// Checks `limit` (default 50, 1 to 200).
pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation(vec![FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )])),
    }
}

/// Where the next page starts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    #[allow(missing_docs)]
    pub has_next_page: bool,
}

/// A list's `sort` query parameter: one of `fields`, or `-` and one of
/// them for descending order (what [`Sort::parse`] accepts).
pub(crate) fn sort_parameter(fields: &[SortField]) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::Type;
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            fields
                .iter()
                .flat_map(|(name, ..)| [name.to_string(), format!("-{name}")]),
        ))
        .build()
}

/// A list response: `{"data": [...], "pageInfo": {...}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<V> {
    /// The rows of this page.
    pub data: Vec<V>,
    /// Where the next page starts.
    pub page_info: PageInfo,
}

impl<V: Serialize> axum::response::IntoResponse for Page<V> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self).into_response()
    }
}

impl<V: WriteJson> Page<V> {
    /// The response, with the rows written by their [`WriteJson`] rather
    /// than through serde: the same body, for the lists whose pages are
    /// read most (a test compares the two).
    pub fn into_written_response(self) -> axum::response::Response {
        let mut out = Out::with_capacity(256 + self.data.len() * 768);
        self.write_json(&mut out);
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            out.into_bytes(),
        )
            .into_response()
    }
}

impl<V: WriteJson> WriteJson for Page<V> {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"data\":[");
        for (i, row) in self.data.iter().enumerate() {
            if i > 0 {
                out.raw(",");
            }
            row.write_json(out);
        }
        out.raw("],\"pageInfo\":{\"nextCursor\":");
        out.opt_str(self.page_info.next_cursor.as_deref());
        out.raw(",\"hasNextPage\":");
        out.bool(self.page_info.has_next_page);
        out.raw("}}");
    }
}

/// Builds the response for rows fetched with `LIMIT limit + 1`: the extra
/// row only says that another page exists.
pub fn page<'r, T, V>(
    rows: &'r [T],
    limit: i64,
    sort: &Sort,
    cursor_of: impl Fn(&T) -> Cursor,
    view: impl Fn(&'r T) -> V,
) -> Page<V> {
    let has_next = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next_cursor = if has_next {
        rows.last().map(|last| cursor_of(last).encode(sort))
    } else {
        None
    };
    Page {
        data: rows.iter().map(view).collect(),
        page_info: PageInfo {
            next_cursor,
            has_next_page: has_next,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[SortField] = &[
        ("createdAt", "created_at", KeyKind::Time),
        ("name", "name", KeyKind::Text),
    ];

    #[test]
    fn a_cursor_round_trips_for_its_own_sort_only() {
        let sort = Sort::parse(Some("-createdAt"), FIELDS, "name").unwrap();
        let cursor = Cursor {
            key: Arg::Time("2026-11-25T10:00:00.123456Z".parse().unwrap()),
            id: Uuid::new_v4(),
        };
        let text = cursor.encode(&sort);
        assert_eq!(Cursor::decode(&text, &sort).unwrap(), cursor);
        let other = Sort::parse(Some("createdAt"), FIELDS, "name").unwrap();
        assert_eq!(
            Cursor::decode(&text, &other).unwrap_err().code(),
            "invalid_cursor"
        );
    }

    #[test]
    fn garbage_cursors_are_bad_requests() {
        let sort = Sort::parse(None, FIELDS, "name").unwrap();
        for text in [
            "",
            "!!",
            "eyJ9",
            &URL_SAFE_NO_PAD.encode(b"{\"s\":\"name\",\"k\":1,\"i\":\"x\"}"),
        ] {
            let err = Cursor::decode(text, &sort).unwrap_err();
            assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST, "{text}");
        }
    }

    #[test]
    fn only_whitelisted_sorts_are_accepted() {
        assert!(
            Sort::parse(Some("-name"), FIELDS, "name")
                .unwrap()
                .descending
        );
        let err = Sort::parse(Some("password"), FIELDS, "name").unwrap_err();
        assert_eq!(err.details()[0].field, "sort");
    }

    #[derive(Serialize)]
    struct Row {
        name: &'static str,
    }

    impl WriteJson for Row {
        fn write_json(&self, out: &mut Out) {
            out.raw("{\"name\":");
            out.str(self.name);
            out.raw("}");
        }
    }

    #[tokio::test]
    async fn a_written_page_is_the_body_serde_would_send() {
        use http_body_util::BodyExt as _;
        for (data, next_cursor) in [
            (vec![], None),
            (vec![Row { name: "a" }], None),
            (
                vec![Row { name: "a\"" }, Row { name: "" }],
                Some("eyJzIjoi".to_string()),
            ),
        ] {
            let page = Page {
                page_info: PageInfo {
                    has_next_page: next_cursor.is_some(),
                    next_cursor,
                },
                data,
            };
            let expected = serde_json::to_string(&page).unwrap();
            let response = page.into_written_response();
            assert_eq!(response.headers()["content-type"], "application/json");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
        }
    }

    #[test]
    fn limits_outside_one_to_two_hundred_are_refused() {
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some(200)).unwrap(), 200);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(201)).is_err());
    }
}
