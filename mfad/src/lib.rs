//! mfad: the daemon behind pam_mfa. It owns every secret and every piece of
//! state, and decides every policy; the PAM module only asks and relays.

pub mod audit;
pub mod authz;
pub mod backoff;
pub mod clock;
pub mod config;
mod config_dbus;
mod config_phone;
mod config_remote;
mod config_store;
pub mod crypto;
pub mod dbus;
pub mod directory;
pub mod keycheck;
pub mod login_rule;
pub mod migrate;
pub mod otp;
pub mod pacing;
pub mod phone_number;
pub mod phone_rule;
pub mod qr;
pub mod recovery;
pub mod server;
pub mod service;
pub mod site_policy;
pub mod store;
pub mod systemd;
pub mod tls;
pub mod watchdog;
pub mod zero_on_free;

pub use server::serve;
pub use service::Service;

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;

/// Bind the public socket at `path` (see [`bind_at`]), mode 0666: access
/// is decided per request from peer credentials.
pub fn bind_socket(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    bind_at(path, 0o666, 0o755)
}

/// Bind root's socket at `path`, mode 0600, so that only root can connect
/// (connecting needs write permission on the socket file). A missing
/// directory is created 0700.
pub fn bind_root_socket(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    bind_at(path, 0o600, 0o700)
}

/// Bind a socket at `path` with `mode`, replacing a stale socket file left
/// by a crashed daemon but never a live one or a non-socket file. Missing
/// directories are created with `dir_mode` (existing ones are left as
/// they are).
fn bind_at(
    path: &Path,
    mode: u32,
    dir_mode: u32,
) -> std::io::Result<std::os::unix::net::UnixListener> {
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
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(dir_mode)
            .create(parent)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}
