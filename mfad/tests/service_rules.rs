//! The service's rules of who may act on which account, driven through
//! `Service::caller` and `Service::handle` against a scripted directory
//! that answers from a table and counts every question it is asked.

use mfa_proto::{
    Algorithm, Challenge, EnrollParams, ErrorCode, LoginContext, Request, Response, Sensitive,
};
use mfad::authz::{Caller, Peer, Role, UNKNOWN_UIDS};
use mfad::clock::ManualClock;
use mfad::config::Config;
use mfad::crypto::Keys;
use mfad::directory::{Account, Directory};
use mfad::store::{SqliteStore, Store};
use mfad::Service;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

type Res = Result<(), Box<dyn std::error::Error>>;
type Svc = Arc<Service<SqliteStore, ManualClock>>;

const T0: i64 = 2_000_000_010;
const SECRET: [u8; 20] = [7; 20];
const ADMINS: u32 = 500;
const SUDO: u32 = 27;
/// The uid whose lookup makes the directory fail.
const BROKEN_UID: u32 = 6666;

/// name, uid, groups (the primary group, uid-numbered, comes first).
const USERS: &[(&str, u32, &[u32])] = &[
    ("root", 0, &[0]),
    ("ann", 1001, &[1001]),
    ("adm1", 1101, &[1101, ADMINS]),
    ("adm2", 1102, &[1102, ADMINS]),
    ("sudoer", 1103, &[1103, SUDO]),
    ("student", 1104, &[1104]),
];

/// A directory where "ANN" is another spelling of ann, and the name
/// "broken" or the uid [`BROKEN_UID`] make it fail.
#[derive(Default)]
struct Scripted {
    by_name: AtomicUsize,
    by_uid: AtomicUsize,
    group_gid: AtomicUsize,
    groups_of: AtomicUsize,
}

fn account(&(name, uid, _): &(&str, u32, &[u32])) -> Account {
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

fn service(dir: &std::path::Path) -> Result<(Svc, Arc<Scripted>), Box<dyn std::error::Error>> {
    let cfg = Config {
        admin_group: "mfa-admins".into(),
        ..Config::default()
    };
    let counts = Arc::new(Scripted::default());
    let store = SqliteStore::open(dir)?;
    let (keys, clock) = (Keys::from_master(&[1; 32]), ManualClock::new(T0));
    let svc = Service::new(store, keys, cfg, clock).with_directory(counts.clone());
    Ok((Arc::new(svc), counts))
}

fn peer(uid: u32) -> Peer {
    Peer {
        uid,
        gid: uid,
        pid: None,
    }
}

fn code_with(secret: &[u8], t: i64) -> Sensitive {
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

fn code_at(t: i64) -> Sensitive {
    code_with(&SECRET, t)
}

fn begin(user: &str, secret: Option<&[u8]>) -> Request {
    Request::EnrollBegin {
        user: user.into(),
        params: EnrollParams {
            secret: secret.map(|s| Sensitive::new(mfad::otp::base32(s))),
            ..Default::default()
        },
    }
}

fn confirm(user: &str, code: Sensitive) -> Request {
    Request::EnrollConfirm {
        user: user.into(),
        code,
        current_code: None,
    }
}

/// Root imports [`SECRET`] for `user` and confirms it with the previous
/// step's code, so the current one is fresh.
async fn enroll(svc: &Svc, root: &Caller, user: &str) -> Response {
    let began = svc.handle(root, begin(user, Some(&SECRET))).await;
    if !matches!(began, Response::Enrollment { .. }) {
        return began;
    }
    svc.handle(root, confirm(user, code_at(T0 - 30))).await
}

fn verify(user: &str, code: Sensitive) -> Request {
    Request::Verify {
        user: user.into(),
        code,
        context: LoginContext {
            service: "sshd".into(),
            ..Default::default()
        },
    }
}

fn challenge(user: &str) -> Request {
    Request::Challenge {
        user: user.into(),
        context: Default::default(),
    }
}

fn status(user: &str) -> Request {
    Request::Status { user: user.into() }
}

fn unlock(user: &str) -> Request {
    Request::Unlock { user: user.into() }
}

fn remove(user: &str) -> Request {
    Request::Remove { user: user.into() }
}

const READY: Response = Response::Challenge {
    state: Challenge::Ready,
};
const NOT_ENROLLED: Response = Response::Challenge {
    state: Challenge::NotEnrolled,
};

async fn caller(svc: &Svc, uid: u32) -> Result<Caller, String> {
    svc.caller(peer(uid)).await.map_err(|r| format!("{r:?}"))
}

fn internal(r: &Response) -> bool {
    matches!(r, Response::Error { code, .. } if *code == ErrorCode::Internal)
}

/// A refusal whose message names `text`.
fn denied(r: &Response, text: &str) -> bool {
    let want = ErrorCode::PermissionDenied;
    matches!(r, Response::Error { code, message } if *code == want && message.contains(text))
}

#[test]
fn root_logins_reach_the_account_nss_names_and_fail_closed_when_it_cannot_answer() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        assert_eq!(root.role, Role::Root);
        // Enrolled under NSS's spelling, whatever spelling was given.
        let e = enroll(&svc, &root, "ANN").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        assert!(svc.store().summary("ann").await?.is_some());
        assert!(svc.store().summary("ANN").await?.is_none());

        // "ANN" is not enrolled as given, so it is resolved to ann.
        let ready = svc.handle(&root, challenge("ANN")).await;
        assert_eq!(ready, READY);
        let ok = svc.handle(&root, verify("ANN", code_at(T0))).await;
        assert!(matches!(ok, Response::Verified { .. }), "{ok:?}");
        // It was ann's step that was spent, whichever spelling asks.
        let again = svc.handle(&root, verify("ann", code_at(T0))).await;
        assert_eq!(again, Response::Replayed);
        let next = svc.handle(&root, verify("ann", code_at(T0 + 30))).await;
        assert!(matches!(next, Response::Verified { .. }), "{next:?}");

        // Unknown to NSS and not enrolled: not enrolled.
        let none = svc.handle(&root, challenge("nobody")).await;
        assert_eq!(none, NOT_ENROLLED);
        let v = svc.handle(&root, verify("nobody", code_at(T0))).await;
        assert_eq!(v, Response::NotEnrolled);
        // A directory that cannot answer must not read as "not enrolled",
        // which nullok would let in.
        let c = svc.handle(&root, challenge("broken")).await;
        assert!(internal(&c), "{c:?}");
        let v = svc.handle(&root, verify("broken", code_at(T0))).await;
        assert!(internal(&v), "{v:?}");
        Ok(())
    })
}

