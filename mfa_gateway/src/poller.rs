//! The long poll: one connection to mfad asking for the next push or phone
//! code, each delivered in a task of its own (at most [`MAX_DELIVERIES`] at once) and
//! reported back. While mfad cannot be reached it retries with a growing
//! pause and says so once per outage, not once per try.

use crate::deliver::Deliverer;
use crate::mfad::{Mfad, MfadError};
use crate::phone::{mask, Phone};
use mfa_proto::phone::PhoneDelivery;
use mfa_proto::push::{Delivery, GatewayInfo};
use mfa_proto::{Request, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Deliveries in flight at once; the poll waits for a free slot first, so
/// mfad keeps the rest queued.
pub const MAX_DELIVERIES: usize = 16;
/// How long mfad may hold a poll before answering `idle`.
pub const WAIT_SECS: u64 = 25;
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(10);
/// Time the deliveries under way get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(3);

pub struct Poller {
    mfad: Arc<Mfad>,
    deliverer: Arc<Deliverer>,
    phone: Arc<Phone>,
    info: GatewayInfo,
    slots: Arc<Semaphore>,
}

/// What was last logged about the connection, so an outage is told once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Starting,
    Up,
    Down,
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("{0}")]
    Mfad(#[from] MfadError),
    #[error("mfad refused the poll: {0}")]
    Refused(String),
    #[error("mfad answered the poll with something else")]
    Unexpected,
}

impl Poller {
    pub fn new(
        mfad: Arc<Mfad>,
        deliverer: Arc<Deliverer>,
        phone: Arc<Phone>,
        info: GatewayInfo,
    ) -> Self {
        Poller {
            mfad,
            deliverer,
            phone,
            info,
            slots: Arc::new(Semaphore::new(MAX_DELIVERIES)),
        }
    }

    /// Poll until `shutdown` turns true, then give the deliveries under
    /// way a moment to finish and report.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut pause = FIRST_PAUSE;
        let mut link = Link::Starting;
        while !*shutdown.borrow() {
            let result = tokio::select! {
                r = self.session(&mut link) => r,
                _ = shutdown.changed() => break,
            };
            if link == Link::Up {
                pause = FIRST_PAUSE;
            }
            if let Err(e) = result {
                if link != Link::Down {
                    eprintln!(
                        "mfa-gateway: cannot poll mfad at {}: {e}; retrying until it answers",
                        self.mfad.socket().display()
                    );
                    link = Link::Down;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
            pause = (pause * 2).min(MAX_PAUSE);
        }
        let all = MAX_DELIVERIES as u32;
        if tokio::time::timeout(DRAIN, self.slots.acquire_many(all))
            .await
            .is_err()
        {
            eprintln!("mfa-gateway: stopping with deliveries still under way");
        }
    }

    /// One connection's polls; returns only when it fails.
    async fn session(&self, link: &mut Link) -> Result<(), PollError> {
        let mut conn = self.mfad.open().await?;
        if *link != Link::Up {
            eprintln!(
                "mfa-gateway: polling mfad at {} for pushes and codes",
                self.mfad.socket().display()
            );
            *link = Link::Up;
        }
        let poll = Request::GatewayPoll {
            info: self.info.clone(),
            wait_secs: WAIT_SECS,
        };
        loop {
            let slot = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| PollError::Unexpected)?;
            let within = Duration::from_secs(WAIT_SECS + 10);
            match conn.call(&poll, within).await? {
                Response::Delivery(d) => {
                    tokio::spawn(deliver_and_report(
                        self.deliverer.clone(),
                        self.mfad.clone(),
                        *d,
                        slot,
                    ));
                }
                Response::PhoneDelivery(d) => {
                    tokio::spawn(phone_and_report(
                        self.phone.clone(),
                        self.mfad.clone(),
                        *d,
                        slot,
                    ));
                }
                Response::Idle => {}
                Response::Error { code, message } => {
                    return Err(PollError::Refused(format!("{message} ({code:?})")))
                }
                _ => return Err(PollError::Unexpected),
            }
        }
    }
}

/// Deliver one push, log one line about it, and tell mfad how it went.
async fn deliver_and_report(
    deliverer: Arc<Deliverer>,
    mfad: Arc<Mfad>,
    d: Delivery,
    _slot: OwnedSemaphorePermit,
) {
    let outcome = deliverer.deliver(&d).await;
    let provider = d.provider.as_str();
    match &outcome.result {
        Ok(()) => eprintln!(
            "mfa-gateway: push {} via {provider}: delivered (attempt {})",
            d.id, outcome.attempts
        ),
        Err(reason) => eprintln!(
            "mfa-gateway: push {} via {provider}: not delivered after {} attempt(s): {reason}",
            d.id, outcome.attempts
        ),
    }
    report(&mfad, "push", &d.id, outcome.result).await;
}

/// Deliver one code, log one line about it (the number masked, never the
/// code), and tell mfad how it went, as for a push.
async fn phone_and_report(
    phone: Arc<Phone>,
    mfad: Arc<Mfad>,
    d: PhoneDelivery,
    _slot: OwnedSemaphorePermit,
) {
    let done = phone.deliver(&d).await;
    let (channel, to, via) = (d.channel.as_str(), mask(&d.to), done.via);
    let detail = done
        .detail
        .as_deref()
        .map(|e| format!("; stderr: {e}"))
        .unwrap_or_default();
    match &done.outcome.result {
        Ok(()) => eprintln!(
            "mfa-gateway: {channel} {} to {to} via {via}: delivered (attempt {}){detail}",
            d.id, done.outcome.attempts
        ),
        Err(reason) => eprintln!(
            "mfa-gateway: {channel} {} to {to} via {via}: not delivered after {} attempt(s): \
             {reason}{detail}",
            d.id, done.outcome.attempts
        ),
    }
    report(&mfad, channel, &d.id, done.outcome.result).await;
}

/// `gateway_report` for delivery `id` (a push or a code, `what`).
async fn report(mfad: &Mfad, what: &str, id: &str, result: Result<(), String>) {
    let report = Request::GatewayReport {
        id: id.to_owned(),
        delivered: result.is_ok(),
        error: result.err(),
    };
    match mfad.call(&report).await {
        Ok(Response::Done) => {}
        Ok(Response::Error { code, message }) => {
            eprintln!("mfa-gateway: mfad refused the report on {what} {id}: {message} ({code:?})")
        }
        Ok(_) => {
            eprintln!("mfa-gateway: mfad answered the report on {what} {id} with something else")
        }
        Err(e) => eprintln!("mfa-gateway: cannot report {what} {id} to mfad: {e}"),
    }
}
