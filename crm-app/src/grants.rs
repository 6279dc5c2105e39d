//! The table privileges the service's database role needs, checked once at
//! start-up on PostgreSQL. A table added by a migration is used by every
//! instance as soon as the migration commits; a role that was not granted
//! it would fail each request that touches it (for `lead_pipeline_totals`,
//! every change to a lead, through the trigger). The check turns that into
//! one start-up error that names what to grant.

use std::fmt;

use ops_kit::sql::Pool;

/// Every table the service uses, with the privileges it needs on each: the
/// grants of `docs/tenancy.md`.
///
/// ```
/// use crm_app::grants::REQUIRED;
/// let audit = REQUIRED.iter().find(|(table, _)| *table == "audit_logs").unwrap();
/// assert_eq!(audit.1, ["SELECT", "INSERT"]); // append-only
/// ```
pub const REQUIRED: &[(&str, &[&str])] = &[
    ("tenants", ALL),
    ("users", ALL),
    ("refresh_tokens", ALL),
    ("leads", ALL),
    ("lead_status_events", ALL),
    ("activities", ALL),
    ("idempotency_keys", ALL),
    ("lead_pipeline_totals", ALL),
    ("quotes", ALL),
    ("quote_lines", ALL),
    ("quote_counters", ALL),
    ("quote_events", ALL),
    // DELETE: a removed user's email may be registered again.
    ("user_logins", &["SELECT", "INSERT", "DELETE"]),
    ("audit_logs", &["SELECT", "INSERT"]),
    ("audit_chain_heads", &["SELECT", "INSERT", "UPDATE"]),
    ("browser_sessions", ALL),
    ("lead_imports", ALL),
];

const ALL: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE"];

/// The `GRANT` statements that give `role` exactly [`REQUIRED`], one per
/// set of privileges, for setting up the service's role (and test roles).
///
/// ```
/// let sql = crm_app::grants::statements("crm_app");
/// assert!(sql.starts_with("GRANT USAGE ON SCHEMA public TO crm_app;\n"));
/// assert!(sql.contains("GRANT SELECT, INSERT, DELETE ON user_logins TO crm_app;\n"));
/// assert!(sql.contains("GRANT SELECT, INSERT ON audit_logs TO crm_app;\n"));
/// ```
pub fn statements(role: &str) -> String {
    let mut groups: Vec<(&[&str], Vec<&str>)> = Vec::new();
    for (table, privileges) in REQUIRED {
        match groups.iter_mut().find(|(p, _)| p == privileges) {
            Some((_, tables)) => tables.push(table),
            None => groups.push((privileges, vec![table])),
        }
    }
    let mut sql = format!("GRANT USAGE ON SCHEMA public TO {role};\n");
    for (privileges, tables) in groups {
        sql.push_str(&format!(
            "GRANT {} ON {} TO {role};\n",
            privileges.join(", "),
            tables.join(", ")
        ));
    }
    sql
}

/// Privileges of [`REQUIRED`] the role does not hold, as `(table,
/// privilege)` pairs.
///
/// ```
/// use crm_app::grants::Missing;
/// let missing = Missing(vec![("lead_pipeline_totals".into(), "INSERT".into())]);
/// assert_eq!(
///     missing.to_string(),
///     "the database role lacks INSERT on lead_pipeline_totals (see the grants in docs/tenancy.md)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub Vec<(String, String)>);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the database role lacks ")?;
        for (i, (table, privilege)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{privilege} on {table}")?;
        }
        f.write_str(" (see the grants in docs/tenancy.md)")
    }
}

impl std::error::Error for Missing {}

/// Checks that the pool's role holds every privilege of [`REQUIRED`]. On
/// SQLite, which has no roles, there is nothing to check.
///
/// # Errors
///
/// [`CheckError::Missing`] names what is missing; [`CheckError::Database`]
/// when the check itself could not run.
pub async fn check(pool: &Pool) -> Result<(), CheckError> {
    let Pool::Postgres(pg) = pool else {
        return Ok(());
    };
    let (tables, privileges): (Vec<&str>, Vec<&str>) = REQUIRED
        .iter()
        .flat_map(|(table, privileges)| privileges.iter().map(move |p| (*table, *p)))
        .unzip();
    let missing: Vec<(String, String)> = sqlx::query_as(
        "SELECT t, p FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, p, n) \
         WHERE NOT has_table_privilege(t, p) ORDER BY n",
    )
    .bind(&tables)
    .bind(&privileges)
    .fetch_all(pg)
    .await
    .map_err(CheckError::Database)?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CheckError::Missing(Missing(missing)))
    }
}

/// Why [`check`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The role lacks privileges.
    #[error(transparent)]
    Missing(Missing),
    /// The database could not answer.
    #[error("checking the database role's privileges failed: {0}")]
    Database(sqlx::Error),
}
