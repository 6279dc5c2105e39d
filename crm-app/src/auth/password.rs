//! Password hashing: argon2id with OWASP's minimum parameters (19 MiB,
//! 2 iterations, 1 lane), run off the async workers.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use password_hash::SaltString;
use password_hash::rand_core::OsRng;
use tokio::sync::Semaphore;

/// At most this many hashes are computed at once (19 MiB each); the rest
/// wait their turn, within the request timeout.
const CONCURRENT_HASHES: usize = 4;

static HASHING: Semaphore = Semaphore::const_new(CONCURRENT_HASHES);

/// Hashes `password` into a PHC string.
pub async fn hash(password: String) -> Result<String, password_hash::Error> {
    let _permit = HASHING
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .expect("the hashing task does not panic")
}

/// Whether `password` matches `phc`. A malformed hash never matches.
pub async fn verify(password: String, phc: String) -> bool {
    let _permit = HASHING
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse".into(), phc.clone()).await);
        assert!(!verify("wrong horse".into(), phc).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }
}
