//! Running the real module through real libpam: a service file in a
//! scratch folder (`Stack`), `pamdrive` to drive it, and a plain C host
//! program for what only a C host shows.

use crate::artifact;
use anyhow::{anyhow, bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One run of the real module through real libpam.
pub struct PamRun {
    pub rc: i32,
    /// Every message and prompt the user saw, tagged by style.
    pub transcript: String,
}

/// A PAM service file in a scratch folder, for `pam_start_confdir`.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub service: String,
}

impl Stack {
    /// A stack with one line: `auth required pam_mfa.so socket=... ARGS`,
    /// followed by `extra` lines.
    pub fn new(socket: &Path, args: &str, extra: &[&str]) -> Result<Stack> {
        let dir = tempfile::tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let module = artifact("libpam_mfa.so")?;
        let mut text = format!(
            "auth required {} socket={} {args}\n",
            module.display(),
            socket.display()
        );
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        let service = "mfa-test".to_string();
        std::fs::write(dir.path().join(&service), text)?;
        Ok(Stack { dir, service })
    }

    /// Debian's own `/etc/pam.d/common-auth` (pam_unix, then
    /// `requisite pam_deny`), with the module after it where the
    /// pam-auth-update profile puts an `Additional` line.
    pub fn after_common_auth(socket: &Path, args: &str) -> Result<Stack> {
        let common = std::fs::read_to_string("/etc/pam.d/common-auth")
            .context("/etc/pam.d/common-auth (libpam-runtime)")?;
        if !common.contains("pam_unix.so") {
            bail!("/etc/pam.d/common-auth has no pam_unix line:\n{common}");
        }
        let stack = Stack::new(socket, args, &[])?;
        let path = stack.dir.path().join(&stack.service);
        let ours = std::fs::read_to_string(&path)?;
        std::fs::write(&path, format!("{common}\n{ours}"))?;
        Ok(stack)
    }

    /// The same stack under another PAM service name (site policy rules
    /// are per service).
    pub fn with_service(mut self, service: &str) -> Result<Stack> {
        std::fs::rename(
            self.dir.path().join(&self.service),
            self.dir.path().join(service),
        )?;
        self.service = service.to_string();
        Ok(self)
    }

    /// Authenticate `user`, answering prompts in order.
    pub fn login(&self, user: &str, answers: &[&str]) -> Result<PamRun> {
        self.login_as(user, answers, None, &[])
    }

    /// The same, optionally from a remote host and with extra pamdrive
    /// arguments, optionally through a wrapper command (e.g. setpriv).
    pub fn login_as(
        &self,
        user: &str,
        answers: &[&str],
        rhost: Option<&str>,
        wrapper: &[&str],
    ) -> Result<PamRun> {
        finish(self.command(user, answers, rhost, wrapper)?.output()?)
    }

    pub fn command(
        &self,
        user: &str,
        answers: &[&str],
        rhost: Option<&str>,
        wrapper: &[&str],
    ) -> Result<Command> {
        let drive = artifact("pamdrive")?;
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&drive);
                c
            }
            None => Command::new(&drive),
        };
        cmd.args(["--service", &self.service, "--user", user, "--confdir"])
            .arg(self.dir.path());
        if let Some(h) = rhost {
            cmd.args(["--rhost", h]);
        }
        for a in answers {
            cmd.args(["--answer", a]);
        }
        Ok(cmd)
    }
}

/// Collect a pamdrive run.
pub fn finish(out: Output) -> Result<PamRun> {
    let rc = out
        .status
        .code()
        .ok_or_else(|| anyhow!("pamdrive was killed: {:?}", out.status))?;
    Ok(PamRun {
        rc,
        transcript: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

/// Compile tests/c/pam_host.c (a plain C PAM host program, see its header)
/// into `dir` and return its path.
pub fn build_pam_host(dir: &Path) -> Result<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/pam_host.c");
    let out = dir.join("pam_host");
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lpam")
        .status()
        .context("cc is not installed")?;
    if !status.success() {
        bail!("cc failed to build {}", src.display());
    }
    Ok(out)
}
