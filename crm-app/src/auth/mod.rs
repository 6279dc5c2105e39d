//! Tenants, users and sessions: registration, login, token refresh with
//! rotation and reuse detection, logout.

pub mod events;
pub mod input;
pub mod password;
pub mod routes;
pub mod store;
pub mod throttle;
