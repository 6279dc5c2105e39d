use std::fmt;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Principal, Role};
use crate::ApiError;

/// How long an access token lives: 15 minutes.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), ops_kit::auth::TokenError> {
/// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
/// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
/// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
/// use ops_kit::auth::ACCESS_TOKEN_TTL;
///
/// assert_eq!(ACCESS_TOKEN_TTL.as_secs(), 15 * 60);
/// let (_, claims) = tokens.issue(TokenKind::Access, &user, uuid::Uuid::new_v4())?;
/// assert_eq!(claims.exp - claims.iat, ACCESS_TOKEN_TTL.as_secs());
/// # Ok(()) }
/// ```
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// How long a refresh token lives: 7 days.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), ops_kit::auth::TokenError> {
/// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
/// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
/// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
/// use ops_kit::auth::REFRESH_TOKEN_TTL;
///
/// assert_eq!(REFRESH_TOKEN_TTL.as_secs(), 7 * 24 * 60 * 60);
/// let (_, claims) = tokens.issue(TokenKind::Refresh, &user, uuid::Uuid::new_v4())?;
/// assert_eq!(claims.exp - claims.iat, REFRESH_TOKEN_TTL.as_secs());
/// # Ok(()) }
/// ```
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The clock skew tolerated between the issuer's clock and ours: 30
/// seconds, when checking `exp` (a token is still accepted up to 30 s after
/// it), `nbf` and `iat` (a token dated up to 30 s ahead is accepted; any
/// further ahead is refused as not yet valid).
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
/// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
/// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
/// # let key = jsonwebtoken::EncodingKey::from_secret(b"k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)");
/// use jsonwebtoken::{Header, encode};
/// use ops_kit::auth::{LEEWAY, TokenError};
///
/// let (_, mut claims) = tokens.issue(TokenKind::Access, &user, uuid::Uuid::new_v4())?;
/// claims.exp = jsonwebtoken::get_current_timestamp() - LEEWAY.as_secs() / 2;
/// assert!(tokens.verify(TokenKind::Access, &encode(&Header::default(), &claims, &key)?).is_ok());
/// claims.exp -= LEEWAY.as_secs();
/// let late = encode(&Header::default(), &claims, &key)?;
/// assert_eq!(tokens.verify(TokenKind::Access, &late), Err(TokenError::Expired));
/// # Ok(()) }
/// ```
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Which kind of token: each kind is only ever accepted as itself.
///
/// # Example
///
/// ```
/// use ops_kit::auth::TokenKind;
/// assert_eq!(TokenKind::Access.as_str(), "access");
/// assert_eq!(TokenKind::Refresh.ttl().as_secs(), 7 * 24 * 3600);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Sent with every request (`Authorization: Bearer …`); 15 minutes.
    Access,
    /// Exchanged for a new pair; 7 days.
    Refresh,
}

impl TokenKind {
    /// `"access"` or `"refresh"` (the `typ` claim).
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::TokenKind;
    ///
    /// assert_eq!(TokenKind::Refresh.as_str(), "refresh");
    /// assert_eq!(serde_json::to_value(TokenKind::Access).unwrap(), TokenKind::Access.as_str());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    /// The token's lifetime.
    ///
    /// # Example
    ///
    /// ```
    /// use ops_kit::auth::{ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, TokenKind};
    ///
    /// assert_eq!(TokenKind::Access.ttl(), ACCESS_TOKEN_TTL);
    /// assert_eq!(TokenKind::Refresh.ttl(), REFRESH_TOKEN_TTL);
    /// assert_eq!(TokenKind::Access.ttl().as_secs(), 900);
    /// ```
    pub fn ttl(self) -> Duration {
        match self {
            TokenKind::Access => ACCESS_TOKEN_TTL,
            TokenKind::Refresh => REFRESH_TOKEN_TTL,
        }
    }
}

