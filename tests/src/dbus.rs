//! Private D-Bus buses for the tests: a system-like bus built from
//! Debian's own /usr/share/dbus-1/system.conf (its default policy as is)
//! with only the package's policy file for org.pam_mfa.Mfad1 added, and
//! a session bus run as a test user. Each `dbus-daemon` lives in a
//! temporary folder and is killed when dropped.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct PrivateBus {
    pub dir: tempfile::TempDir,
    child: Child,
    pub address: String,
}

/// The package's policy file, as shipped.
pub fn shipped_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mfad/dbus/org.pam_mfa.Mfad1.conf")
}

impl PrivateBus {
    /// A bus configured as Debian's system bus, listening in a folder of
    /// its own; only root may own org.pam_mfa.Mfad1 there.
    pub fn system() -> Result<PrivateBus> {
        PrivateBus::system_in(tempfile::tempdir()?)
    }

    /// The address [`PrivateBus::system_in`] will listen on in `dir`.
    pub fn address_in(dir: &Path) -> String {
        format!("unix:path={}", dir.join("system_bus_socket").display())
    }

    /// [`PrivateBus::system`] in `dir`, at [`PrivateBus::address_in`].
    pub fn system_in(dir: tempfile::TempDir) -> Result<PrivateBus> {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let policy = dir.path().join("system.d");
        std::fs::create_dir(&policy)?;
        std::fs::copy(shipped_policy(), policy.join("org.pam_mfa.Mfad1.conf"))
            .context("copy the shipped D-Bus policy")?;
        let socket = dir.path().join("system_bus_socket");
        let base = std::fs::read_to_string("/usr/share/dbus-1/system.conf")
            .context("Debian's dbus package is missing")?;
        let conf = system_like(&base, &socket, &policy)?;
        let path = dir.path().join("system.conf");
        std::fs::write(&path, conf)?;
        PrivateBus::run(dir, &path, &socket, None)
    }

    /// A session bus run as `user`, for its desktop session's programs.
    pub fn session(user: &str) -> Result<PrivateBus> {
        let dir = tempfile::tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
        let socket = dir.path().join("session_bus_socket");
        let conf = format!(
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"
 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">
<busconfig><type>session</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>
<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/><allow own=\"*\"/></policy>
</busconfig>",
            socket.display()
        );
        let path = dir.path().join("session.conf");
        std::fs::write(&path, conf)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        PrivateBus::run(dir, &path, &socket, Some(user))
    }

