use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use uuid::Uuid;

use crate::ApiError;

/// A role name, such as `admin`. Cheap to clone.
///
/// # Example
///
/// ```
/// use ops_kit::auth::Role;
///
/// let role = Role::new("admin");
/// assert!(role.is_admin());
/// assert_eq!(role.as_str(), "admin");
/// assert!(!Role::new("member").is_admin());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Role(Arc<str>);

impl Role {
    /// The administrator role's name.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::Role;
    ///
    /// assert_eq!(Role::ADMIN, "admin");
    /// assert!(Role::new(Role::ADMIN).is_admin());
    /// ```
    pub const ADMIN: &'static str = "admin";

    /// A role called `name`.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::Role;
    ///
    /// let role = Role::new(String::from("sales"));
    /// assert_eq!(role, Role::new("sales"));
    /// assert_eq!(role.to_string(), "sales");
    /// ```
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }

    /// The role's name.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::Role;
    ///
    /// let role = Role::new("member");
    /// assert_eq!(role.as_str(), "member");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is [`Role::ADMIN`].
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::Role;
    ///
    /// assert!(Role::new("admin").is_admin());
    /// assert!(!Role::new("Admin").is_admin()); // names are compared exactly
    /// assert!(!Role::new("member").is_admin());
    /// ```
    pub fn is_admin(&self) -> bool {
        &*self.0 == Self::ADMIN
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
/// let principal = Principal::new(uuid::Uuid::nil(), uuid::Uuid::nil(), Role::new("admin"));
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
    /// let principal = Principal::new(user, tenant, Role::new("member"));
    /// assert_eq!((principal.user_id, principal.tenant_id), (user, tenant));
    /// assert_eq!(principal.role.as_str(), "member");
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
    /// assert!(Principal::new(id, id, Role::new(Role::ADMIN)).is_admin());
    /// assert!(!Principal::new(id, id, Role::new("member")).is_admin());
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
    /// let member = Principal::new(uuid::Uuid::nil(), uuid::Uuid::nil(), Role::new("member"));
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
