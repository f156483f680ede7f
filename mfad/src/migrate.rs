//! `mfad migrate --from-sqlite DIR`: copy a single host's enrollments into
//! the central store, so that the codes that worked on that host work
//! through the central mfad and the steps and codes spent there stay
//! spent.
//!
//! The host's database is read from a consistent copy (SQLite's backup
//! API), so its mfad may keep running. Each TOTP secret and push topic is
//! opened with the host's key and sealed again under the central key.
//! Recovery codes are stored as keyed hashes, which cannot be re-keyed
//! without the codes, so the host's recovery subkey travels with them,
//! sealed under the central key (it is derived from the host's master key
//! and reveals neither the master nor its sealing subkey).
//!
//! Each account is one transaction: copied whole if the name is free;
//! if the same enrollment is already there (an earlier run), only what the
//! host spent since is spent centrally too; a different enrollment of that
//! name is never overwritten but reported as a conflict. Not copied, on
//! purpose: pending enrollments (minutes long; start again), failure
//! counts per remote host, pushes and phone codes in flight, and push
//! blocks after a denial: all short-lived and about that host.

use crate::audit;
use crate::crypto::{ct_eq, CryptoError, Keys};
use crate::login_rule::sealed_context;
use crate::store::backup::backup_to;
use crate::store::transfer::{AccountExport, Existing, Imported};
use crate::store::{export_sqlite, SqliteStore, Store, StoreError};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod report;
pub use report::Report;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0} holds no mfad database (mfad.db)")]
    NoDatabase(String),
    #[error("cannot take a consistent copy of {db}: {source}")]
    Copy { db: String, source: StoreError },
    #[error("cannot read the copy of {db}: {source}")]
    Read { db: String, source: StoreError },
    #[error("the host's key file: {0}")]
    HostKey(CryptoError),
    #[error("the key file {key} is not the key {db} was sealed with: give the host's own key with --from-key")]
    WrongHostKey { key: String, db: String },
    #[error("cannot make a private folder for the copy at {path}: {source}")]
    Scratch {
        path: String,
        source: std::io::Error,
    },
    #[error("the central database: {0}")]
    Central(#[from] StoreError),
}

/// The single host's state to copy from.
pub struct Source {
    /// Its state directory (the one with `mfad.db`).
    pub dir: PathBuf,
    /// Its master key file.
    pub key: PathBuf,
}

/// Where the host's database is copied to, removed (with the copy) when
/// dropped, whatever happened.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, MigrateError> {
        let path = std::env::temp_dir().join(format!("mfad-migrate-{}", std::process::id()));
        // Private: the copy holds sealed secrets and code hashes.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|source| MigrateError::Scratch {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Read every account of `from`, checked against its key.
fn read_source(from: &Source, now: i64) -> Result<(Keys, Vec<AccountExport>), MigrateError> {
    let db = SqliteStore::database_in(&from.dir);
    let shown = db.display().to_string();
    if std::fs::symlink_metadata(&db).is_err() {
        return Err(MigrateError::NoDatabase(from.dir.display().to_string()));
    }
    let host = Keys::load_or_create(&from.key, false).map_err(MigrateError::HostKey)?;
    let scratch = Scratch::new()?;
    let copy = scratch.0.join("mfad.db");
    backup_to(&from.dir, &copy).map_err(|source| MigrateError::Copy {
        db: shown.clone(),
        source,
    })?;
    let (check, accounts) = export_sqlite(&copy, now).map_err(|source| MigrateError::Read {
        db: shown.clone(),
        source,
    })?;
    // A state from before key checks: the key must open a stored secret.
    let right = match check {
        Some(c) => ct_eq(&c, &host.check_value()),
        None => accounts.iter().all(|a| {
            a.authenticators.first().is_none_or(|t| {
                host.open(&sealed_context("totp", &a.user), &t.totp.sealed_secret)
                    .is_ok()
            })
        }),
    };
    if !right {
        return Err(MigrateError::WrongHostKey {
            key: from.key.display().to_string(),
            db: shown,
        });
    }
    Ok((host, accounts))
}

