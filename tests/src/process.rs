//! The real `mfad` binary as a child process of a test.

use crate::artifact;
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The real `mfad` binary as a child process; killed on drop.
pub struct MfadProcess {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    child: std::process::Child,
}

impl MfadProcess {
    /// Start `mfad --socket SOCKET --state-dir STATE EXTRA...` and wait
    /// until it accepts connections. Its stderr is captured.
    pub fn spawn(socket: &Path, state_dir: &Path, extra: &[&str]) -> Result<MfadProcess> {
        MfadProcess::spawn_env(socket, state_dir, extra, &[])
    }

    /// [`MfadProcess::spawn`] with `env` added to its environment.
    pub fn spawn_env(
        socket: &Path,
        state_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<MfadProcess> {
        let child = Command::new(artifact("mfad")?)
            .envs(env.iter().copied())
            .arg("--socket")
            .arg(socket)
            .arg("--state-dir")
            .arg(state_dir)
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let mut m = MfadProcess {
            socket: socket.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            child,
        };
        m.wait_ready()?;
        Ok(m)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let root = mfa_proto::root_socket_for(&self.socket);
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
                && std::os::unix::net::UnixStream::connect(&root).is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("mfad exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("mfad did not start listening")
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS for mfad"))
    }

    /// SIGKILL: no chance to flush or clean up, as in a crash.
    pub fn kill9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, wait, and return the exit code and everything it logged.
    pub fn stop(mut self) -> Result<(i32, String)> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let mut log = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut log)?;
                }
                return Ok((status.code().unwrap_or(-1), log));
            }
            if std::time::Instant::now() > deadline {
                bail!("mfad ignored SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MfadProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the built `mfa` against `socket` with `args`, feeding it `stdin`:
/// its exit code, stdout and stderr.
pub fn mfa_cli(socket: &Path, args: &[&str], stdin: &str) -> Result<(i32, String, String)> {
    let mut child = Command::new(artifact("mfa")?)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
