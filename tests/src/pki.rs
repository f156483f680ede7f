//! A throwaway certificate authority for the fleet tests, made with
//! Debian's `openssl` command (an implementation nobody here wrote): the
//! site's CA, a server certificate for a central mfad and a client
//! certificate per lab machine, naming the host. Everything lives in a
//! temporary folder that goes with the value.

use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate and its private key (PEM files).
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Pki {
    dir: tempfile::TempDir,
    pub ca: Issued,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .context("run openssl")?;
    ensure!(
        out.status.success(),
        "openssl {}: {}",
        args.first().copied().unwrap_or(""),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A new P-256 key and a request (or, with `self_signed`, a certificate)
/// for `cn`, with `exts` as -addext values.
fn key_and(dir: &Path, name: &str, cn: &str, self_signed: bool, exts: &[&str]) -> Result<()> {
    let (key, out) = (
        format!("{name}.key"),
        format!("{name}.{}", if self_signed { "pem" } else { "csr" }),
    );
    let subj = format!("/CN={cn}");
    let mut args = vec![
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ];
    args.extend(["-nodes", "-keyout", &key, "-out", &out, "-subj", &subj]);
    if self_signed {
        args.extend(["-x509", "-days", "2"]);
    }
    for e in exts {
        args.extend(["-addext", e]);
    }
    openssl(dir, &args)
}

impl Pki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<Pki> {
        let dir = tempfile::tempdir()?;
        key_and(
            dir.path(),
            "ca",
            name,
            true,
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        let ca = Issued {
            cert: dir.path().join("ca.pem"),
            key: dir.path().join("ca.key"),
        };
        Ok(Pki { dir, ca })
    }

    /// A server certificate for `name` (also valid for 127.0.0.1 and ::1).
    pub fn server(&self, name: &str) -> Result<Issued> {
        let san = format!("subjectAltName=DNS:{name},IP:127.0.0.1,IP:::1");
        self.issue(name, &[&san, "extendedKeyUsage=serverAuth"])
    }

    /// A client certificate naming lab host `host` (its CN and DNS name).
    pub fn client(&self, host: &str) -> Result<Issued> {
        let san = format!("subjectAltName=DNS:{host}");
        self.issue(host, &[&san, "extendedKeyUsage=clientAuth"])
    }

    fn issue(&self, name: &str, exts: &[&str]) -> Result<Issued> {
        let d = self.dir.path();
        let ext_file = d.join(format!("{name}.ext"));
        let mut ext = String::from("basicConstraints=CA:FALSE\n");
        for e in exts {
            ext.push_str(e);
            ext.push('\n');
        }
        std::fs::write(&ext_file, ext)?;
        key_and(d, name, name, false, &[])?;
        let (csr, pem) = (format!("{name}.csr"), format!("{name}.pem"));
        let ext_path = ext_file.display().to_string();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext_path,
            ],
        )?;
        Ok(Issued {
            cert: d.join(pem),
            key: d.join(format!("{name}.key")),
        })
    }

    /// A CRL from this CA (PEM) that revokes `certs`, made with
    /// `openssl ca -revoke` and `-gencrl`.
    pub fn crl_revoking(&self, certs: &[&Issued]) -> Result<PathBuf> {
        let d = self.dir.path();
        let cnf = d.join("ca.cnf");
        std::fs::write(
            &cnf,
            "[ca]\ndefault_ca = site\n[site]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
             default_md = sha256\ndefault_crl_days = 2\ncertificate = ca.pem\nprivate_key = ca.key\n",
        )?;
        std::fs::write(d.join("index.txt"), "")?;
        std::fs::write(d.join("crlnumber"), "01\n")?;
        let cnf = cnf.display().to_string();
        for c in certs {
            let cert = c.cert.display().to_string();
            openssl(d, &["ca", "-config", &cnf, "-batch", "-revoke", &cert])?;
        }
        openssl(
            d,
            &[
                "ca", "-config", &cnf, "-batch", "-gencrl", "-out", "crl.pem",
            ],
        )?;
        Ok(d.join("crl.pem"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