#[test]
fn only_root_enrolls_names_the_directory_does_not_know() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let admin = caller(&svc, 1101).await?;
        assert_eq!(admin.role, Role::Admin);
        let refused = svc.handle(&admin, begin("ghost", None)).await;
        assert!(denied(&refused, "no such user"), "{refused:?}");
        // Nor finish one that root started for such a name.
        let r = svc.handle(&root, begin("ghost", None)).await;
        assert!(matches!(r, Response::Enrollment { .. }), "{r:?}");
        let r = svc.handle(&admin, confirm("ghost", code_at(T0))).await;
        assert!(denied(&r, ""), "{r:?}");
        // A name the directory knows, in any spelling, is fine.
        let r = svc.handle(&admin, begin("ANN", None)).await;
        assert!(matches!(r, Response::Enrollment { .. }), "{r:?}");
        assert!(svc.store().pending("ann").await?.is_some());
        assert!(svc.store().pending("ANN").await?.is_none());
        let e = enroll(&svc, &root, "ghost").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        // Root's own row for a name NSS does not know is used as given.
        let ok = svc.handle(&root, verify("ghost", code_at(T0))).await;
        assert!(matches!(ok, Response::Verified { .. }), "{ok:?}");
        Ok(())
    })
}

#[test]
fn an_ordinary_users_requests_for_other_names_cost_no_directory_lookups() -> Res {
    use std::hash::BuildHasher;
    let dir = tempfile::tempdir()?;
    let (svc, counts) = service(dir.path())?;
    let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
    tokio::runtime::Runtime::new()?.block_on(async {
        // A few connections, as the server resolves one caller per connection.
        let mut ann = caller(&svc, 1001).await?;
        for _ in 0..3 {
            ann = caller(&svc, 1001).await?;
        }
        assert_eq!(ann.role, Role::User);
        for i in 0..10_000u32 {
            let user = format!("x{i}-{random:x}");
            let req = match i % 4 {
                0 => status(&user),
                1 => challenge(&user),
                2 => verify(&user, code_at(T0)),
                _ => begin(&user, None),
            };
            let r = svc.handle(&ann, req).await;
            assert!(denied(&r, ""), "{i}: {r:?}");
        }
        let own = svc.handle(&ann, status("ann")).await;
        assert!(
            matches!(&own, Response::Status(s) if s.user == "ann" && !s.enrolled),
            "{own:?}"
        );
        let c = svc.handle(&ann, challenge("ann")).await;
        assert_eq!(c, NOT_ENROLLED);
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let asked = [&counts.by_name, &counts.by_uid, &counts.groups_of].map(|n| n.load(SeqCst));
    // user_by_name, user_by_uid, groups_of: the caller is resolved once.
    assert!(asked.iter().all(|&n| n <= 5), "{asked:?}");
    Ok(())
}

#[test]
fn the_admin_group_cannot_manage_accounts_in_protected_groups() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    assert_eq!(svc.config().protected_groups, vec!["sudo".to_string()]);
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let adm1 = caller(&svc, 1101).await?;
        assert_eq!(adm1.role, Role::Admin);
        let requests = |user: &str| [status(user), unlock(user), begin(user, None), remove(user)];
        for (user, group) in [("adm2", "\"mfa-admins\""), ("sudoer", "\"sudo\"")] {
            let e = enroll(&svc, &root, user).await;
            assert!(matches!(e, Response::Enrolled { .. }), "{user}: {e:?}");
            for req in requests(user) {
                let r = svc.handle(&adm1, req).await;
                assert!(denied(&r, group), "{user}: {r:?}");
            }
            // Still enrolled, and root manages it.
            assert!(svc.store().summary(user).await?.is_some(), "{user}");
            for req in requests(user) {
                let r = svc.handle(&root, req).await;
                let ok = matches!(
                    r,
                    Response::Enrollment { .. } | Response::Done | Response::Status(_)
                );
                assert!(ok, "root on {user}: {r:?}");
            }
            assert!(svc.store().summary(user).await?.is_none(), "{user}");
        }
        let r = svc.handle(&adm1, status("root")).await;
        assert!(denied(&r, "root"), "{r:?}");

        // An account in no protected group: enrolled, unlocked and removed
        // by the admin group.
        let Response::Enrollment { secret, .. } = svc.handle(&adm1, begin("student", None)).await
        else {
            return Err("adm1 could not start student's enrollment".into());
        };
        let secret = mfad::otp::from_base32(secret.expose()).ok_or("bad base32")?;
        let r = svc
            .handle(&adm1, confirm("student", code_with(&secret, T0)))
            .await;
        assert!(matches!(r, Response::Enrolled { .. }), "{r:?}");
        let r = svc.handle(&adm1, status("student")).await;
        assert!(matches!(&r, Response::Status(s) if s.enrolled), "{r:?}");
        let r = svc.handle(&adm1, unlock("student")).await;
        assert_eq!(r, Response::Done);
        let r = svc.handle(&adm1, remove("student")).await;
        assert_eq!(r, Response::Done);
        assert!(svc.store().summary("student").await?.is_none());

        // adm1 is in the admin group itself, yet manages its own account.
        let r = svc.handle(&adm1, begin("adm1", None)).await;
        assert!(matches!(r, Response::Enrollment { .. }), "{r:?}");
        let r = svc.handle(&adm1, status("adm1")).await;
        assert!(
            matches!(&r, Response::Status(s) if s.user == "adm1"),
            "{r:?}"
        );
        Ok(())
    })
}

