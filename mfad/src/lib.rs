//! mfad: the daemon behind pam_mfa. It owns every secret and every piece of
//! state, and decides every policy; the PAM module only asks and relays.

pub mod audit;
pub mod authz;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod limits;
pub mod otp;
pub mod pacing;
pub mod policy;
pub mod recovery;
pub mod server;
pub mod service;
pub mod store;
pub mod systemd;

pub use server::serve;
pub use service::Service;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// Bind the socket at `path`, replacing a stale socket file left by a
/// crashed daemon but never a live one or a non-socket file. Mode 0666:
/// access is decided per request from peer credentials.
pub fn bind_socket(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another daemon is listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}
