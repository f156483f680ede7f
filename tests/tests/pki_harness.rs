//! The fleet tests' certificate authority works as openssl itself sees
//! it: a lab host's client certificate verifies against the site's CA
//! for client use and names the host, and one from another CA does not.

use anyhow::{ensure, Result};
use mfa_tests::pki::Pki;
use std::process::Command;

fn verify(ca: &std::path::Path, cert: &std::path::Path, purpose: &str) -> Result<bool> {
    let out = Command::new("openssl")
        .args(["verify", "-purpose", purpose, "-CAfile"])
        .arg(ca)
        .arg(cert)
        .output()?;
    Ok(out.status.success())
}

#[test]
fn client_and_server_certificates_verify_only_against_their_own_ca() -> Result<()> {
    let site = Pki::new("pam_mfa test CA")?;
    let other = Pki::new("someone else")?;
    let lab1 = site.client("lab1")?;
    let central = site.server("central")?;
    let stranger = other.client("lab1")?;
    ensure!(verify(&site.ca.cert, &lab1.cert, "sslclient")?);
    ensure!(verify(&site.ca.cert, &central.cert, "sslserver")?);
    ensure!(
        !verify(&site.ca.cert, &lab1.cert, "sslserver")?,
        "a client certificate serves"
    );
    ensure!(
        !verify(&site.ca.cert, &stranger.cert, "sslclient")?,
        "another CA's certificate verifies"
    );
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
        ])
        .arg(&lab1.cert)
        .output()?;
    let text = String::from_utf8_lossy(&text.stdout);
    ensure!(
        text.contains("CN = lab1") && text.contains("DNS:lab1"),
        "{text}"
    );
    Ok(())
}
