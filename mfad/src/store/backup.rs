//! A consistent copy of the SQLite database while mfad runs, through
//! SQLite's online backup API: a reader of its own that copies every page
//! as of one moment, so a copy taken in the middle of logins is a state
//! the database really was in (WAL mode lets it read beside the writer).
//! The master key is not in it: keep the key apart (see the README).

use super::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Copy `state_dir`'s database to `dest` (created 0600; an existing file
/// is refused), then check the copy's integrity.
pub fn backup_to(state_dir: &Path, dest: &Path) -> Result<(), StoreError> {
    let src = Connection::open_with_flags(
        state_dir.join("mfad.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Made first, private and new, so the copy is never readable by others
    // and never overwrites a file it was not meant to.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|source| StoreError::StateDir {
            path: dest.display().to_string(),
            source,
        })?;
    let mut copy = Connection::open(dest)?;
    {
        use rusqlite::backup::{Backup, StepResult};
        let backup = Backup::new(&src, &mut copy)?;
        // All pages in one step (-1): one consistent snapshot. A step that
        // meets a lock is tried again.
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
    copy.execute_batch("PRAGMA journal_mode = DELETE")?;
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Integrity(check));
    }
    Ok(())
}