#[test]
fn uids_the_directory_does_not_know_share_one_pacing_key() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let mut keys = Vec::new();
        for uid in [4_000_001, 4_000_002] {
            let c = caller(&svc, uid).await?;
            assert_eq!((c.role, &c.account), (Role::User, &None));
            assert_eq!(svc.pace_key_hint(&peer(uid)), UNKNOWN_UIDS);
            keys.push(c.pace_key());
        }
        assert_eq!(keys, vec![UNKNOWN_UIDS, UNKNOWN_UIDS]);
        for uid in [0, 1001, 1101] {
            let c = caller(&svc, uid).await?;
            assert_eq!(c.pace_key(), uid);
            assert_eq!(svc.pace_key_hint(&peer(uid)), uid);
        }
        Ok(())
    })
}

#[test]
fn a_directory_that_cannot_answer_fails_requests_closed() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, counts) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        for round in 1..=2 {
            let r = svc.caller(peer(BROKEN_UID)).await;
            assert!(matches!(&r, Err(e) if internal(e)), "{r:?}");
            // A failure is not kept: the next connection asks again.
            assert_eq!(counts.by_uid.load(SeqCst), round);
        }
        let root = caller(&svc, 0).await?;
        let c = svc.handle(&root, challenge("broken")).await;
        assert!(internal(&c), "{c:?}");
        // Nor may an admin act on a name the directory cannot answer for.
        let adm1 = caller(&svc, 1101).await?;
        for req in [challenge("broken"), status("broken")] {
            let r = svc.handle(&adm1, req).await;
            assert!(internal(&r), "{r:?}");
        }
        Ok(())
    })
}

#[test]
fn an_admin_replacing_their_own_enrollment_proves_the_current_one_like_anyone() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let adm1 = caller(&svc, 1101).await?;
        assert_eq!(adm1.role, Role::Admin);
        let e = enroll(&svc, &root, "adm1").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        // A new secret from adm1 itself, confirmed without proof: refused.
        let other = [9u8; 20];
        let began = svc.handle(&adm1, begin("adm1", None)).await;
        let Response::Enrollment { secret, .. } = began else {
            return Err(format!("{began:?}").into());
        };
        let fresh = mfad::otp::from_base32(secret.expose()).unwrap_or(other.to_vec());
        let bare = svc
            .handle(&adm1, confirm("adm1", code_with(&fresh, T0)))
            .await;
        assert!(
            matches!(&bare, Response::Error { code, .. } if *code == ErrorCode::AlreadyEnrolled),
            "{bare:?}"
        );
        // With a current code of the old enrollment it goes through.
        let proved = Request::EnrollConfirm {
            user: "adm1".into(),
            code: code_with(&fresh, T0),
            current_code: Some(code_at(T0)),
        };
        let done = svc.handle(&adm1, proved).await;
        assert!(matches!(done, Response::Enrolled { .. }), "{done:?}");
        Ok(())
    })
}
