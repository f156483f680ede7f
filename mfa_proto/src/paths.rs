//! Where root's socket is, given the public one. mfad listens on both;
//! root's sits in a directory of its own (0700) with mode 0600, so only
//! root can connect and no local user can fill its listen queue. The path
//! is derived rather than configured so the daemon, the PAM module and the
//! CLI can never disagree about it.

use std::path::{Path, PathBuf};

/// `/run/mfad.sock` → `/run/mfad-root/mfad.sock`.
pub fn root_socket_for(public: &Path) -> PathBuf {
    let name = public.file_name().unwrap_or(public.as_os_str());
    let stem = public
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = public.parent().unwrap_or(Path::new("/"));
    dir.join(format!("{stem}-root")).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_socket_sits_in_its_own_directory_next_to_the_public_one() {
        assert_eq!(
            root_socket_for(Path::new("/run/mfad.sock")),
            PathBuf::from("/run/mfad-root/mfad.sock")
        );
        assert_eq!(
            root_socket_for(Path::new("/tmp/t/x.sock")),
            PathBuf::from("/tmp/t/x-root/x.sock")
        );
    }
}
