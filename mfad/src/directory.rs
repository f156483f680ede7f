//! The name service (NSS: /etc/passwd, sssd, LDAP) behind a trait, so the
//! service's rules are tested against a scripted directory that counts
//! what it is asked, and production asks NSS with a short cache. A
//! directory that cannot answer is an error, which callers must never
//! take for "no such user".

use nix::unistd::{Gid, Group, Uid, User};
use std::collections::HashMap;
use std::ffi::CString;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An account as the name service knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name as NSS spells it (case-insensitive directories and
    /// aliases all map to this one key).
    pub name: String,
    pub uid: u32,
    /// The primary group.
    pub gid: u32,
}

pub trait Directory: Send + Sync + 'static {
    fn user_by_name(&self, name: &str) -> Result<Option<Account>, String>;
    fn user_by_uid(&self, uid: u32) -> Result<Option<Account>, String>;
    /// The gid of a group, None if there is no such group.
    fn group_gid(&self, group: &str) -> Result<Option<u32>, String>;
    /// Every group `account` belongs to, its primary group included.
    fn groups_of(&self, account: &Account) -> Result<Vec<u32>, String>;
}

/// How long an answer of the name service is kept, and how many.
const TTL: Duration = Duration::from_secs(10);
const MAX: usize = 4096;

/// Answers kept for [`TTL`]; errors are never kept.
struct Cache<K, V>(Mutex<HashMap<K, (Instant, V)>>);

impl<K: Hash + Eq + Clone, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Cache(Mutex::new(HashMap::new()))
    }

    fn get_or(&self, key: &K, ask: impl FnOnce() -> Result<V, String>) -> Result<V, String> {
        if let Some((at, v)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            if at.elapsed() < TTL {
                return Ok(v.clone());
            }
        }
        let v = ask()?;
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX {
            // Simple and bounded: start over rather than track recency.
            map.clear();
        }
        map.insert(key.clone(), (Instant::now(), v.clone()));
        Ok(v)
    }
}

/// The system's name service, through libc (nix), with a short cache.
pub struct Nss {
    by_name: Cache<String, Option<Account>>,
    by_uid: Cache<u32, Option<Account>>,
    groups: Cache<String, Option<u32>>,
    member_of: Cache<String, Vec<u32>>,
}

impl Default for Nss {
    fn default() -> Self {
        Nss {
            by_name: Cache::new(),
            by_uid: Cache::new(),
            groups: Cache::new(),
            member_of: Cache::new(),
        }
    }
}

fn account(u: User) -> Account {
    Account {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }
}

impl Directory for Nss {
    fn user_by_name(&self, name: &str) -> Result<Option<Account>, String> {
        self.by_name.get_or(&name.to_string(), || {
            User::from_name(name)
                .map(|u| u.map(account))
                .map_err(|e| format!("cannot look up user {name:?}: {e}"))
        })
    }

    fn user_by_uid(&self, uid: u32) -> Result<Option<Account>, String> {
        self.by_uid.get_or(&uid, || {
            User::from_uid(Uid::from_raw(uid))
                .map(|u| u.map(account))
                .map_err(|e| format!("cannot look up uid {uid}: {e}"))
        })
    }

    fn group_gid(&self, group: &str) -> Result<Option<u32>, String> {
        self.groups.get_or(&group.to_string(), || {
            Group::from_name(group)
                .map(|g| g.map(|g| g.gid.as_raw()))
                .map_err(|e| format!("cannot look up group {group:?}: {e}"))
        })
    }

    fn groups_of(&self, a: &Account) -> Result<Vec<u32>, String> {
        self.member_of.get_or(&a.name, || {
            let name = CString::new(a.name.as_str()).map_err(|e| e.to_string())?;
            nix::unistd::getgrouplist(&name, Gid::from_raw(a.gid))
                .map(|gs| gs.into_iter().map(Gid::as_raw).collect())
                .map_err(|e| format!("cannot list the groups of {:?}: {e}", a.name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_finds_root_and_not_strangers() {
        let nss = Nss::default();
        let root = nss.user_by_name("root");
        assert!(matches!(&root, Ok(Some(a)) if a.uid == 0 && a.name == "root"));
        assert_eq!(
            nss.user_by_uid(0).ok().flatten().map(|a| a.name),
            Some("root".into())
        );
        assert_eq!(nss.user_by_name("no-such-user-xyz"), Ok(None));
        assert_eq!(nss.group_gid("root"), Ok(Some(0)));
        assert_eq!(nss.group_gid("no-such-group-xyz"), Ok(None));
    }
}
