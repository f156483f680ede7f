//! Shared harness for the integration tests: an mfad started in-process on a
//! temporary socket (with a clock the test moves), the built pam_mfa.so run
//! through real libpam by `pamdrive`, and Debian's `oathtool` as the
//! independent TOTP implementation.
//!
//! The binaries under test come from `cargo build --workspace`, which the
//! README's test command runs first.

pub mod dbus;
pub mod fleet;
pub mod gateway;
mod google_auth;
pub mod libpam;
mod pam;
pub mod pam_live;
pub mod pki;
pub mod postgres;
pub mod postgres_shared;
mod process;
pub mod providers;
pub mod push_lab;
mod qr;
mod system;
pub mod web;

pub use fleet::Fleet;
pub use gateway::{GatewayProcess, Providers};
pub use google_auth::{google_authenticator, oathtool_step, GaSecret};
pub use pam::{build_pam_host, finish, PamRun, Stack};
pub use pam_live::LiveLogin;
pub use postgres::TempCluster;
pub use process::{mfa_cli, MfadProcess};
pub use providers::{
    NtfyPublish, NtfyStandIn, SmsMessage, SmsStandIn, WebhookDelivery, WebhookReceiver,
};
pub use qr::decode_terminal_qr;
pub use system::{LocalUsers, SyslogCapture};
pub use web::Browser;

use anyhow::{anyhow, bail, Context, Result};
use mfa_proto::client::Client;
use mfa_proto::{EnrollParams, Request, Response, Sensitive};
use mfad::clock::ManualClock;
use mfad::config::Config;
use mfad::store::SqliteStore;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A fixed start time for the test clock, in the middle of a 30 s step.
pub const T0: i64 = 2_000_000_010;

/// PAM return codes the tests look for.
pub mod rc {
    pub const SUCCESS: i32 = 0;
    pub const PERM_DENIED: i32 = 6;
    pub const AUTH_ERR: i32 = 7;
    pub const AUTHINFO_UNAVAIL: i32 = 9;
    pub const MAXTRIES: i32 = 11;
}

/// The folder holding the workspace's built binaries (target/debug).
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/debug/deps/<test> -> target/debug
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("odd test path {exe:?}"))?;
    Ok(dir.to_path_buf())
}

/// Path of a built artifact, with a clear error when it was not built.
pub fn artifact(name: &str) -> Result<PathBuf> {
    let p = bin_dir()?.join(name);
    if !p.exists() {
        bail!(
            "{} is missing: run `cargo build --workspace` before the tests",
            p.display()
        );
    }
    Ok(p)
}

