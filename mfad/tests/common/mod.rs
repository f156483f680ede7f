//! What the service-rule tests share: a scripted directory that answers
//! from a table and counts every question, a service on it, and requests.
#![allow(dead_code, unused_imports)] // each test binary uses its own part

pub mod phone;

pub use mfa_proto::{
    Algorithm, Challenge, EnrollParams, ErrorCode, LoginContext, Request, Response, Sensitive,
};
pub use mfad::authz::{Caller, Peer, Role, UNKNOWN_UIDS};
pub use mfad::clock::ManualClock;
pub use mfad::config::Config;
pub use mfad::crypto::Keys;
pub use mfad::directory::{Account, Directory};
pub use mfad::store::{SqliteStore, Store};
pub use mfad::Service;
pub use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
pub use std::sync::Arc;

pub type Res = Result<(), Box<dyn std::error::Error>>;
pub type Svc = Arc<Service<SqliteStore, ManualClock>>;

pub const T0: i64 = 2_000_000_010;
pub const SECRET: [u8; 20] = [7; 20];
pub const ADMINS: u32 = 500;
pub const SUDO: u32 = 27;
/// The uid whose lookup makes the directory fail.
pub const BROKEN_UID: u32 = 6666;

/// name, uid, groups (the primary group, uid-numbered, comes first).
pub const USERS: &[(&str, u32, &[u32])] = &[
    ("root", 0, &[0]),
    ("ann", 1001, &[1001]),
    ("adm1", 1101, &[1101, ADMINS]),
    ("adm2", 1102, &[1102, ADMINS]),
    ("sudoer", 1103, &[1103, SUDO]),
    ("student", 1104, &[1104]),
    ("mfagw", 990, &[990]),
];

/// A directory where "ANN" is another spelling of ann, and the name
/// "broken" or the uid [`BROKEN_UID`] make it fail.
#[derive(Default)]
pub struct Scripted {
    pub by_name: AtomicUsize,
    pub by_uid: AtomicUsize,
    pub group_gid: AtomicUsize,
    pub groups_of: AtomicUsize,
}

pub fn account(&(name, uid, _): &(&str, u32, &[u32])) -> Account {
    Account {
        name: name.into(),
        uid,
        gid: uid,
    }
}

impl Directory for Scripted {
    fn user_by_name(&self, name: &str) -> Result<Option<Account>, String> {
        self.by_name.fetch_add(1, SeqCst);
        let name = if name == "ANN" { "ann" } else { name };
        if name == "broken" {
            return Err("the directory server is down".into());
        }
        Ok(USERS.iter().find(|u| u.0 == name).map(account))
    }
    fn user_by_uid(&self, uid: u32) -> Result<Option<Account>, String> {
        self.by_uid.fetch_add(1, SeqCst);
        if uid == BROKEN_UID {
            return Err("the directory server is down".into());
        }
        Ok(USERS.iter().find(|u| u.1 == uid).map(account))
    }
    fn group_gid(&self, group: &str) -> Result<Option<u32>, String> {
        self.group_gid.fetch_add(1, SeqCst);
        Ok(match group {
            "mfa-admins" => Some(ADMINS),
            "sudo" => Some(SUDO),
            "root" => Some(0),
            _ => None,
        })
    }
    fn groups_of(&self, a: &Account) -> Result<Vec<u32>, String> {
        self.groups_of.fetch_add(1, SeqCst);
        let groups = USERS.iter().find(|u| u.0 == a.name).map(|u| u.2.to_vec());
        Ok(groups.unwrap_or_else(|| vec![a.gid]))
    }
}

pub fn service(dir: &std::path::Path) -> Result<(Svc, Arc<Scripted>), Box<dyn std::error::Error>> {
    service_with(dir, |_| {})
}

/// [`service`] with a changed configuration.
pub fn service_with(
    dir: &std::path::Path,
    change: impl FnOnce(&mut Config),
) -> Result<(Svc, Arc<Scripted>), Box<dyn std::error::Error>> {
    service_at(dir, ManualClock::new(T0), change)
}

