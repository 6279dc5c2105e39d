use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One audit entry: who changed what, from where, in which request.
///
/// Every field of the operations runbook is here (`tenantId`, `userId`,
/// `action`, `resourceType`, `resourceId`, `changes`, `ipAddress`,
/// `userAgent`, `requestId`) plus an id and a timestamp. The hash chain
/// fields are assigned by the sink that stores the entry.
///
/// # Example
///
/// ```
/// use ops_kit::audit::AuditEntry;
///
/// let entry = AuditEntry::new("lead.upsert", "lead", "req-1");
/// assert_eq!(entry.action, "lead.upsert");
/// assert!(entry.tenant_id.is_none());
/// // The digest covers every field; any change alters it.
/// let mut edited = entry.clone();
/// edited.resource_id = Some("other".into());
/// assert_ne!(entry.digest(), edited.digest());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The entry's id.
    pub id: Uuid,
    /// When the change was made (microsecond precision).
    pub occurred_at: DateTime<Utc>,
    /// The tenant of the acting user; `None` for anonymous requests.
    pub tenant_id: Option<Uuid>,
    /// The acting user; `None` for anonymous requests.
    pub user_id: Option<Uuid>,
    /// `<entity>.<verb>`, e.g. `lead.upsert`.
    pub action: String,
    /// The kind of resource, e.g. `lead`.
    pub resource_type: String,
    /// The id of the resource changed, when known.
    pub resource_id: Option<String>,
    /// The request body, with secrets redacted and size capped.
    pub changes: Option<Value>,
    /// The client's address.
    pub ip_address: Option<String>,
    /// The client's user agent, capped in length.
    pub user_agent: Option<String>,
    /// The request id (the correlation key of the logs).
    pub request_id: String,
}

impl AuditEntry {
    /// An entry for `action` on `resource_type` in request `request_id`, now,
    /// with a fresh id and every optional field empty.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::audit::AuditEntry;
    ///
    /// let entry = AuditEntry::new("lead.upsert", "lead", "req-1");
    /// assert_eq!((entry.resource_type.as_str(), entry.request_id.as_str()), ("lead", "req-1"));
    /// assert!(entry.user_id.is_none() && entry.resource_id.is_none() && entry.changes.is_none());
    /// // Every entry gets its own id.
    /// assert_ne!(entry.id, AuditEntry::new("lead.upsert", "lead", "req-1").id);
    /// ```
    pub fn new(
        action: impl Into<String>,
        resource_type: impl Into<String>,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            occurred_at: Utc::now().trunc_subsecs(6),
            tenant_id: None,
            user_id: None,
            action: action.into(),
            resource_type: resource_type.into(),
            resource_id: None,
            changes: None,
            ip_address: None,
            user_agent: None,
            request_id: request_id.into(),
        }
    }

    /// The key of the hash chain the entry belongs to: the tenant id, or
    /// `""` for entries without a tenant.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::audit::AuditEntry;
    ///
    /// let mut entry = AuditEntry::new("lead.upsert", "lead", "req-1");
    /// assert_eq!(entry.chain_key(), "");
    /// let tenant = uuid::Uuid::new_v4();
    /// entry.tenant_id = Some(tenant);
    /// assert_eq!(entry.chain_key(), tenant.to_string());
    /// ```
    pub fn chain_key(&self) -> String {
        self.tenant_id.map(|t| t.to_string()).unwrap_or_default()
    }

    /// SHA-256 of the entry's canonical form: every field, in a fixed order,
    /// as JSON with object keys sorted at every depth and timestamps at
    /// microsecond precision. Stored and recomputed values agree on both
    /// databases.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::audit::AuditEntry;
    /// use serde_json::json;
    ///
    /// let mut a = AuditEntry::new("lead.upsert", "lead", "req-1");
    /// a.changes = Some(json!({"name": "Acme", "stage": "won"}));
    /// let mut b = a.clone();
    /// b.changes = Some(json!({"stage": "won", "name": "Acme"}));
    /// assert_eq!(a.digest(), b.digest()); // key order does not count
    /// b.changes = Some(json!({"stage": "lost", "name": "Acme"}));
    /// assert_ne!(a.digest(), b.digest());
    /// ```
    pub fn digest(&self) -> [u8; 32] {
        let mut canonical = String::with_capacity(256);
        canonical.push_str("[\"ops-kit-audit-v1\",");
        push_canonical(&mut canonical, &Value::from(self.id.to_string()));
        canonical.push(',');
        let at = self
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        push_canonical(&mut canonical, &Value::from(at));
        for value in [
            self.tenant_id.map(|t| Value::from(t.to_string())),
            self.user_id.map(|u| Value::from(u.to_string())),
            Some(Value::from(self.action.as_str())),
            Some(Value::from(self.resource_type.as_str())),
            self.resource_id.as_deref().map(Value::from),
        ] {
            canonical.push(',');
            push_canonical(&mut canonical, &value.unwrap_or(Value::Null));
        }
        canonical.push(',');
        push_canonical(
            &mut canonical,
            self.changes.as_ref().unwrap_or(&Value::Null),
        );
        for value in [
            self.ip_address.as_deref(),
            self.user_agent.as_deref(),
            Some(self.request_id.as_str()),
        ] {
            canonical.push(',');
            push_canonical(
                &mut canonical,
                &value.map(Value::from).unwrap_or(Value::Null),
            );
        }
        canonical.push(']');
        Sha256::digest(canonical.as_bytes()).into()
    }
}