/// The claims of an ops-kit token, parsed into types: a token whose claims
/// do not parse (a role other than `admin` or `member`, a `sub` that is not
/// a UUID, a missing claim) is refused as a whole.
///
/// Every claim is required when decoding except `ver`, which tokens issued
/// before epochs existed lack and which then reads as 0, the epoch every
/// user starts at. `fam` groups the refresh tokens of one login: a service
/// that sees a used refresh token again revokes its whole family.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), ops_kit::auth::TokenError> {
/// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
/// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
/// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
/// let family = uuid::Uuid::new_v4();
/// let (token, claims) = tokens.issue(TokenKind::Refresh, &user, family)?;
/// assert_eq!((claims.sub, claims.tid, claims.fam), (user.user_id, user.tenant_id, family));
/// assert_eq!((claims.iss.as_str(), claims.aud.as_str()), ("crm", "crm-api"));
/// assert_eq!((claims.role, claims.typ), (Role::Member, TokenKind::Refresh));
/// assert_eq!(claims.ver, 0); // the user's token epoch; see `issue_with_epoch`
/// assert_eq!(tokens.verify(TokenKind::Refresh, &token)?, claims);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The user's tenant.
    pub tid: Uuid,
    /// The user's role.
    pub role: Role,
    /// `access` or `refresh`.
    pub typ: TokenKind,
    /// The token's own id.
    pub jti: Uuid,
    /// The refresh-token family (the same for every token of one login).
    pub fam: Uuid,
    /// The user's token epoch when the token was issued (see
    /// [`TokenEpochs`](super::TokenEpochs)); 0 when absent.
    #[serde(default)]
    pub ver: u64,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
    /// The issuer.
    pub iss: String,
    /// The audience.
    pub aud: String,
}

impl Claims {
    /// The principal the token speaks for.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), ops_kit::auth::TokenError> {
    /// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
    /// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
    /// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
    /// let (token, _) = tokens.issue(TokenKind::Access, &user, uuid::Uuid::new_v4())?;
    /// let claims = tokens.verify(TokenKind::Access, &token)?;
    /// assert_eq!(claims.principal(), user);
    /// assert!(!claims.principal().is_admin());
    /// # Ok(()) }
    /// ```
    pub fn principal(&self) -> Principal {
        Principal::new(self.sub, self.tid, self.role)
    }
}

/// Why a token was refused. Every variant answers 401 with the same
/// message: a client learns nothing about which check failed.
///
/// # Example
///
/// ```
/// use axum::response::IntoResponse;
/// let response = ops_kit::auth::TokenError::Expired.into_response();
/// assert_eq!(response.status(), 401);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify, or the algorithm is not HS256.
    #[error("invalid signature or algorithm")]
    Signature,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// The user's token epoch has moved on since the token was issued (the
    /// user was removed, changed role or changed password), or the user is
    /// gone.
    #[error("token revoked")]
    Revoked,
    /// Issuer or audience are not ours, or a claim is missing or does not
    /// parse (an unknown role, for instance).
    #[error("token not issued for this service")]
    Claims,
    /// A refresh token where an access token was expected, or the reverse.
    #[error("wrong kind of token")]
    WrongKind,
    /// The token could not be signed (a key problem).
    #[error("token could not be signed")]
    Signing,
}

impl axum::response::IntoResponse for TokenError {
    fn into_response(self) -> axum::response::Response {
        tracing::debug!(target: "ops_kit::auth", reason = %self, "token refused");
        ApiError::unauthorized("invalid or expired token").into_response()
    }
}