/// The context push topics are sealed for (as `service::push` seals them).
fn topic_context(user: &str) -> String {
    format!("push-topic:{user}")
}

/// `e` with every secret sealed under `central` instead of `host`. The
/// opened secrets are zeroized as they go out of scope.
fn reseal(mut e: AccountExport, host: &Keys, central: &Keys) -> Result<AccountExport, CryptoError> {
    let totp = sealed_context("totp", &e.user);
    for a in &mut e.authenticators {
        let plain = host.open(&totp, &a.totp.sealed_secret)?;
        a.totp.sealed_secret = central.seal(&totp, &plain)?;
    }
    let topic = topic_context(&e.user);
    for (t, _) in &mut e.push_targets {
        if let Some(sealed) = &t.sealed_topic {
            let plain = host.open(&topic, sealed)?;
            t.sealed_topic = Some(central.seal(&topic, &plain)?);
        }
    }
    let live_codes = e.recovery.iter().any(|r| r.used_at.is_none());
    let same_key = ct_eq(&host.check_value(), &central.check_value());
    if live_codes && !same_key {
        let sub = host.recovery_subkey();
        e.recovery_key = Some(central.seal(&sealed_context("recovery-key", &e.user), &sub[..])?);
    }
    Ok(e)
}

/// One authenticator, opened: name, secret, algorithm, digits, period.
type Auth = (
    String,
    zeroize::Zeroizing<Vec<u8>>,
    mfa_proto::Algorithm,
    u8,
    u64,
);

/// Whether what the central store holds for the account is the enrollment
/// `e` (sealed under `keys`); if not, why not, in words for the report.
fn compare(keys: &Keys, e: &AccountExport, there: &Existing) -> Result<(), String> {
    let ctx = sealed_context("totp", &e.user);
    let mut theirs: Vec<Auth> = Vec::with_capacity(there.authenticators.len());
    for a in &there.authenticators {
        let secret = keys.open(&ctx, &a.totp.sealed_secret).map_err(|_| {
            "already enrolled centrally, with a secret the central key does not open".to_string()
        })?;
        let t = &a.totp;
        theirs.push((a.label.clone(), secret, t.algorithm, t.digits, t.period));
    }
    let mut ours: Vec<Auth> = Vec::with_capacity(e.authenticators.len());
    for a in &e.authenticators {
        let secret = keys
            .open(&ctx, &a.totp.sealed_secret)
            .map_err(|err| err.to_string())?;
        let t = &a.totp;
        ours.push((a.label.clone(), secret, t.algorithm, t.digits, t.period));
    }
    let secrets_match = ours.len() == theirs.len()
        && ours
            .iter()
            .all(|o| theirs.iter().any(|t| ct_eq(&o.1, &t.1)));
    if !secrets_match {
        return Err("already enrolled centrally with a different secret".into());
    }
    let same = |o: &Auth, t: &Auth| {
        o.0 == t.0 && ct_eq(&o.1, &t.1) && o.2 == t.2 && o.3 == t.3 && o.4 == t.4
    };
    if !ours.iter().all(|o| theirs.iter().any(|t| same(o, t))) {
        return Err("already enrolled centrally with other authenticator names or settings".into());
    }
    let mut phones: Vec<_> = e.phones.iter().map(|(p, _)| p.clone()).collect();
    let mut central_phones = there.phones.clone();
    phones.sort_by(|a, b| a.label.cmp(&b.label));
    central_phones.sort_by(|a, b| a.label.cmp(&b.label));
    let key = |p: &crate::store::Phone| (p.label.clone(), p.number.clone(), p.channel);
    if !phones.iter().map(key).eq(central_phones.iter().map(key)) {
        return Err("already enrolled centrally with other phone numbers".into());
    }
    let topic = topic_context(&e.user);
    let open = |t: &crate::store::PushTarget| {
        let plain = t
            .sealed_topic
            .as_ref()
            .map(|s| keys.open(&topic, s))
            .transpose();
        plain.map(|p| (t.label.clone(), t.provider, p))
    };
    let mut ours = Vec::new();
    for (t, _) in &e.push_targets {
        ours.push(open(t).map_err(|err| err.to_string())?);
    }
    let mut theirs = Vec::new();
    for t in &there.push_targets {
        theirs.push(open(t).map_err(|_| {
            "already enrolled centrally, with a push topic the central key does not open"
                .to_string()
        })?);
    }
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    theirs.sort_by(|a, b| a.0.cmp(&b.0));
    if ours != theirs {
        return Err("already enrolled centrally with other push targets".into());
    }
    Ok(())
}

