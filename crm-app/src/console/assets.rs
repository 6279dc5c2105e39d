//! The console's stylesheet and script, embedded in the binary and served
//! under a name carrying a hash of their content, with a year's cache: a
//! new build changes the name, so a browser never runs a stale script.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// An embedded asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// `console.css`.
    Css,
    /// `console.js`.
    Js,
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

impl Asset {
    fn source(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Asset::Css => ("console", "css", CSS),
            Asset::Js => ("console", "js", JS),
        }
    }
}

struct Fingerprinted {
    css: String,
    js: String,
}

fn names() -> &'static Fingerprinted {
    static NAMES: OnceLock<Fingerprinted> = OnceLock::new();
    NAMES.get_or_init(|| {
        let name = |asset: Asset| {
            let (stem, ext, body) = asset.source();
            let hash = Sha256::digest(body.as_bytes());
            let short: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
            format!("{stem}.{short}.{ext}")
        };
        Fingerprinted {
            css: name(Asset::Css),
            js: name(Asset::Js),
        }
    })
}

/// The URL path of `asset`, with its content hash
/// (`/assets/console.3f2a9c01b2d4.css`).
///
/// ```
/// use crm_app::console::{Asset, asset_path};
/// let css = asset_path(Asset::Css);
/// assert!(css.starts_with("/assets/console.") && css.ends_with(".css"));
/// assert_eq!(css.len(), "/assets/console.".len() + 12 + ".css".len());
/// ```
pub fn asset_path(asset: Asset) -> String {
    let names = names();
    match asset {
        Asset::Css => format!("/assets/{}", names.css),
        Asset::Js => format!("/assets/{}", names.js),
    }
}

/// `GET /assets/{file}`: the asset of that exact fingerprinted name.
pub(super) async fn serve(Path(file): Path<String>) -> Response {
    let names = names();
    let (body, kind) = if file == names.css {
        (CSS, "text/css; charset=utf-8")
    } else if file == names.js {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}
