//! The mfad daemon: `mfad --socket PATH --state-dir DIR [--config FILE]`
//! runs in the foreground until SIGTERM or SIGINT: a single host (SQLite),
//! a central mfad (PostgreSQL, and `[remote]` for lab machines), or with
//! `[upstream]` a lab machine's relay that keeps no state at all. `mfad
//! migrate --from-sqlite DIR` copies a single host's enrollments into the
//! central database of the mfad the configuration describes, and exits.

use anyhow::Context;
use clap::Parser;
use mfad::backoff::hosts_since;
use mfad::clock::SystemClock;
use mfad::config::{Backend, Config, DEFAULT_PATH};
use mfad::keycheck::{load_keys, refuse_key_without_database};
use mfad::server::{serve_relay, serve_with, RemoteListener, Upstream};
use mfad::store::{PostgresStore, SqliteStore, Store};
use mfad::zero_on_free::ZeroOnFree;
use mfad::{bind_root_socket, bind_socket, systemd, Service};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;

#[global_allocator]
static ALLOC: ZeroOnFree = ZeroOnFree;

#[derive(Parser)]
#[command(version, about = "Second-factor daemon for pam_mfa")]
struct Args {
    /// Unix socket to listen on (default from the config: /run/mfad.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Directory for the database and key (default from the config: /var/lib/mfad).
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// Configuration file. Without it, /etc/mfad/mfad.toml is read if it exists.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Instead of serving, write a consistent copy of the database to this
    /// new file (0600) and exit; safe while mfad runs. The key file is not
    /// in it: keep the key apart.
    #[arg(long, value_name = "FILE")]
    backup_to: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Copy a single host's enrollments (its SQLite state directory) into
    /// the PostgreSQL database of the central mfad that --config
    /// describes, secrets re-sealed under the central key. Safe to run
    /// while both mfads run, and again: what is there already is not
    /// copied twice, and a different enrollment of the same name is left
    /// as it is and reported (exit status 1).
    Migrate {
        /// The single host's state directory (with mfad.db).
        #[arg(long, value_name = "DIR")]
        from_sqlite: PathBuf,
        /// The single host's key file (default: DIR/master.key).
        #[arg(long, value_name = "FILE")]
        from_key: Option<PathBuf>,
        /// Read and judge everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    harden();
    let mut cfg = match &args.config {
        Some(path) => Config::load(path, true)?,
        None => Config::load(std::path::Path::new(DEFAULT_PATH), false)?,
    };
    if let Some(s) = args.socket {
        cfg.socket = s;
    }
    if let Some(d) = args.state_dir {
        cfg.state_dir = d;
    }
    if let Some(Command::Migrate {
        from_sqlite,
        from_key,
        dry_run,
    }) = args.command
    {
        if !migrate(&cfg, from_sqlite, from_key, dry_run)? {
            std::process::exit(1);
        }
        return Ok(());
    }
    if let Some(dest) = &args.backup_to {
        mfad::store::backup::backup_to(&cfg.state_dir, dest).with_context(|| {
            format!(
                "cannot back up {} to {}",
                cfg.state_dir.join("mfad.db").display(),
                dest.display()
            )
        })?;
        eprintln!(
            "mfad: backed up {} to {}",
            cfg.state_dir.join("mfad.db").display(),
            dest.display()
        );
        return Ok(());
    }
    // Taken before any thread exists: it edits the environment.
    let inherited = systemd::listeners_from_env();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if cfg.upstream.enabled() {
        return relay(rt, cfg, inherited);
    }
    match cfg.store.backend {
        Backend::Sqlite => {
            refuse_key_without_database(&SqliteStore::database_in(&cfg.state_dir), &cfg.key_path())
                .context("refusing to start")?;
            let store = SqliteStore::open(&cfg.state_dir)
                .with_context(|| format!("cannot open the state in {}", cfg.state_dir.display()))?;
            run(rt, store, cfg, inherited)
        }
        Backend::Postgres => {
            let url = cfg
                .store
                .postgres_url()
                .map_err(anyhow::Error::msg)
                .context("refusing to start")?;
            let store = rt
                .block_on(PostgresStore::connect_with_ca(
                    &url,
                    cfg.store.postgres_ca(),
                ))
                .context("cannot open the state in PostgreSQL (store.postgres_url)")?;
            // At start it cancels only the pushes this mfad created.
            let store = match cfg.hostname.is_empty() {
                true => store,
                false => store.with_host(cfg.hostname.clone()),
            };
            run(rt, store, cfg, inherited)
        }
    }
}

/// `mfad migrate`: print the report; false when an account was left as
/// it was (a conflict) or could not be copied.
fn migrate(
    cfg: &Config,
    dir: PathBuf,
    key: Option<PathBuf>,
    dry_run: bool,
) -> anyhow::Result<bool> {
    if cfg.store.backend != Backend::Postgres {
        anyhow::bail!(
            "mfad migrate copies into the central database, but this configuration keeps its state in SQLite: give the central mfad's configuration (--config FILE, with [store] backend = \"postgres\")"
        );
    }
    let url = cfg.store.postgres_url().map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = PostgresStore::connect_with_ca(&url, cfg.store.postgres_ca())
            .await
            .context("cannot open the central state in PostgreSQL (store.postgres_url)")?;
        // As the central mfad loads it: made for an empty database, and
        // its check value recorded, so that mfad starts on the copy.
        let may_create = !dry_run && cfg.key_file.as_os_str().is_empty();
        let keys = load_keys(&store, &cfg.key_path(), may_create)
            .await
            .context("the central key")?;
        let source = mfad::migrate::Source {
            key: key.unwrap_or_else(|| mfad::migrate::default_key(&dir)),
            dir,
        };
        let now = mfad::clock::Clock::now(&SystemClock);
        let report = mfad::migrate::migrate(&store, Arc::new(keys), &source, dry_run, now)
            .await
            .with_context(|| format!("cannot migrate from {}", source.dir.display()))?;
        println!("{report}");
        anyhow::Ok(report.clean())
    })
}