/// What the central store holds for `user`, read outside a transaction
/// (a dry run changes nothing, so it need not lock anything).
async fn existing<S: Store>(store: &S, user: &str) -> Result<Option<Existing>, StoreError> {
    let Some(summary) = store.summary(user).await? else {
        return Ok(None);
    };
    Ok(Some(Existing {
        authenticators: summary.authenticators,
        phones: store.phones(user).await?,
        push_targets: store.push_targets(user).await?,
    }))
}

/// Copy every account of `from` into `central`, whose key is `keys`
/// (loaded as mfad loads it, so its check value is recorded). A dry run
/// reads and judges everything and writes nothing.
pub async fn migrate<S: Store>(
    central: &S,
    keys: Arc<Keys>,
    from: &Source,
    dry_run: bool,
    now: i64,
) -> Result<Report, MigrateError> {
    let (host, accounts) = read_source(from, now)?;
    let shown = from.dir.display().to_string();
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    for account in accounts {
        let user = account.user.clone();
        let e = match reseal(account, &host, &keys) {
            Ok(e) => e,
            Err(err) => {
                let why = format!("a secret does not open with the host's key: {err}");
                if !dry_run {
                    audit::migrate(&user, &shown, &format!("outcome=failed reason={why:?}"));
                }
                report.failed.push((user, why));
                continue;
            }
        };
        let counts = (
            e.authenticators.len(),
            e.recovery.iter().filter(|r| r.used_at.is_none()).count(),
            e.phones.len(),
            e.push_targets.len(),
        );
        let outcome = if dry_run {
            match existing(central, &user).await? {
                None => Imported::Copied,
                Some(there) => match compare(&keys, &e, &there) {
                    Ok(()) => Imported::AlreadyThere { caught_up: 0 },
                    Err(why) => Imported::Conflict(why),
                },
            }
        } else {
            let (k, judged) = (keys.clone(), e.clone());
            central
                .import_account(e, move |there| compare(&k, &judged, there))
                .await?
        };
        let line = match outcome {
            Imported::Copied => {
                report.copied.push(user.clone());
                report.authenticators += counts.0;
                report.recovery_codes += counts.1;
                report.phones += counts.2;
                report.push_targets += counts.3;
                format!(
                    "outcome=copied authenticators={} recovery_codes={} phones={} push_targets={}",
                    counts.0, counts.1, counts.2, counts.3
                )
            }
            Imported::AlreadyThere { caught_up } => {
                report.already_there.push(user.clone());
                report.caught_up += caught_up;
                format!("outcome=already_there caught_up={caught_up}")
            }
            Imported::Conflict(why) => {
                let line = format!("outcome=conflict reason={why:?} left_as_it_is=true");
                report.conflicts.push((user.clone(), why));
                line
            }
        };
        if !dry_run {
            audit::migrate(&user, &shown, &line);
        }
    }
    Ok(report)
}

/// The key file of a single host's state directory, as mfad names it
/// there by default.
pub fn default_key(dir: &Path) -> PathBuf {
    dir.join("master.key")
}
