//! A throwaway PostgreSQL 15 cluster for tests of the PostgreSQL store:
//! made with Debian's initdb in a temporary folder, reached only through
//! its own Unix socket there (no TCP unless `enable_tls` asks for it on
//! 127.0.0.1), with fsync and synchronous commit
//! on as in production. It can be stopped and started again (tests stop
//! the database under a running store), and it is stopped and removed on
//! drop, even when the test failed. initdb refuses root, so the cluster
//! runs as the `postgres` user: the tests need root.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian's postgresql-15 puts its programs.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct TempCluster {
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
    frozen: bool,
    /// Server options added after the defaults (later ones win).
    extra: String,
}

impl TempCluster {
    /// Make a new cluster and start it.
    pub fn start_new() -> Result<TempCluster> {
        crate::require_root()?;
        let initdb = Path::new(PG_BIN).join("initdb");
        if !initdb.exists() {
            bail!(
                "{} is missing: run scripts/deps.sh (it installs postgresql-15)",
                initdb.display()
            );
        }
        let dir = tempfile::Builder::new().prefix("mfa-pg.").tempdir()?;
        let mut cluster = TempCluster {
            dir,
            port: free_port()?,
            running: false,
            frozen: false,
            extra: String::new(),
        };
        std::fs::create_dir(cluster.socket_dir())?;
        chown_postgres(cluster.dir.path())?;
        chown_postgres(&cluster.socket_dir())?;
        // --no-sync: only the initial files; the server itself runs with
        // fsync on.
        run_as_postgres(
            Command::new(&initdb)
                .arg("-D")
                .arg(cluster.data_dir())
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
        )
        .context("initdb")?;
        cluster.start()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The connection string of the `postgres` database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The connection string of database `name` (see `create_database`).
    pub fn url_of(&self, name: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={name}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// Make an empty database, so tests can share one cluster.
    pub fn create_database(&self, name: &str) -> Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url_of(name))
    }

    /// Run SQL with psql as the superuser; its output (unaligned, tuples
    /// only).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let out = Command::new(Path::new(PG_BIN).join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(self.url_of(db))
            .stdin(Stdio::null())
            .output()
            .context("psql")?;
        if !out.status.success() {
            bail!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Start the server (again) and wait until it accepts connections.
    pub fn start(&mut self) -> Result<()> {
        let options = format!(
            "-k {} -c listen_addresses='' -p {} -c fsync=on -c synchronous_commit=on{}",
            self.socket_dir().display(),
            self.port,
            self.extra
        );
        // -l: the server must not keep our pipes open (output() would
        // wait for it to exit).
        run_as_postgres(
            Command::new(Path::new(PG_BIN).join("pg_ctl"))
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .args(["-o", &options, "-w", "-t", "60", "start"]),
        )
        .with_context(|| format!("pg_ctl start; server log:\n{}", self.log()))?;
        self.running = true;
        Ok(())
    }

    /// Stop the server (fast: connections are cut, as when it goes down).
    pub fn stop(&mut self) -> Result<()> {
        self.pg_ctl_stop("fast")?;
        self.running = false;
        Ok(())
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<()> {
        run_as_postgres(
            Command::new(Path::new(PG_BIN).join("pg_ctl"))
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", mode, "-w", "-t", "60", "stop"]),
        )
    }

    /// Stop (SIGSTOP) or resume (SIGCONT) the server and all its
    /// processes: a database that hangs rather than refusing connections.
    pub fn freeze(&mut self, frozen: bool) -> Result<()> {
        let pid_file = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))?;
        let postmaster: i32 = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("odd postmaster.pid"))?;
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc")? {
            let name = entry?.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The parent pid is the second field after the ")" that ends
            // the command name.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
        let signal = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        for pid in pids {
            // SAFETY: kill has no memory preconditions; these are the
            // cluster's own processes, which this harness started.
            unsafe { libc::kill(pid, signal) };
        }
        self.frozen = frozen;
        Ok(())
    }

    /// Restart with TLS on (`cert` and `key`, PEM, copied into the data
    /// folder for the postgres user, the key 0600 as the server demands)
    /// and TCP on 127.0.0.1 as well as the socket.
    pub fn enable_tls(&mut self, cert: &Path, key: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let (c, k) = (
            self.dir.path().join("server.crt"),
            self.dir.path().join("server.key"),
        );
        std::fs::copy(cert, &c)?;
        std::fs::copy(key, &k)?;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600))?;
        chown_postgres(&c)?;
        chown_postgres(&k)?;
        self.extra = format!(
            " -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            c.display(),
            k.display()
        );
        if self.running {
            self.stop()?;
        }
        self.start()
    }

    /// The port the server listens on (TCP too after `enable_tls`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if self.frozen {
            let _ = self.freeze(false);
        }
        if self.running {
            let _ = self.pg_ctl_stop("immediate");
        }
        // The TempDir removes the folder after this.
    }
}

/// A port nobody listens on now (the server only uses it to name its
/// socket, but a free one keeps its shared memory key apart too).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn chown_postgres(path: &Path) -> Result<()> {
    let status = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(path)
        .status()?;
    if !status.success() {
        bail!("chown postgres {}", path.display());
    }
    Ok(())
}

fn run_as_postgres(cmd: &mut Command) -> Result<()> {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(&program)
        .args(&args)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("runuser {}", program.to_string_lossy()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}{}",
            program.to_string_lossy(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