/// Issues and verifies HS256 JWTs for one service.
///
/// The algorithm is pinned (a token that says `alg: none` or anything but
/// HS256 is refused), `sub`, `tid`, `role`, `typ`, `jti`, `fam`, `iat`,
/// `exp`, `iss` and `aud` are all required and typed (see [`Claims`]), a
/// token dated in the future (`iat`, or `nbf` when present) is refused, the
/// clock leeway is 30 s ([`LEEWAY`]), and each kind of token is verified
/// only as itself.
///
/// # Example
///
/// ```
/// use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
/// use secrecy::SecretString;
///
/// let tokens = Tokens::new(&SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm-app", "crm-api");
/// let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Admin);
/// let family = uuid::Uuid::new_v4();
/// let (token, _claims) = tokens.issue(TokenKind::Access, &user, family).unwrap();
/// let claims = tokens.verify(TokenKind::Access, &token).unwrap();
/// assert_eq!(claims.principal(), user);
/// assert!(tokens.verify(TokenKind::Refresh, &token).is_err());
/// ```
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `secret`, issued by `issuer` for `audience`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), ops_kit::auth::TokenError> {
    /// # let user = ops_kit::auth::Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), ops_kit::auth::Role::Member);
    /// use ops_kit::auth::{TokenError, TokenKind, Tokens};
    /// use secrecy::SecretString;
    ///
    /// let secret = SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)");
    /// let crm = Tokens::new(&secret, "crm", "crm-api");
    /// let (token, _) = crm.issue(TokenKind::Access, &user, uuid::Uuid::new_v4())?;
    /// assert!(crm.verify(TokenKind::Access, &token).is_ok());
    /// // Same secret, other audience: not accepted.
    /// let billing = Tokens::new(&secret, "crm", "billing-api");
    /// assert_eq!(billing.verify(TokenKind::Access, &token), Err(TokenError::Claims));
    /// # Ok(()) }
    /// ```
    pub fn new(
        secret: &SecretString,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let key = secret.expose_secret().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Issues a token of `kind` for `principal`, in refresh family `family`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), ops_kit::auth::TokenError> {
    /// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
    /// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
    /// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
    /// let family = uuid::Uuid::new_v4();
    /// let (access, a) = tokens.issue(TokenKind::Access, &user, family)?;
    /// let (refresh, r) = tokens.issue(TokenKind::Refresh, &user, family)?;
    /// assert_eq!(access.split('.').count(), 3); // header.payload.signature
    /// assert_ne!(access, refresh);
    /// assert_ne!(a.jti, r.jti); // every token has its own id…
    /// assert_eq!((a.fam, r.fam), (family, family)); // …and one login, one family
    /// # Ok(()) }
    /// ```
    pub fn issue(
        &self,
        kind: TokenKind,
        principal: &Principal,
        family: Uuid,
    ) -> Result<(String, Claims), TokenError> {
        self.issue_with_epoch(kind, principal, family, 0)
    }

    /// Issues a token like [`issue`](Self::issue), carrying the user's
    /// current token epoch as `ver`, for services that revoke tokens with
    /// [`TokenEpochs`](super::TokenEpochs).
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), ops_kit::auth::TokenError> {
    /// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
    /// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
    /// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
    /// let (token, _) = tokens.issue_with_epoch(TokenKind::Access, &user, uuid::Uuid::new_v4(), 7)?;
    /// assert_eq!(tokens.verify(TokenKind::Access, &token)?.ver, 7);
    /// # Ok(()) }
    /// ```
    pub fn issue_with_epoch(
        &self,
        kind: TokenKind,
        principal: &Principal,
        family: Uuid,
        epoch: u64,
    ) -> Result<(String, Claims), TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: principal.user_id,
            tid: principal.tenant_id,
            role: principal.role,
            typ: kind,
            jti: Uuid::new_v4(),
            fam: family,
            ver: epoch,
            iat: now,
            exp: now + kind.ttl().as_secs(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Signing)?;
        Ok((token, claims))
    }

    /// Verifies `token` as a token of `kind`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn main() -> Result<(), ops_kit::auth::TokenError> {
    /// # use ops_kit::auth::{Principal, Role, TokenKind, Tokens};
    /// # let tokens = Tokens::new(&secrecy::SecretString::from("k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)"), "crm", "crm-api");
    /// # let user = Principal::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), Role::Member);
    /// use ops_kit::auth::TokenError;
    ///
    /// let (token, _) = tokens.issue(TokenKind::Refresh, &user, uuid::Uuid::new_v4())?;
    /// assert_eq!(tokens.verify(TokenKind::Refresh, &token)?.principal(), user);
    /// assert_eq!(tokens.verify(TokenKind::Access, &token), Err(TokenError::WrongKind));
    /// assert_eq!(tokens.verify(TokenKind::Access, "not-a-jwt"), Err(TokenError::Malformed));
    ///
    /// // Claims are typed: a role that is not ours refuses the whole token.
    /// # let key = jsonwebtoken::EncodingKey::from_secret(b"k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)");
    /// let (_, claims) = tokens.issue(TokenKind::Access, &user, uuid::Uuid::new_v4())?;
    /// let mut forged = serde_json::to_value(&claims).unwrap();
    /// forged["role"] = "superadmin".into();
    /// let forged = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &forged, &key).unwrap();
    /// assert_eq!(tokens.verify(TokenKind::Access, &forged), Err(TokenError::Claims));
    /// // So is a token dated ahead of our clock by more than the leeway.
    /// let mut early = claims.clone();
    /// early.iat += 120;
    /// let early = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &early, &key).unwrap();
    /// assert_eq!(tokens.verify(TokenKind::Access, &early), Err(TokenError::NotYetValid));
    /// # Ok(()) }
    /// ```
    pub fn verify(&self, kind: TokenKind, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                match err.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidAlgorithm
                    | ErrorKind::InvalidAlgorithmName => TokenError::Signature,
                    ErrorKind::InvalidIssuer
                    | ErrorKind::InvalidAudience
                    | ErrorKind::MissingRequiredClaim(_)
                    | ErrorKind::InvalidClaimFormat(_)
                    | ErrorKind::Json(_) => TokenError::Claims,
                    _ => TokenError::Malformed,
                }
            })?;
        // jsonwebtoken leaves `iat` unchecked; a token from the future was
        // minted by a clock (or a hand) we cannot trust.
        if data.claims.iat > jsonwebtoken::get_current_timestamp() + LEEWAY.as_secs() {
            return Err(TokenError::NotYetValid);
        }
        if data.claims.typ != kind {
            return Err(TokenError::WrongKind);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unpadded base64url, as JWT segments are written.
    mod base64_url {
        pub(super) fn encode(bytes: &[u8]) -> String {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }

    const SECRET: &str = "k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)";

    fn tokens() -> Tokens {
        Tokens::new(&SecretString::from(SECRET), "crm-app", "crm-api")
    }

    fn user() -> Principal {
        Principal::new(Uuid::new_v4(), Uuid::new_v4(), Role::Member)
    }

    fn sign(claims: &serde_json::Value, secret: &str, alg: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims_json(kind: &str, exp_offset: i64) -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        serde_json::json!({
            "sub": Uuid::new_v4(), "tid": Uuid::new_v4(), "role": "admin", "typ": kind,
            "jti": Uuid::new_v4(), "fam": Uuid::new_v4(), "iat": now,
            "exp": now + exp_offset, "iss": "crm-app", "aud": "crm-api",
        })
    }

    #[test]
    fn a_token_verifies_as_its_own_kind_only() {
        let t = tokens();
        let (access, _) = t.issue(TokenKind::Access, &user(), Uuid::new_v4()).unwrap();
        let (refresh, _) = t
            .issue(TokenKind::Refresh, &user(), Uuid::new_v4())
            .unwrap();
        assert!(t.verify(TokenKind::Access, &access).is_ok());
        assert!(t.verify(TokenKind::Refresh, &refresh).is_ok());
        assert_eq!(
            t.verify(TokenKind::Refresh, &access),
            Err(TokenError::WrongKind)
        );
        assert_eq!(
            t.verify(TokenKind::Access, &refresh),
            Err(TokenError::WrongKind)
        );
    }

    #[test]
    fn access_tokens_live_15_minutes_and_refresh_tokens_7_days() {
        let t = tokens();
        let (_, access) = t.issue(TokenKind::Access, &user(), Uuid::new_v4()).unwrap();
        let (_, refresh) = t
            .issue(TokenKind::Refresh, &user(), Uuid::new_v4())
            .unwrap();
        assert_eq!(access.exp - access.iat, 900);
        assert_eq!(refresh.exp - refresh.iat, 604_800);
    }

    #[test]
    fn refuses_an_expired_token_beyond_the_leeway_but_not_within_it() {
        let t = tokens();
        let expired = sign(&claims_json("access", -31), SECRET, Algorithm::HS256);
        assert_eq!(
            t.verify(TokenKind::Access, &expired),
            Err(TokenError::Expired)
        );
        let skewed = sign(&claims_json("access", -20), SECRET, Algorithm::HS256);
        assert!(t.verify(TokenKind::Access, &skewed).is_ok());
    }

    #[test]
    fn refuses_a_token_signed_with_another_secret() {
        let forged = sign(
            &claims_json("access", 600),
            "another-secret-of-enough-length!",
            Algorithm::HS256,
        );
        assert_eq!(
            tokens().verify(TokenKind::Access, &forged),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn refuses_another_algorithm_even_with_the_right_secret() {
        let hs512 = sign(&claims_json("access", 600), SECRET, Algorithm::HS512);
        assert_eq!(
            tokens().verify(TokenKind::Access, &hs512),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn refuses_an_unsigned_alg_none_token() {
        let t = tokens();
        let (valid, _) = t.issue(TokenKind::Access, &user(), Uuid::new_v4()).unwrap();
        let payload = valid.split('.').nth(1).unwrap();
        let header = base64_url::encode(br#"{"alg":"none","typ":"JWT"}"#);
        for unsigned in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert!(
                t.verify(TokenKind::Access, &unsigned).is_err(),
                "{unsigned}"
            );
        }
    }

    #[test]
    fn refuses_a_tampered_payload() {
        let t = tokens();
        let (valid, _) = t.issue(TokenKind::Access, &user(), Uuid::new_v4()).unwrap();
        let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
        let mut claims = claims_json("access", 600);
        claims["role"] = "admin".into();
        parts[1] = base64_url::encode(claims.to_string().as_bytes());
        assert_eq!(
            t.verify(TokenKind::Access, &parts.join(".")),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn refuses_a_foreign_issuer_or_audience_and_missing_claims() {
        let t = tokens();
        let mut other_issuer = claims_json("access", 600);
        other_issuer["iss"] = "someone-else".into();
        assert_eq!(
            t.verify(
                TokenKind::Access,
                &sign(&other_issuer, SECRET, Algorithm::HS256)
            ),
            Err(TokenError::Claims)
        );
        let mut other_audience = claims_json("access", 600);
        other_audience["aud"] = "other-api".into();
        assert_eq!(
            t.verify(
                TokenKind::Access,
                &sign(&other_audience, SECRET, Algorithm::HS256)
            ),
            Err(TokenError::Claims)
        );
        for claim in [
            "sub", "tid", "role", "typ", "jti", "fam", "iat", "exp", "iss", "aud",
        ] {
            let mut missing = claims_json("access", 600);
            missing.as_object_mut().unwrap().remove(claim);
            assert!(
                t.verify(TokenKind::Access, &sign(&missing, SECRET, Algorithm::HS256))
                    .is_err(),
                "a token without {claim} is refused"
            );
        }
    }

    #[test]
    fn refuses_a_token_claiming_a_role_that_is_not_ours() {
        let t = tokens();
        for role in ["superadmin", "Admin", "ADMIN", "", " admin", "owner"] {
            let mut claims = claims_json("access", 600);
            claims["role"] = role.into();
            assert_eq!(
                t.verify(TokenKind::Access, &sign(&claims, SECRET, Algorithm::HS256)),
                Err(TokenError::Claims),
                "role {role:?}"
            );
        }
        let mut not_a_string = claims_json("access", 600);
        not_a_string["role"] = serde_json::json!(["admin"]);
        assert_eq!(
            t.verify(
                TokenKind::Access,
                &sign(&not_a_string, SECRET, Algorithm::HS256)
            ),
            Err(TokenError::Claims)
        );
    }

    #[test]
    fn refuses_a_token_not_valid_before_a_time_beyond_the_leeway() {
        let t = tokens();
        let now = jsonwebtoken::get_current_timestamp();
        let mut early = claims_json("access", 600);
        early["nbf"] = (now + 120).into();
        assert_eq!(
            t.verify(TokenKind::Access, &sign(&early, SECRET, Algorithm::HS256)),
            Err(TokenError::NotYetValid)
        );
        let mut skewed = claims_json("access", 600);
        skewed["nbf"] = (now + 10).into();
        assert!(
            t.verify(TokenKind::Access, &sign(&skewed, SECRET, Algorithm::HS256))
                .is_ok()
        );
        let mut junk = claims_json("access", 600);
        junk["nbf"] = "tomorrow".into();
        assert_eq!(
            t.verify(TokenKind::Access, &sign(&junk, SECRET, Algorithm::HS256)),
            Err(TokenError::Claims)
        );
    }

    #[test]
    fn refuses_a_token_issued_in_the_future_beyond_the_leeway() {
        let t = tokens();
        let now = jsonwebtoken::get_current_timestamp();
        let mut ahead = claims_json("access", 600);
        ahead["iat"] = (now + 120).into();
        assert_eq!(
            t.verify(TokenKind::Access, &sign(&ahead, SECRET, Algorithm::HS256)),
            Err(TokenError::NotYetValid)
        );
        let mut skewed = claims_json("access", 600);
        skewed["iat"] = (now + 10).into();
        assert!(
            t.verify(TokenKind::Access, &sign(&skewed, SECRET, Algorithm::HS256))
                .is_ok()
        );
    }

    #[test]
    fn a_token_without_an_epoch_reads_as_epoch_zero_and_carries_the_one_it_was_issued_with() {
        let t = tokens();
        let old = claims_json("access", 600);
        assert_eq!(
            t.verify(TokenKind::Access, &sign(&old, SECRET, Algorithm::HS256))
                .unwrap()
                .ver,
            0
        );
        let (token, _) = t
            .issue_with_epoch(TokenKind::Access, &user(), Uuid::new_v4(), 42)
            .unwrap();
        assert_eq!(t.verify(TokenKind::Access, &token).unwrap().ver, 42);
    }

    #[test]
    fn refuses_malformed_tokens() {
        for junk in ["", "abc", "a.b.c", "Bearer x.y.z", "....."] {
            assert!(
                tokens().verify(TokenKind::Access, junk).is_err(),
                "{junk:?}"
            );
        }
    }
}