/// Serve on `store` until a signal says stop.
fn run<S: Store>(
    rt: tokio::runtime::Runtime,
    store: S,
    cfg: Config,
    inherited: Vec<(UnixListener, Option<PathBuf>)>,
) -> anyhow::Result<()> {
    // SQLite makes it; on PostgreSQL only the key lives there.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cfg.state_dir)
        .with_context(|| {
            format!(
                "cannot create the state directory {}",
                cfg.state_dir.display()
            )
        })?;
    let keys = rt
        .block_on(load_keys(
            &store,
            &cfg.key_path(),
            cfg.key_file.as_os_str().is_empty(),
        ))
        .context("refusing to start")?;
    let now = mfad::clock::Clock::now(&SystemClock);
    rt.block_on(store.prune(hosts_since(&cfg.limits, now), pushes_since(&cfg, now), now))?;

    let (std_listeners, names) = listeners(&cfg.socket, inherited)?;
    for l in &std_listeners {
        l.set_nonblocking(true)?;
    }
    let remote = match cfg.remote.enabled() {
        true => Some(
            rt.block_on(RemoteListener::bind(&cfg.remote))
                .context("refusing to start ([remote])")?,
        ),
        false => None,
    };
    let service = Arc::new(Service::new(store, keys, cfg, SystemClock));

    rt.block_on(async move {
        let listeners = std_listeners
            .into_iter()
            .map(tokio::net::UnixListener::from_std)
            .collect::<Result<Vec<_>, _>>()?;
        let lab = match &remote {
            Some(r) => format!(", and for lab machines on {} (TLS)", r.local_addr()?),
            None => String::new(),
        };
        eprintln!(
            "mfad {} listening on {names}{lab}",
            env!("CARGO_PKG_VERSION")
        );
        // Logins never wait for the bus: it is served beside them.
        let bus = service
            .config()
            .dbus
            .enable
            .then(|| tokio::spawn(mfad::dbus::serve_retrying(service.clone())));
        systemd::notify_ready();
        tokio::spawn(prune_forever(service.clone()));
        tokio::spawn(watch_store(service.clone()));
        serve_with(listeners, remote, service, shutdown_signal()).await;
        if let Some(bus) = bus {
            bus.abort();
        }
        eprintln!("mfad: stopped");
        anyhow::Ok(())
    })
}

