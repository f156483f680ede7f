//! `mfa import --google-authenticator`: move accounts off
//! google-authenticator-libpam (root only). One file for one account
//! (`FILE --user NAME`), or every passwd account's `~/.google_authenticator`
//! (`--all`). What this project supports is imported (the TOTP secret and
//! its step, the scratch codes as recovery codes); what it does not is
//! refused (HOTP) or reported as not imported (the window, rate limits and
//! reuse rule, which are this site's policy), one line each, never
//! carried over silently wrong.

use crate::ga_file::{self, GaFile};
use crate::{code_name, connect, Fail};
use mfa_proto::client::Client;
use mfa_proto::import::{Import, Imported};
use mfa_proto::{Algorithm, ErrorCode, Request, Response, Sensitive};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use zeroize::Zeroizing;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Read google-authenticator-libpam's file: FILE for --user, or each
    /// account's ~/.google_authenticator with --all.
    #[arg(long = "google-authenticator", value_name = "FILE", num_args = 0..=1, required = true)]
    google_authenticator: Option<Option<PathBuf>>,
    /// The account FILE belongs to.
    #[arg(long, conflicts_with = "all")]
    user: Option<String>,
    /// Every passwd account's ~/.google_authenticator.
    #[arg(long)]
    all: bool,
    /// Replace the account if it is already enrolled (not with --all).
    #[arg(long)]
    force: bool,
}

/// How one account's import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Imported,
    /// Already enrolled and no --force.
    Skipped,
    Refused,
}

pub fn run(socket: &Path, args: ImportArgs) -> Result<(), Fail> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Fail(2, "only root may import an existing secret".into()));
    }
    let file = args.google_authenticator.flatten();
    match (args.all, file, args.user) {
        // What is in a home is up to whoever can write it: the account's
        // user, or anyone with their shell. Not enrolled yet, that is no
        // more than `mfa enroll` lets them do; but replacing an
        // enrollment needs proof of the current factor, which --force
        // over every home would skip.
        (true, None, None) if args.force => Err(Fail(
            2,
            "--force is not taken with --all (whoever can write a home could replace that account's factor): replace accounts one at a time with FILE --user NAME --force".into(),
        )),
        (true, None, None) => all(&mut connect(socket)?),
        (true, Some(_), _) => Err(Fail(
            2,
            "--all reads each account's ~/.google_authenticator: give no FILE".into(),
        )),
        (false, Some(file), Some(user)) => {
            match one(&mut connect(socket)?, &user, &file, None, args.force)? {
                Outcome::Imported => Ok(()),
                Outcome::Skipped => Err(Fail(1, format!("{user} was not imported"))),
                Outcome::Refused => Err(Fail(2, format!("{user} was not imported"))),
            }
        }
        _ => Err(Fail(
            2,
            "give --google-authenticator FILE --user NAME, or --google-authenticator --all".into(),
        )),
    }
}

/// Every passwd account's file, one report each, then a summary.
fn all(client: &mut Client) -> Result<(), Fail> {
    let (mut imported, mut skipped, mut refused, mut without) = (0, 0, 0, 0);
    for (user, uid, home) in passwd()? {
        let path = Path::new(&home).join(".google_authenticator");
        let outcome = match std::fs::symlink_metadata(&path) {
            _ if home.is_empty() => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            // An unreadable home (NFS with root squashed) may hide a file.
            Err(e) => Some(refuse(&user, &format!("{}: {e}", path.display()))),
            Ok(_) => Some(one(client, &user, &path, Some(uid), false)?),
        };
        match outcome {
            None => without += 1,
            Some(Outcome::Imported) => imported += 1,
            Some(Outcome::Skipped) => skipped += 1,
            Some(Outcome::Refused) => refused += 1,
        }
    }
    println!(
        "{imported} imported, {skipped} skipped, {refused} refused; {without} accounts have no ~/.google_authenticator"
    );
    if refused > 0 {
        return Err(Fail(
            2,
            format!("not every account was imported: {refused} refused (see above)"),
        ));
    }
    Ok(())
}

