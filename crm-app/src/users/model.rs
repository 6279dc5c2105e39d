//! A user as clients see it ([`UserView`]) and what they send to add one
//! ([`NewUser`]) or change its role ([`RoleChange`]); the OpenAPI
//! document describes them from these types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::input::{email_schema, name_schema, password_schema, role_schema};
use crate::auth::store::UserRow;

/// A user as clients see it.
// No doc comments on the fields: utoipa would add them to the document.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub tenant_id: Uuid,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.clone(),
            tenant_id: u.tenant_id,
        }
    }
}

// The body of `POST /api/users`. No doc comment: the document keeps
// this schema without a description.
#[allow(missing_docs)]
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(schema_with = email_schema)]
    pub email: String,
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = password_schema)]
    pub password: String,
    #[schema(schema_with = role_schema)]
    pub role: String,
}

impl std::fmt::Debug for NewUser {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The body of `PATCH /api/users/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `admin` or `member`.
    #[schema(schema_with = role_schema)]
    pub role: String,
}