/// A TOTP code from Debian's oathtool, at Unix time `at`.
pub fn oathtool(secret_b32: &str, at: i64, algorithm: &str, digits: u8) -> Result<String> {
    let out = Command::new("oathtool")
        .arg(format!("--totp={}", algorithm.to_lowercase()))
        .args([
            "-d",
            &digits.to_string(),
            "-b",
            secret_b32,
            "--now",
            &format!("@{at}"),
        ])
        .output()
        .context("oathtool is not installed (apt-get install oathtool)")?;
    if !out.status.success() {
        bail!("oathtool failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// An mfad served in-process, on its own runtime thread.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    pub clock: ManualClock,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// Start with the defaults.
    pub fn start() -> Result<Daemon> {
        Daemon::start_with(|_| {})
    }

    /// Start with a configuration the test adjusts.
    pub fn start_with(edit: impl FnOnce(&mut Config)) -> Result<Daemon> {
        let dir = tempfile::tempdir()?;
        // Other uids must reach the socket (peer-rule tests); the state
        // directory below stays 0700.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let mut cfg = Config {
            socket: dir.path().join("mfad.sock"),
            state_dir: dir.path().join("state"),
            hostname: "testhost".into(),
            ..Config::default()
        };
        edit(&mut cfg);
        let clock = ManualClock::new(T0);
        let mut d = Daemon {
            socket: cfg.socket.clone(),
            state_dir: cfg.state_dir.clone(),
            dir,
            clock,
            stop: None,
            thread: None,
        };
        d.launch(cfg)?;
        Ok(d)
    }

    fn launch(&mut self, cfg: Config) -> Result<()> {
        let store = SqliteStore::open(&cfg.state_dir)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let keys = rt.block_on(mfad::keycheck::load_keys(&store, &cfg.key_path(), true))?;
        let listeners = [
            mfad::bind_socket(&cfg.socket)?,
            mfad::bind_root_socket(&mfa_proto::root_socket_for(&cfg.socket))?,
        ];
        for l in &listeners {
            l.set_nonblocking(true)?;
        }
        let service = Arc::new(mfad::Service::new(store, keys, cfg, self.clock.clone()));
        let bus = match service.config().dbus.enable {
            true => Some(rt.block_on(mfad::dbus::DbusServer::start(
                service.clone(),
                &service.config().dbus,
            ))?),
            false => None,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let _bus = bus;
                let listeners = listeners
                    .into_iter()
                    .map(tokio::net::UnixListener::from_std)
                    .collect::<Result<Vec<_>, _>>();
                if let Ok(listeners) = listeners {
                    mfad::serve(listeners, service, async {
                        let _ = rx.await;
                    })
                    .await;
                }
            });
        });
        self.stop = Some(tx);
        self.thread = Some(thread);
        Ok(())
    }

    /// Stop serving; the socket file stays, as after a crash.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn client(&self) -> Result<Client> {
        Ok(Client::connect(
            &self.socket,
            Duration::from_secs(10),
            "tests",
        )?)
    }

    pub fn call(&self, req: &Request) -> Result<Response> {
        Ok(self.client()?.call(req)?)
    }

    pub fn now(&self) -> i64 {
        mfad::clock::Clock::now(&self.clock)
    }

    /// Move to the start of the next TOTP step, so a fresh code exists.
    pub fn next_step(&self) {
        self.clock.advance(30);
    }

    /// Enroll `user` with a generated secret, confirmed by oathtool.
    pub fn enroll(&self, user: &str) -> Result<Enrolled> {
        self.enroll_with(user, EnrollParams::default())
    }

    pub fn enroll_with(&self, user: &str, params: EnrollParams) -> Result<Enrolled> {
        let (secret, algorithm, digits) = match self.call(&Request::EnrollBegin {
            user: user.into(),
            params,
        })? {
            Response::Enrollment {
                secret,
                algorithm,
                digits,
                ..
            } => (
                secret.expose().to_string(),
                algorithm.as_str().to_string(),
                digits,
            ),
            other => bail!("enroll_begin: {other:?}"),
        };
        let code = oathtool(&secret, self.now(), &algorithm, digits)?;
        let confirm = Request::EnrollConfirm {
            user: user.into(),
            code: Sensitive::new(code),
            current_code: None,
            name: None,
        };
        match self.call(&confirm)? {
            Response::Enrolled { recovery_codes } => Ok(Enrolled {
                secret,
                algorithm,
                digits,
                recovery: recovery_codes
                    .iter()
                    .map(|c| c.expose().to_string())
                    .collect(),
            }),
            other => bail!("enroll_confirm: {other:?}"),
        }
    }

    /// `n` clients, each connected first, send the same Verify at once
    /// (released by a barrier); returns how many were told "verified".
    pub fn race_verify(&self, user: &str, code: &str, n: usize) -> Result<usize> {
        let barrier = Arc::new(std::sync::Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let barrier = barrier.clone();
                let client = Client::connect(&self.socket, Duration::from_secs(30), "race");
                let req = Request::Verify {
                    user: user.into(),
                    code: Sensitive::new(code),
                    context: Default::default(),
                };
                std::thread::spawn(move || -> Result<bool> {
                    let mut client = client?;
                    barrier.wait();
                    Ok(matches!(client.call(&req)?, Response::Verified { .. }))
                })
            })
            .collect();
        let mut wins = 0;
        for h in handles {
            if h.join()
                .map_err(|_| anyhow!("a racing client panicked"))??
            {
                wins += 1;
            }
        }
        Ok(wins)
    }

    /// The current code for an enrollment, from oathtool.
    pub fn code(&self, e: &Enrolled) -> Result<String> {
        oathtool(&e.secret, self.now(), &e.algorithm, e.digits)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct Enrolled {
    pub secret: String,
    pub algorithm: String,
    pub digits: u8,
    pub recovery: Vec<String>,
}

/// Skip-proof guard for tests that need root: they fail loudly instead.
pub fn require_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("this test needs root (CI runs as root); run the README's test command as root");
    }
    Ok(())
}

/// Raise this process's open-file limit to its hard limit, for tests that
/// hold thousands of connections.
pub fn raise_fd_limit() -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit failed");
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            bail!("setrlimit failed");
        }
    }
    Ok(lim.rlim_cur)
}

/// The current code of a base32 secret at Unix time `at`, computed with
/// the daemon's own TOTP code (which the RFC vectors and oathtool check).
pub fn totp_at(secret_b32: &str, at: i64) -> Result<String> {
    let bytes = mfad::otp::from_base32(secret_b32).ok_or_else(|| anyhow!("bad base32"))?;
    let params = mfad::otp::Params {
        algorithm: Default::default(),
        digits: 6,
        period: 30,
        skew: 1,
    };
    Ok(mfad::otp::build(&bytes, params)?
        .generate(at.max(0) as u64)
        .to_string())
}

/// Unix time now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Enroll `user` on the mfad at `socket` as root, importing `secret_b32`
/// and confirming with its code of the real clock's current step (which
/// that spends, so the next login uses the next step's code).
pub fn import_secret(socket: &Path, user: &str, secret_b32: &str) -> Result<()> {
    let mut root = Client::connect(socket, Duration::from_secs(5), "t")?;
    let params = EnrollParams {
        secret: Some(Sensitive::new(secret_b32)),
        ..Default::default()
    };
    match root.call(&Request::EnrollBegin {
        user: user.into(),
        params,
    })? {
        Response::Enrollment { .. } => {}
        other => bail!("enroll_begin {user}: {other:?}"),
    }
    match root.call(&Request::EnrollConfirm {
        user: user.into(),
        code: Sensitive::new(totp_at(secret_b32, unix_now())?),
        current_code: None,
        name: None,
    })? {
        Response::Enrolled { .. } => Ok(()),
        other => bail!("enroll_confirm {user}: {other:?}"),
    }
}
