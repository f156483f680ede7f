//! The secret files the configuration names: the ntfy access token, the
//! webhook signing secret, the TLS key, the SMS and voice API credentials. Each is read once at start, from a
//! file no other user can read, and kept in memory that is wiped on drop.

use base64::Engine;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use zeroize::Zeroizing;

/// Larger than any of these secrets; a bigger file is a mistake.
const MAX_SECRET_FILE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} is readable by every user (mode {mode:04o}): it holds a secret; \
         run chmod o-r {path}"
    )]
    WorldReadable { path: String, mode: u32 },
    #[error("{path} is not a regular file")]
    NotAFile { path: String },
    #[error("{path} is larger than {MAX_SECRET_FILE} bytes")]
    TooLarge { path: String },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
}

/// Read a secret file whole, refusing one that every user can read. The
/// mode is taken from the open file, so it is the file that was read.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let shown = || path.display().to_string();
    let read_err = |source| SecretError::Read {
        path: shown(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(SecretError::NotAFile { path: shown() });
    }
    if meta.mode() & 0o004 != 0 {
        return Err(SecretError::WorldReadable {
            path: shown(),
            mode: meta.mode() & 0o7777,
        });
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(SecretError::TooLarge { path: shown() });
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() as u64 > MAX_SECRET_FILE {
        return Err(SecretError::TooLarge { path: shown() });
    }
    Ok(buf)
}

/// A secret file's text, trimmed of surrounding white space (editors add a
/// final newline).
fn read_secret_text(path: &Path) -> Result<Zeroizing<String>, SecretError> {
    let bytes = read_secret_file(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::Invalid {
        path: path.display().to_string(),
        msg: "not UTF-8 text".into(),
    })?;
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// The ntfy access token, sent as `Authorization: Bearer <token>`.
pub struct NtfyToken(Zeroizing<String>);

impl NtfyToken {
    pub fn load(path: &Path) -> Result<Self, SecretError> {
        Self::parse(read_secret_text(path)?).map_err(|msg| SecretError::Invalid {
            path: path.display().to_string(),
            msg,
        })
    }

    /// One token of visible ASCII: it goes into a header as it is.
    pub fn parse(text: Zeroizing<String>) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the file is empty; it should hold an ntfy access token (tk_...)".into());
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "an ntfy access token is one word of printable ASCII (tk_...), \
                 without spaces or control characters"
                    .into(),
            );
        }
        Ok(NtfyToken(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NtfyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NtfyToken([redacted])")
    }
}

/// The webhook signing key: the bytes that `whsec_<base64>` decodes to.
pub struct WebhookKey(Zeroizing<Vec<u8>>);

impl WebhookKey {
    pub fn load(path: &Path) -> Result<Self, SecretError> {
        Self::parse(&read_secret_text(path)?).map_err(|msg| SecretError::Invalid {
            path: path.display().to_string(),
            msg,
        })
    }

    /// Standard Webhooks secrets are `whsec_` and base64 of 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let b64 = text
            .strip_prefix("whsec_")
            .ok_or("a webhook secret starts with whsec_ (Standard Webhooks), followed by base64")?;
        let key = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "the part after whsec_ is not valid base64".to_string())?,
        );
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the webhook secret decodes to {} bytes; it must be 24 to 64",
                key.len()
            ));
        }
        Ok(WebhookKey(key))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey([redacted])")
    }
}

/// A credential of an SMS or voice API (`basic_password_file`,
/// `bearer_token_file`, `secret_file`): one line of text, sent in a header
/// or filled in for `{secret}`.
pub struct ApiSecret(Zeroizing<String>);

impl ApiSecret {
    /// `one_word`: no spaces either (a bearer token).
    pub fn load(path: &Path, one_word: bool) -> Result<Self, SecretError> {
        Self::parse(read_secret_text(path)?, one_word).map_err(|msg| SecretError::Invalid {
            path: path.display().to_string(),
            msg,
        })
    }

    pub fn parse(text: Zeroizing<String>, one_word: bool) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the file is empty; it should hold the API's credential".into());
        }
        if text.chars().any(char::is_control) {
            return Err("a credential is one line, without control characters".into());
        }
        if one_word && !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a bearer token is one word of printable ASCII".into());
        }
        Ok(ApiSecret(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file_with(dir: &tempfile::TempDir, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_world_readable_secret_file_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = file_with(&dir, "token", "tk_abc\n", 0o644);
        let err = NtfyToken::load(&p).unwrap_err().to_string();
        assert!(err.contains("readable by every user"), "{err}");
        assert!(err.contains(&p.display().to_string()), "{err}");
        assert!(err.contains("0644"), "{err}");
        assert!(!err.contains("tk_abc"), "{err}");
    }

    #[test]
    fn a_private_token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = file_with(&dir, "token", "  tk_abc123\n", 0o640);
        assert_eq!(NtfyToken::load(&p).unwrap().expose(), "tk_abc123");
        let p = file_with(&dir, "empty", "\n", 0o600);
        assert!(NtfyToken::load(&p).is_err());
        let p = file_with(&dir, "two", "tk_a tk_b", 0o600);
        assert!(NtfyToken::load(&p).is_err());
        assert!(format!(
            "{:?}",
            NtfyToken::parse(Zeroizing::new("tk_x".into())).unwrap()
        )
        .contains("redacted"));
    }

    #[test]
    fn webhook_secrets_need_whsec_and_24_to_64_bytes() {
        let key = WebhookKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(key.expose().len(), 24);
        let b64 = base64::engine::general_purpose::STANDARD;
        assert!(WebhookKey::parse(&format!("whsec_{}", b64.encode([7u8; 64]))).is_ok());
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
            "whsec_not base64!".into(),
            format!("whsec_{}", b64.encode([7u8; 23])),
            format!("whsec_{}", b64.encode([7u8; 65])),
        ] {
            assert!(WebhookKey::parse(&bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let p = file_with(
            &dir,
            "secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
            0o600,
        );
        assert_eq!(WebhookKey::load(&p).unwrap().expose().len(), 24);
    }

    #[test]
    fn api_secrets_are_one_line_and_bearer_tokens_one_word() {
        let dir = tempfile::tempdir().unwrap();
        let p = file_with(&dir, "pw", "pass word\n", 0o600);
        assert_eq!(ApiSecret::load(&p, false).unwrap().expose(), "pass word");
        assert!(ApiSecret::load(&p, true).is_err());
        let p = file_with(&dir, "two", "a\nb\n", 0o600);
        assert!(ApiSecret::load(&p, false).is_err());
        let p = file_with(&dir, "open", "tok\n", 0o604);
        let e = ApiSecret::load(&p, true).unwrap_err().to_string();
        assert!(
            e.contains("readable by every user") && !e.contains("tok\n"),
            "{e}"
        );
    }
}
