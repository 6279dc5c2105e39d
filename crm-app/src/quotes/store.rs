//! The database steps of quotes.

use chrono::{DateTime, NaiveDate, Utc};
use ops_kit::on_backend;
use ops_kit::sql::Transaction;
use uuid::Uuid;

use super::model::{COLUMNS, LINE_COLUMNS, LineRow, QuoteRow, QuoteStatus};
use crate::api::list::{Cursor, Deleted, Sort};
use crate::api::sql::{Arg, Sql};
use crate::bind_args;
use crate::leads::store::for_update;

/// A quote of the tenant, deleted or not.
pub async fn get(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<QuoteRow>, sqlx::Error> {
    get_where(tx, tenant, id, "").await
}

/// [`get`], locked for the rest of the transaction.
pub async fn get_for_update(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<QuoteRow>, sqlx::Error> {
    let lock = for_update(tx);
    get_where(tx, tenant, id, lock).await
}

async fn get_where(
    tx: &mut Transaction,
    tenant: Uuid,
    id: Uuid,
    lock: &str,
) -> Result<Option<QuoteRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM quotes WHERE tenant_id = $1 AND id = $2{lock}");
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(id).fetch_optional(&mut **conn).await
    })
}

/// The quote with this external id, locked.
pub async fn by_external_id(
    tx: &mut Transaction,
    tenant: Uuid,
    external_id: &str,
) -> Result<Option<QuoteRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM quotes WHERE tenant_id = $1 AND external_id = $2{}",
        for_update(tx)
    );
    on_backend!(tx, conn => {
        sqlx::query_as(&sql).bind(tenant).bind(external_id).fetch_optional(&mut **conn).await
    })
}

/// What `GET /quotes` filters on.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this lead's quotes.
    pub lead_id: Option<Uuid>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<QuoteStatus>,
    /// Only quotes valid until before this day.
    pub valid_before: Option<NaiveDate>,
    /// Whether deleted drafts are shown.
    pub deleted: Deleted,
}

/// A page of the tenant's quotes matching `filter` in `sort` order, after
/// `cursor`: `limit + 1` rows, the extra one saying that another page
/// follows.
pub async fn list(
    tx: &mut Transaction,
    tenant: Uuid,
    filter: &Filter,
    sort: &Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<QuoteRow>, sqlx::Error> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM quotes WHERE tenant_id = $1"
    ));
    sql.args.push(Arg::Uuid(tenant));
    sql.push(filter.deleted.condition());
    if let Some(lead) = filter.lead_id {
        sql.and(" AND lead_id = ?", [Arg::Uuid(lead)]);
    }
    if !filter.statuses.is_empty() {
        let placeholders: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| sql.arg(Arg::Text(s.as_str().into())))
            .collect();
        sql.push(&format!(" AND status IN ({})", placeholders.join(", ")));
    }
    if let Some(date) = filter.valid_before {
        sql.and(" AND valid_until < ?", [Arg::Date(date)]);
    }
    if let Some(cursor) = cursor {
        sort.after(&mut sql, cursor, "id");
    }
    sql.push(&sort.order_by("id"));
    sql.and(" LIMIT ?", [Arg::Int(limit + 1)]);
    fetch(tx, &sql).await
}

/// Every revision with this quote number, oldest first.
pub async fn revisions(
    tx: &mut Transaction,
    tenant: Uuid,
    number: i64,
) -> Result<Vec<QuoteRow>, sqlx::Error> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM quotes WHERE tenant_id = $1 AND quote_number = $2 ORDER BY revision"
    ));
    sql.args.extend([Arg::Uuid(tenant), Arg::Int(number)]);
    fetch(tx, &sql).await
}

async fn fetch(tx: &mut Transaction, sql: &Sql) -> Result<Vec<QuoteRow>, sqlx::Error> {
    on_backend!(tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await
    })
}

/// The lines of these quotes, by quote and position.
pub async fn lines(
    tx: &mut Transaction,
    tenant: Uuid,
    quotes: &[Uuid],
) -> Result<Vec<LineRow>, sqlx::Error> {
    if quotes.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!(
        "SELECT {LINE_COLUMNS} FROM quote_lines WHERE tenant_id = $1 AND quote_id IN "
    ));
    sql.args.push(Arg::Uuid(tenant));
    sql.in_list(quotes);
    sql.push(" ORDER BY quote_id, position");
    on_backend!(tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await
    })
}

/// The tenant's next quote number. The counter row stays locked until the
/// transaction ends, so numbers are taken one at a time and a rolled-back
/// quote gives its number back: no gaps, no duplicates.
pub async fn next_number(tx: &mut Transaction, tenant: Uuid) -> Result<i64, sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query_scalar(
            "INSERT INTO quote_counters (tenant_id, last_number) VALUES ($1, 1) \
             ON CONFLICT (tenant_id) DO UPDATE SET last_number = quote_counters.last_number + 1 \
             RETURNING last_number",
        )
        .bind(tenant)
        .fetch_one(&mut **conn)
        .await
    })
}