/// The hash that links an entry into its chain: SHA-256 of the previous
/// entry's hash followed by this entry's digest.
///
/// # Example
///
/// ```
/// use ops_kit::audit::{chain_hash, GENESIS_HASH};
/// let first = chain_hash(&GENESIS_HASH, &[1; 32]);
/// assert_ne!(first, chain_hash(&first, &[1; 32]));
/// ```
pub fn chain_hash(prev: &[u8], digest: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(digest);
    hasher.finalize().into()
}

/// The "previous hash" of the first entry of every chain: 32 zero bytes.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ops_kit::audit::{self, AuditEntry, GENESIS_HASH};
///
/// # let pool = ops_kit::sql::Pool::connect_lazy("sqlite::memory:")?;
/// # audit::migrate(&pool).await?;
/// let mut tx = pool.begin().await?;
/// audit::insert(&mut tx, &AuditEntry::new("lead.upsert", "lead", "req-1")).await?;
/// let prev: Vec<u8> = ops_kit::on_backend!(&mut tx, conn => {
///     sqlx::query_scalar("SELECT prev_hash FROM audit_logs").fetch_one(&mut **conn).await?
/// });
/// assert_eq!(prev, GENESIS_HASH);
/// # Ok(()) }
/// ```
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// JSON with object keys sorted at every depth.
fn push_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).unwrap_or_default());
                out.push(':');
                push_canonical(out, &map[key]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_digest_ignores_key_order_but_not_values() {
        let mut a = AuditEntry::new("lead.upsert", "lead", "r");
        a.changes = Some(json!({"b": 1, "a": {"y": [1, 2], "x": null}}));
        let mut b = a.clone();
        b.changes = Some(json!({"a": {"x": null, "y": [1, 2]}, "b": 1}));
        assert_eq!(a.digest(), b.digest());
        b.changes = Some(json!({"a": {"x": null, "y": [2, 1]}, "b": 1}));
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn every_field_is_covered_by_the_digest() {
        let base = AuditEntry::new("lead.upsert", "lead", "r");
        type Edit = Box<dyn Fn(&mut AuditEntry)>;
        let variants: Vec<Edit> = vec![
            Box::new(|e| e.id = Uuid::new_v4()),
            Box::new(|e| e.occurred_at += chrono::Duration::microseconds(1)),
            Box::new(|e| e.tenant_id = Some(Uuid::nil())),
            Box::new(|e| e.user_id = Some(Uuid::nil())),
            Box::new(|e| e.action = "lead.delete".into()),
            Box::new(|e| e.resource_type = "quote".into()),
            Box::new(|e| e.resource_id = Some("1".into())),
            Box::new(|e| e.changes = Some(json!({}))),
            Box::new(|e| e.ip_address = Some("10.0.0.1".into())),
            Box::new(|e| e.user_agent = Some("curl".into())),
            Box::new(|e| e.request_id = "other".into()),
        ];
        for change in variants {
            let mut edited = base.clone();
            change(&mut edited);
            assert_ne!(base.digest(), edited.digest());
        }
    }

    #[test]
    fn timestamps_keep_microseconds_only() {
        let entry = AuditEntry::new("a.b", "a", "r");
        assert_eq!(entry.occurred_at.timestamp_subsec_nanos() % 1000, 0);
    }
}
