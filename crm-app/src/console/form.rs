//! [`CsrfForm`]: a posted form, read only once its CSRF checks pass (the
//! `Origin` and the token of the signed-in session, or before sign-in the
//! token of the pre-session cookie).

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ops_kit::web::csrf;
use serde::de::DeserializeOwned;

use super::page;
use super::staff::Staff;
use crate::state::AppState;

/// A form of type `T`, its CSRF checks passed.
#[derive(Debug)]
pub(super) struct CsrfForm<T>(pub(super) T);

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let staff = request.extensions().get::<Staff>().cloned();
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| unreadable(staff.as_ref()))?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| unreadable(staff.as_ref()))?;
        let given = pairs
            .iter()
            .find(|(name, _)| name == csrf::FIELD)
            .map(|(_, v)| v.as_str());
        check_csrf(&app, staff.as_ref(), &headers, given).map_err(|refused| *refused)?;
        serde_urlencoded::from_bytes(&bytes)
            .map(CsrfForm)
            .map_err(|_| unreadable(staff.as_ref()))
    }
}

/// The CSRF checks of a console form (its `Origin` and `given`, the
/// token it carried), for forms [`CsrfForm`] cannot read (file uploads):
/// the page that refuses it when they fail.
pub(super) fn check_csrf(
    app: &AppState,
    staff: Option<&Staff>,
    headers: &HeaderMap,
    given: Option<&str>,
) -> Result<(), Box<Response>> {
    let expected = match staff {
        Some(staff) => Some(staff.csrf_token().to_owned()),
        None => {
            csrf::pre_session_token(headers, app.sessions.config().is_secure()).map(str::to_owned)
        }
    };
    let checked = match &expected {
        Some(expected) => csrf::verify(headers, expected, given),
        None => Err(csrf::CsrfError::WrongToken),
    };
    let Err(refused) = checked else {
        return Ok(());
    };
    tracing::warn!(reason = %refused, "a console form was refused by the CSRF check");
    Err(Box::new(page::problem(
        StatusCode::FORBIDDEN,
        staff,
        "This form could not be accepted",
        match refused {
            csrf::CsrfError::CrossOrigin => {
                "It was sent from another website. Nothing was changed."
            }
            _ => {
                "It has expired or was not sent from this console. Nothing was changed: go back, reload the page and try again."
            }
        },
    )))
}

pub(super) fn unreadable(staff: Option<&Staff>) -> Response {
    page::problem(
        StatusCode::BAD_REQUEST,
        staff,
        "This form could not be read",
        "Nothing was changed. Go back, reload the page and try again.",
    )
}

/// The id in a console path (`/leads/{id}`): a path that names no id gets
/// the console's "not found" page, not the API's envelope.
#[derive(Debug, Clone, Copy)]
pub(super) struct PathId(pub(super) uuid::Uuid);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathId {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| not_found(parts))?;
        raw.parse().map(PathId).map_err(|_| not_found(parts))
    }
}

fn not_found(parts: &axum::http::request::Parts) -> Response {
    let staff = parts.extensions.get::<Staff>();
    page::problem(
        StatusCode::NOT_FOUND,
        staff,
        "Not found",
        "There is nothing at this address. It may have been mistyped.",
    )
}

/// The API's `If-Match` for the version a form was shown with (a form
/// without one writes unconditionally, as a request without the header).
pub(super) fn if_match(version: Option<i64>) -> crate::api::etag::IfMatch {
    use crate::api::etag::IfMatch;
    version.map_or(IfMatch::Absent, |v| IfMatch::Versions(vec![v]))
}
