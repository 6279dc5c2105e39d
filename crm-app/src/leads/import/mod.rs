//! Importing leads from a CSV file, in two steps: a [`preview`] that reads
//! the file, checks every row with the API's rules and finds the lead each
//! one would update (by id, external id or email, as the API's upsert
//! does), writing nothing but the import itself; then, once someone has
//! read the preview and [started](start) it, [`run`] writes the rows in
//! batches of [`BATCH`], each row through the API's [`upsert`] and audited
//! as `lead.upsert`, each batch committed with the import's counts.
//!
//! An import whose task stopped (the service restarted mid-way) holds no
//! half-written batch: when someone looks at it after [`STALE_AFTER`]
//! without progress, [`take_over`] lets a new task go on from the last
//! committed batch.
//!
//! [`upsert`]: crate::leads::domain::upsert

use std::collections::HashMap;
use std::time::Duration;

use ops_kit::audit::{self, AuditContext, AuditError};
use ops_kit::auth::Principal;
use ops_kit::sql::{Pool, Transaction};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::api::now;
use crate::auth::store as auth_store;
use crate::leads::domain::{self, LeadError};
use crate::leads::input::LeadInput;

mod model;
mod sheet;
pub mod store;

pub use model::{Ignored, ImportState, LeadImport, Problem, Progress, Refused, Row};
pub use sheet::{Column, MAX_ROWS, SheetError};

/// Rows written per transaction: small enough that other writers (on
/// SQLite, every other writer) wait only moments for each batch.
pub const BATCH: usize = 100;

/// How long a running import may go without a batch before someone
/// looking at it takes it over.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// Why an import step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error(transparent)]
    Sheet(#[from] SheetError),
    /// No such import of the tenant.
    #[error("import not found")]
    NotFound,
    /// The import was started already (or finished).
    #[error("the import has started already")]
    Started,
    /// A lead step failed.
    #[error(transparent)]
    Lead(LeadError),
    /// The audit entry could not be recorded.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<LeadError> for ImportError {
    fn from(err: LeadError) -> Self {
        match err {
            LeadError::Db(err) => ImportError::Db(err),
            other => ImportError::Lead(other),
        }
    }
}

/// What a refused lead step means for the row, in the API's words.
fn problems_of(err: &LeadError) -> Vec<Problem> {
    match err {
        LeadError::Invalid(details) => details
            .iter()
            .map(|e| Problem {
                field: e.field.clone(),
                message: e.message.clone(),
            })
            .collect(),
        other => vec![Problem {
            field: String::new(),
            message: other.to_string(),
        }],
    }
}

