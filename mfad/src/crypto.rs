//! Secrets at rest: the master key file, sealing TOTP secrets with
//! ChaCha20-Poly1305, and keyed hashes of recovery codes.
//!
//! The master key never encrypts directly; two subkeys are derived from it
//! with HMAC so sealing and recovery hashing can never be confused. Each
//! sealed secret is bound to its account name as associated data, so a
//! ciphertext copied to another row fails to open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use std::path::Path;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} must hold exactly {KEY_LEN} bytes")]
    KeyLength { path: String },
    #[error("key file {path} is readable by others (mode {mode:o}); it must be 0600 or stricter")]
    KeyMode { path: String, mode: u32 },
    #[error("key file {path} belongs to uid {owner}, not to the uid mfad runs as ({me})")]
    KeyOwner { path: String, owner: u32, me: u32 },
    #[error("sealed secret does not open with this key (wrong key file or tampered row)")]
    Open,
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// Fill `buf` from the OS RNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

/// The keys derived from the master key file.
pub struct Keys {
    seal: Zeroizing<[u8; KEY_LEN]>,
    recovery: Zeroizing<[u8; KEY_LEN]>,
    check: [u8; KEY_LEN],
}

type HmacSha256 = Hmac<Sha256>;

fn derive(master: &[u8], label: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    // HMAC accepts keys of any length, so this cannot fail.
    if let Ok(mut mac) = <HmacSha256 as hmac::KeyInit>::new_from_slice(master) {
        mac.update(label);
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// Read the key file at `path` (named `p` in errors), refusing a symlink,
/// another owner and any access for group or others.
fn read_key(path: &Path, p: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let err = |source| CryptoError::KeyFile {
        path: p.to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err)?;
    let meta = f.metadata().map_err(err)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(CryptoError::KeyOwner {
            path: p.to_string(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::KeyMode {
            path: p.to_string(),
            mode,
        });
    }
    let mut master = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
    (&mut f)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut master)
        .map_err(err)?;
    Ok(master)
}

/// Write `key` to `path` atomically: it appears whole or not at all, and
/// an existing file is never replaced.
fn write_new_key(path: &Path, key: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(key)?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

impl Keys {
    /// Read the master key, creating it (0600, from the OS RNG) when
    /// `create` is set and the file does not exist yet. The file is opened
    /// without following a symlink, and must belong to this uid and be
    /// readable by nobody else. A new key is written to a temporary file,
    /// synced, and linked into place (never over an existing file), then
    /// the directory is synced, so a crash leaves either no key or the
    /// whole key.
    pub fn load_or_create(path: &Path, create: bool) -> Result<Keys, CryptoError> {
        let p = path.display().to_string();
        let err = |source| CryptoError::KeyFile {
            path: p.clone(),
            source,
        };
        let master = match read_key(path, &p) {
            Err(CryptoError::KeyFile { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && create =>
            {
                let mut fresh = Zeroizing::new([0u8; KEY_LEN]);
                random_bytes(&mut fresh[..])?;
                write_new_key(path, &fresh[..]).map_err(err)?;
                Zeroizing::new(fresh.to_vec())
            }
            other => other?,
        };
        if master.len() != KEY_LEN {
            return Err(CryptoError::KeyLength { path: p });
        }
        Ok(Keys::from_master(&master))
    }

    pub fn from_master(master: &[u8]) -> Keys {
        Keys {
            seal: derive(master, b"mfad seal v1"),
            recovery: derive(master, b"mfad recovery v1"),
            check: *derive(master, b"mfad key check v1"),
        }
    }

    /// A value derived from the master key that names it without
    /// revealing it: stored in the database, so a missing or different
    /// key file is found at start instead of failing every login.
    pub fn check_value(&self) -> [u8; KEY_LEN] {
        self.check
    }

    /// Encrypt `plain` for `context` (e.g. "totp:ann"). Output: nonce ‖ ciphertext.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.seal[..]));
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Open)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt what [`Keys::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.seal[..]));
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }

    /// Keyed hash of a normalized recovery code, bound to its account.
    pub fn recovery_hash(&self, user: &str, code: &str) -> [u8; 32] {
        recovery_hash_with(&self.recovery[..], user, code)
    }

    /// The subkey recovery codes are hashed with. `mfad migrate` carries
    /// it (sealed under the central key) with the codes it copies, since
    /// a keyed hash cannot be re-keyed without the code itself; it says
    /// nothing about the sealing subkey or the master key.
    pub fn recovery_subkey(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.recovery.clone()
    }
}

/// [`Keys::recovery_hash`] with a given recovery subkey (one carried over
/// from another mfad's key by `mfad migrate`).
pub fn recovery_hash_with(subkey: &[u8], user: &str, code: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(mut mac) = <HmacSha256 as hmac::KeyInit>::new_from_slice(subkey) {
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(code.as_bytes());
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// Constant-time equality of two hashes.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.seal.zeroize();
        self.recovery.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_in_its_own_context() -> Result<(), CryptoError> {
        let k = Keys::from_master(&[7u8; 32]);
        let sealed = k.seal("totp:ann", b"secret bytes")?;
        assert_eq!(&k.open("totp:ann", &sealed)?[..], b"secret bytes");
        assert!(matches!(
            k.open("totp:bob", &sealed),
            Err(CryptoError::Open)
        ));
        let other = Keys::from_master(&[8u8; 32]);
        assert!(matches!(
            other.open("totp:ann", &sealed),
            Err(CryptoError::Open)
        ));
        Ok(())
    }

    #[test]
    fn key_file_is_created_0600_and_reused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("master.key");
        let a = Keys::load_or_create(&path, true)?;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        let b = Keys::load_or_create(&path, false)?;
        let sealed = a.seal("x", b"y")?;
        assert_eq!(&b.open("x", &sealed)?[..], b"y");
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        // A symlink to it is not followed.
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&path, &link)?;
        assert!(matches!(
            Keys::load_or_create(&link, false),
            Err(CryptoError::KeyFile { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        assert!(matches!(
            Keys::load_or_create(&path, false),
            Err(CryptoError::KeyMode { .. })
        ));
        // Another owner is refused (needs root to chown; CI is root).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&path, Some(65534), None)?;
            assert!(matches!(
                Keys::load_or_create(&path, false),
                Err(CryptoError::KeyOwner { owner: 65534, .. })
            ));
        }
        Ok(())
    }

    #[test]
    fn recovery_hash_depends_on_user_and_code() {
        let k = Keys::from_master(&[1u8; 32]);
        assert!(ct_eq(
            &k.recovery_hash("ann", "abc"),
            &k.recovery_hash("ann", "abc")
        ));
        assert!(!ct_eq(
            &k.recovery_hash("ann", "abc"),
            &k.recovery_hash("bob", "abc")
        ));
        assert!(!ct_eq(
            &k.recovery_hash("ann", "abc"),
            &k.recovery_hash("ann", "abd")
        ));
    }
}
