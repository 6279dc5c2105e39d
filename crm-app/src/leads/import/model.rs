//! A lead import as stored: its state, the rows to write, the rows
//! refused and why, and its counts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json;
use uuid::Uuid;

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Read and checked; nothing written yet.
    Previewed,
    /// Being written, batch by batch.
    Running,
    /// Every row written or failed.
    Done,
}

impl ImportState {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Previewed => "previewed",
            ImportState::Running => "running",
            ImportState::Done => "done",
        }
    }

    /// The state of a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        [Self::Previewed, Self::Running, Self::Done]
            .into_iter()
            .find(|s| s.as_str() == code)
    }
}

/// One problem of a row: the API field it concerns (empty for the row as
/// a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The API's field name, or empty.
    pub field: String,
    /// What is wrong, as the API says it.
    pub message: String,
}

/// A row of the file that will be written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// The fields of its upsert, as the API takes them.
    pub fields: Map<String, Value>,
    /// The existing lead it updates, at preview (`None`: a new lead).
    pub matches: Option<Uuid>,
    /// An earlier row of the file it updates (same id, external id or
    /// email), at preview.
    pub after_line: Option<u64>,
}

/// A row that will not be written, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// Its line in the file.
    pub line: u64,
    /// The name in it, if any (for the person reading the list).
    pub name: String,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// A column of the file that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    /// Its header.
    pub column: String,
    /// Why it is not imported.
    pub why: String,
}

/// An import, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeadImport {
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The import.
    pub id: Uuid,
    /// Who previewed it.
    pub created_by: Uuid,
    /// The uploaded file's name.
    pub file_name: String,
    /// Its state's code ([`ImportState`]).
    pub state: String,
    /// The rows to write, in the file's order.
    pub rows: Json<Vec<Row>>,
    /// The rows refused at preview.
    pub refused: Json<Vec<Refused>>,
    /// The file's columns that are not imported.
    pub ignored: Json<Vec<Ignored>>,
    /// How many rows are to be written.
    pub total: i32,
    /// How many of them have been (written or failed).
    pub processed: i32,
    /// New leads written.
    pub created: i32,
    /// Existing leads changed.
    pub updated: i32,
    /// Rows that matched a lead and changed nothing.
    pub unchanged: i32,
    /// Rows that could not be written when their turn came.
    pub failed: Json<Vec<Refused>>,
    /// When it was previewed.
    pub created_at: DateTime<Utc>,
    /// When the last batch was written.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// When the last row was.
    pub finished_at: Option<DateTime<Utc>>,
}

impl LeadImport {
    /// Its state.
    pub fn state(&self) -> ImportState {
        ImportState::parse(&self.state).unwrap_or(ImportState::Done)
    }
}

/// An import's progress, without its rows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Progress {
    /// Its state's code.
    pub state: String,
    /// Rows to write.
    pub total: i32,
    /// Rows written or failed.
    pub processed: i32,
    /// New leads.
    pub created: i32,
    /// Changed leads.
    pub updated: i32,
    /// Unchanged leads.
    pub unchanged: i32,
    /// When the last batch was written.
    pub heartbeat_at: Option<DateTime<Utc>>,
}