/// A lab machine's relay: the local sockets, no store and no key.
fn relay(
    rt: tokio::runtime::Runtime,
    cfg: Config,
    inherited: Vec<(UnixListener, Option<PathBuf>)>,
) -> anyhow::Result<()> {
    let upstream =
        Arc::new(Upstream::new(&cfg.upstream).context("refusing to start ([upstream])")?);
    let (std_listeners, names) = listeners(&cfg.socket, inherited)?;
    for l in &std_listeners {
        l.set_nonblocking(true)?;
    }
    rt.block_on(async move {
        let listeners = std_listeners
            .into_iter()
            .map(tokio::net::UnixListener::from_std)
            .collect::<Result<Vec<_>, _>>()?;
        eprintln!(
            "mfad {} listening on {names}, relaying to {}",
            env!("CARGO_PKG_VERSION"),
            cfg.upstream.servers.join(", ")
        );
        systemd::notify_ready();
        // Nothing here can wedge but the runtime itself.
        tokio::spawn(async {
            let every = systemd::watchdog_interval().unwrap_or(std::time::Duration::from_secs(5));
            loop {
                tokio::time::sleep(every).await;
                systemd::notify("WATCHDOG=1");
            }
        });
        serve_relay(listeners, upstream, cfg, shutdown_signal()).await;
        eprintln!("mfad: stopped");
        anyhow::Ok(())
    })
}

/// The public socket and root's. With socket activation the public one is
/// the passed socket that is not root's, whatever its path, and root's is
/// the passed one at the path derived from it; without, both are bound
/// here. If root's cannot be had, mfad goes on without it: clients then
/// fall back to the public socket and lose only its flood protection.
fn listeners(
    configured: &std::path::Path,
    mut passed: Vec<(UnixListener, Option<PathBuf>)>,
) -> anyhow::Result<(Vec<UnixListener>, String)> {
    let is_root = |p: &Option<PathBuf>, all: &[(UnixListener, Option<PathBuf>)]| {
        all.iter().any(
            |(_, q)| matches!((p, q), (Some(p), Some(q)) if *p == mfa_proto::root_socket_for(q)),
        )
    };
    let public_at = (0..passed.len()).find(|&i| !is_root(&passed[i].1, &passed));
    let (public, path) = match public_at {
        Some(i) => {
            let (l, p) = passed.swap_remove(i);
            (l, p.unwrap_or_else(|| configured.to_path_buf()))
        }
        None => (
            bind_socket(configured)
                .with_context(|| format!("cannot listen on {}", configured.display()))?,
            configured.to_path_buf(),
        ),
    };
    let root_path = mfa_proto::root_socket_for(&path);
    let root = match passed
        .iter()
        .position(|(_, p)| p.as_ref() == Some(&root_path))
    {
        Some(i) => Ok(passed.swap_remove(i).0),
        None => bind_root_socket(&root_path),
    };
    for (_, p) in &passed {
        eprintln!("mfad: ignoring a passed socket it has no use for: {p:?}");
    }
    match root {
        Ok(root) => Ok((
            vec![public, root],
            format!("{} and {} (root only)", path.display(), root_path.display()),
        )),
        Err(e) => {
            eprintln!(
                "mfad: cannot listen on {} ({e}); root's clients will use {} instead",
                root_path.display(),
                path.display()
            );
            Ok((vec![public], path.display().to_string()))
        }
    }
}

/// Pushes are kept a day (the audit log has them for good), and at least
/// as long as the fatigue window counts them.
fn pushes_since(cfg: &mfad::config::Config, now: i64) -> i64 {
    now - (cfg.push.window_secs as i64).max(86_400)
}

/// Forget stale host counters and expired enrollments every ten minutes,
/// so those tables stay small however many hosts have failed.
async fn prune_forever<S: Store>(service: Arc<Service<S, SystemClock>>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        let now = mfad::clock::Clock::now(&SystemClock);
        let since = hosts_since(&service.config().limits, now);
        let pushes = pushes_since(service.config(), now);
        if let Err(e) = service.store().prune(since, pushes, now).await {
            eprintln!("mfad: pruning failed: {e}");
        }
    }
}

/// Feed systemd's watchdog while the store answers, and stop mfad (exit
/// 70, so systemd restarts it) if the store's writer has died: every
/// login would fail until then anyway.
async fn watch_store<S: Store>(service: Arc<Service<S, SystemClock>>) {
    let every = systemd::watchdog_interval().unwrap_or(std::time::Duration::from_secs(5));
    mfad::watchdog::watch(service.store(), every, || systemd::notify("WATCHDOG=1")).await;
    eprintln!("mfad: the store's writer thread has died; exiting so that mfad is restarted");
    std::process::exit(70);
}

/// No core dumps (they would hold decrypted secrets) and private files.
fn harden() {
    // SAFETY: plain libc calls with constant arguments.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::umask(0o077);
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("mfad: cannot install signal handlers; stop me with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
