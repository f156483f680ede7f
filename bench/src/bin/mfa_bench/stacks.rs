//! The four PAM stacks every libpam measurement runs (pam_permit only,
//! pam_mfa with a real mfad, google-authenticator in its secure
//! configuration, pam_oath), set up once per phase in a scratch folder:
//! enrolled accounts, secret files, service files, and the wrong-code
//! negative control. Shared by section 1 and the whole-process phase,
//! which can add pam_mfa variants (`Extras`): against an mfad with push
//! configured, and another build's module and mfad.

use crate::*;
use anyhow::{bail, Result};
use mfa_bench::daemon::{self, Mfad};
use mfa_bench::otp::{self, Pool};
use mfa_bench::pam;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use totp_rs::Totp;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Kind {
    Permit,
    Mfa,
    Ga,
    Oath,
    /// pam_mfa against an mfad with `[push] gateway_user` set, for
    /// accounts without a push target.
    MfaPushCfg,
    /// pam_mfa and mfad of another build (`Extras::baseline`).
    MfaBase,
}

/// pam_mfa variants to run next to the default one (whole-process phase).
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) push_configured: bool,
    /// A folder holding another build's `mfad` and `libpam_mfa.so`.
    pub(crate) baseline: Option<PathBuf>,
}

/// A variant's own mfad and accounts.
pub(crate) struct Variant {
    pub(crate) kind: Kind,
    pub(crate) mfad: Mfad,
    pub(crate) pool: Pool,
}

pub(crate) struct Stack {
    pub(crate) kind: Kind,
    pub(crate) service: &'static str,
    pub(crate) label: String,
    pub(crate) module: PathBuf,
    pub(crate) line: String,
}

pub(crate) fn write_stack(dir: &Path, s: &Stack) -> Result<()> {
    std::fs::write(dir.join(s.service), format!("auth required {}\n", s.line))?;
    Ok(())
}

/// A running mfad, `total` accounts per module (each with its own random
/// secret), and the four service files in `confdir`.
pub(crate) struct Setup {
    pub(crate) mfad: Mfad,
    pub(crate) mfa: Pool,
    pub(crate) ga: Pool,
    pub(crate) oath: Pool,
    pub(crate) variants: Vec<Variant>,
    pub(crate) stacks: Vec<Stack>,
    pub(crate) confdir: PathBuf,
}

