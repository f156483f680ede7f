//! The system-bus interface (`[dbus]`): `org.pam_mfa.Mfad1` at
//! `/org/pam_mfa/Mfad1`, for desktop tools, the help desk and `mfa
//! agent`. A thin layer: each method becomes the socket's request and goes
//! through [`Service::handle`], so authorization, limits and the audit log
//! are the socket's. The caller is whoever the bus driver says sent the
//! message (`callers`), never an argument. Push signals go only to the
//! account's own connections (`signals`).

mod backend;
mod callers;
mod convert;
mod interface;
mod signals;
mod turns;

use crate::clock::Clock;
use crate::config::DbusConfig;
use crate::service::Service;
use crate::store::Store;
use std::sync::Arc;
use tokio::task::JoinHandle;

pub use interface::{IFACE, NAME, PATH};

#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("cannot connect to the bus {bus}: {source}")]
    Connect { bus: String, source: zbus::Error },
    #[error("another process owns {NAME} on {bus}: is a second mfad running?")]
    NameTaken { bus: String },
}

/// The running bus service; dropping it leaves the bus.
pub struct DbusServer {
    conn: zbus::Connection,
    tasks: Vec<JoinHandle<()>>,
}

impl DbusServer {
    /// Connect, serve the object and take the name. Call from inside the
    /// runtime.
    pub async fn start<S: Store, C: Clock>(
        svc: Arc<Service<S, C>>,
        cfg: &DbusConfig,
    ) -> Result<DbusServer, DbusError> {
        let bus = if !cfg.address.is_empty() {
            cfg.address.clone()
        } else {
            std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| "the system bus".into())
        };
        let sc = &svc.config().server;
        let pacer = crate::pacing::Pacer::new(sc.user_rate, sc.user_burst, sc.users_rate);
        let backend: Arc<dyn backend::Backend> = Arc::new(svc);
        let builder = if cfg.address.is_empty() {
            zbus::connection::Builder::system()
        } else {
            zbus::connection::Builder::address(cfg.address.as_str())
        };
        let conn = builder.build().await.map_err(|source| DbusError::Connect {
            bus: bus.clone(),
            source,
        })?;
        let connect = |source| DbusError::Connect {
            bus: bus.clone(),
            source,
        };
        let callers = Arc::new(callers::Callers::new(&conn).await.map_err(connect)?);
        // Following departures before anyone can call: none is missed.
        // Held in the server from here, so an error below stops it.
        let mut server = DbusServer {
            conn: conn.clone(),
            tasks: vec![tokio::spawn(callers::follow_departures(
                conn.clone(),
                callers.clone(),
            ))],
        };
        let iface = interface::Mfad1::new(backend.clone(), callers.clone(), pacer);
        conn.object_server()
            .at(PATH, iface)
            .await
            .map_err(connect)?;
        // Neither replacing another owner nor letting one replace us:
        // zbus's default flags would allow both.
        use zbus::fdo::{RequestNameFlags, RequestNameReply};
        match conn
            .request_name_with_flags(NAME, RequestNameFlags::DO_NOT_QUEUE)
            .await
        {
            Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {}
            Ok(_) | Err(zbus::Error::NameTaken) => return Err(DbusError::NameTaken { bus }),
            Err(e) => return Err(connect(e)),
        }
        server
            .tasks
            .push(tokio::spawn(signals::forward(conn, backend, callers)));
        Ok(server)
    }

    /// Until the connection to the bus is lost (the bus stopped).
    async fn closed(&mut self) {
        if let Some(departures) = self.tasks.first_mut() {
            let _ = departures.await;
        }
    }

    /// The bus's unique name for this connection (tests).
    pub fn unique_name(&self) -> Option<String> {
        self.conn.unique_name().map(|n| n.to_string())
    }
}

/// Serve the bus for as long as mfad runs. D-Bus is optional beside
/// logins: a bus that is not up yet, or restarts, must not stop mfad, so
/// it is tried again every few seconds, and again after it is lost.
pub async fn serve_retrying<S: Store, C: Clock>(svc: Arc<Service<S, C>>) {
    let cfg = svc.config().dbus.clone();
    let mut last_said = None::<std::time::Instant>;
    loop {
        match DbusServer::start(svc.clone(), &cfg).await {
            Ok(mut server) => {
                eprintln!("mfad: serving {NAME} on D-Bus");
                last_said = None;
                server.closed().await;
                eprintln!("mfad: lost the D-Bus connection; connecting again");
            }
            Err(e) => {
                if last_said.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(60)) {
                    eprintln!("mfad: D-Bus is not served: {e}; trying again every 5 s");
                    last_said = Some(std::time::Instant::now());
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

impl Drop for DbusServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
