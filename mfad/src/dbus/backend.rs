//! What the bus layer needs from the service, without the service's type
//! parameters (the interface macro wants one concrete type).

use crate::authz::{Caller, Peer};
use crate::clock::Clock;
use crate::service::{PushEvent, Service};
use crate::store::{PushState, Store};
use mfa_proto::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::broadcast;

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(super) trait Backend: Send + Sync + 'static {
    /// The caller `peer` is, resolved as for the socket.
    fn caller(&self, peer: Peer) -> BoxFuture<'_, Result<Caller, Response>>;
    /// Answer `req` exactly as the socket would.
    fn handle(&self, caller: Caller, req: Request) -> BoxFuture<'_, Response>;
    fn push_events(&self) -> broadcast::Receiver<PushEvent>;
    /// Whose push `id` is and its state; None if unknown or unreadable.
    fn push_state(&self, id: String) -> BoxFuture<'_, Option<(String, PushState)>>;
}

impl<S: Store, C: Clock> Backend for Arc<Service<S, C>> {
    fn caller(&self, peer: Peer) -> BoxFuture<'_, Result<Caller, Response>> {
        Box::pin(async move { Service::caller(self, peer).await })
    }
    fn handle(&self, caller: Caller, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(async move { Service::handle(self, &caller, req).await })
    }
    fn push_events(&self) -> broadcast::Receiver<PushEvent> {
        Service::push_events(self)
    }
    fn push_state(&self, id: String) -> BoxFuture<'_, Option<(String, PushState)>> {
        Box::pin(async move { Service::push_state(self, &id).await.ok().flatten() })
    }
}
