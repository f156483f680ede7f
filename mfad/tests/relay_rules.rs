//! What a lab machine may ask through its relay, in the service: root
//! there may log users in and nothing else unless the host is an admin
//! host, the admin group is an ordinary user elsewhere, a first enrollment
//! can be limited to named hosts, and the push gateway is never reached
//! through a relay.

mod common;
use common::*;
use mfad::authz::Via;

fn via(host: &str, admin: bool, enroll: bool) -> Arc<Via> {
    Arc::new(Via {
        host: host.into(),
        admin,
        enroll,
    })
}

async fn relayed(svc: &Svc, uid: u32, v: &Arc<Via>) -> Result<Caller, String> {
    Ok(caller(svc, uid).await?.relayed(v.clone()))
}

#[test]
fn root_on_a_lab_machine_logs_users_in_but_manages_nothing() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let lab = relayed(&svc, 0, &via("lab-17", false, true)).await?;
        let r = svc.handle(&lab, challenge("student")).await;
        assert!(matches!(r, Response::Challenge { .. }), "{r:?}");
        let r = svc.handle(&lab, verify("student", code_at(T0))).await;
        assert!(matches!(r, Response::Verified { .. }), "{r:?}");
        for req in [
            remove("student"),
            unlock("student"),
            status("student"),
            begin("ann", Some(&SECRET)),
        ] {
            let r = svc.handle(&lab, req.clone()).await;
            assert!(
                denied(&r, "root on lab machine lab-17 may only log users in"),
                "{req:?}: {r:?}"
            );
        }
        // From an admin host root is root.
        let desk = relayed(&svc, 0, &via("helpdesk", true, true)).await?;
        let r = svc.handle(&desk, unlock("student")).await;
        assert_eq!(r, Response::Done);
        Ok(())
    })
}

#[test]
fn the_admin_group_is_an_ordinary_user_on_a_lab_machine() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let lab = relayed(&svc, 1101, &via("lab-17", false, true)).await?;
        let r = svc.handle(&lab, remove("student")).await;
        assert!(denied(&r, "only root or the admin group"), "{r:?}");
        let r = svc.handle(&lab, status("student")).await;
        assert!(denied(&r, "may act only on its own account"), "{r:?}");
        let desk = relayed(&svc, 1101, &via("helpdesk", true, true)).await?;
        let r = svc.handle(&desk, status("student")).await;
        assert!(matches!(r, Response::Status(_)), "{r:?}");
        Ok(())
    })
}

#[test]
fn a_first_enrollment_can_be_kept_to_named_hosts() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let elsewhere = via("lab-17", false, false);
        let ann = relayed(&svc, 1001, &elsewhere).await?;
        let r = svc.handle(&ann, begin("ann", None)).await;
        assert!(
            denied(&r, "cannot be set up from lab machine lab-17"),
            "{r:?}"
        );
        let here = relayed(&svc, 1001, &via("enroll-desk", false, true)).await?;
        let r = svc.handle(&here, begin("ann", None)).await;
        assert!(matches!(r, Response::Enrollment { .. }), "{r:?}");
        Ok(())
    })
}

#[test]
fn the_push_gateway_is_never_reached_through_a_relay() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service_with(dir.path(), |c| c.push.gateway_user = "mfagw".into())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        // The gateway's uid behind a relay is nobody special.
        let gw = relayed(&svc, 990, &via("lab-17", false, true)).await?;
        assert!(!svc.is_gateway(&gw));
        let local_gw = caller(&svc, 990).await?;
        assert!(svc.is_gateway(&local_gw));
        let poll = Request::GatewayPoll {
            info: Default::default(),
            wait_secs: 0,
        };
        let r = svc.handle(&gw, poll.clone()).await;
        assert!(denied(&r, "only the push gateway"), "{r:?}");
        let r = svc.handle(&local_gw, poll).await;
        assert!(!denied(&r, "only the push gateway"), "{r:?}");
        Ok(())
    })
}

#[test]
fn nobody_on_a_lab_machine_removes_a_method() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        let lab = relayed(&svc, 1104, &via("lab-17", false, true)).await?;
        for req in [
            Request::PhoneRemove {
                user: "student".into(),
                label: "phone".into(),
            },
            Request::PushRemove {
                user: "student".into(),
                label: "phone".into(),
            },
            Request::MethodChange {
                user: "student".into(),
                kind: None,
                label: "authenticator app".into(),
                change: mfa_proto::methods::MethodChange::Remove,
            },
        ] {
            let r = svc.handle(&lab, req.clone()).await;
            assert!(
                denied(&r, "methods cannot be removed from lab machine lab-17"),
                "{req:?}: {r:?}"
            );
        }
        // Renaming takes nothing away, and the student's own status works.
        let r = svc
            .handle(
                &lab,
                Request::MethodChange {
                    user: "student".into(),
                    kind: None,
                    label: "authenticator app".into(),
                    change: mfa_proto::methods::MethodChange::Rename {
                        new_label: "phone app".into(),
                    },
                },
            )
            .await;
        assert_eq!(r, Response::Done);
        let r = svc.handle(&lab, status("student")).await;
        assert!(matches!(r, Response::Status(_)), "{r:?}");
        Ok(())
    })
}

#[test]
fn no_push_is_seen_or_answered_through_a_relay_not_even_from_an_admin_host() -> Res {
    let dir = tempfile::tempdir()?;
    let (svc, _) = service(dir.path())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let root = caller(&svc, 0).await?;
        let e = enroll(&svc, &root, "student").await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
        for v in [via("lab-17", false, true), via("admin-1", true, true)] {
            for uid in [1104, 0] {
                let lab = relayed(&svc, uid, &v).await?;
                for req in [
                    Request::PushPending {
                        user: "student".into(),
                    },
                    Request::PushAnswer {
                        user: "student".into(),
                        id: "x".into(),
                        number: mfa_proto::Sensitive::new("12".to_string()),
                        decision: mfa_proto::push::Decision::Approve,
                    },
                ] {
                    let r = svc.handle(&lab, req.clone()).await;
                    assert!(
                        denied(&r, "pushes cannot be seen or answered through lab machine"),
                        "{uid} via {}: {req:?}: {r:?}",
                        v.host
                    );
                }
            }
        }
        // On the central machine itself, the student sees the (empty) list.
        let own = caller(&svc, 1104).await?;
        let r = svc
            .handle(
                &own,
                Request::PushPending {
                    user: "student".into(),
                },
            )
            .await;
        assert!(matches!(r, Response::PushPending { .. }), "{r:?}");
        Ok(())
    })
}
