//! What the cases share: enrollments, pushes and phone codes to store,
//! the service's way of enrolling and adding methods (through the public
//! trait only), and running store operations at once.

use mfa_proto::phone::{Channel, PhonePurpose};
use mfa_proto::push::{Provider, PushKind};
use mfa_proto::Algorithm;
use mfad::store::*;
use std::future::Future;

/// An enrollment whose sealed secret is `secret` repeated (unique per
/// authenticator in a case).
pub fn enrollment(secret: u8, last_step: Option<u64>) -> Enrollment {
    Enrollment {
        sealed_secret: vec![secret; 16],
        algorithm: Algorithm::Sha256,
        digits: 8,
        period: 30,
        last_step,
        created_at: 1000,
    }
}

pub fn pending_of(e: &Enrollment) -> Pending {
    Pending {
        sealed_secret: e.sealed_secret.clone(),
        algorithm: e.algorithm,
        digits: e.digits,
        period: e.period,
        expires_at: e.created_at + 600,
    }
}

/// Enroll `user` as the service does: a pending entry, then a confirmation
/// replacing whatever is there.
pub async fn enroll<S: Store>(
    s: &S,
    user: &str,
    e: &Enrollment,
    recovery: &[[u8; 32]],
) -> Result<(), StoreError> {
    let p = pending_of(e);
    s.put_pending(user, &p).await?;
    let replaces = s.summary(user).await?.map(|x| x.shape());
    let expect = Expect {
        pending: p.sealed_secret,
        change: Confirm::Replace {
            replaces,
            recovery: recovery.to_vec(),
        },
    };
    s.confirm(user, FIRST_LABEL, e, &expect).await
}

/// One more authenticator `label` beside the others.
pub async fn add_authenticator<S: Store>(
    s: &S,
    user: &str,
    label: &str,
    e: &Enrollment,
) -> Result<(), StoreError> {
    let p = pending_of(e);
    s.put_pending(user, &p).await?;
    let expect = Expect {
        pending: p.sealed_secret,
        change: Confirm::Add,
    };
    s.confirm(user, label, e, &expect).await
}

pub fn about(user: &str) -> AttemptFor {
    AttemptFor {
        user: user.into(),
        ..Default::default()
    }
}

/// What an attempt on `about` sees, changing nothing.
pub async fn look<S: Store>(s: &S, about: AttemptFor) -> Result<AttemptState, StoreError> {
    s.attempt(about, |st| (st.clone(), vec![])).await
}

/// An attempt on `user` that applies `effects` whatever it sees.
pub async fn apply<S: Store>(s: &S, user: &str, effects: Vec<Effect>) -> Result<(), StoreError> {
    s.attempt(about(user), move |_| ((), effects)).await
}

/// The last steps of the authenticators of `user`, by label.
pub async fn steps<S: Store>(s: &S, user: &str) -> Result<Vec<(String, Option<u64>)>, StoreError> {
    let st = look(s, about(user)).await?;
    Ok(st
        .authenticators
        .into_iter()
        .map(|a| (a.label, a.totp.last_step))
        .collect())
}

pub fn token(id: &str) -> [u8; 32] {
    let mut t = [0u8; 32];
    for (slot, b) in t.iter_mut().zip(id.bytes()) {
        *slot = b;
    }
    t[31] = 0xa5;
    t
}

pub fn target(label: &str) -> PushTarget {
    PushTarget {
        label: label.into(),
        provider: Provider::Ntfy,
        sealed_topic: Some(label.as_bytes().to_vec()),
        // As a push's own time (see push_record).
        created_at: 0,
    }
}

/// A queued push `id` to `user`, created at `at`, live for 60 s.
pub fn push_record(id: &str, user: &str, kind: PushKind, at: i64) -> PushRecord {
    let mut t = target(&format!("phone {id}"));
    t.created_at = at;
    PushRecord {
        id: id.into(),
        token_hash: token(id),
        sealed_token: id.as_bytes().to_vec(),
        user: user.into(),
        kind,
        target: t,
        number: "42".into(),
        host: "lab1".into(),
        service: "sshd".into(),
        rhost: Some("10.0.0.9".into()),
        created_at: at,
        expires_at: at + 60,
        state: PushState::Queued,
    }
}

/// No fatigue limit worth the name.
pub fn unlimited(now: i64) -> Fatigue {
    Fatigue {
        now,
        since: 0,
        max: 1000,
    }
}

pub fn verdict(state: PushState) -> PushVerdict {
    PushVerdict { state, block: None }
}

/// Save push target `label` for `user` as `mfa push add` does: a test
/// push, approved.
pub async fn add_push_target<S: Store>(
    s: &S,
    user: &str,
    label: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let mut p = push_record(&format!("test-{user}-{label}"), user, PushKind::Test, at);
    p.target.label = label.into();
    let token = p.token_hash;
    if s.open_push(p, unlimited(at)).await? != Opened::Opened {
        return Ok(false);
    }
    let decided = s
        .decide_push(PushKey::Token(token), |_| {
            ((), verdict(PushState::Approved))
        })
        .await?;
    Ok(decided.is_some())
}

/// The keyed hash of what is typed for code `id`, in these tests.
pub fn code_hash(id: &str, typed: &str) -> [u8; 32] {
    let mut h = [0u8; 32];
    for (slot, b) in h.iter_mut().zip(id.bytes().chain([0]).chain(typed.bytes())) {
        *slot = b;
    }
    h
}

/// A code `id` for `user` to `number`, whose right answer is "123456",
/// created at `at`, live for 300 s.
pub fn phone_code(id: &str, user: &str, number: &str, purpose: PhonePurpose, at: i64) -> PhoneCode {
    PhoneCode {
        id: id.into(),
        user: user.into(),
        number: number.into(),
        channel: Channel::Sms,
        purpose,
        label: format!("sms {id}"),
        code_hash: code_hash(id, "123456"),
        sealed_code: Some(b"sealed 123456".to_vec()),
        host: "lab1".into(),
        created_at: at,
        expires_at: at + 300,
        state: CodeState::Queued,
        tries: 0,
    }
}

pub const ROOMY: SendLimits = SendLimits {
    per_user: 1000,
    per_number: 1000,
    since: 0,
};

/// The hash of `typed` for whichever code is being confirmed.
pub fn typed(t: &'static str) -> impl Fn(&PhoneCode) -> [u8; 32] + Send + 'static {
    move |c| code_hash(&c.id, t)
}

/// Add a number for `user` as `mfa phone add` does: an `AddNumber` code,
/// then its confirmation with the right code.
pub async fn add_phone<S: Store>(
    s: &S,
    user: &str,
    id: &str,
    number: &str,
    recovery: Vec<[u8; 32]>,
    at: i64,
) -> Result<Confirmed, StoreError> {
    let code = phone_code(id, user, number, PhonePurpose::AddNumber, at);
    if s.open_phone_code(code, ROOMY).await? != SendOpened::Queued {
        return Ok(Confirmed::NoCode);
    }
    s.confirm_phone(user, typed("123456"), recovery, at + 1)
        .await
}

/// Run the futures at once, each on its own task; their results in the
/// order given.
pub async fn race<T, F>(
    futures: impl IntoIterator<Item = F>,
) -> Result<Vec<T>, tokio::task::JoinError>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await?);
    }
    Ok(out)
}

pub fn count<T, E>(results: &[Result<T, E>], pred: impl Fn(&Result<T, E>) -> bool) -> usize {
    results.iter().filter(|r| pred(r)).count()
}
