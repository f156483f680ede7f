//! What the phone tests share: the service with the test playing the
//! gateway's uid (ann and student enrolled), its deliveries, and the
//! phone requests.

use super::*;
use mfa_proto::phone::{Channel, PhoneDelivery};
use mfa_proto::push::GatewayInfo;

pub fn poll(wait_secs: u64) -> Request {
    Request::GatewayPoll {
        info: GatewayInfo {
            phone: vec![Channel::Sms],
            ..Default::default()
        },
        wait_secs,
    }
}

pub fn ctx() -> LoginContext {
    LoginContext {
        service: "sshd".into(),
        ..Default::default()
    }
}

pub struct World {
    pub svc: Svc,
    pub root: Caller,
    pub gw: Caller,
    pub clock: ManualClock,
}

pub async fn world(
    dir: &std::path::Path,
    change: impl FnOnce(&mut Config),
) -> Result<World, String> {
    let clock = ManualClock::new(T0);
    let (svc, _) = service_at(dir, clock.clone(), |c| {
        c.push.gateway_user = "mfagw".into();
        change(c)
    })
    .map_err(|e| e.to_string())?;
    let root = caller(&svc, 0).await?;
    let gw = caller(&svc, 990).await?;
    for u in ["ann", "student"] {
        let e = enroll(&svc, &root, u).await;
        assert!(matches!(e, Response::Enrolled { .. }), "{e:?}");
    }
    // The gateway has polled, so mfad knows it delivers text messages.
    assert_eq!(svc.handle(&gw, poll(0)).await, Response::Idle);
    Ok(World {
        svc,
        root,
        gw,
        clock,
    })
}

pub async fn delivered(w: &World) -> Result<Box<PhoneDelivery>, String> {
    match w.svc.handle(&w.gw, poll(1)).await {
        Response::PhoneDelivery(d) => {
            let report = Request::GatewayReport {
                id: d.id.clone(),
                delivered: true,
                error: None,
            };
            w.svc.handle(&w.gw, report).await;
            Ok(d)
        }
        other => Err(format!("no phone delivery: {other:?}")),
    }
}

pub fn add(user: &str, number: &str, current: Option<Sensitive>) -> Request {
    Request::PhoneAdd {
        user: user.into(),
        number: number.into(),
        channel: Channel::Sms,
        label: None,
        current_code: current,
    }
}

pub fn start(user: &str) -> Request {
    Request::PhoneStart {
        user: user.into(),
        context: ctx(),
        channel: Channel::Sms,
    }
}

pub fn phone_verify(user: &str, id: &str, code: &str) -> Request {
    Request::PhoneVerify {
        user: user.into(),
        id: id.into(),
        code: Sensitive::new(code),
        context: ctx(),
    }
}

pub fn sent_id(r: &Response) -> Result<String, String> {
    match r {
        Response::PhoneSent(s) => Ok(s.id.clone()),
        other => Err(format!("{other:?}")),
    }
}
