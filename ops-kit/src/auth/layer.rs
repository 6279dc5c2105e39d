use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use futures_util::future::{BoxFuture, Either};
use http::{Request, header};
use tower::{Layer, Service};

use super::{Principal, TokenEpochs, TokenError, TokenKind, Tokens};

/// Checks `Authorization: Bearer <access token>` and makes the token's
/// [`Principal`] the request's.
///
/// - A valid access token: the principal is inserted; the handler runs.
/// - An invalid one (expired, tampered, a refresh token, wrong issuer, an
///   unknown role, dated in the future…): 401 with the error envelope; the
///   handler does not run.
/// - With [`check_epochs`](Self::check_epochs), a valid token issued at an
///   epoch that is no longer the user's (removed, role or password changed
///   since): 401 as well.
/// - No token: the request goes on anonymous; handlers that need a caller
///   take the `Principal` extractor, which answers 401. With
///   [`bypass_as`](Self::bypass_as) (development only) it acts as the
///   given principal instead.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, routing::get};
/// use ops_kit::auth::{AuthLayer, Principal, Tokens};
/// use secrecy::SecretString;
///
/// let tokens = Arc::new(Tokens::new(&SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api"));
/// let api: Router = Router::new()
///     .route("/api/me", get(|p: Principal| async move { p.user_id.to_string() }))
///     .layer(AuthLayer::new(tokens));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthLayer {
    tokens: Arc<Tokens>,
    bypass: Option<Principal>,
    epochs: Option<TokenEpochs>,
}

impl AuthLayer {
    /// Checks access tokens issued by `tokens`.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc; use axum::{Router, body::Body, routing::get}; use http::Request; use tower::ServiceExt;
    /// # use ops_kit::auth::{AuthLayer, Principal, Role, TokenKind, Tokens};
    /// # let tokens = Arc::new(Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api"));
    /// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
    /// let app = Router::new()
    ///     .route("/me", get(|p: Principal| async move { p.user_id.to_string() }))
    ///     .layer(AuthLayer::new(tokens.clone()));
    /// let (token, _) = tokens.issue(TokenKind::Access, &user, uuid::Uuid::new_v4())?;
    /// let signed_in = Request::get("/me").header("authorization", format!("Bearer {token}"));
    /// assert_eq!(app.clone().oneshot(signed_in.body(Body::empty())?).await?.status(), 200);
    /// let anonymous = Request::get("/me").body(Body::empty())?;
    /// assert_eq!(app.oneshot(anonymous).await?.status(), 401);
    /// # Ok(()) }
    /// ```
    pub fn new(tokens: Arc<Tokens>) -> Self {
        Self {
            tokens,
            bypass: None,
            epochs: None,
        }
    }

    /// Also checks each token's epoch against the user's current one (see
    /// [`TokenEpochs`]): a token issued before the user was removed, or
    /// changed role or password, is refused at once. A cached epoch costs
    /// one cache read per request; a miss, one read of the store.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc; use axum::{Router, body::Body, routing::get}; use http::Request; use tower::ServiceExt;
    /// # use ops_kit::auth::{AuthLayer, EpochStore, Principal, Role, TokenEpochs, TokenKind, Tokens};
    /// # let tokens = Arc::new(Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api"));
    /// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
    /// /// Every user is at epoch 1.
    /// struct Users;
    /// impl EpochStore for Users {
    ///     type Error = std::convert::Infallible;
    ///     async fn epoch(&self, _: uuid::Uuid, _: uuid::Uuid) -> Result<Option<u64>, Self::Error> {
    ///         Ok(Some(1))
    ///     }
    /// }
    /// let epochs = TokenEpochs::new(ops_kit::cache::Cache::memory(), Users);
    /// let app = Router::new()
    ///     .route("/me", get(|p: Principal| async move { p.user_id.to_string() }))
    ///     .layer(AuthLayer::new(tokens.clone()).check_epochs(epochs));
    /// for (epoch, status) in [(1, 200), (0, 401)] {
    ///     let (token, _) = tokens.issue_with_epoch(TokenKind::Access, &user, uuid::Uuid::new_v4(), epoch)?;
    ///     let request = Request::get("/me").header("authorization", format!("Bearer {token}"));
    ///     assert_eq!(app.clone().oneshot(request.body(Body::empty())?).await?.status(), status);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn check_epochs(mut self, epochs: TokenEpochs) -> Self {
        self.epochs = Some(epochs);
        self
    }

    /// Requests without a token act as `principal`. For development only:
    /// a service must refuse to start with this in production.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use std::sync::Arc; use axum::{Router, body::{Body, to_bytes}, routing::get}; use http::Request; use tower::ServiceExt;
    /// # use ops_kit::auth::{AuthLayer, Principal, Role, Tokens};
    /// # let tokens = Arc::new(Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api"));
    /// let dev = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Admin);
    /// let app = Router::new()
    ///     .route("/me", get(|p: Principal| async move { p.user_id.to_string() }))
    ///     .layer(AuthLayer::new(tokens).bypass_as(dev.clone()));
    /// let response = app.clone().oneshot(Request::get("/me").body(Body::empty())?).await?;
    /// assert_eq!(to_bytes(response.into_body(), 1024).await?, dev.user_id.to_string());
    /// // A token that does not verify is still refused.
    /// let forged = Request::get("/me").header("authorization", "Bearer x.y.z");
    /// assert_eq!(app.oneshot(forged.body(Body::empty())?).await?.status(), 401);
    /// # Ok(()) }
    /// ```
    pub fn bypass_as(mut self, principal: Principal) -> Self {
        self.bypass = Some(principal);
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use std::sync::Arc; use axum::{body::{Body, to_bytes}, response::Response}; use http::Request;
/// # use ops_kit::auth::{Auth, AuthLayer, Principal, Role, TokenKind, Tokens};
/// # let tokens = Arc::new(Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api"));
/// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
/// use tower::{Layer, ServiceExt, service_fn};
///
/// let service: Auth<_> = AuthLayer::new(tokens.clone()).layer(service_fn(|req: Request<Body>| async move {
///     let caller = req.extensions().get::<Principal>().map(|p| p.user_id.to_string());
///     Ok::<_, std::convert::Infallible>(Response::new(Body::from(caller.unwrap_or_default())))
/// }));
/// let (token, _) = tokens.issue(TokenKind::Access, &user, uuid::Uuid::new_v4())?;
/// let request = Request::get("/").header("authorization", format!("Bearer {token}")).body(Body::empty())?;
/// let response = service.oneshot(request).await?;
/// assert_eq!(to_bytes(response.into_body(), 1024).await?, user.user_id.to_string());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<
        Ready<Result<Response, S::Error>>,
        Either<S::Future, BoxFuture<'static, Result<Response, S::Error>>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let claims = match bearer(&req) {
            Some(Ok(token)) => match self.layer.tokens.verify(TokenKind::Access, token) {
                Ok(claims) => Some(claims),
                Err(err) => return Either::Left(ready(Ok(err.into_response()))),
            },
            Some(Err(err)) => return Either::Left(ready(Ok(err.into_response()))),
            None => None,
        };
        let Some(claims) = claims else {
            if let Some(principal) = self.layer.bypass.clone() {
                req.extensions_mut().insert(principal);
            }
            return Either::Right(Either::Left(self.inner.call(req)));
        };
        req.extensions_mut().insert(claims.principal());
        let Some(epochs) = self.layer.epochs.clone() else {
            return Either::Right(Either::Left(self.inner.call(req)));
        };
        // The service that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Either::Right(Either::Right(Box::pin(async move {
            match epochs.check(&claims).await {
                Ok(()) => inner.call(req).await,
                Err(err) => Ok(err.into_response()),
            }
        })))
    }
}

