//! The systemd integration mfad needs, without a crate: taking the sockets
//! passed by socket activation (LISTEN_FDS), telling systemd it is ready
//! and alive (NOTIFY_SOCKET), and how often the watchdog wants to hear
//! from it (WATCHDOG_USEC).

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};

const SD_LISTEN_FDS_START: RawFd = 3;

/// The listening sockets systemd passed to this process (none without
/// socket activation), each with the path it is bound to.
pub fn listeners_from_env() -> Vec<(UnixListener, Option<PathBuf>)> {
    let pid: Option<u32> = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|v| v.parse().ok());
    let fds: Option<RawFd> = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok());
    // Children must not think the sockets are theirs.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Vec::new();
    };
    if pid != std::process::id() {
        return Vec::new();
    }
    (SD_LISTEN_FDS_START..SD_LISTEN_FDS_START + fds.clamp(0, 16))
        .map(|fd| {
            // SAFETY: systemd's protocol hands this process fds 3.. as open
            // listening sockets that nothing else in the process owns.
            let listener = unsafe { UnixListener::from_raw_fd(fd) };
            let _ = nix::fcntl::fcntl(
                &listener,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
            let path = listener
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_path_buf));
            (listener, path)
        })
        .collect()
}

/// Send `READY=1` when running under a notify-type unit.
pub fn notify_ready() {
    notify("READY=1");
}

/// How often to send `WATCHDOG=1`: half the unit's `WatchdogSec=`, None
/// when the unit has no watchdog (or it is meant for another process).
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| std::time::Duration::from_micros(usec / 2))
}

/// Send one state line to systemd, when running under a notify-type unit.
/// Failure is only logged: systemd will time the unit out and say why.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(e) = result {
        eprintln!("mfad: cannot notify systemd: {e}");
    }
}