/// Import `path` for `user` and print what happened. With `owner` (from
/// --all) the file must belong to that uid and be private, as
/// google-authenticator itself requires of it.
fn one(
    client: &mut Client,
    user: &str,
    path: &Path,
    owner: Option<u32>,
    force: bool,
) -> Result<Outcome, Fail> {
    let parsed = read(path, owner).and_then(|(bytes, mode)| Ok((ga_file::parse(&bytes)?, mode)));
    let (file, mode) = match parsed {
        Ok(f) => f,
        Err(why) => return Ok(refuse(user, &format!("{}: {why}", path.display()))),
    };
    let req = match request(user, &file, force) {
        Ok(r) => r,
        Err(why) => return Ok(refuse(user, &why)),
    };
    // Failing to talk to mfad stops the whole run; a refusal is about
    // this account only.
    let resp = client
        .call(&Request::Import(req))
        .map_err(|e| Fail(3, e.to_string()))?;
    match resp {
        Response::Imported(done) => {
            report(&done, &file, path);
            // Only a file named by root gets here with such a mode.
            if mode & 0o077 != 0 {
                println!(
                    "  warning: {} is open to others (mode {:04o}), so the secret may be known: consider mfa enroll --user {} anew",
                    path.display(),
                    mode & 0o7777,
                    done.user
                );
            }
            Ok(Outcome::Imported)
        }
        Response::Error {
            code: ErrorCode::AlreadyEnrolled,
            ..
        } => {
            let how = match owner {
                Some(_) => format!("mfa import --google-authenticator FILE --user {user} --force"),
                None => "give --force".into(),
            };
            println!("{user}: skipped: already enrolled in mfad ({how} to replace it)");
            Ok(Outcome::Skipped)
        }
        Response::Error { code, message } => Ok(refuse(
            user,
            &format!("{message} [{}]; nothing was stored", code_name(code)),
        )),
        other => Ok(refuse(
            user,
            &format!("unexpected answer from mfad: {other:?}"),
        )),
    }
}

fn refuse(user: &str, why: &str) -> Outcome {
    println!("{user}: refused: {why}");
    Outcome::Refused
}

/// What the daemon is asked to store, or why the file cannot be imported.
fn request(user: &str, f: &GaFile, force: bool) -> Result<Import, String> {
    if let Some(n) = f.hotp_counter {
        return Err(format!(
            "HOTP_COUNTER {n}: counter-based (HOTP) codes are not supported here, only time-based (TOTP) ones; nothing was stored: enroll this account anew with mfa enroll"
        ));
    }
    if !f.totp {
        return Err(
            "no TOTP_AUTH line: the file does not say its codes are time-based; nothing was stored"
                .into(),
        );
    }
    let periods = mfad::otp::PERIODS;
    if !periods.contains(&f.period()) {
        return Err(format!(
            "STEP_SIZE {} is not supported (this site takes {} to {} s); nothing was stored: enroll this account anew",
            f.period(),
            periods.start(),
            periods.end()
        ));
    }
    Ok(Import {
        user: user.into(),
        secret: Sensitive::new(f.secret.as_str()),
        // google-authenticator only ever made SHA1 codes of 6 digits.
        algorithm: Algorithm::Sha1,
        digits: 6,
        period: f.period(),
        recovery_codes: f
            .scratch
            .iter()
            .map(|c| Sensitive::new(c.as_str()))
            .collect(),
        replace: force,
        spent_step: f
            .disallow_reuse
            .as_ref()
            .and_then(|s| s.iter().max().copied()),
    })
}

