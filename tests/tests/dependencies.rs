//! What each process links, from `cargo tree`: the PAM module and the
//! protocol crate pull in no HTTP or TLS crate, and the module no async
//! runtime, so a bug in a network stack can never reach sshd itself; mfad
//! links TLS (rustls, for the lab machines' connections to a central mfad)
//! but no HTTP crate: only mfa-gateway speaks HTTP.

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

/// What mfad may link of [`NETWORK`]: TLS for `[remote]` and
/// `[upstream]`, with the provider the gateway already uses.
const MFAD_TLS: &[&str] = &[
    "rustls",
    "tokio-rustls",
    "rustls-webpki",
    "aws-lc-rs",
    "ring",
];

#[test]
fn mfad_links_tls_but_no_http_crate() -> Result<()> {
    let deps = tree("mfad")?;
    for needed in ["rustls", "tokio-rustls"] {
        assert!(deps.iter().any(|d| d == needed), "mfad without {needed}");
    }
    let found: Vec<_> = deps
        .iter()
        .filter(|d| NETWORK.contains(&d.as_str()) && !MFAD_TLS.contains(&d.as_str()))
        .collect();
    assert!(found.is_empty(), "mfad links {found:?}");
    Ok(())
}

#[test]
fn the_module_and_the_protocol_link_no_http_or_tls_crate() -> Result<()> {
    for package in ["pam_mfa", "mfa_proto"] {
        let deps = tree(package)?;
        assert!(
            deps.iter().any(|d| d == "serde"),
            "{package}: odd tree {deps:?}"
        );
        let found: Vec<_> = deps
            .iter()
            .filter(|d| NETWORK.contains(&d.as_str()) || MFAD_TLS.contains(&d.as_str()))
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
