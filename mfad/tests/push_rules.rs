//! Push approval inside mfad, with the test playing the gateway's uid:
//! a login's push is approved only with the number it showed, each link
//! answers once, a denial or "This wasn't me" blocks further pushes, the
//! fatigue limit holds, a closed connection cancels its push, and only
//! the gateway's uid may fetch or decide pushes.

mod common;
use common::*;
use mfa_proto::push::{
    Decided, Decision, Delivery, GatewayInfo, Provider, PushEnd, PushMode, PushOffer,
};
use mfad::service::ConnPushes;

fn info() -> GatewayInfo {
    GatewayInfo {
        providers: vec![Provider::Ntfy, Provider::Webhook],
        ntfy_url: Some("https://ntfy.example.edu".into()),
        phone: Vec::new(),
    }
}

fn poll(wait_secs: u64) -> Request {
    Request::GatewayPoll {
        info: info(),
        wait_secs,
    }
}

fn decide(token: &Sensitive, number: &str, decision: Decision) -> Request {
    Request::GatewayDecide {
        token: token.clone(),
        number: Sensitive::new(number),
        decision,
    }
}

fn login_challenge(user: &str) -> Request {
    Request::Challenge {
        user: user.into(),
        context: LoginContext {
            service: "sshd".into(),
            rhost: Some("10.1.2.3".into()),
            ..Default::default()
        },
        push: PushMode::Auto,
    }
}

struct World {
    svc: Svc,
    root: Caller,
    gw: Caller,
}

async fn delivery(w: &World) -> Result<Box<Delivery>, String> {
    match w.svc.handle(&w.gw, poll(1)).await {
        Response::Delivery(d) => Ok(d),
        other => Err(format!("no delivery: {other:?}")),
    }
}

/// ann, enrolled, with the phone "pixel" added through a test push that
/// the test approves like the gateway would.
async fn world(dir: &std::path::Path, change: impl FnOnce(&mut Config)) -> Result<World, String> {
    let (svc, _) = service_with(dir, |c| {
        c.push.gateway_user = "mfagw".into();
        change(c)
    })
    .map_err(|e| e.to_string())?;
    let root = caller(&svc, 0).await?;
    let gw = caller(&svc, 990).await?;
    let w = World { svc, root, gw };
    let e = enroll(&w.svc, &w.root, "ann").await;
    assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
    // The gateway has polled: it is running.
    assert_eq!(w.svc.handle(&w.gw, poll(0)).await, Response::Idle);
    let conn = ConnPushes::new(w.svc.clone());
    let add = Request::PushAdd {
        user: "ann".into(),
        provider: None,
        label: Some("pixel".into()),
        current_code: None,
    };
    let Response::PushEnroll(en) = w.svc.handle_in(&w.root, &conn, add).await else {
        return Err("push add failed".into());
    };
    assert_eq!(en.provider, Provider::Ntfy);
    let topic = en.topic.as_ref().ok_or("no topic")?;
    assert!(topic.expose().len() >= 26, "a topic of at least 128 bits");
    let d = delivery(&w).await?;
    assert_eq!(d.topic.as_ref(), Some(topic));
    let decided = w
        .svc
        .handle(&w.gw, decide(&d.token, &en.number, Decision::Approve))
        .await;
    assert_eq!(
        decided,
        Response::PushDecided {
            outcome: Decided::Approved
        }
    );
    let waited = w
        .svc
        .handle_in(&w.root, &conn, Request::PushWait { id: en.id.clone() })
        .await;
    assert!(matches!(waited, Response::Verified { .. }), "{waited:?}");
    Ok(w)
}

async fn sent(
    w: &World,
    conn: &ConnPushes<SqliteStore, ManualClock>,
) -> Result<(String, String), String> {
    match w.svc.handle_in(&w.root, conn, login_challenge("ann")).await {
        Response::Challenge {
            state: Challenge::Ready,
            push: Some(PushOffer::Sent { id, number, .. }),
            ..
        } => Ok((id, number)),
        other => Err(format!("no push sent: {other:?}")),
    }
}