/// Inserts a new quote's header.
pub async fn insert(tx: &mut Transaction, q: &QuoteRow) -> Result<(), sqlx::Error> {
    write(tx, q, INSERT).await
}

/// Rewrites a quote's header.
pub async fn update(tx: &mut Transaction, q: &QuoteRow) -> Result<(), sqlx::Error> {
    write(tx, q, UPDATE).await
}

const INSERT: &str = "INSERT INTO quotes (tenant_id, id, lead_id, external_id, quote_number, revision, supersedes_quote_id, \
         title, status, currency, valid_until, terms, notes, discount_type, discount_value, subtotal_minor, \
         discount_minor, tax_minor, total_minor, sent_at, accepted_at, rejected_at, rejection_reason, created_by, \
         created_at, updated_at, deleted_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)";

const UPDATE: &str = "UPDATE quotes SET lead_id = $3, external_id = $4, quote_number = $5, revision = $6, \
         supersedes_quote_id = $7, title = $8, status = $9, currency = $10, valid_until = $11, terms = $12, \
         notes = $13, discount_type = $14, discount_value = $15, subtotal_minor = $16, discount_minor = $17, \
         tax_minor = $18, total_minor = $19, sent_at = $20, accepted_at = $21, rejected_at = $22, \
         rejection_reason = $23, created_by = $24, created_at = $25, updated_at = $26, deleted_at = $27, \
         version = $28 WHERE tenant_id = $1 AND id = $2";

/// Runs [`INSERT`] or [`UPDATE`] with every column of `q`.
async fn write(tx: &mut Transaction, q: &QuoteRow, sql: &str) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(sql)
            .bind(q.tenant_id).bind(q.id).bind(q.lead_id).bind(&q.external_id).bind(q.quote_number)
            .bind(q.revision).bind(q.supersedes_quote_id).bind(&q.title).bind(q.status).bind(&q.currency)
            .bind(q.valid_until).bind(&q.terms).bind(&q.notes).bind(q.discount_type).bind(&q.discount_value)
            .bind(q.subtotal_minor).bind(q.discount_minor).bind(q.tax_minor).bind(q.total_minor)
            .bind(q.sent_at).bind(q.accepted_at).bind(q.rejected_at).bind(&q.rejection_reason)
            .bind(q.created_by).bind(q.created_at).bind(q.updated_at).bind(q.deleted_at).bind(q.version)
            .execute(&mut **conn)
            .await?;
    });
    Ok(())
}

/// Replaces every line of a quote.
pub async fn replace_lines(
    tx: &mut Transaction,
    q: &QuoteRow,
    lines: &[LineRow],
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query("DELETE FROM quote_lines WHERE tenant_id = $1 AND quote_id = $2")
            .bind(q.tenant_id)
            .bind(q.id)
            .execute(&mut **conn)
            .await?;
        for l in lines {
            sqlx::query(&format!(
                "INSERT INTO quote_lines ({LINE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                 $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)"
            ))
            .bind(l.tenant_id).bind(l.id).bind(l.quote_id).bind(l.position).bind(&l.section).bind(l.kind)
            .bind(&l.name).bind(&l.description).bind(&l.sku).bind(&l.material).bind(&l.finish)
            .bind(l.width_mm).bind(l.height_mm).bind(l.depth_mm).bind(l.unit).bind(&l.quantity)
            .bind(&l.unit_price).bind(&l.unit_cost).bind(l.discount_type).bind(&l.discount_value)
            .bind(l.taxable).bind(&l.tax_rate).bind(l.subtotal_minor).bind(l.discount_minor)
            .bind(l.quote_discount_minor).bind(l.tax_minor).bind(l.total_minor)
            .execute(&mut **conn)
            .await?;
        }
    });
    Ok(())
}

/// Records a quote event for the lead's timeline.
pub async fn insert_event(
    tx: &mut Transaction,
    q: &QuoteRow,
    action: &str,
    user: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_backend!(tx, conn => {
        sqlx::query(
            "INSERT INTO quote_events (tenant_id, id, quote_id, lead_id, action, user_id, occurred_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(q.tenant_id).bind(Uuid::new_v4()).bind(q.id).bind(q.lead_id).bind(action).bind(user).bind(at)
        .execute(&mut **conn)
        .await?;
    });
    Ok(())
}

/// A quote event, for the timeline.
pub type QuoteEvent = (Uuid, Uuid, String, Option<Uuid>, DateTime<Utc>);

/// Quote events by id: (id, quote, action, user, when).
pub async fn events(
    tx: &mut Transaction,
    tenant: Uuid,
    ids: &[Uuid],
) -> Result<Vec<QuoteEvent>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT id, quote_id, action, user_id, occurred_at FROM quote_events WHERE tenant_id = $1 AND id IN ",
    );
    sql.args.push(Arg::Uuid(tenant));
    sql.in_list(ids);
    on_backend!(tx, conn => {
        bind_args!(sqlx::query_as(&sql.text), &sql.args).fetch_all(&mut **conn).await
    })
}
