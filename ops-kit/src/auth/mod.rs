//! Who is calling: the authenticated [`Principal`] of a request, the JWTs
//! that carry it ([`Tokens`]), the layer that checks them ([`AuthLayer`])
//! and the per-user epochs that revoke them at once ([`TokenEpochs`]).
//!
//! Authentication middleware (for example the JWT layer of a service)
//! inserts a `Principal` into the request extensions; handlers and the audit
//! trail read it from there. A request without one is anonymous: the
//! extractor answers 401, `Option<Principal>` gives `None`, and the audit
//! trail records nulls rather than a guess.

mod epoch;
mod layer;
mod principal;
mod token;

pub use self::epoch::{EPOCH_CACHE_TTL, EpochError, EpochStore, TokenEpochs};
pub use self::layer::{Auth, AuthLayer};
pub use self::principal::{Principal, Role, UnknownRole};
pub use self::token::{
    ACCESS_TOKEN_TTL, Claims, LEEWAY, REFRESH_TOKEN_TTL, TokenError, TokenKind, Tokens,
};