/// The bearer token, `None` without an `Authorization` header, an error for
/// any other scheme or a malformed value.
fn bearer<B>(req: &Request<B>) -> Option<Result<&str, TokenError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Malformed);
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use secrecy::SecretString;
    use tower::ServiceExt;
    use uuid::Uuid;

    fn tokens() -> Arc<Tokens> {
        Arc::new(Tokens::new(
            &SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"),
            "crm",
            "crm-api",
        ))
    }

    fn app(layer: AuthLayer) -> Router {
        let routes = Router::new()
            .route(
                "/me",
                get(|p: Principal| async move { p.user_id.to_string() }),
            )
            .route(
                "/maybe",
                get(|p: Option<Principal>| async move { format!("{}", p.is_some()) }),
            )
            .layer(layer);
        crate::App::new("t", "0").router(routes).into_router()
    }

    async fn get_with(router: Router, path: &str, auth: Option<&str>) -> (u16, String) {
        let mut req = http::Request::get(path);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let response = router
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn user() -> Principal {
        Principal::new(Uuid::new_v4(), Uuid::new_v4(), Role::Member)
    }

    #[tokio::test]
    async fn a_valid_access_token_becomes_the_principal() {
        let t = tokens();
        let user = user();
        let (token, _) = t.issue(TokenKind::Access, &user, Uuid::new_v4()).unwrap();
        let (status, body) = get_with(
            app(AuthLayer::new(t)),
            "/me",
            Some(&format!("Bearer {token}")),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body, user.user_id.to_string());
    }

    #[tokio::test]
    async fn a_refresh_token_is_refused_as_an_access_token_with_the_envelope() {
        let t = tokens();
        let (token, _) = t
            .issue(TokenKind::Refresh, &user(), Uuid::new_v4())
            .unwrap();
        let (status, body) = get_with(
            app(AuthLayer::new(t)),
            "/maybe",
            Some(&format!("Bearer {token}")),
        )
        .await;
        assert_eq!(status, 401);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "invalid or expired token");
        assert!(body["requestId"].is_string());
    }

    #[tokio::test]
    async fn a_malformed_authorization_header_is_refused() {
        for header in [
            "Basic dXNlcjpwdw==",
            "Bearer",
            "Bearer ",
            "token-without-scheme",
        ] {
            let (status, _) = get_with(app(AuthLayer::new(tokens())), "/maybe", Some(header)).await;
            assert_eq!(status, 401, "{header}");
        }
    }

    #[tokio::test]
    async fn without_a_token_the_request_is_anonymous() {
        let (status, body) = get_with(app(AuthLayer::new(tokens())), "/maybe", None).await;
        assert_eq!((status, body.as_str()), (200, "false"));
        let (status, body) = get_with(app(AuthLayer::new(tokens())), "/me", None).await;
        assert_eq!(status, 401);
        assert!(body.contains("authentication required"));
    }

    #[tokio::test]
    async fn the_development_bypass_acts_as_its_principal_only_without_a_token() {
        let dev = user();
        let layer = AuthLayer::new(tokens()).bypass_as(dev.clone());
        let (status, body) = get_with(app(layer.clone()), "/me", None).await;
        assert_eq!((status, body), (200, dev.user_id.to_string()));
        let (status, _) = get_with(app(layer), "/me", Some("Bearer not.a.token")).await;
        assert_eq!(status, 401);
    }
}