    fn run(
        dir: tempfile::TempDir,
        conf: &Path,
        socket: &Path,
        user: Option<&str>,
    ) -> Result<PrivateBus> {
        let mut cmd = match user {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.args([&format!("--reuid={u}"), "--regid=nogroup", "--clear-groups"])
                    .arg("dbus-daemon");
                c
            }
            None => Command::new("dbus-daemon"),
        };
        let child = cmd
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .arg("--nopidfile")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("dbus-daemon (Debian's dbus package)")?;
        let mut bus = PrivateBus {
            dir,
            child,
            address: format!("unix:path={}", socket.display()),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if let Some(status) = bus.child.try_wait()? {
                bail!("dbus-daemon exited {status}");
            }
            if Instant::now() > deadline {
                bail!("dbus-daemon did not listen on {}", socket.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(bus)
    }

    /// Make the mfad configured by `c` serve D-Bus on this bus.
    pub fn serve_from(&self, c: &mut mfad::config::Config) {
        c.dbus.enable = true;
        c.dbus.address = self.address.clone();
    }

    /// `tool ARGS` (busctl, gdbus, ...) on this bus as `user` (None: root).
    pub fn command_as(&self, user: Option<&str>, tool: &str) -> Command {
        let mut c = match user {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={u}"),
                    "--regid=nogroup",
                    "--clear-groups",
                    tool,
                ]);
                c
            }
            None => Command::new(tool),
        };
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        c
    }

    /// `gdbus call` of Mfad1's `method` with `args` as `user`.
    pub fn gdbus(&self, user: Option<&str>, method: &str, args: &[&str]) -> Result<Output> {
        let out = self
            .command_as(user, "gdbus")
            .args([
                "call",
                "--address",
                &self.address,
                "--dest",
                "org.pam_mfa.Mfad1",
            ])
            .args(["--object-path", "/org/pam_mfa/Mfad1", "--method"])
            .arg(format!("org.pam_mfa.Mfad1.{method}"))
            // Push ids are base64url and may start with '-'.
            .arg("--")
            .args(args)
            .output()
            .context("gdbus (libglib2.0-bin)")?;
        Ok(out)
    }

    /// Our zbus client (`src/bin/dbusclient.rs`) as `user`, from a copy
    /// in the bus's folder, which every test account may read.
    pub fn zbus_client(&self, user: Option<&str>) -> Result<Command> {
        let bin = self.dir.path().join("dbusclient");
        if !bin.exists() {
            std::fs::copy(crate::artifact("dbusclient")?, &bin)?;
        }
        Ok(self.command_as(user, bin.to_str().context("path")?))
    }

    /// `dbusclient call` of Mfad1's `method` with `args` as `user`.
    pub fn zbus(&self, user: Option<&str>, method: &str, args: &[&str]) -> Result<Output> {
        let mut c = self.zbus_client(user)?;
        c.args(["call", &self.address, method]).args(args);
        c.output().context("dbusclient")
    }

    /// `busctl call` of Mfad1's `method` with signature `sig` and `args`.
    pub fn busctl(
        &self,
        user: Option<&str>,
        method: &str,
        sig: &str,
        args: &[&str],
    ) -> Result<Output> {
        let mut c = self.command_as(user, "busctl");
        // "--": push ids are base64url and may start with '-'.
        c.arg(format!("--address={}", self.address)).args([
            "call",
            "--",
            "org.pam_mfa.Mfad1",
            "/org/pam_mfa/Mfad1",
            "org.pam_mfa.Mfad1",
            method,
        ]);
        if !sig.is_empty() {
            c.arg(sig).args(args);
        }
        c.output().context("busctl (systemd)")
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's system.conf with its own listen address, no fork, user,
/// pidfile, activation or syslog, and `policy` as its only system.d.
fn system_like(base: &str, socket: &Path, policy: &Path) -> Result<String> {
    let mut out = String::new();
    for line in base.lines() {
        let t = line.trim();
        let dropped = [
            "<user>",
            "<fork/>",
            "<pidfile>",
            "<syslog/>",
            "<servicehelper>",
        ]
        .iter()
        .any(|p| t.starts_with(p))
            || t == "<standard_system_servicedirs/>"
            || t.starts_with("<include")
            || t.starts_with("<includedir");
        if dropped {
            continue;
        }
        if t.starts_with("<listen>") {
            out.push_str(&format!(
                "  <listen>unix:path={}</listen>\n",
                socket.display()
            ));
            continue;
        }
        if t == "</busconfig>" {
            out.push_str(&format!(
                "  <includedir>{}</includedir>\n",
                policy.display()
            ));
        }
        out.push_str(line);
        out.push('\n');
    }
    if !out.contains("<policy context=\"default\">") {
        bail!("/usr/share/dbus-1/system.conf has no default policy");
    }
    Ok(out)
}

/// Standard output, or the whole failure.
pub fn stdout_of(out: &Output) -> Result<String> {
    if !out.status.success() {
        bail!(
            "exited {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a call that must have failed printed (the error).
pub fn error_of(out: &Output) -> Result<String> {
    if out.status.success() {
        bail!("succeeded: {}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// The three clients every method is called with.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    Busctl,
    Gdbus,
    Zbus,
}

impl PrivateBus {
    /// Mfad1's `method` with string `args`, through `client`, as `user`.
    pub fn call(
        &self,
        client: Client,
        user: Option<&str>,
        method: &str,
        args: &[&str],
    ) -> Result<Output> {
        match client {
            Client::Gdbus => self.gdbus(user, method, args),
            Client::Zbus => self.zbus(user, method, args),
            Client::Busctl => self.busctl(user, method, &"s".repeat(args.len()), args),
        }
    }
}

/// A process as a test account whose output lines arrive on a channel.
pub struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watcher {
    pub fn start(mut cmd: Command) -> Result<Watcher> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let out = child.stdout.take().context("stdout")?;
        Ok(Watcher::reading(child, out))
    }

    /// [`Watcher::start`], reading standard error instead.
    pub fn start_stderr(mut cmd: Command) -> Result<Watcher> {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
        let err = child.stderr.take().context("stderr")?;
        Ok(Watcher::reading(child, err))
    }

    fn reading(child: Child, out: impl std::io::Read + Send + 'static) -> Watcher {
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watcher {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait for a line containing `needle`.
    pub fn expect(&mut self, needle: &str, within: Duration) -> Result<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Err(_) => bail!("no line with {needle:?} within {within:?}: {:?}", self.seen),
            }
        }
    }

    /// Everything it printed so far.
    pub fn drain(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
