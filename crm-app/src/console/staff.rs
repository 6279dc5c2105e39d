//! Who is signed in: the session check in front of every console page but
//! sign-in and registration. It reads the browser session, loads the user
//! (a removed user's session ends here), and hands the handlers a
//! [`Staff`] and the [`Principal`] the domain functions and the audit
//! entries take, as the token check does for the API.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ops_kit::auth::{Principal, Role};
use ops_kit::web::Session;

use super::page;
use crate::auth::store;
use crate::state::AppState;

/// The signed-in member of staff.
#[derive(Debug, Clone)]
pub(crate) struct Staff {
    pub(crate) principal: Principal,
    pub(crate) name: String,
    pub(crate) shop: String,
    pub(crate) session: Session,
}

impl Staff {
    pub(crate) fn csrf_token(&self) -> &str {
        self.session.csrf_token()
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.principal.role == Role::Admin
    }
}

/// Lets the request through with its [`Staff`] and [`Principal`], or
/// sends the browser to the sign-in page (back here after).
pub(super) async fn require_staff(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let session = match state.sessions.find(request.headers()).await {
        Ok(session) => session,
        Err(err) => {
            tracing::error!(error = %err, "the session store failed");
            return page::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "Something went wrong",
                "The shop's data could not be reached just now. Try again in a moment.",
            );
        }
    };
    let Some(session) = session else {
        return to_sign_in(&request);
    };
    let user = async {
        let mut tx = state.pool.begin_for_tenant(session.tenant_id).await?;
        let user = store::user(&mut tx, session.tenant_id, session.user_id).await?;
        let shop = crate::auth::store::tenant_name(&mut tx, session.tenant_id).await?;
        tx.rollback().await?;
        Ok::<_, sqlx::Error>(user.zip(shop))
    };
    let (user, shop) = match user.await {
        Ok(Some(found)) => found,
        Ok(None) => {
            // The user was removed: the session goes with them.
            let _ = state.sessions.revoke(&session).await;
            return to_sign_in(&request);
        }
        Err(err) => return page::api_error(None, ops_kit::ApiError::database(err)),
    };
    let role = if user.role == Role::Admin.as_str() {
        Role::Admin
    } else {
        Role::Member
    };
    let principal = Principal::new(user.id, user.tenant_id, role);
    request.extensions_mut().insert(principal.clone());
    request.extensions_mut().insert(Staff {
        principal,
        name: user.name,
        shop,
        session,
    });
    next.run(request).await
}

fn to_sign_in(request: &Request) -> Response {
    // Only a page can be come back to; a form post starts from the board.
    let next = if request.method() == Method::GET {
        request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    } else {
        "/"
    };
    let to = if next == "/" {
        "/sign-in".to_owned()
    } else {
        format!("/sign-in?next={}", encode(next))
    };
    page::redirect(&to, None)
}

/// Percent-encodes a query value.
pub(super) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Staff>()
            .cloned()
            .ok_or_else(|| page::redirect("/sign-in", None).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_a_query_is_encoded_for_the_next_parameter() {
        assert_eq!(encode("/leads?q=a b&x"), "/leads%3Fq%3Da%20b%26x");
    }
}
