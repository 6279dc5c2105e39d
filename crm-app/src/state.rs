//! What every CRM handler can reach.

use std::sync::Arc;

use ops_kit::auth::{TokenEpochs, Tokens};
use ops_kit::sql::Pool;
use ops_kit::web::Sessions;

use crate::auth::throttle::Throttle;

/// The shared state of the CRM routes.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub pool: Pool,
    /// Issues and verifies the service's tokens.
    pub tokens: Arc<Tokens>,
    /// A real argon2 hash that login checks against when the email is
    /// unknown, so that a wrong email and a wrong password take as long.
    pub dummy_hash: Arc<str>,
    /// Counts failed logins.
    pub throttle: Throttle,
    /// The users' current token epochs, checked on every request and
    /// published after each change that revokes tokens.
    pub epochs: TokenEpochs,
    /// The console's browser sessions.
    pub sessions: Sessions,
    /// Development mode: the console's sign-in page names the demo user.
    pub development: bool,
}