/// The report for an imported account: what was stored, then one line
/// for each setting that was not.
fn report(done: &Imported, f: &GaFile, path: &Path) {
    let user = &done.user;
    println!(
        "{user}: imported the TOTP secret (SHA1, {} digits, {} s steps) from {}",
        done.digits,
        done.period,
        path.display()
    );
    if done.replaced {
        println!(
            "  replaced the enrollment {user} had (--force); its old recovery codes no longer work"
        );
    }
    match done.recovery_codes {
        0 => println!(
            "  no scratch codes, so no recovery codes: make a set with mfa recovery-codes --user {user}"
        ),
        n => println!("  {n} scratch codes imported as recovery codes, each valid once"),
    }
    let skew = done.skew;
    let steps = if skew == 1 { "step" } else { "steps" };
    if let Some(w) = f.window {
        // google-authenticator's window of w codes reaches (w-1)/2 steps
        // back and w/2 ahead.
        let same = if w == 2 * u64::from(skew) + 1 {
            ", the same window"
        } else {
            ""
        };
        println!(
            "  WINDOW_SIZE {w} not imported: this site accepts ±{skew} {steps} ([totp] skew in mfad.toml){same}"
        );
    }
    if let Some((count, secs)) = f.rate_limit {
        println!(
            "  RATE_LIMIT {count} {secs} not imported: failed logins are limited by this site's policy ([limits] in mfad.toml)"
        );
    }
    match &f.disallow_reuse {
        Some(_) => println!(
            "  DISALLOW_REUSE not imported: mfad always refuses a code that was used once (codes google-authenticator recorded as used stay used)"
        ),
        None => println!(
            "  reuse was allowed (no DISALLOW_REUSE); mfad always refuses a code that was used once"
        ),
    }
    if let Some(s) = f.time_skew.filter(|&s| s != 0) {
        println!(
            "  TIME_SKEW {s} not imported: the phone's clock was {} steps off; this site accepts ±{skew} {steps}, so set the phone's time automatically if codes are refused",
            s.unsigned_abs()
        );
    }
    if f.resetting_skew {
        println!("  RESETTING_TIME_SKEW ignored: a clock correction google-authenticator had not finished");
    }
}

/// The file's bytes, wiped after use, and its mode. It is opened without blocking (a
/// FIFO planted there would hang the import) and must be a regular file
/// of sensible size; with `owner`, not through a symlink, owned by that
/// uid and private, because a user controls what is in their home.
fn read(path: &Path, owner: Option<u32>) -> Result<(Zeroizing<Vec<u8>>, u32), String> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if owner.is_some() {
        flags |= libc::O_NOFOLLOW;
    }
    let fh = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| format!("cannot open it: {e}"))?;
    let meta = fh.metadata().map_err(|e| format!("cannot stat it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > ga_file::MAX_LEN as u64 {
        return Err(format!("larger than {} bytes", ga_file::MAX_LEN));
    }
    if let Some(uid) = owner {
        if meta.uid() != uid {
            return Err(format!(
                "owned by uid {}, not by the account (uid {uid}); google-authenticator would refuse it too",
                meta.uid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "mode {:04o}: others could read it, so its secret may be known; enroll this account anew",
                meta.mode() & 0o7777
            ));
        }
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    fh.take(ga_file::MAX_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    Ok((bytes, meta.mode()))
}

/// Every account the name service lists (`getent passwd`, so LDAP or
/// sssd accounts count where they enumerate): name, uid and home, each
/// name once.
fn passwd() -> Result<Vec<(String, u32, String)>, Fail> {
    let out = Command::new("getent")
        .arg("passwd")
        .output()
        .map_err(|e| Fail(2, format!("cannot run getent passwd: {e}")))?;
    if !out.status.success() {
        return Err(Fail(2, "getent passwd failed".into()));
    }
    let mut seen = std::collections::HashSet::new();
    let mut accounts = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let [name, _, uid, _, _, home, ..] = fields.as_slice() {
            if let Ok(uid) = uid.parse() {
                if seen.insert(name.to_string()) {
                    accounts.push((name.to_string(), uid, home.to_string()));
                }
            }
        }
    }
    Ok(accounts)
}
