//! Files made by Debian's own `google-authenticator` command (package
//! libpam-google-authenticator), for the import tests, and TOTP codes of
//! other step sizes from `oathtool`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A file google-authenticator wrote, with what a test needs from it.
pub struct GaSecret {
    pub path: PathBuf,
    /// The base32 secret (its first line).
    pub secret: String,
    /// The 8-digit scratch codes.
    pub scratch: Vec<String>,
}

/// Run `google-authenticator -f -q -Q NONE -s PATH ARGS` to write `path`
/// without questions (ARGS must answer all of them: -t or -c, -d or -D,
/// -w or -W, -r/-R or -u), then read it back.
pub fn google_authenticator(path: &Path, args: &[&str]) -> Result<GaSecret> {
    let out = Command::new("google-authenticator")
        .args(["-f", "-q", "-Q", "NONE", "-s"])
        .arg(path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context(
            "google-authenticator is not installed (apt-get install libpam-google-authenticator)",
        )?;
    if !out.status.success() || !path.exists() {
        bail!(
            "google-authenticator {args:?} wrote no file: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let secret = lines.next().unwrap_or_default().trim().to_string();
    let scratch = lines
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    Ok(GaSecret {
        path: path.to_path_buf(),
        secret,
        scratch,
    })
}

/// A 6-digit SHA1 code from Debian's oathtool for a `step`-second step at
/// Unix time `at` (`oathtool --totp --time-step-size=60s -b SECRET`).
pub fn oathtool_step(secret_b32: &str, at: i64, step: u64) -> Result<String> {
    let out = Command::new("oathtool")
        .arg("--totp")
        .arg(format!("--time-step-size={step}s"))
        .args(["-b", secret_b32, "--now", &format!("@{at}")])
        .output()
        .context("oathtool is not installed (apt-get install oathtool)")?;
    if !out.status.success() {
        bail!("oathtool failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}
