//! A lab on one machine: central mfads on one PostgreSQL database, each
//! with a TLS listener for lab machines (`[remote]`), and lab machines'
//! relays (`[upstream]`), every one a real mfad process with its own
//! certificate from a throwaway site CA. Ports are picked free on
//! 127.0.0.1; everything lives in a temporary folder that goes with the
//! value (the processes are killed on drop).

use crate::pki::{Issued, Pki};
use crate::postgres_shared::fresh_database;
use crate::MfadProcess;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub url: String,
    /// The central mfads' "127.0.0.1:PORT".
    pub addrs: Vec<String>,
}

/// A free TCP port on 127.0.0.1 (bound and released: the kernel does not
/// hand it out again at once).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Fleet {
    /// A fresh database and CA, and `centrals` addresses for central mfads.
    pub fn new(centrals: usize) -> Result<Fleet> {
        let dir = tempfile::tempdir()?;
        // The students' own `mfa` must reach the relays' sockets in it.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let pki = Pki::new("site")?;
        let url = fresh_database()?;
        let addrs = (0..centrals)
            .map(|_| Ok(format!("127.0.0.1:{}", free_port()?)))
            .collect::<Result<_>>()?;
        Ok(Fleet {
            dir,
            pki,
            url,
            addrs,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Central mfad number `i` (`central-i`), listening on `addrs[i]`, with
    /// `extra` TOML appended (top-level keys first, then tables). All share
    /// one master key, as a site's central instances do.
    pub fn central(&self, i: usize, extra_remote: &str, extra: &str) -> Result<MfadProcess> {
        let name = format!("central-{i}");
        let server = self.pki.server("central")?;
        let state = self.path(&name);
        std::fs::create_dir_all(&state)?;
        let cfg = self.path(&format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "hostname = \"{name}\"\n{extra}\n[store]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n\
                 [remote]\nlisten = \"{addr}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\nclient_ca = \"{ca}\"\n{extra_remote}\n",
                url = self.url,
                addr = self.addrs[i],
                cert = server.cert.display(),
                key = server.key.display(),
                ca = self.pki.ca.cert.display(),
            ),
        )?;
        let key = self.path("master.key");
        if key.exists() {
            std::fs::copy(&key, state.join("master.key"))?;
        }
        let m = MfadProcess::spawn(
            &self.path(&format!("{name}.sock")),
            &state,
            &["--config", &cfg.display().to_string()],
        )?;
        if !key.exists() {
            std::fs::copy(state.join("master.key"), &key).context("the first central's key")?;
        }
        Ok(m)
    }

    /// A relay for lab host `host` with its own client certificate,
    /// relaying to `servers` (indexes into `addrs`, in order).
    pub fn relay(&self, host: &str, servers: &[usize]) -> Result<MfadProcess> {
        let cert = self.pki.client(host)?;
        self.relay_with(host, servers, &cert, "")
    }

    /// A relay presenting `cert`, with `extra` TOML in `[upstream]`.
    pub fn relay_with(
        &self,
        host: &str,
        servers: &[usize],
        cert: &Issued,
        extra: &str,
    ) -> Result<MfadProcess> {
        let state = self.path(&format!("lab-{host}"));
        std::fs::create_dir_all(&state)?;
        let list: Vec<String> = servers
            .iter()
            .map(|&i| format!("\"{}\"", self.addrs[i]))
            .collect();
        let cfg = self.path(&format!("lab-{host}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[upstream]\nservers = [{}]\nca = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{extra}\n",
                list.join(", "),
                self.pki.ca.cert.display(),
                cert.cert.display(),
                cert.key.display(),
            ),
        )?;
        MfadProcess::spawn(
            &self.path(&format!("lab-{host}.sock")),
            &state,
            &["--config", &cfg.display().to_string()],
        )
    }

    /// The state directory a relay for `host` was given.
    pub fn relay_state(&self, host: &str) -> PathBuf {
        self.path(&format!("lab-{host}"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