impl Setup {
    /// Everything under `dir`: `mfad/` (socket, state), `ga/` (one secret
    /// file per account), `oath/users.oath`, `stacks/` (service files).
    pub(crate) fn new(paths: &Paths, dir: &Path, total: usize, extras: &Extras) -> Result<Setup> {
        std::fs::create_dir_all(dir)?;
        let mfad = Mfad::start(&paths.mfad, &dir.join("mfad"))?;
        let mfa = Pool::new("bm", total)?;
        let ga = Pool::new("bg", total)?;
        let oath = Pool::new("bo", total)?;
        daemon::enroll(&mfad, &mfa, 0..total, 8)?;

        // google-authenticator: one secret file per account, in the format
        // `google-authenticator -t -d -r 3 -R 30 -w 3` writes (TOTP, reuse
        // refused, at most 3 logins per 30 s, ±1 step), 0400 and owned by
        // the user= account (root).
        let ga_dir = dir.join("ga");
        std::fs::create_dir_all(&ga_dir)?;
        let scratch_codes = otp::random_secrets(total)?;
        for (i, random) in scratch_codes.iter().enumerate() {
            let mut text = format!(
                "{}\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n",
                otp::base32(&ga.secrets[i])
            );
            // Five 8-digit emergency codes, as the tool writes by default.
            for b in random.chunks_exact(4) {
                let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                w!(text, "{:08}", 10_000_000 + v % 90_000_000);
            }
            let p = ga_dir.join(&ga.names[i]);
            std::fs::write(&p, text)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400))?;
        }
        // pam_oath: one users file for all accounts, as its README sets it up.
        let oath_dir = dir.join("oath");
        std::fs::create_dir_all(&oath_dir)?;
        let users_oath = oath_dir.join("users.oath");
        let mut text = String::new();
        for i in 0..total {
            w!(
                text,
                "HOTP/T30/6\t{}\t-\t{}",
                oath.names[i],
                otp::hex(&oath.secrets[i])
            );
        }
        std::fs::write(&users_oath, text)?;
        std::fs::set_permissions(&users_oath, std::fs::Permissions::from_mode(0o600))?;

        let sec = &paths.security;
        let mut stacks = vec![
            Stack {
                kind: Kind::Permit,
                service: "bench-permit",
                label: "pam_permit only (floor: libpam itself)".into(),
                module: sec.join("pam_permit.so"),
                line: sec.join("pam_permit.so").display().to_string(),
            },
            Stack {
                kind: Kind::Mfa,
                service: "bench-mfa",
                label: "pam_mfa (+ mfad, release build)".into(),
                module: paths.pam_mfa.clone(),
                line: format!(
                    "{} socket={}",
                    paths.pam_mfa.display(),
                    mfad.socket.display()
                ),
            },
            Stack {
                kind: Kind::Ga,
                service: "bench-ga",
                label: "google-authenticator (DISALLOW_REUSE, RATE_LIMIT 3 30)".into(),
                module: sec.join("pam_google_authenticator.so"),
                line: format!(
                    "{} secret={}/${{USER}} user=root",
                    sec.join("pam_google_authenticator.so").display(),
                    ga_dir.display()
                ),
            },
            Stack {
                kind: Kind::Oath,
                service: "bench-oath",
                label: "pam_oath (usersfile, window=1)".into(),
                module: sec.join("pam_oath.so"),
                line: format!(
                    "{} usersfile={} window=1",
                    sec.join("pam_oath.so").display(),
                    users_oath.display()
                ),
            },
        ];
        let variants = add_variants(paths, dir, total, extras, &mut stacks)?;
        let confdir = dir.join("stacks");
        std::fs::create_dir_all(&confdir)?;
        for s in &stacks {
            write_stack(&confdir, s)?;
        }
        Ok(Setup {
            mfad,
            mfa,
            ga,
            oath,
            variants,
            stacks,
            confdir,
        })
    }

    /// The accounts a stack logs in with (pam_permit ignores the account
    /// and borrows pam_mfa's).
    pub(crate) fn pool_of(&self, k: Kind) -> &Pool {
        match k {
            Kind::Permit | Kind::Mfa => &self.mfa,
            Kind::Ga => &self.ga,
            Kind::Oath => &self.oath,
            Kind::MfaPushCfg | Kind::MfaBase => self
                .variants
                .iter()
                .find(|v| v.kind == k)
                .map_or(&self.mfa, |v| &v.pool),
        }
    }

    /// Negative control: each module must refuse a wrong code for account
    /// `i`, or the set-up is broken and every number would be meaningless.
    /// `login(stack, user, code)` does one login and returns its PAM code.
    pub(crate) fn check_refuses_wrong_code(
        &self,
        i: usize,
        mut login: impl FnMut(&Stack, &str, &str) -> Result<i32>,
    ) -> Result<()> {
        for s in self.stacks.iter().filter(|s| s.kind != Kind::Permit) {
            let pool = self.pool_of(s.kind);
            let rc = login(s, &pool.names[i], &wrong_code(&pool.totps[i]))?;
            if rc == pam::PAM_SUCCESS {
                bail!(
                    "{} accepted a wrong code: the benchmark set-up is broken",
                    s.service
                );
            }
        }
        Ok(())
    }
}

/// Start the variants' mfads, enroll their accounts, add their stacks.
fn add_variants(
    paths: &Paths,
    dir: &Path,
    total: usize,
    extras: &Extras,
    stacks: &mut Vec<Stack>,
) -> Result<Vec<Variant>> {
    let mut out = Vec::new();
    if extras.push_configured {
        let mfad = Mfad::start_with(
            &paths.mfad,
            &dir.join("mfad-push"),
            "[push]\ngateway_user = \"nobody\"\n",
        )?;
        let pool = Pool::new("bq", total)?;
        daemon::enroll(&mfad, &pool, 0..total, 8)?;
        stacks.push(Stack {
            kind: Kind::MfaPushCfg,
            service: "bench-mfa-push",
            label: "pam_mfa, push configured (accounts without a push target)".into(),
            module: paths.pam_mfa.clone(),
            line: format!(
                "{} socket={}",
                paths.pam_mfa.display(),
                mfad.socket.display()
            ),
        });
        out.push(Variant {
            kind: Kind::MfaPushCfg,
            mfad,
            pool,
        });
    }
    if let Some(base) = &extras.baseline {
        let module = base.join("libpam_mfa.so");
        if !module.exists() {
            bail!("{} is missing", module.display());
        }
        let mfad = Mfad::start(&base.join("mfad"), &dir.join("mfad-base"))?;
        let pool = Pool::new("bb", total)?;
        daemon::enroll(&mfad, &pool, 0..total, 8)?;
        stacks.push(Stack {
            kind: Kind::MfaBase,
            service: "bench-mfa-base",
            label: format!("pam_mfa + mfad, baseline build ({})", base.display()),
            line: format!("{} socket={}", module.display(), mfad.socket.display()),
            module,
        });
        out.push(Variant {
            kind: Kind::MfaBase,
            mfad,
            pool,
        });
    }
    Ok(out)
}

/// A six-digit code that is not the account's code for any step within
/// ±2 of now.
pub(crate) fn wrong_code(t: &Totp) -> String {
    let cur = otp::step_now();
    let valid: Vec<String> = (cur - 2..=cur + 2)
        .map(|st| otp::code_at_step(t, st))
        .collect();
    (0..)
        .map(|k: u32| format!("{:06}", (123_456 + 7_919 * k) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap_or_default()
}
