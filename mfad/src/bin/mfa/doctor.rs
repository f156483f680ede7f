//! `mfa doctor`: what is wrong with this machine's setup, before users are
//! locked out. Each check prints OK, WARN or FAIL with a one-line fix; the
//! command exits 1 when any check fails.

use mfa_proto::client::Client;
use mfad::config::Config;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Ok,
    Warn,
    Fail,
}

pub(crate) struct Report {
    worst: Level,
}

impl Report {
    pub(crate) fn say(&mut self, level: Level, what: &str, detail: &str, fix: &str) {
        let tag = match level {
            Level::Ok => "OK  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        if fix.is_empty() || level == Level::Ok {
            println!("{tag} {what}: {detail}");
        } else {
            println!("{tag} {what}: {detail}\n     fix: {fix}");
        }
        self.worst = self.worst.max(level);
    }
}

pub struct Options {
    pub socket: PathBuf,
    pub config: PathBuf,
    pub pam_dir: PathBuf,
    pub sshd: PathBuf,
}

/// Run every check; true when none failed.
pub fn run(o: &Options) -> bool {
    let mut r = Report { worst: Level::Ok };
    let cfg = match Config::load(&o.config, false) {
        Ok(c) => {
            r.say(
                Level::Ok,
                "config",
                &format!("{} (or built-in defaults)", o.config.display()),
                "",
            );
            c
        }
        Err(e) => {
            r.say(
                Level::Fail,
                "config",
                &e.to_string(),
                "correct the named key; mfad will not start with it",
            );
            Config::default()
        }
    };
    daemon(&mut r, &o.socket);
    socket_mode(&mut r, &o.socket);
    root_socket(&mut r, &mfa_proto::root_socket_for(&o.socket));
    state_dir(&mut r, &cfg.state_dir);
    push(&mut r, &cfg);
    crate::doctor_pam::pam_stacks(&mut r, &o.pam_dir, &cfg, &sshd_methods(&o.sshd));
    sshd(&mut r, &o.sshd);
    clock(&mut r);
    r.worst != Level::Fail
}

/// Push approval: off, or a gateway account that exists, is not root,
/// and cannot log in.
fn push(r: &mut Report, cfg: &Config) {
    let gw = &cfg.push.gateway_user;
    if gw.is_empty() {
        r.say(Level::Ok, "push", "off (push.gateway_user is empty)", "");
        return;
    }
    match nix::unistd::User::from_name(gw) {
        Ok(Some(u)) if u.uid.is_root() => r.say(
            Level::Fail,
            "push",
            &format!("push.gateway_user {gw:?} is root"),
            "run mfa-gateway as its own system user (the package creates mfa-gateway)",
        ),
        Ok(Some(u)) => r.say(
            Level::Ok,
            "push",
            &format!(
                "gateway user {gw} (uid {}); pushes wait up to {} s",
                u.uid, cfg.push.timeout_secs
            ),
            "",
        ),
        _ => r.say(
            Level::Fail,
            "push",
            &format!("push.gateway_user {gw:?} does not exist"),
            "install mfa-gateway (it creates the user) or correct push.gateway_user",
        ),
    }
}

fn daemon(r: &mut Report, socket: &Path) {
    match Client::connect(socket, Duration::from_secs(3), "mfa doctor") {
        Ok(c) => r.say(Level::Ok, "daemon", &format!("{} answers on {}", c.server(), socket.display()), ""),
        Err(e) => r.say(
            Level::Fail,
            "daemon",
            &e.to_string(),
            "start it: systemctl enable --now mfad.socket mfad.service (logins that need a code are denied meanwhile)",
        ),
    }
}

fn socket_mode(r: &mut Report, socket: &Path) {
    match std::fs::metadata(socket) {
        Ok(m) if !m.file_type().is_socket() => r.say(
            Level::Fail,
            "socket",
            &format!("{} is not a socket", socket.display()),
            "remove it and restart mfad",
        ),
        Ok(m) if m.permissions().mode() & 0o777 != 0o666 => r.say(
            Level::Warn,
            "socket",
            &format!(
                "mode {:o}; screen lockers running as the user cannot connect",
                m.permissions().mode() & 0o777
            ),
            "set SocketMode=0666 in mfad.socket (access is decided per request from SO_PEERCRED)",
        ),
        Ok(_) => r.say(
            Level::Ok,
            "socket",
            &format!("{} is a socket, mode 666", socket.display()),
            "",
        ),
        Err(e) => r.say(
            Level::Fail,
            "socket",
            &format!("{}: {e}", socket.display()),
            "start mfad.socket",
        ),
    }
}