#[test]
fn a_push_is_approved_only_with_the_number_the_login_showed_and_each_link_answers_once() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |_| {}).await?;
        let list = w.svc.handle(&w.root, Request::PushList { user: "ann".into() }).await;
        assert!(matches!(&list, Response::PushTargets { targets, .. } if targets.len() == 1 && targets[0].label == "pixel"), "{list:?}");
        // Renamed through 'mfa methods', a push target keeps its own rule
        // for names (they go on the approval page).
        let rename = |to: &str| Request::MethodChange {
            user: "ann".into(),
            kind: None,
            label: "pixel".into(),
            change: mfa_proto::methods::MethodChange::Rename { new_label: to.into() },
        };
        let r = w.svc.handle(&w.root, rename("<b>pixel</b>")).await;
        assert!(matches!(&r, Response::Error { code: ErrorCode::InvalidArgument, message } if message.contains("push target's name")), "{r:?}");
        assert_eq!(w.svc.handle(&w.root, rename("pixel-8")).await, Response::Done);
        assert_eq!(w.svc.handle(&w.root, Request::MethodChange {
            user: "ann".into(),
            kind: None,
            label: "pixel-8".into(),
            change: mfa_proto::methods::MethodChange::Rename { new_label: "pixel".into() },
        }).await, Response::Done);

        // Right number: the waiting login succeeds.
        let conn = ConnPushes::new(w.svc.clone());
        let (id, number) = sent(&w, &conn).await?;
        let d = delivery(&w).await?;
        assert_eq!((d.user.as_str(), d.service.as_str(), d.rhost.as_deref()), ("ann", "sshd", Some("10.1.2.3")));
        let Response::PushPage(view) = w.svc.handle(&w.gw, Request::GatewayView { token: d.token.clone() }).await else {
            return Err("no page".into());
        };
        assert_eq!(view.user, "ann");
        assert!(!format!("{view:?}").contains(&format!("\"{number}\"")));
        // The login waits while the decision comes in.
        let (waited, r) = tokio::join!(
            w.svc.handle_in(&w.root, &conn, Request::PushWait { id }),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                w.svc.handle(&w.gw, decide(&d.token, &number, Decision::Approve)).await
            }
        );
        assert_eq!(r, Response::PushDecided { outcome: Decided::Approved });
        assert!(matches!(waited, Response::Verified { method: mfa_proto::Method::Push, .. }), "{waited:?}");
        // The link is spent.
        for req in [Request::GatewayView { token: d.token.clone() }, decide(&d.token, &number, Decision::Approve)] {
            let r = w.svc.handle(&w.gw, req).await;
            assert!(matches!(r, Response::Error { code: ErrorCode::NotFound, .. }), "{r:?}");
        }

        // A wrong number ends the push as denied.
        let conn = ConnPushes::new(w.svc.clone());
        let (id, number) = sent(&w, &conn).await?;
        let d = delivery(&w).await?;
        let wrong = if number == "99" { "98" } else { "99" };
        let r = w.svc.handle(&w.gw, decide(&d.token, wrong, Decision::Approve)).await;
        assert_eq!(r, Response::PushDecided { outcome: Decided::WrongNumber });
        let r = w.svc.handle_in(&w.root, &conn, Request::PushWait { id }).await;
        assert!(matches!(r, Response::PushEnded { end: PushEnd::WrongNumber, .. }), "{r:?}");
        let r = w.svc.handle(&w.gw, decide(&d.token, &number, Decision::Approve)).await;
        assert!(matches!(r, Response::Error { code: ErrorCode::NotFound, .. }), "{r:?}");

        // Garbage tokens are refused without a push to match.
        for t in ["", "x", &"A".repeat(43), &"é".repeat(22)] {
            let r = w.svc.handle(&w.gw, decide(&Sensitive::new(t), "1", Decision::Approve)).await;
            assert!(matches!(r, Response::Error { code: ErrorCode::NotFound, .. }), "{r:?}");
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

#[test]
fn this_wasnt_me_blocks_pushes_and_a_closed_connection_cancels_its_push() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |_| {}).await?;
        // The login goes away: its push is cancelled and its link dead.
        let conn = ConnPushes::new(w.svc.clone());
        let (_, number) = sent(&w, &conn).await?;
        let d = delivery(&w).await?;
        drop(conn);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let r = w
            .svc
            .handle(&w.gw, decide(&d.token, &number, Decision::Approve))
            .await;
        assert!(
            matches!(
                r,
                Response::Error {
                    code: ErrorCode::NotFound,
                    ..
                }
            ),
            "{r:?}"
        );

        // Another connection cannot wait for someone else's push.
        let conn = ConnPushes::new(w.svc.clone());
        let (id, _) = sent(&w, &conn).await?;
        let other = ConnPushes::new(w.svc.clone());
        let r = w
            .svc
            .handle_in(&w.root, &other, Request::PushWait { id: id.clone() })
            .await;
        assert!(
            matches!(
                r,
                Response::Error {
                    code: ErrorCode::NotFound,
                    ..
                }
            ),
            "{r:?}"
        );

        let d = delivery(&w).await?;
        let r = w
            .svc
            .handle(&w.gw, decide(&d.token, "", Decision::Report))
            .await;
        assert_eq!(
            r,
            Response::PushDecided {
                outcome: Decided::Reported
            }
        );
        let r = w
            .svc
            .handle_in(&w.root, &conn, Request::PushWait { id })
            .await;
        assert!(
            matches!(
                r,
                Response::PushEnded {
                    end: PushEnd::Reported,
                    ..
                }
            ),
            "{r:?}"
        );
        // The next login sends no push and says why; a code still works.
        let r = w
            .svc
            .handle_in(&w.root, &conn, login_challenge("ann"))
            .await;
        let Response::Challenge {
            state: Challenge::Ready,
            push: Some(PushOffer::Unavailable { reason }),
            ..
        } = r
        else {
            return Err(format!("{r:?}").into());
        };
        assert!(
            reason.contains("paused") && reason.contains("not yours"),
            "{reason}"
        );
        let r = w.svc.handle(&w.root, verify("ann", code_at(T0))).await;
        assert!(matches!(r, Response::Verified { .. }), "{r:?}");
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

