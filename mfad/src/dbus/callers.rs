//! Who sent a message: the sender's unique name from the message header,
//! then the bus driver's `GetConnectionCredentials` for that name; never
//! anything the message says. Any failure is a refusal. Credentials are
//! kept per unique name until `NameOwnerChanged` says it left (the bus
//! never gives a unique name twice), and the account name of each known
//! connection is where push signals go.

use crate::authz::Peer;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;

/// Connections remembered at most; past it the table starts again (a
/// watcher registers again with its next call, `mfa agent` every minute).
const MAX_KNOWN: usize = 16384;

#[derive(Debug, Clone)]
struct Known {
    peer: Peer,
    /// The account the connection's uid is.
    user: String,
}

pub(super) struct Callers {
    dbus: DBusProxy<'static>,
    known: Mutex<HashMap<String, Known>>,
}

impl Callers {
    pub(super) async fn new(conn: &zbus::Connection) -> zbus::Result<Callers> {
        Ok(Callers {
            dbus: DBusProxy::new(conn).await?,
            known: Mutex::new(HashMap::new()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sender of the message `hdr` heads, as the bus driver knows it.
    pub(super) async fn peer(&self, hdr: &Header<'_>) -> Result<(String, Peer), String> {
        let sender = hdr.sender().ok_or("the message names no sender")?;
        let name = sender.to_string();
        if let Some(k) = self.table().get(&name) {
            return Ok((name, k.peer));
        }
        let creds = self
            .dbus
            .get_connection_credentials(BusName::Unique(sender.clone()))
            .await
            .map_err(|e| format!("the bus driver did not say who {name} is: {e}"))?;
        let uid = creds
            .unix_user_id()
            .ok_or_else(|| format!("the bus driver gave no uid for {name}"))?;
        // The bus lists groups sorted, not the effective gid first, and
        // a process may hold a group its account has left: the admin group
        // is read from the name service alone ((uid_t)-1 matches no group).
        let gid = u32::MAX;
        let pid = creds.process_id().and_then(|p| i32::try_from(p).ok());
        Ok((name, Peer { uid, gid, pid }))
    }

    /// Remember connection `name` as `peer`, of account `user`. A
    /// connection that left while it was being resolved (its departure
    /// came before this) is forgotten again at once.
    pub(super) async fn remember(&self, name: String, peer: Peer, user: String) {
        {
            let mut t = self.table();
            if t.contains_key(&name) {
                return;
            }
            if t.len() >= MAX_KNOWN {
                t.clear();
            }
            t.insert(name.clone(), Known { peer, user });
        }
        let here = match BusName::try_from(name.as_str()) {
            Ok(n) => self.dbus.name_has_owner(n).await.unwrap_or(false),
            Err(_) => false,
        };
        if !here {
            self.forget(&name);
        }
    }

    pub(super) fn forget(&self, name: &str) {
        self.table().remove(name);
    }

    /// The connections known to be of account `user`.
    pub(super) fn names_of(&self, user: &str) -> Vec<String> {
        self.table()
            .iter()
            .filter(|(_, k)| k.user == user)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Forget each connection as soon as the bus says it is gone.
pub(super) async fn follow_departures(conn: zbus::Connection, callers: Arc<Callers>) {
    let stream = match DBusProxy::new(&conn).await {
        Ok(p) => p.receive_name_owner_changed().await,
        Err(e) => Err(e),
    };
    let mut stream = match stream {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mfad: cannot follow D-Bus connections leaving: {e}");
            return;
        }
    };
    while let Some(sig) = stream.next().await {
        let Ok(args) = sig.args() else { continue };
        if args.new_owner().is_none() {
            if let BusName::Unique(u) = args.name() {
                callers.forget(u.as_str());
            }
        }
    }
}