/// [`service_with`] on a clock the test keeps and moves.
pub fn service_at(
    dir: &std::path::Path,
    clock: ManualClock,
    change: impl FnOnce(&mut Config),
) -> Result<(Svc, Arc<Scripted>), Box<dyn std::error::Error>> {
    let mut cfg = Config {
        admin_group: "mfa-admins".into(),
        ..Config::default()
    };
    change(&mut cfg);
    let counts = Arc::new(Scripted::default());
    let store = SqliteStore::open(dir)?;
    let keys = Keys::from_master(&[1; 32]);
    let svc = Service::new(store, keys, cfg, clock).with_directory(counts.clone());
    Ok((Arc::new(svc), counts))
}

pub fn peer(uid: u32) -> Peer {
    Peer {
        uid,
        gid: uid,
        pid: None,
    }
}

pub fn code_with(secret: &[u8], t: i64) -> Sensitive {
    let p = mfad::otp::Params {
        algorithm: Algorithm::Sha1,
        digits: 6,
        period: 30,
        skew: 1,
    };
    // An unbuildable TOTP yields a code that cannot verify.
    Sensitive::new(
        mfad::otp::build(secret, p)
            .map(|totp| totp.generate(t as u64).to_string())
            .unwrap_or_default(),
    )
}

pub fn code_at(t: i64) -> Sensitive {
    code_with(&SECRET, t)
}

pub fn begin(user: &str, secret: Option<&[u8]>) -> Request {
    Request::EnrollBegin {
        user: user.into(),
        params: EnrollParams {
            secret: secret.map(|s| Sensitive::new(mfad::otp::base32(s))),
            ..Default::default()
        },
    }
}

pub fn confirm(user: &str, code: Sensitive) -> Request {
    Request::EnrollConfirm {
        user: user.into(),
        code,
        current_code: None,
        name: None,
    }
}

/// Root imports [`SECRET`] for `user` and confirms it with the previous
/// step's code, so the current one is fresh.
pub async fn enroll(svc: &Svc, root: &Caller, user: &str) -> Response {
    let began = svc.handle(root, begin(user, Some(&SECRET))).await;
    if !matches!(began, Response::Enrollment { .. }) {
        return began;
    }
    svc.handle(root, confirm(user, code_at(T0 - 30))).await
}

pub fn verify(user: &str, code: Sensitive) -> Request {
    Request::Verify {
        user: user.into(),
        code,
        context: LoginContext {
            service: "sshd".into(),
            ..Default::default()
        },
    }
}

pub fn challenge(user: &str) -> Request {
    Request::Challenge {
        user: user.into(),
        context: Default::default(),
        push: Default::default(),
    }
}

pub fn status(user: &str) -> Request {
    Request::Status { user: user.into() }
}

pub fn unlock(user: &str) -> Request {
    Request::Unlock { user: user.into() }
}

pub fn remove(user: &str) -> Request {
    Request::Remove { user: user.into() }
}

pub const READY: Response = Response::Challenge {
    state: Challenge::Ready,
    push: None,
    phone: vec![],
};
pub const NOT_ENROLLED: Response = Response::Challenge {
    state: Challenge::NotEnrolled,
    push: None,
    phone: vec![],
};

pub async fn caller(svc: &Svc, uid: u32) -> Result<Caller, String> {
    svc.caller(peer(uid)).await.map_err(|r| format!("{r:?}"))
}

pub fn internal(r: &Response) -> bool {
    matches!(r, Response::Error { code, .. } if *code == ErrorCode::Internal)
}

/// A refusal whose message names `text`.
pub fn denied(r: &Response, text: &str) -> bool {
    let want = ErrorCode::PermissionDenied;
    matches!(r, Response::Error { code, message } if *code == want && message.contains(text))
}
