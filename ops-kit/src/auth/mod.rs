//! Who is calling: the authenticated [`Principal`] of a request.
//!
//! Authentication middleware (for example the JWT layer of a service)
//! inserts a `Principal` into the request extensions; handlers and the audit
//! trail read it from there. A request without one is anonymous: the
//! extractor answers 401, `Option<Principal>` gives `None`, and the audit
//! trail records nulls rather than a guess.

mod principal;

pub use self::principal::{Principal, Role};
