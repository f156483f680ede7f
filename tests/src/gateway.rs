//! The real `mfa-gateway` for a test: its config in a scratch folder
//! (pointing at the test's mfad and provider stand-ins), started as the
//! unprivileged user `nobody` (mfad's `push.gateway_user` in these tests)
//! and stopped on drop. Its log is kept so a test can check it for leaks.

use crate::artifact;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account the test gateway runs as.
pub const GATEWAY_USER: &str = "nobody";

pub struct GatewayProcess {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub url: String,
    pub log: PathBuf,
    child: Child,
}

/// What the gateway delivers through.
#[derive(Default)]
pub struct Providers<'a> {
    /// ntfy stand-in url and its access token.
    pub ntfy: Option<(&'a str, &'a str)>,
    /// webhook receiver url and its whsec_ secret.
    pub webhook: Option<(&'a str, &'a str)>,
    /// SMS stand-in url and its basic-auth password (user "lab").
    pub sms: Option<(&'a str, &'a str)>,
    /// Voice-call stand-in url (the same kind of API, at `/call`).
    pub voice: Option<(&'a str, &'a str)>,
}

/// Write `value` to `path`, 0600, owned by `nobody`, as a secret file.
fn secret_for_nobody(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let ok = Command::new("chown")
        .args([GATEWAY_USER])
        .arg(path)
        .status()?
        .success();
    if !ok {
        bail!("chown {GATEWAY_USER} {}", path.display());
    }
    Ok(())
}

impl GatewayProcess {
    /// Start the gateway for mfad at `socket`, with `extra` appended to
    /// its top-level config keys.
    pub fn start(socket: &Path, providers: Providers<'_>, extra: &str) -> Result<GatewayProcess> {
        crate::require_root()?;
        let dir = tempfile::tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let port = crate::web::free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let mut text = format!(
            "socket = {socket:?}\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{url}\"\n{extra}\n"
        );
        if let Some((ntfy, token)) = providers.ntfy {
            let f = dir.path().join("ntfy-token");
            secret_for_nobody(&f, token)?;
            text.push_str(&format!("[ntfy]\nurl = \"{ntfy}\"\ntoken_file = {f:?}\n"));
        }
        if let Some((hook, secret)) = providers.webhook {
            let f = dir.path().join("webhook-secret");
            secret_for_nobody(&f, secret)?;
            text.push_str(&format!(
                "[webhook]\nurl = \"{hook}/hook\"\nsecret_file = {f:?}\n"
            ));
        }
        for (table, path, provider) in [
            ("sms", "send", providers.sms),
            ("voice", "call", providers.voice),
        ] {
            let Some((api, password)) = provider else {
                continue;
            };
            let f = dir.path().join(format!("{table}-password"));
            secret_for_nobody(&f, password)?;
            text.push_str(&format!(
                "[{table}]\nkind = \"http\"\nurl = \"{api}/{path}\"\nmethod = \"POST\"\ncontent_type = \"form\"\n\
                 body = \"to={{to}}&text={{message}}\"\nbasic_user = \"lab\"\nbasic_password_file = {f:?}\n"
            ));
        }
        text.push_str("[delivery]\ntimeout_secs = 2\nretries = 1\n");
        let config = dir.path().join("gateway.toml");
        std::fs::write(&config, text)?;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))?;
        let log = dir.path().join("gateway.log");
        // A copy `nobody` can run: the build tree may sit under a 0700 home.
        let bin = dir.path().join("mfa-gateway");
        std::fs::copy(artifact("mfa-gateway")?, &bin)?;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
        let child = Command::new("setpriv")
            .args([
                "--reuid",
                GATEWAY_USER,
                "--regid",
                "nogroup",
                "--clear-groups",
                "--",
            ])
            .arg(&bin)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting mfa-gateway")?;
        let mut g = GatewayProcess {
            dir,
            config,
            url,
            log,
            child,
        };
        g.wait_listening(port)?;
        Ok(g)
    }

    fn wait_listening(&mut self, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("mfa-gateway exited ({status}): {}", self.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "mfa-gateway is not listening after 10 s: {}",
            self.log_text()
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stop with SIGTERM and wait; the exit status.
    pub fn stop(mut self) -> Result<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        Ok(self.child.wait()?)
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every readable byte of process `pid`'s memory (as gcore would dump
/// it), read through /proc as root.
pub fn memory_of(pid: u32) -> Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (a, b) = (u64::from_str_radix(a, 16)?, u64::from_str_radix(b, 16)?);
        let mut buf = vec![0u8; (b - a) as usize];
        if mem.seek(SeekFrom::Start(a)).is_ok() && mem.read_exact(&mut buf).is_ok() {
            out.extend_from_slice(&buf);
        }
    }
    Ok(out)
}
