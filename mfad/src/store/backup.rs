//! A consistent copy of the SQLite database while mfad runs, through
//! SQLite's online backup API: a reader of its own that copies every page
//! as of one moment, so a copy taken in the middle of logins is a state
//! the database really was in (WAL mode lets it read beside the writer).
//! The master key is not in it: keep the key apart (see the README).

use super::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Copy `state_dir`'s database to `dest` (0600; an existing file is
/// refused). The copy is made and checked under a temporary name beside
/// `dest`, then linked into place and the directory synced, so `dest`
/// either does not appear or is a whole, checked copy.
pub fn backup_to(state_dir: &Path, dest: &Path) -> Result<(), StoreError> {
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| StoreError::StateDir { path, source }
    };
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(io_err(dest)(std::io::ErrorKind::AlreadyExists.into()));
    }
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let result = copy_checked(state_dir, &tmp).and_then(|()| {
        std::fs::hard_link(&tmp, dest).map_err(io_err(dest))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))
    });
    let _ = std::fs::remove_file(&tmp);
    result
}

fn copy_checked(state_dir: &Path, to: &Path) -> Result<(), StoreError> {
    let src = Connection::open_with_flags(
        state_dir.join("mfad.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Made first, private and new, so the copy is never readable by others.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)
        .map_err(|source| StoreError::StateDir {
            path: to.display().to_string(),
            source,
        })?;
    let mut copy = Connection::open(to)?;
    {
        use rusqlite::backup::{Backup, StepResult};
        let backup = Backup::new(&src, &mut copy)?;
        // All pages in one step (-1): one consistent snapshot. A step that
        // meets a lock is tried again.
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
    copy.execute_batch("PRAGMA journal_mode = DELETE")?;
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Integrity(check));
    }
    let file = std::fs::File::open(to).map_err(|source| StoreError::StateDir {
        path: to.display().to_string(),
        source,
    })?;
    file.sync_all().map_err(|source| StoreError::StateDir {
        path: to.display().to_string(),
        source,
    })?;
    Ok(())
}
