//! Who may act on which account. The caller's identity is the uid the
//! kernel reports for the socket (SO_PEERCRED), read once per connection;
//! nothing the client says about itself is trusted.

use nix::unistd::{Gid, Group, Uid, User};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The kernel-reported identity of a connection's peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// What a peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// uid 0: everything, including importing secrets.
    Root,
    /// A member of the configured admin group: manage any account.
    Admin,
    /// Anyone else: only the account whose uid is the peer's.
    User,
}

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Root | Role::Admin)
    }
}

/// Decide the role of `peer`. Group membership is read from NSS, so it
/// covers supplementary groups, not just the primary gid in SO_PEERCRED.
pub fn role(peer: &Peer, admin_group: &str) -> Role {
    if peer.uid == 0 {
        return Role::Root;
    }
    if admin_group.is_empty() {
        return Role::User;
    }
    let Ok(Some(group)) = Group::from_name(admin_group) else {
        return Role::User;
    };
    if peer.gid == group.gid.as_raw() {
        return Role::Admin;
    }
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(peer.uid)) else {
        return Role::User;
    };
    let Ok(name) = CString::new(user.name) else {
        return Role::User;
    };
    match nix::unistd::getgrouplist(&name, Gid::from_raw(peer.gid)) {
        Ok(groups) if groups.contains(&group.gid) => Role::Admin,
        _ => Role::User,
    }
}

/// An account as the name service knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name as NSS spells it (case-insensitive directories and
    /// aliases all map to this one key).
    pub name: String,
    pub uid: u32,
}

type LookupCache = HashMap<String, (Instant, Option<Account>)>;

/// How a name service lookup is done; [`lookup`] in production, a table in
/// tests (no NSS here spells a name differently from how it was asked).
pub type Lookup = fn(&str) -> Result<Option<Account>, String>;

/// Look `user` up in NSS: None for a name it does not know, an error when
/// it could not answer (sssd or LDAP down), which callers must not take
/// for "no such user". Answers are kept for a few seconds, errors are not:
/// a lookup opens and parses /etc/passwd (or asks sssd).
pub fn lookup(user: &str) -> Result<Option<Account>, String> {
    const TTL: Duration = Duration::from_secs(10);
    const MAX: usize = 4096;
    static CACHE: OnceLock<Mutex<LookupCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((at, found)) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(user) {
        if at.elapsed() < TTL {
            return Ok(found.clone());
        }
    }
    let found = match User::from_name(user) {
        Ok(Some(u)) => Some(Account {
            name: u.name,
            uid: u.uid.as_raw(),
        }),
        Ok(None) => None,
        Err(e) => return Err(format!("cannot look up user {user:?}: {e}")),
    };
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= MAX {
        // Simple and bounded: start over rather than track recency.
        map.clear();
    }
    map.insert(user.to_string(), (Instant::now(), found.clone()));
    Ok(found)
}

/// Reject names that cannot be a login name and could only confuse logs or
/// storage: empty, over 256 bytes, or containing control characters.
pub fn valid_user_name(user: &str) -> Result<(), &'static str> {
    if user.is_empty() {
        return Err("user name is empty");
    }
    if user.len() > 256 {
        return Err("user name is longer than 256 bytes");
    }
    if user.chars().any(char::is_control) {
        return Err("user name contains control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_root_whatever_the_config() {
        assert_eq!(
            role(
                &Peer {
                    uid: 0,
                    gid: 0,
                    pid: None
                },
                ""
            ),
            Role::Root
        );
    }

    #[test]
    fn ordinary_uid_without_admin_group_is_user() {
        assert_eq!(
            role(
                &Peer {
                    uid: 4242,
                    gid: 4242,
                    pid: None
                },
                ""
            ),
            Role::User
        );
        assert_eq!(
            role(
                &Peer {
                    uid: 4242,
                    gid: 4242,
                    pid: None
                },
                "no-such-group-xyz"
            ),
            Role::User
        );
    }

    #[test]
    fn lookup_finds_root_and_not_strangers() {
        assert_eq!(
            lookup("root"),
            Ok(Some(Account {
                name: "root".into(),
                uid: 0
            }))
        );
        assert_eq!(lookup("no-such-user-xyz"), Ok(None));
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(valid_user_name("ann").is_ok());
        assert!(valid_user_name("").is_err());
        assert!(valid_user_name("a\0b").is_err());
        assert!(valid_user_name("a\nb").is_err());
        assert!(valid_user_name(&"x".repeat(10_000)).is_err());
    }
}
