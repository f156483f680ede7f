//! The master key and the state it sealed belong together. The database
//! records a check value of its key; at start a missing or different key
//! file is a clear error that stops mfad, instead of a fresh key that
//! would make every login fail and every recovery code stop matching.

use crate::crypto::{ct_eq, CryptoError, Keys};
use crate::login_rule::sealed_context;
use crate::store::{Store, StoreError};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error("the key file {path} is missing, but the state holds secrets sealed with it: restore the key from the backup it was kept in (mfad never makes a new key over existing state)")]
    Missing { path: String },
    #[error("the key file {path} is not the key this state was sealed with: restore the right key file (the database and the key must come from the same backup)")]
    Wrong { path: String },
    #[error("the database {db} is missing, but the key file {path} exists: the database it belongs to is lost (restore it from a backup, or mount the state's filesystem). To really start over with no enrollments, move the key file away first")]
    NewDatabase { db: String, path: String },
    #[error(transparent)]
    Key(#[from] CryptoError),
    #[error("cannot read the key check from the state: {0}")]
    Store(#[from] StoreError),
}

/// Before the store is opened (which would create an empty database):
/// refuse a key file without the database `db` it belongs to. Starting
/// empty would let every enrolled user through `nullok`.
pub fn refuse_key_without_database(db: &Path, key: &Path) -> Result<(), KeyCheckError> {
    if std::fs::symlink_metadata(db).is_err() && std::fs::symlink_metadata(key).is_ok() {
        return Err(KeyCheckError::NewDatabase {
            db: db.display().to_string(),
            path: key.display().to_string(),
        });
    }
    Ok(())
}

/// Load the key at `path` and check it against `store`. A key is created
/// only if `may_create` and the state is empty; the first start records
/// the key's check value (for a state from before check values, after
/// checking that the key opens a stored secret).
pub async fn load_keys<S: Store>(
    store: &S,
    path: &Path,
    may_create: bool,
) -> Result<Keys, KeyCheckError> {
    let recorded = store.key_check().await?;
    let first = store.list("", 1).await?.into_iter().next();
    let empty = recorded.is_none() && first.is_none();
    let p = path.display().to_string();
    let keys = match Keys::load_or_create(path, may_create && empty) {
        Err(CryptoError::KeyFile { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound && !empty =>
        {
            return Err(KeyCheckError::Missing { path: p })
        }
        other => other?,
    };
    match recorded {
        Some(v) if ct_eq(&v, &keys.check_value()) => {}
        Some(_) => return Err(KeyCheckError::Wrong { path: p }),
        None => {
            if let Some(user) = first {
                // An account with no authenticator has nothing to try.
                let opens = store.summary(&user).await?.is_some_and(|s| {
                    s.first().is_none_or(|a| {
                        keys.open(&sealed_context("totp", &user), &a.totp.sealed_secret)
                            .is_ok()
                    })
                });
                if !opens {
                    return Err(KeyCheckError::Wrong { path: p });
                }
            }
            store.set_key_check(&keys.check_value()).await?;
        }
    }
    Ok(keys)
}
