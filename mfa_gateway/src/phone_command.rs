//! Codes through a local program (`kind = "command"`), e.g. gammu's
//! `gammu-smsd-inject` for a modem. `argv[0]` is run directly, never
//! through a shell, with the placeholders filled into the arguments, so a
//! message is always one argument whatever it holds. The program gets no
//! stdin, an empty environment but for `PATH` and the `MFA_*` values, and
//! a process group of its own, which is killed as a whole at the timeout.
//! It is run once: a program that timed out may have sent the text, and a
//! second run would send the code twice.

use crate::deliver::Outcome;
use crate::phone_config::CommandSpec;
use crate::phone_template::{fill, Encoding, Slot};
use mfa_proto::phone::Channel;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use zeroize::Zeroizing;

/// How much of the program's stderr is kept for the log.
const MAX_STDERR: usize = 2048;
/// How long stderr is still read once the program has exited: a child it
/// left behind may hold the pipe open.
const STDERR_GRACE: Duration = Duration::from_millis(200);
/// The only variable passed on besides the `MFA_*` ones.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct CommandProvider {
    argv: Vec<String>,
    timeout: Duration,
}

/// What one run did: the outcome for mfad, and what the program wrote to
/// stderr, for the log only (never for mfad's database).
pub struct CommandRun {
    pub outcome: Outcome,
    pub stderr: Vec<u8>,
}

impl CommandProvider {
    /// Check that `argv[0]` is a program that can be run, at start rather
    /// than at the first code.
    pub fn new(section: &str, spec: &CommandSpec) -> Result<Self, String> {
        let program = spec.argv.first().map(String::as_str).unwrap_or_default();
        let key = format!("{section}.argv[0]");
        let meta = std::fs::metadata(Path::new(program))
            .map_err(|e| format!("{key} = \"{}\": {e}", program.escape_default()))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(format!(
                "{key} = \"{}\" is not an executable file",
                program.escape_default()
            ));
        }
        if meta.permissions().mode() & 0o002 != 0 {
            return Err(format!(
                "{key} = \"{}\" can be changed by every user: it would be run with every code",
                program.escape_default()
            ));
        }
        Ok(CommandProvider {
            argv: spec.argv.clone(),
            timeout: spec.timeout,
        })
    }

    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or_default()
    }

    /// Run the program for `message` to `to` (already checked to be E.164).
    pub async fn send(&self, channel: Channel, to: &str, message: &str) -> CommandRun {
        let value = |slot| match slot {
            Slot::To => to,
            Slot::Message => message,
            Slot::Secret => "",
        };
        let args: Vec<Zeroizing<String>> = self.argv[1..]
            .iter()
            .map(|a| fill(a, Encoding::Raw, value))
            .collect();
        let mut cmd = tokio::process::Command::new(self.program());
        cmd.args(args.iter().map(|a| a.as_str()))
            .env_clear()
            .env("PATH", PATH)
            // For a wrapper that keeps the code out of its own arguments,
            // which every user can list; the environment only its owner.
            .env("MFA_CHANNEL", channel.as_str())
            .env("MFA_TO", to)
            .env("MFA_MESSAGE", message)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let once = |result| CommandRun {
            outcome: Outcome {
                attempts: 1,
                result,
            },
            stderr: Vec::new(),
        };
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return once(Err(format!("cannot run the command: {}", e.kind()))),
        };
        let group = child.id();
        let reader = child.stderr.take().map(|s| tokio::spawn(read_bounded(s)));
        let result = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(match (status.code(), status.signal()) {
                (Some(code), _) => format!("the command exited with status {code}"),
                (None, Some(sig)) => format!("the command was killed by signal {sig}"),
                _ => "the command failed".to_string(),
            }),
            Ok(Err(e)) => Err(format!("cannot wait for the command: {}", e.kind())),
            Err(_) => {
                if let Some(pgid) = group {
                    kill_group(pgid);
                }
                let _ = child.kill().await;
                Err(format!(
                    "the command did not finish within {} s and was killed",
                    self.timeout.as_secs()
                ))
            }
        };
        let stderr = match reader {
            Some(mut task) => match tokio::time::timeout(STDERR_GRACE, &mut task).await {
                Ok(Ok(bytes)) => bytes,
                _ => {
                    task.abort();
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        CommandRun {
            stderr,
            ..once(result)
        }
    }
}

/// The first [`MAX_STDERR`] bytes; the rest is read and dropped, so a
/// talkative program never blocks on a full pipe.
async fn read_bounded(mut from: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_STDERR.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// SIGKILL to the program's process group (its pid, from `process_group(0)`),
/// so what it started dies with it. The program is not reaped yet, so the
/// group id cannot belong to anyone else.
fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: kill(2) takes plain integers and touches no memory.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}
