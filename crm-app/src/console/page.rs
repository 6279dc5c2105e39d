//! The page around every console view: the header with the shop's
//! navigation, the one-time message of the last action (flash), the main
//! landmark; and the pages for what went wrong.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use maud::{DOCTYPE, Markup, html};
use ops_kit::ApiError;

use super::assets::{Asset, asset_path};
use super::staff::Staff;

/// Which part of the console a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    Board,
    Leads,
    MyDay,
    None,
}

/// A message shown once on the next page, after a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Flash {
    pub(super) kind: FlashKind,
    pub(super) text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlashKind {
    Done,
    Problem,
}

const FLASH_COOKIE: &str = "flash";

impl Flash {
    pub(super) fn done(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Done,
            text: text.into(),
        }
    }

    pub(super) fn problem(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Problem,
            text: text.into(),
        }
    }

    /// The cookie carrying it to the next page (a minute at most).
    fn cookie(&self) -> HeaderValue {
        let tag = match self.kind {
            FlashKind::Done => 'd',
            FlashKind::Problem => 'p',
        };
        let value =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tag}{}", self.text));
        HeaderValue::from_str(&format!(
            "{FLASH_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age=60"
        ))
        .expect("base64 is cookie-safe")
    }

    /// The flash of the request's cookies, if any.
    pub(super) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let raw = ops_kit::web::cookie_value(headers, FLASH_COOKIE)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut chars = text.chars();
        let kind = match chars.next()? {
            'd' => FlashKind::Done,
            _ => FlashKind::Problem,
        };
        Some(Self {
            kind,
            text: chars.as_str().to_owned(),
        })
    }
}

/// A 303 to `to`, with `flash` for the page there.
pub(super) fn redirect(to: &str, flash: Option<Flash>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Some(flash) = flash {
        response
            .headers_mut()
            .append(header::SET_COOKIE, flash.cookie());
    }
    response
}

/// What every page needs besides its content.
#[derive(Debug)]
pub(super) struct Chrome<'a> {
    pub(super) title: &'a str,
    pub(super) staff: Option<&'a Staff>,
    pub(super) flash: Option<Flash>,
    pub(super) nav: Nav,
}

/// The whole document around `main`.
pub(super) fn document(chrome: Chrome<'_>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (chrome.title) " · CutList CRM" }
                link rel="stylesheet" href=(asset_path(Asset::Css));
                script src=(asset_path(Asset::Js)) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "CutList CRM" }
                    @if let Some(staff) = chrome.staff {
                        nav aria-label="Main" {
                            a href="/" aria-current=[(chrome.nav == Nav::Board).then_some("page")] { "Pipeline" }
                            a href="/leads" aria-current=[(chrome.nav == Nav::Leads).then_some("page")] { "Leads" }
                            a href="/my-day" aria-current=[(chrome.nav == Nav::MyDay).then_some("page")] { "My day" }
                        }
                        div.who {
                            span { (staff.name) " · " (staff.shop) }
                            form method="post" action="/sign-out" {
                                input type="hidden" name="csrf_token" value=(staff.csrf_token());
                                button.link type="submit" { "Sign out" }
                            }
                            form method="post" action="/sign-out-everywhere" {
                                input type="hidden" name="csrf_token" value=(staff.csrf_token());
                                button.link.everywhere type="submit" { "Sign out on every device" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    @if let Some(flash) = &chrome.flash {
                        @let class = match flash.kind { FlashKind::Done => "flash done", FlashKind::Problem => "flash problem" };
                        div class=(class) role=(if flash.kind == FlashKind::Problem { "alert" } else { "status" }) {
                            (flash.text)
                        }
                    }
                    (main)
                }
            }
        }
    }
}

/// A rendered page: no caching (it shows a tenant's data), and the flash
/// it showed cleared.
pub(super) fn respond(status: StatusCode, markup: Markup, cleared_flash: bool) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response();
    if cleared_flash {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static("flash=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
        );
    }
    response
}

/// A page saying what went wrong, in words, with a way on.
pub(super) fn problem(
    status: StatusCode,
    staff: Option<&Staff>,
    title: &str,
    text: &str,
) -> Response {
    let markup = document(
        Chrome {
            title,
            staff,
            flash: None,
            nav: Nav::None,
        },
        html! {
            h1 { (title) }
            p { (text) }
            p { a href="/" { "Back to the pipeline" } }
        },
    );
    respond(status, markup, false)
}

/// The page for a domain error the handler does not show in its own form:
/// its status and message, never a 500's cause.
pub(super) fn api_error(staff: Option<&Staff>, err: ApiError) -> Response {
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(error = %err.message(), "a console page failed");
        return problem(
            status,
            staff,
            "Something went wrong",
            "The shop's data could not be reached just now. Try again in a moment.",
        );
    }
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        _ => "That did not work",
    };
    problem(status, staff, title, &sentence(err.message()))
}

/// The API's message as a sentence.
pub(super) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The errors of a form: a summary at the top, linked to the fields.
pub(super) fn error_summary(errors: &[(String, String)]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error-summary role="alert" tabindex="-1" {
                h2 { "There is a problem" }
                ul {
                    @for (field, message) in errors {
                        li { a href={ "#" (field) } { (message) } }
                    }
                }
            }
        }
    }
}

/// The error of one field, if any.
pub(super) fn field_error(errors: &[(String, String)], field: &str) -> Markup {
    html! {
        @for (f, message) in errors {
            @if f == field {
                p.field-error id={ (field) "-error" } { (message) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_survives_its_cookie() {
        let flash = Flash::problem("Can't move “Ada <b>” to won.");
        let cookie = flash.cookie();
        let value = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&value).unwrap());
        assert_eq!(Flash::from_headers(&headers), Some(flash));
    }

    #[test]
    fn an_api_message_becomes_a_sentence() {
        assert_eq!(sentence("lead not found"), "Lead not found.");
    }
}
