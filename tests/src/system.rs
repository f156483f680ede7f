//! What some tests change on the machine, each undone when it drops:
//! a private /dev/log to catch syslog, throwaway local users.

use crate::require_root;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What PAM modules send to syslog, caught for one command: the command
/// runs in a mount namespace of its own (`unshare -m`, root only) where
/// `/dev/log` is a datagram socket this test reads. Nothing outside the
/// namespace changes, whether or not the machine runs a syslog daemon.
pub struct SyslogCapture {
    sock: std::os::unix::net::UnixDatagram,
    path: PathBuf,
}

impl SyslogCapture {
    pub fn new(dir: &Path) -> Result<SyslogCapture> {
        let path = dir.join("devlog.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path)?;
        sock.set_nonblocking(true)?;
        Ok(SyslogCapture { sock, path })
    }

    /// A wrapper for [`Stack::command`]: the program and its arguments
    /// follow it.
    pub fn wrapper(&self) -> Vec<String> {
        vec![
            "unshare".into(),
            "--mount".into(),
            "sh".into(),
            "-c".into(),
            // A private /dev (tmpfs) holds the mount point, so the real
            // /dev is never touched.
            r#"mount -t tmpfs mfa-test /dev && : >/dev/log && mount --bind "$0" /dev/log && exec "$@""#.into(),
            self.path.display().to_string(),
        ]
    }

    /// Every line received so far.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = self.sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }
}

/// Throwaway local accounts `mfa-t<uid>` with the uids `first..first+n`
/// (no shell, group nogroup), deleted on drop, also when the test
/// fails. For tests that need many real local users: uids the name
/// service does not know are paced as one. Needs root.
pub struct LocalUsers {
    names: Vec<String>,
}

impl LocalUsers {
    /// Accounts without a home.
    pub fn create(first: u32, n: u32) -> Result<LocalUsers> {
        LocalUsers::make(first, n, None)
    }

    /// Accounts whose homes are made as `homes/<name>` (owned by each
    /// account), for tests that read what users keep in their homes.
    /// Deleting the account leaves the home to whoever owns `homes`.
    pub fn with_homes(first: u32, n: u32, homes: &Path) -> Result<LocalUsers> {
        LocalUsers::make(first, n, Some(homes))
    }

    /// The accounts' names, in uid order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn make(first: u32, n: u32, homes: Option<&Path>) -> Result<LocalUsers> {
        require_root()?;
        let mut users = LocalUsers { names: Vec::new() };
        for uid in first..first + n {
            let name = format!("mfa-t{uid}");
            // Left over by a run that was killed.
            let _ = Command::new("userdel").arg("-f").arg(&name).output();
            let mut cmd = Command::new("useradd");
            match homes {
                Some(dir) => cmd.arg("-m").arg("-d").arg(dir.join(&name)),
                None => cmd.arg("-M"),
            };
            let out = cmd
                .args(["-N", "-g", "nogroup", "-s", "/usr/sbin/nologin", "-u"])
                .arg(uid.to_string())
                .arg(&name)
                .output()
                .context("useradd")?;
            if !out.status.success() {
                bail!(
                    "useradd {name}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            users.names.push(name);
        }
        Ok(users)
    }
}

impl LocalUsers {
    /// Give `name` the password `password` (chpasswd), so pam_unix checks it.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let mut child = Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .context("chpasswd")?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            writeln!(stdin, "{name}:{password}")?;
        }
        if !child.wait()?.success() {
            bail!("chpasswd failed for {name}");
        }
        Ok(())
    }
}

impl Drop for LocalUsers {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("userdel").arg("-f").arg(name).output();
        }
    }
}