/// The keys by which a row names a lead: its id, external id and email.
fn keys(row: &Row) -> Vec<String> {
    let text = |name: &str| row.fields.get(name).and_then(Value::as_str);
    [
        text("id").map(|v| format!("id:{}", v.to_lowercase())),
        text("externalId").map(|v| format!("ext:{v}")),
        text("email").map(|v| format!("email:{}", v.to_lowercase())),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Reads `bytes` (the file `file_name`) and stores the import it
/// describes, unstarted: the rows the API's upsert would take, each with
/// the lead it matches, and the rows it would refuse with every problem.
/// A value without a currency takes `currency`.
///
/// # Errors
///
/// [`ImportError::Sheet`] when the file cannot be read at all.
pub async fn preview(
    tx: &mut Transaction,
    actor: &Principal,
    file_name: &str,
    bytes: &[u8],
    currency: &str,
) -> Result<LeadImport, ImportError> {
    let users = auth_store::users(tx, actor.tenant_id).await?;
    let sheet = sheet::read(bytes, &users, currency)?;
    let mut refused = sheet.refused;
    let mut rows = Vec::with_capacity(sheet.rows.len());
    let ignored = sheet.ignored;
    // Which earlier row of the file names a lead by each key: a later row
    // with the same key updates what that row wrote.
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (mut row, input) in sheet.rows {
        let keys = keys(&row);
        if let Some(line) = keys.iter().find_map(|k| seen.get(k)) {
            row.after_line = Some(*line);
        } else {
            match domain::plan_upsert(tx, actor, &input).await {
                Ok(planned) => row.matches = planned.existing.map(|l| l.id),
                Err(LeadError::Db(err)) => return Err(err.into()),
                Err(err) => {
                    refused.push(Refused {
                        line: row.line,
                        name: input.name.clone().unwrap_or_default(),
                        problems: problems_of(&err),
                    });
                    continue;
                }
            }
        }
        for key in keys {
            seen.entry(key).or_insert(row.line);
        }
        rows.push(row);
    }
    refused.sort_by_key(|r| r.line);
    let import = LeadImport {
        tenant_id: actor.tenant_id,
        id: Uuid::new_v4(),
        created_by: actor.user_id,
        file_name: file_name.chars().take(200).collect(),
        state: ImportState::Previewed.as_str().to_owned(),
        total: rows.len() as i32,
        rows: Json(rows),
        refused: Json(refused),
        ignored: Json(
            ignored
                .into_iter()
                .map(|(column, why)| Ignored {
                    column,
                    why: why.to_owned(),
                })
                .collect(),
        ),
        processed: 0,
        created: 0,
        updated: 0,
        unchanged: 0,
        failed: Json(Vec::new()),
        created_at: now(),
        heartbeat_at: None,
        finished_at: None,
    };
    store::insert(tx, &import).await?;
    Ok(import)
}

/// An import of the actor's tenant.
///
/// # Errors
///
/// [`ImportError::NotFound`] when the tenant has no such import.
pub async fn get(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
) -> Result<LeadImport, ImportError> {
    store::get(tx, actor.tenant_id, id)
        .await?
        .ok_or(ImportError::NotFound)
}

/// Marks a previewed import as running: [`run`] it once `tx` commits.
///
/// # Errors
///
/// [`ImportError::Started`] when it was started already (a second click
/// starts nothing); [`ImportError::NotFound`].
pub async fn start(tx: &mut Transaction, actor: &Principal, id: Uuid) -> Result<(), ImportError> {
    let progress = store::progress_for_update(tx, actor.tenant_id, id)
        .await?
        .ok_or(ImportError::NotFound)?;
    if progress.state != ImportState::Previewed.as_str() {
        return Err(ImportError::Started);
    }
    store::set_state(tx, actor.tenant_id, id, ImportState::Running, now()).await?;
    Ok(())
}

/// Claims a running import whose task has written nothing for
/// [`STALE_AFTER`]: `true` when the caller should [`run`] it (once `tx`
/// commits), `false` when it is finished or still going.
///
/// # Errors
///
/// [`ImportError::NotFound`]; the database's.
pub async fn take_over(
    tx: &mut Transaction,
    actor: &Principal,
    id: Uuid,
) -> Result<bool, ImportError> {
    let progress = store::progress_for_update(tx, actor.tenant_id, id)
        .await?
        .ok_or(ImportError::NotFound)?;
    let now = now();
    let stale = progress.heartbeat_at.is_none_or(|beat| {
        now.signed_duration_since(beat).to_std().unwrap_or_default() >= STALE_AFTER
    });
    if progress.state != ImportState::Running.as_str() || !stale {
        return Ok(false);
    }
    store::set_state(tx, actor.tenant_id, id, ImportState::Running, now).await?;
    Ok(true)
}

/// Deletes an import that was previewed and not started.
///
/// # Errors
///
/// [`ImportError::Started`] when it has started; [`ImportError::NotFound`].
pub async fn discard(tx: &mut Transaction, actor: &Principal, id: Uuid) -> Result<(), ImportError> {
    if store::discard(tx, actor.tenant_id, id).await? {
        return Ok(());
    }
    match store::progress_for_update(tx, actor.tenant_id, id).await? {
        Some(_) => Err(ImportError::Started),
        None => Err(ImportError::NotFound),
    }
}

/// Counts kept across batches.
#[derive(Debug, Default)]
struct Counts {
    created: i32,
    updated: i32,
    unchanged: i32,
    failed: Vec<Refused>,
}

/// Writes a running import's remaining rows, batch by batch, as `actor`,
/// each lead audited as `lead.upsert` with the facts of the request that
/// started it. Stops without writing when another task has taken the
/// import over. Meant to be spawned once [`start`] or [`take_over`]
/// committed.
///
/// # Errors
///
/// The database's or the audit sink's, when a row fails even on its own;
/// the batches before it stay written and the import can be taken over.
pub async fn run(
    pool: &Pool,
    actor: &Principal,
    facts: &AuditContext,
    id: Uuid,
) -> Result<(), ImportError> {
    let tenant = actor.tenant_id;
    let import = {
        let mut tx = pool.begin_read_for_tenant(tenant).await?;
        let import = get(&mut tx, actor, id).await?;
        tx.rollback().await?;
        import
    };
    let rows = import.rows.0;
    let mut done = import.processed as usize;
    while done < rows.len() {
        let end = (done + BATCH).min(rows.len());
        let batch = &rows[done..end];
        let mut tx = pool.begin_for_tenant(tenant).await?;
        let Some(mut counts) = claim(&mut tx, tenant, id, done).await? else {
            return Ok(());
        };
        match write_rows(&mut tx, actor, facts, batch, &mut counts).await {
            Ok(()) => {
                finish_batch(&mut tx, tenant, id, end, &counts, end == rows.len()).await?;
                tx.commit().await?;
            }
            Err(err) => {
                // A statement failed (a key taken by a write that crossed
                // this one, say): PostgreSQL has aborted the transaction,
                // so the batch is written again one row at a time.
                tracing::warn!(error = %err, import = %id, "a lead import batch failed; writing it row by row");
                drop(tx);
                for (i, row) in batch.iter().enumerate() {
                    write_alone(
                        pool,
                        actor,
                        facts,
                        id,
                        done + i,
                        row,
                        end == rows.len() && i + 1 == batch.len(),
                    )
                    .await?;
                }
            }
        }
        done = end;
    }
    Ok(())
}

/// Locks the import and checks that it is still this task's to write at
/// row `at`; its counts so far, or `None` when it is not.
async fn claim(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    at: usize,
) -> Result<Option<Counts>, ImportError> {
    let Some(progress) = store::progress_for_update(tx, tenant, id).await? else {
        return Ok(None);
    };
    if progress.state != ImportState::Running.as_str() || progress.processed as usize != at {
        return Ok(None);
    }
    Ok(Some(Counts {
        created: progress.created,
        updated: progress.updated,
        unchanged: progress.unchanged,
        failed: store::failed_for_update(tx, tenant, id).await?,
    }))
}

async fn finish_batch(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    processed: usize,
    counts: &Counts,
    last: bool,
) -> Result<(), ImportError> {
    let advance = store::Advance {
        processed: processed as i32,
        created: counts.created,
        updated: counts.updated,
        unchanged: counts.unchanged,
        failed: &counts.failed,
        done: last,
    };
    store::advance(tx, tenant, id, &advance, now()).await?;
    Ok(())
}

/// Writes `rows` in `tx`; a row the lead rules refuse is counted as
/// failed. Any database or audit error is returned (the transaction is
/// then unusable on PostgreSQL).
async fn write_rows(
    tx: &mut Transaction,
    actor: &Principal,
    facts: &AuditContext,
    rows: &[Row],
    counts: &mut Counts,
) -> Result<(), ImportError> {
    for row in rows {
        let refused = |problems| Refused {
            line: row.line,
            name: row
                .fields
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            problems,
        };
        let input = match LeadInput::upsert(Value::Object(row.fields.clone())) {
            Ok(input) => input,
            Err(errors) => {
                counts
                    .failed
                    .push(refused(problems_of(&LeadError::from(errors))));
                continue;
            }
        };
        match domain::upsert(tx, actor, input).await {
            Ok(upserted) => {
                let mut entry = facts.entry("lead.upsert", "lead", upserted.lead.id.to_string());
                let mut changes = Value::Object(row.fields.clone());
                audit::redact(&mut changes, &[]);
                entry.changes = Some(changes);
                facts.record(tx, &entry).await?;
                match (upserted.created, upserted.changed) {
                    (true, _) => counts.created += 1,
                    (false, true) => counts.updated += 1,
                    (false, false) => counts.unchanged += 1,
                }
            }
            Err(LeadError::Db(err)) => return Err(err.into()),
            Err(err) => counts.failed.push(refused(problems_of(&err))),
        }
    }
    Ok(())
}

/// Writes one row (row `at` of the import) in a transaction of its own,
/// recording it as failed if even that fails.
#[allow(clippy::too_many_arguments)]
async fn write_alone(
    pool: &Pool,
    actor: &Principal,
    facts: &AuditContext,
    id: Uuid,
    at: usize,
    row: &Row,
    last: bool,
) -> Result<(), ImportError> {
    let tenant = actor.tenant_id;
    let mut tx = pool.begin_for_tenant(tenant).await?;
    let Some(mut counts) = claim(&mut tx, tenant, id, at).await? else {
        return Ok(());
    };
    match write_rows(
        &mut tx,
        actor,
        facts,
        std::slice::from_ref(row),
        &mut counts,
    )
    .await
    {
        Ok(()) => {
            finish_batch(&mut tx, tenant, id, at + 1, &counts, last).await?;
            tx.commit().await?;
        }
        Err(err) => {
            tracing::warn!(error = %err, import = %id, line = row.line, "a lead import row could not be written");
            drop(tx);
            let mut tx = pool.begin_for_tenant(tenant).await?;
            let Some(mut counts) = claim(&mut tx, tenant, id, at).await? else {
                return Ok(());
            };
            counts.failed.push(Refused {
                line: row.line,
                name: row
                    .fields
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                problems: vec![Problem {
                    field: String::new(),
                    message: "could not be written; try this row again".into(),
                }],
            });
            finish_batch(&mut tx, tenant, id, at + 1, &counts, last).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}
