//! What each process links, from `cargo tree`: mfad and the PAM module
//! pull in no HTTP crate (only mfa-gateway talks HTTP), the PAM module
//! and the protocol crate no TLS crate either (mfad may: rustls for its
//! database and remote listener),
//! and the module no async runtime, so a bug in a network stack can never
//! reach the process that holds the secrets or sshd itself.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// The names of every crate `package` depends on for its normal build.
fn tree(package: &str) -> Result<Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--locked", "--manifest-path", manifest])
        .args([
            "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}",
        ])
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

const NETWORK: &[&str] = &[
    "hyper",
    "hyper-util",
    "reqwest",
    "axum",
    "axum-core",
    "h2",
    "http",
    "tower",
    "tower-http",
    "native-tls",
    "openssl",
];

/// Allowed in mfad, never in the module or the protocol crate.
const TLS: &[&str] = &[
    "rustls",
    "tokio-rustls",
    "rustls-webpki",
    "aws-lc-rs",
    "ring",
];

#[test]
fn mfad_and_the_module_link_no_http_or_tls_crate() -> Result<()> {
    for package in ["mfad", "pam_mfa", "mfa_proto"] {
        let deps = tree(package)?;
        assert!(
            deps.iter().any(|d| d == "serde"),
            "{package}: odd tree {deps:?}"
        );
        let found: Vec<_> = deps
            .iter()
            .filter(|d| {
                NETWORK.contains(&d.as_str()) || (package != "mfad" && TLS.contains(&d.as_str()))
            })
            .collect();
        assert!(found.is_empty(), "{package} links {found:?}");
    }
    let module = tree("pam_mfa")?;
    assert!(!module.iter().any(|d| d.starts_with("tokio")), "{module:?}");
    Ok(())
}

#[test]
fn the_gateway_is_where_http_lives() -> Result<()> {
    let deps = tree("mfa_gateway")?;
    for needed in ["axum", "reqwest", "rustls"] {
        assert!(
            deps.iter().any(|d| d == needed),
            "mfa_gateway without {needed}: {deps:?}"
        );
    }
    for never in [
        "rusqlite",
        "chacha20poly1305",
        "totp-rs",
        "native-tls",
        "openssl",
    ] {
        assert!(
            !deps.iter().any(|d| d == never),
            "mfa_gateway links {never}"
        );
    }
    Ok(())
}
