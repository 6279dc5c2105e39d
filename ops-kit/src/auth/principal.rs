use std::fmt;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use uuid::Uuid;

use crate::ApiError;

/// What a user may do in its tenant: `admin` or `member`.
///
/// A role is parsed, never taken on trust: a token or a row naming any other
/// role (`superadmin`, `Admin`, ``) does not parse, so a token claiming one
/// is refused as a whole (401) rather than read as some default.
///
/// # Example
///
/// ```
/// use ops_kit::auth::Role;
///
/// let role: Role = "admin".parse().unwrap();
/// assert!(role.is_admin());
/// assert_eq!(role.as_str(), "admin");
/// assert!(!Role::Member.is_admin());
/// assert!("superadmin".parse::<Role>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the tenant: its users, its settings, its audit trail.
    Admin,
    /// Works with the tenant's data.
    Member,
}

impl Role {
    /// Every role, for validation messages and schemas.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::Role;
    ///
    /// let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    /// assert_eq!(names, ["admin", "member"]);
    /// ```
    pub const ALL: [Role; 2] = [Role::Admin, Role::Member];

    /// The role's name, as tokens and the database spell it.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::Role;
    ///
    /// assert_eq!(Role::Member.as_str(), "member");
    /// assert_eq!(Role::Admin.to_string(), "admin");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Whether this is [`Role::Admin`].
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::Role;
    ///
    /// assert!(Role::Admin.is_admin());
    /// assert!(!Role::Member.is_admin());
    /// ```
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not `admin` or `member`.
///
/// # Example
///
/// ```
/// use ops_kit::auth::{Role, UnknownRole};
///
/// let err: UnknownRole = "Admin".parse::<Role>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown role (must be admin or member)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role (must be admin or member)")]
pub struct UnknownRole;

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    /// Names are compared exactly: `Admin` and ` admin` are not roles.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(UnknownRole),
        }
    }
}

/// The authenticated caller of a request: a user of a tenant, with a role.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use ops_kit::auth::{Principal, Role};
///
/// async fn whoami(principal: Principal) -> String {
///     format!("user {} of tenant {}", principal.user_id, principal.tenant_id)
/// }
/// let app: Router = Router::new().route("/me", get(whoami));
///
/// let principal = Principal::new(uuid::Uuid::nil(), uuid::Uuid::nil(), Role::Admin);
/// assert!(principal.is_admin());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: Uuid,
    /// The user's tenant: the scope of everything the request may touch.
    pub tenant_id: Uuid,
    /// The user's role.
    pub role: Role,
}

impl Principal {
    /// A principal for `user_id` of `tenant_id` with `role`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::{Principal, Role};
    ///
    /// let (user, tenant) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    /// let principal = Principal::new(user, tenant, Role::Member);
    /// assert_eq!((principal.user_id, principal.tenant_id), (user, tenant));
    /// assert_eq!(principal.role, Role::Member);
    /// ```
    pub fn new(user_id: Uuid, tenant_id: Uuid, role: Role) -> Self {
        Self {
            user_id,
            tenant_id,
            role,
        }
    }

    /// Whether the principal is an administrator of its tenant.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::{Principal, Role};
    ///
    /// let id = uuid::Uuid::new_v4();
    /// assert!(Principal::new(id, id, Role::Admin).is_admin());
    /// assert!(!Principal::new(id, id, Role::Member).is_admin());
    /// ```
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }

    /// `Ok` for administrators, a 403 envelope otherwise.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::{Principal, Role};
    /// let member = Principal::new(uuid::Uuid::nil(), uuid::Uuid::nil(), Role::Member);
    /// assert_eq!(member.require_admin().unwrap_err().status(), 403);
    /// ```
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this action requires the admin role"))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("authentication required"))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}
