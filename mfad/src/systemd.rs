//! The two pieces of systemd integration mfad needs, without a crate:
//! taking a socket passed by socket activation (LISTEN_FDS) and telling
//! systemd it is ready (NOTIFY_SOCKET).

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener};

const SD_LISTEN_FDS_START: RawFd = 3;

/// The listening socket systemd passed, if it passed one to this process.
pub fn listener_from_env() -> Option<UnixListener> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    // Children must not think the sockets are theirs.
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    let fd = SD_LISTEN_FDS_START;
    // SAFETY: systemd's protocol hands this process fd 3 as an open
    // listening socket that nothing else in the process owns.
    let listener = unsafe { UnixListener::from_raw_fd(fd) };
    let _ = nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Some(listener)
}

/// Send `READY=1` when running under a notify-type unit. Failure is only
/// logged: systemd will time the unit out and say why.
pub fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(b"READY=1", &addr)
        } else {
            sock.send_to(b"READY=1", &path)
        }
    });
    if let Err(e) = result {
        eprintln!("mfad: cannot notify systemd: {e}");
    }
}
