//! The web console for shop staff, at `/`: server-rendered pages over the
//! same domain functions as the JSON API (so every rule, validation error
//! and audit entry is the API's), with browser sessions, CSRF protection
//! and the security headers of [`ops_kit::web`].
//!
//! Every flow works with plain links and forms (post, redirect, get); the
//! console's one script (`assets/console.js`) adds drag and drop on the
//! board. Handlers are thin: they read the form, call a domain function,
//! and redirect or show the page again with what went wrong.

mod activities;
mod assets;
mod board;
mod form;
mod import;
mod labels;
mod lead;
mod leads;
mod my_day;
mod page;
mod sign_in;
mod staff;

use axum::Router;
use axum::routing::{get, post};
use ops_kit::web::SecurityHeadersLayer;

use crate::state::AppState;

pub use self::assets::{Asset, asset_path};
pub(crate) use self::import::{MAX_FILE_BYTES as IMPORT_MAX_BYTES, UPLOAD_PATH as IMPORT_PATH};

/// The console's routes, with the session check on every page but the
/// sign-in and registration pages and the assets, and the security headers
/// on all of them.
pub fn router(state: AppState, production: bool) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(board::board))
        .route("/board/{status}", get(board::column_page))
        .route("/leads", get(leads::list))
        .route("/leads.csv", get(leads::export))
        .route(
            import::UPLOAD_PATH,
            get(import::upload_page).post(import::upload),
        )
        .route("/leads/imports/{id}", get(import::import_page))
        .route("/leads/imports/{id}/start", post(import::import_start))
        .route("/leads/imports/{id}/discard", post(import::import_discard))
        .route("/my-day", get(my_day::my_day))
        .route("/leads/{id}", get(lead::lead_page).post(lead::lead_save))
        .route("/leads/{id}/status", post(board::lead_move))
        .route("/leads/{id}/activities", post(activities::activity_log))
        .route(
            "/activities/{id}/complete",
            post(activities::activity_complete),
        )
        .route("/sign-out", post(sign_in::sign_out))
        .route("/sign-out-everywhere", post(sign_in::sign_out_everywhere))
        .layer(axum::middleware::from_fn_with_state(
            state,
            staff::require_staff,
        ));
    Router::new()
        .route(
            "/sign-in",
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .route(
            "/register",
            get(sign_in::register_page).post(sign_in::register),
        )
        .route("/assets/{file}", get(assets::serve))
        .merge(signed_in)
        .layer(SecurityHeadersLayer::new().hsts(production))
}
