//! Who may act on which account. The caller's identity is the uid the
//! kernel reports for the socket (SO_PEERCRED), read once per connection
//! and resolved once (name, groups, role); nothing the client says about
//! itself is trusted. An ordinary caller may name only its own account,
//! which is checked against its own name without asking the name service
//! about the name it sent, so requests for random names cost no lookups.

use crate::directory::{Account, Directory};

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
    /// A member of the configured admin group: manage any account but
    /// root's and those in protected groups.
    Admin,
    /// Anyone else: only the account whose uid is the peer's.
    User,
}

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Root | Role::Admin)
    }
}

/// A connection's caller, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub peer: Peer,
    pub role: Role,
    /// The peer's own account; None for a uid the name service does not
    /// know (a subordinate uid of a container, say), and for root, which
    /// is never looked up.
    pub account: Option<Account>,
    /// The lab machine a relayed connection comes from; None on the
    /// local sockets.
    pub via: Option<std::sync::Arc<Via>>,
}

/// A lab machine relaying a connection, named by its client certificate,
/// and what the central configuration lets it do ([`crate::config::RemoteConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub host: String,
    /// In `remote.admin_hosts`: its root and admin group keep their roles.
    pub admin: bool,
    /// Allowed to give an account its first enrollment (`remote.enroll_hosts`).
    pub enroll: bool,
}

impl Caller {
    /// This caller as relayed by `via`. Its admin group role holds only
    /// from an admin host: elsewhere the uid is an ordinary user, since a
    /// lab machine's root can claim any uid. (Root's own limits are the
    /// service's, which sees `via`.)
    pub fn relayed(mut self, via: std::sync::Arc<Via>) -> Caller {
        if self.role == Role::Admin && !via.admin {
            self.role = Role::User;
        }
        self.via = Some(via);
        self
    }

    /// The key a caller is paced and capped under: its uid, or one shared
    /// key for every uid the name service does not know, since one person
    /// with a subordinate uid range (rootless containers) is thousands of
    /// such uids.
    pub fn pace_key(&self) -> u32 {
        match (&self.role, &self.account) {
            (Role::Root, _) | (_, Some(_)) => self.peer.uid,
            (_, None) => UNKNOWN_UIDS,
        }
    }
}

/// The pacing key shared by every uid the name service does not know
/// (uid 4294967295 is never a real uid: it is `(uid_t)-1`).
pub const UNKNOWN_UIDS: u32 = u32::MAX;

/// Decide the role of `peer`. Group membership is read from the name
/// service, so it covers supplementary groups, not just the primary gid.
pub fn resolve(dir: &dyn Directory, peer: Peer, admin_group: &str) -> Result<Caller, String> {
    // Root needs nothing from the name service: its logins must not wait
    // for, or fail with, a directory.
    if peer.uid == 0 {
        return Ok(Caller {
            peer,
            role: Role::Root,
            account: None,
            via: None,
        });
    }
    let account = dir.user_by_uid(peer.uid)?;
    let admin = match (admin_group.is_empty(), &account) {
        (true, _) => false,
        (false, account) => match dir.group_gid(admin_group)? {
            None => false,
            Some(g) if g == peer.gid => true,
            Some(g) => match account {
                Some(a) => dir.groups_of(a)?.contains(&g),
                None => false,
            },
        },
    };
    Ok(Caller {
        peer,
        role: if admin { Role::Admin } else { Role::User },
        account,
        via: None,
    })
}

/// The first of `groups` that `target` is a member of (primary or
/// supplementary), if any: a protected group (which only root may
/// manage), or an exempt group of the site policy.
pub fn member_of_any(
    dir: &dyn Directory,
    target: &Account,
    groups: &[String],
) -> Result<Option<String>, String> {
    let member_of = dir.groups_of(target)?;
    for g in groups {
        if let Some(gid) = dir.group_gid(g)? {
            if member_of.contains(&gid) {
                return Ok(Some(g.clone()));
            }
        }
    }
    Ok(None)
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
    use crate::directory::Nss;

    fn peer(uid: u32) -> Peer {
        Peer {
            uid,
            gid: uid,
            pid: None,
        }
    }

    #[test]
    fn root_is_root_whatever_the_config() -> Result<(), String> {
        assert_eq!(resolve(&Nss::default(), peer(0), "")?.role, Role::Root);
        Ok(())
    }

    #[test]
    fn an_unknown_uid_is_an_ordinary_user_paced_with_all_other_unknown_uids() -> Result<(), String>
    {
        let nss = Nss::default();
        for group in ["", "no-such-group-xyz", "root"] {
            let c = resolve(&nss, peer(4_000_123), group)?;
            assert_eq!(c.role, Role::User);
            assert_eq!(c.account, None);
            assert_eq!(c.pace_key(), UNKNOWN_UIDS);
        }
        let known = resolve(&nss, peer(0), "")?;
        assert_eq!(known.pace_key(), 0);
        Ok(())
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
