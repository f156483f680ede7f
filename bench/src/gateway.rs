//! The real `mfa-gateway` for the push benchmark: its config in the
//! scratch folder (mfad's socket, a loopback listener, an ntfy stand-in
//! with a bearer token), started as `nobody` through setpriv, as mfad's
//! `push.gateway_user`, and killed on drop. The same set-up as the tests'
//! `mfa_tests::GatewayProcess`, which finds its binary next to a test
//! executable rather than next to this harness.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account the gateway runs as (mfad's `push.gateway_user`).
pub const GATEWAY_USER: &str = "nobody";

pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`: the approval links start with it.
    pub url: String,
    pub log: PathBuf,
}

impl Gateway {
    /// Start `bin` (a copy of it in `dir`, which `nobody` can run) for the
    /// mfad at `socket`, delivering through the ntfy server at `ntfy`.
    pub fn start(bin: &Path, dir: &Path, socket: &Path, ntfy: &str, token: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let token_file = dir.join("ntfy-token");
        std::fs::write(&token_file, token)?;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))?;
        let chown = Command::new("chown")
            .arg(GATEWAY_USER)
            .arg(&token_file)
            .status()?;
        if !chown.success() {
            bail!("chown {GATEWAY_USER} {}", token_file.display());
        }
        let config = dir.join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "socket = {socket:?}\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{url}\"\n\
                 [ntfy]\nurl = \"{ntfy}\"\ntoken_file = {token_file:?}\n\
                 [delivery]\ntimeout_secs = 2\nretries = 1\n"
            ),
        )?;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))?;
        let copy = dir.join("mfa-gateway");
        std::fs::copy(bin, &copy).with_context(|| format!("copying {}", bin.display()))?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
        let log = dir.join("gateway.log");
        let child = Command::new("setpriv")
            .args(["--reuid", GATEWAY_USER, "--regid", "nogroup"])
            .args(["--clear-groups", "--"])
            .arg(&copy)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting mfa-gateway through setpriv")?;
        let mut g = Gateway { child, url, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = g.child.try_wait()? {
                bail!("mfa-gateway exited ({status}): {}", g.log_text());
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(g);
            }
            if Instant::now() > deadline {
                bail!("mfa-gateway not listening after 10 s: {}", g.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