/// Root's own socket: there, and closed to everyone else (by its mode or
/// its directory's), or a connection flood can reach it.
fn root_socket(r: &mut Report, socket: &Path) {
    let private = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.uid() == 0 && m.permissions().mode() & 0o077 == 0)
    };
    let dir = socket.parent().unwrap_or(Path::new("/"));
    match std::fs::metadata(socket) {
        Ok(m) if m.file_type().is_socket() && (private(socket) || private(dir)) => r.say(
            Level::Ok,
            "root socket",
            &format!("{} is open to root only", socket.display()),
            "",
        ),
        Ok(_) => r.say(
            Level::Fail,
            "root socket",
            &format!(
                "{} is not a socket that only root can open",
                socket.display()
            ),
            "give its directory mode 0700 (DirectoryMode=0700 in mfad.socket) and restart mfad",
        ),
        Err(e) => r.say(
            Level::Warn,
            "root socket",
            &format!("{}: {e}", socket.display()),
            "add ListenStream= for it to mfad.socket; meanwhile root's logins use the public socket and a local user connecting in a loop can slow them",
        ),
    }
}

fn state_dir(r: &mut Report, dir: &Path) {
    match std::fs::metadata(dir) {
        Ok(m) if m.uid() != 0 || m.permissions().mode() & 0o077 != 0 => r.say(
            Level::Fail,
            "state",
            &format!(
                "{} is owned by uid {} with mode {:o}",
                dir.display(),
                m.uid(),
                m.permissions().mode() & 0o777
            ),
            &format!("chown root:root {0} && chmod 700 {0}", dir.display()),
        ),
        Ok(_) => r.say(
            Level::Ok,
            "state",
            &format!("{} is root's, mode 700", dir.display()),
            "",
        ),
        Err(e) => r.say(
            Level::Warn,
            "state",
            &format!("{}: {e}", dir.display()),
            "mfad creates it on first start",
        ),
    }
}

/// sshd's AuthenticationMethods, if `sshd -T` answers.
fn sshd_methods(sshd: &Path) -> Option<String> {
    let out = Command::new(sshd).arg("-T").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("authenticationmethods "))
        .map(str::to_string)
}

fn sshd(r: &mut Report, sshd: &Path) {
    if !sshd.exists() {
        r.say(
            Level::Ok,
            "sshd",
            &format!("{} not installed; nothing to check", sshd.display()),
            "",
        );
        return;
    }
    let out = match Command::new(sshd).arg("-T").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let first = err.lines().next().unwrap_or("failed");
            r.say(
                Level::Warn,
                "sshd",
                &format!("sshd -T: {first}"),
                "fix what sshd -T reports (and run mfa doctor as root)",
            );
            return;
        }
        Err(e) => {
            r.say(
                Level::Warn,
                "sshd",
                &format!("cannot run sshd -T: {e}"),
                "run mfa doctor as root",
            );
            return;
        }
    };
    let get = |key: &str| {
        out.lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.strip_prefix(' '))
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let (usepam, kbd, methods) = (
        get("usepam"),
        get("kbdinteractiveauthentication"),
        get("authenticationmethods"),
    );
    if usepam != "yes" {
        r.say(
            Level::Fail,
            "sshd",
            &format!("UsePAM {usepam}: pam_mfa is never asked"),
            "set UsePAM yes",
        );
    } else if kbd != "yes" {
        r.say(
            Level::Fail,
            "sshd",
            &format!("KbdInteractiveAuthentication {kbd}: sshd cannot ask for a code"),
            "set KbdInteractiveAuthentication yes",
        );
    } else {
        let detail = format!(
            "UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods {methods}"
        );
        if methods == "any" && get("pubkeyauthentication") == "yes" {
            r.say(
                Level::Warn,
                "sshd",
                &format!("{detail}: a key alone logs in without a code"),
                "AuthenticationMethods publickey,keyboard-interactive:pam keyboard-interactive (see README)",
            );
        } else {
            r.say(Level::Ok, "sshd", &detail, "");
        }
    }
}

fn clock(r: &mut Report) {
    // SAFETY: adjtimex with modes = 0 only reads the kernel's clock state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    match state {
        libc::TIME_ERROR => r.say(
            Level::Warn,
            "clock",
            "the kernel reports the clock as not synchronized; codes fail when it drifts over 30 s",
            "enable NTP (systemd-timesyncd or chrony)",
        ),
        s if s < 0 => r.say(
            Level::Warn,
            "clock",
            "cannot read the clock state",
            "check NTP by hand",
        ),
        _ => r.say(
            Level::Ok,
            "clock",
            "synchronized according to the kernel",
            "",
        ),
    }
}
