//! Tenants, users and sessions: registration, login, token refresh with
//! rotation and reuse detection, logout, password changes, and the token
//! epochs that revoke a user's access tokens at once.

pub mod account;
pub mod credentials;
pub mod epochs;
pub mod events;
pub mod input;
pub mod password;
pub mod routes;
pub mod session;
pub mod store;
pub mod throttle;
