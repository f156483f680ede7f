//! A lab on one machine: central mfads on one PostgreSQL database, each
//! with a TLS listener for lab machines (`[remote]`), and lab machines'
//! relays (`[upstream]`), every one a real mfad process with its own
//! certificate from a throwaway site CA. Ports are picked free on
//! 127.0.0.1; everything lives in a temporary folder that goes with the
//! value (the processes are killed on drop). Students run the real `mfa`
//! as themselves through a relay ([`Fleet::mfa_as`], [`Fleet::enroll`]).

use crate::pki::{Issued, Pki};
use crate::postgres_shared::fresh_database;
use crate::MfadProcess;
use crate::{artifact, oathtool, unix_now};
use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

    /// `mfa --socket SOCKET ARGS` as `user`, from a copy in the fleet's folder.
    pub fn mfa_as(&self, socket: &Path, user: &str, args: &[&str]) -> Result<Command> {
        let mfa = self.dir().join("mfa");
        if !mfa.exists() {
            std::fs::copy(artifact("mfa")?, &mfa).context("copy mfa")?;
        }
        let mut cmd = Command::new("setpriv");
        cmd.args([
            &format!("--reuid={user}"),
            "--regid=nogroup",
            "--clear-groups",
        ])
        .arg(mfa)
        .arg("--socket")
        .arg(socket)
        .args(args);
        Ok(cmd)
    }

    /// `mfa enroll` as `user` through `socket`, typing the code oathtool
    /// computes from the secret it shows.
    pub fn enroll(&self, socket: &Path, user: &str) -> Result<Enrolled> {
        let mut child = self
            .mfa_as(socket, user, &["enroll"])?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut shown = String::new();
        let secret = loop {
            let Some(line) = lines.next() else {
                let out = child.wait_with_output()?;
                bail!(
                    "no secret shown: {shown} {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            let line = line?;
            shown.push_str(&line);
            shown.push('\n');
            if let Some(s) = line.trim().strip_prefix("Secret:") {
                break s.split_whitespace().collect::<String>();
            }
        };
        let code = oathtool(&secret, unix_now(), "SHA1", 6)?;
        writeln!(child.stdin.take().context("stdin")?, "{code}")?;
        for line in lines {
            shown.push_str(&line?);
            shown.push('\n');
        }
        let out = child.wait_with_output()?;
        ensure!(
            out.status.success(),
            "mfa enroll as {user}: {shown} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The URI in pieces after its heading, up to the line about the wait;
        // the recovery codes indented after "They are shown only now".
        let mut uri = String::new();
        let mut recovery = Vec::new();
        let (mut in_uri, mut in_codes) = (false, false);
        for line in shown.lines() {
            if line.contains("URI, in pieces") {
                in_uri = true;
            } else if line.starts_with("This enrollment waits") {
                in_uri = false;
            } else if in_uri {
                uri.push_str(line.trim());
            } else if line.starts_with("They are shown only now") {
                in_codes = true;
            } else if in_codes && line.starts_with("    ") && !line.trim().is_empty() {
                recovery.push(line.trim().to_string());
            }
        }
        ensure!(
            uri.starts_with("otpauth://totp/") && uri.contains(&secret),
            "no URI read from: {shown}"
        );
        ensure!(!recovery.is_empty(), "no recovery codes read from: {shown}");
        Ok(Enrolled {
            secret,
            uri,
            recovery,
        })
    }
}

/// What `mfa enroll` showed the student.
pub struct Enrolled {
    pub secret: String,
    pub uri: String,
    pub recovery: Vec<String>,
}

/// A code for the step after the current one (enrollment spent this one).
pub fn next_code(secret: &str) -> Result<String> {
    oathtool(secret, unix_now() + 30, "SHA1", 6)
}
