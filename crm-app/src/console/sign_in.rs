//! Signing in and out, and registering a shop: the rules are
//! [`crate::auth::credentials`]'s (the API's, throttle included); what the
//! console issues is a browser session, with a new id at every sign-in.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use ops_kit::ApiError;
use ops_kit::web::{NewSession, csrf, random_token};
use serde::Deserialize;
use uuid::Uuid;

use super::form::CsrfForm;
use super::page::{self, Chrome, Flash, Nav};
use super::staff::Staff;
use crate::auth::credentials::{self, NewShop};
use crate::auth::events::{self, Origin, SessionEvent};
use crate::seed;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// Only a path of this site is gone back to after sign-in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

/// The pre-session token of the request, or a new one (with its cookie).
fn pre_session(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    let secure = state.sessions.config().is_secure();
    match csrf::pre_session_token(headers, secure) {
        Some(token) if !token.is_empty() => (token.to_owned(), None),
        _ => {
            let token = random_token();
            let cookie = csrf::pre_session_cookie(&token, secure);
            (token, Some(cookie))
        }
    }
}

struct SignInView<'a> {
    token: &'a str,
    next: &'a str,
    email: &'a str,
    problem: Option<String>,
    demo: bool,
}

fn sign_in_view(view: SignInView<'_>, flash: Option<Flash>) -> Markup {
    page::document(
        Chrome {
            title: "Sign in",
            staff: None,
            flash,
            nav: Nav::None,
        },
        html! {
            div.narrow {
                h1 { "Sign in" }
                @if let Some(problem) = &view.problem {
                    div.error-summary role="alert" {
                        h2 { "There is a problem" }
                        p { (problem) }
                    }
                }
                form method="post" action="/sign-in" {
                    input type="hidden" name="csrf_token" value=(view.token);
                    input type="hidden" name="next" value=(view.next);
                    div.field {
                        label for="email" { "Email" }
                        input #email type="email" name="email" autocomplete="username" required value=(view.email);
                    }
                    div.field {
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required;
                    }
                    button.primary type="submit" { "Sign in" }
                }
                @if view.demo {
                    aside.hint aria-label="Demo shop" {
                        p {
                            "Development only: the demo shop's admin is "
                            strong { (seed::DEV_ADMIN_EMAIL) } " with the password "
                            strong { (seed::DEV_ADMIN_PASSWORD) } "."
                        }
                    }
                }
                p { "New to CutList CRM? " a href="/register" { "Register your shop" } }
            }
        },
    )
}

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /sign-in`.
pub(super) async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> Response {
    let (token, cookie) = pre_session(&state, &headers);
    let flash = Flash::from_headers(&headers);
    let cleared = flash.is_some();
    let view = SignInView {
        token: &token,
        next: safe_next(next.next.as_deref()),
        email: "",
        problem: None,
        demo: state.development,
    };
    with_cookie(
        page::respond(StatusCode::OK, sign_in_view(view, flash), cleared),
        cookie,
    )
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// `POST /sign-in`: the API's checks, then a new browser session (the one
/// the request came with, if any, ends: the id changes at sign-in).
pub(super) async fn sign_in(
    State(state): State<AppState>,
    origin: Origin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<SignInForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_owned();
    let signed_in = async {
        let user = credentials::sign_in(&state, &origin, &form.email, None, form.password).await?;
        if let Ok(Some(previous)) = state.sessions.find(&headers).await {
            let _ = state.sessions.revoke(&previous).await;
        }
        open_session(&state, &origin, user.tenant_id, user.id).await
    };
    match signed_in.await {
        Ok(new) => signed_in_response(&state, &new, &next),
        Err(err) => {
            let (token, cookie) = pre_session(&state, &headers);
            let problem = match err.status() {
                StatusCode::UNAUTHORIZED => "The email or password is not right.".to_owned(),
                StatusCode::TOO_MANY_REQUESTS => {
                    "Too many sign-in attempts for this email. Wait a few minutes and try again."
                        .to_owned()
                }
                StatusCode::CONFLICT => {
                    "This email and password open accounts in several shops; ask your shop's admin for a separate email."
                        .to_owned()
                }
                status if status.is_server_error() => {
                    "Signing in is not possible just now. Try again in a moment.".to_owned()
                }
                _ => page::sentence(err.message()),
            };
            let view = SignInView {
                token: &token,
                next: &next,
                email: &form.email,
                problem: Some(problem),
                demo: state.development,
            };
            with_cookie(
                page::respond(err.status(), sign_in_view(view, None), false),
                cookie,
            )
        }
    }
}

/// A new browser session for the user, and its `auth.login` entry.
async fn open_session(
    state: &AppState,
    origin: &Origin,
    tenant: Uuid,
    user: Uuid,
) -> Result<NewSession, ApiError> {
    let new = state
        .sessions
        .create(tenant, user)
        .await
        .map_err(ApiError::internal)?;
    let mut tx = state
        .pool
        .begin_for_tenant(tenant)
        .await
        .map_err(ApiError::database)?;
    events::session(
        &mut tx,
        origin,
        SessionEvent::Login,
        tenant,
        user,
        Uuid::new_v4(),
    )
    .await?;
    tx.commit().await.map_err(ApiError::database_commit)?;
    Ok(new)
}

fn signed_in_response(state: &AppState, new: &NewSession, next: &str) -> Response {
    let mut response = page::redirect(next, None);
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, state.sessions.cookie(new));
    // The pre-session token has done its work.
    let secure = state.sessions.config().is_secure();
    let name = csrf::pre_session_cookie_name(secure);
    let gone = if secure {
        format!("{name}=; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=0")
    } else {
        format!("{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    };
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_str(&gone).expect("ASCII"),
    );
    response
}

#[derive(Default, Deserialize)]
pub(super) struct RegisterForm {
    shop_name: String,
    name: String,
    email: String,
    password: String,
}

fn register_view(token: &str, form: &RegisterForm, errors: &[(String, String)]) -> Markup {
    page::document(
        Chrome {
            title: "Register your shop",
            staff: None,
            flash: None,
            nav: Nav::None,
        },
        html! {
            div.narrow {
                h1 { "Register your shop" }
                (page::error_summary(errors))
                form method="post" action="/register" {
                    input type="hidden" name="csrf_token" value=(token);
                    (text_field("shop_name", "Shop name", "text", "organization", &form.shop_name, errors))
                    (text_field("name", "Your name", "text", "name", &form.name, errors))
                    (text_field("email", "Email", "email", "email", &form.email, errors))
                    div.field {
                        label for="password" { "Password" }
                        p.help #password-help { "At least 12 characters." }
                        (page::field_error(errors, "password"))
                        input #password type="password" name="password" autocomplete="new-password" required aria-describedby="password-help";
                    }
                    button.primary type="submit" { "Register shop" }
                }
                p { "Already registered? " a href="/sign-in" { "Sign in" } }
            }
        },
    )
}

fn text_field(
    id: &str,
    label: &str,
    kind: &str,
    autocomplete: &str,
    value: &str,
    errors: &[(String, String)],
) -> Markup {
    let invalid = errors.iter().any(|(f, _)| f == id);
    html! {
        div.field {
            label for=(id) { (label) }
            (page::field_error(errors, id))
            input id=(id) type=(kind) name=(id) autocomplete=(autocomplete) required value=(value)
                aria-invalid=[invalid.then_some("true")]
                aria-describedby=[invalid.then(|| format!("{id}-error"))];
        }
    }
}

/// `GET /register`.
pub(super) async fn register_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, cookie) = pre_session(&state, &headers);
    with_cookie(
        page::respond(
            StatusCode::OK,
            register_view(&token, &RegisterForm::default(), &[]),
            false,
        ),
        cookie,
    )
}

/// The API's field names, as the form names them.
fn register_field(api: &str) -> &str {
    match api {
        "tenantName" => "shop_name",
        other => other,
    }
}

/// `POST /register`: a new shop and its admin, signed in.
pub(super) async fn register(
    State(state): State<AppState>,
    origin: Origin,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<RegisterForm>,
) -> Response {
    let shop = NewShop {
        tenant_name: form.shop_name.clone(),
        name: form.name.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
    };
    let registered = async {
        let (tx, user) = credentials::register(&state, &origin, shop).await?;
        tx.commit().await.map_err(ApiError::database_commit)?;
        open_session(&state, &origin, user.tenant_id, user.id).await
    };
    match registered.await {
        Ok(new) => signed_in_response(&state, &new, "/"),
        Err(err) if err.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let (token, cookie) = pre_session(&state, &headers);
            let errors: Vec<(String, String)> = err
                .details()
                .iter()
                .map(|e| {
                    let field = register_field(&e.field);
                    let label = match field {
                        "shop_name" => "Shop name",
                        "name" => "Your name",
                        "email" => "Email",
                        _ => "Password",
                    };
                    (field.to_owned(), format!("{label} {}", e.message))
                })
                .collect();
            with_cookie(
                page::respond(err.status(), register_view(&token, &form, &errors), false),
                cookie,
            )
        }
        Err(err) => page::api_error(None, err),
    }
}

/// `POST /sign-out`: this session ends, on every instance.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    staff: Staff,
    origin: Origin,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    end(&state, &staff, &origin, false).await
}

/// `POST /sign-out-everywhere`: every session of the user ends.
pub(super) async fn sign_out_everywhere(
    State(state): State<AppState>,
    staff: Staff,
    origin: Origin,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    end(&state, &staff, &origin, true).await
}

/// A form with nothing but its token.
#[derive(Debug, Deserialize)]
pub(super) struct Empty {}

async fn end(state: &AppState, staff: &Staff, origin: &Origin, everywhere: bool) -> Response {
    let principal = &staff.principal;
    let ended = if everywhere {
        state
            .sessions
            .revoke_user(principal.tenant_id, principal.user_id)
            .await
            .map(drop)
    } else {
        state.sessions.revoke(&staff.session).await
    };
    if let Err(err) = ended {
        return page::api_error(Some(staff), ApiError::internal(err));
    }
    let audited = async {
        let mut tx = state
            .pool
            .begin_for_tenant(principal.tenant_id)
            .await
            .map_err(ApiError::database)?;
        events::session(
            &mut tx,
            origin,
            SessionEvent::Logout,
            principal.tenant_id,
            principal.user_id,
            Uuid::new_v4(),
        )
        .await?;
        tx.commit().await.map_err(ApiError::database_commit)
    };
    if let Err(err) = audited.await {
        tracing::error!(error = %err.message(), "a sign-out could not be audited");
    }
    let text = if everywhere {
        "You are signed out on every device."
    } else {
        "You are signed out."
    };
    let mut response = page::redirect("/sign-in", Some(Flash::done(text)));
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.sessions.removal_cookie());
    response
}