#[test]
fn pushes_are_limited_per_window_and_only_the_gateway_uid_may_fetch_or_decide() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        // The test push of `world` counts as the first of three.
        let w = world(dir.path(), |c| c.push.max_per_window = 3).await?;
        let conn = ConnPushes::new(w.svc.clone());
        sent(&w, &conn).await?;
        sent(&w, &conn).await?;
        let r = w.svc.handle_in(&w.root, &conn, login_challenge("ann")).await;
        assert!(matches!(&r, Response::Challenge { push: Some(PushOffer::Unavailable { reason }), .. } if reason.contains("too many")), "{r:?}");

        for uid in [0, 1001, 1101] {
            let c = caller(&w.svc, uid).await?;
            for req in [poll(0), Request::GatewayView { token: Sensitive::new("A".repeat(43)) }] {
                let r = w.svc.handle(&c, req).await;
                assert!(matches!(r, Response::Error { code: ErrorCode::PermissionDenied, .. }), "uid {uid}: {r:?}");
            }
        }
        // A user may not add a phone to another account, nor to their own
        // without a code from the current authenticator.
        let ann = caller(&w.svc, 1001).await?;
        let add = |user: &str| Request::PushAdd {
            user: user.into(),
            provider: None,
            label: None,
            current_code: None,
        };
        for user in ["student", "ann"] {
            let r = w.svc.handle(&ann, add(user)).await;
            assert!(matches!(r, Response::Error { code: ErrorCode::PermissionDenied, .. }), "{user}: {r:?}");
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

#[test]
fn an_admin_proves_their_own_factor_to_add_a_phone_and_a_wrong_number_pauses_pushes() -> Res {
    let dir = tempfile::tempdir()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let w = world(dir.path(), |_| {}).await?;
        let e = enroll(&w.svc, &w.root, "adm1").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let adm1 = caller(&w.svc, 1101).await?;
        assert_eq!(adm1.role, Role::Admin);
        let add = |code: Option<Sensitive>| Request::PushAdd {
            user: "adm1".into(),
            provider: None,
            label: None,
            current_code: code,
        };
        let r = w.svc.handle(&adm1, add(None)).await;
        assert!(matches!(r, Response::Error { code: ErrorCode::PermissionDenied, .. }), "{r:?}");
        let conn = ConnPushes::new(w.svc.clone());
        let r = w.svc.handle_in(&adm1, &conn, add(Some(code_at(T0)))).await;
        assert!(matches!(r, Response::PushEnroll(_)), "{r:?}");

        // A wrong number is a denial: pushes to ann pause, and say why.
        let conn = ConnPushes::new(w.svc.clone());
        let _ = delivery(&w).await?; // adm1's test push
        let (_, number) = sent(&w, &conn).await?;
        let d = delivery(&w).await?;
        let wrong = if number == "99" { "98" } else { "99" };
        let r = w.svc.handle(&w.gw, decide(&d.token, wrong, Decision::Approve)).await;
        assert_eq!(r, Response::PushDecided { outcome: Decided::WrongNumber });
        let r = w.svc.handle_in(&w.root, &conn, login_challenge("ann")).await;
        assert!(
            matches!(&r, Response::Challenge { push: Some(PushOffer::Unavailable { reason }), .. } if reason.contains("wrong number")),
            "{r:?}"
        );

        // What mfad does at start: no push stays pending.
        let conn = ConnPushes::new(w.svc.clone());
        let stale = w.svc.handle_in(&adm1, &conn, Request::PushList { user: "adm1".into() }).await;
        assert!(matches!(stale, Response::PushTargets { .. }));
        assert!(w.svc.store().cancel_pending_pushes().await? >= 1, "adm1's test push was pending");
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
