//! LISTEN/NOTIFY wake-ups between the mfads that share one database. A
//! transaction that ends a push also runs `pg_notify(CHANNEL, id)`; each
//! mfad keeps one connection of its own that LISTENs and passes the ids on
//! as [`Wakeup`]s. It cannot be a pooled connection: the pool's driver
//! throws notifications away. Notifications are only hints: they are lost
//! while this connection is down (and on failover), so after every
//! (re)connection every waiter is told to re-read ([`Wakeup::All`]).

use super::postgres_conn::{Tls, WAIT};
use super::push::Wakeup;
use super::StoreError;
use std::sync::{Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use tokio_postgres::{AsyncMessage, Client, Config};

/// The channel pushes are announced on; its payload is a push id only,
/// never a token or a number (any role that can LISTEN sees it).
pub(super) const CHANNEL: &str = "mfad_push";

/// Wake-ups queued per subscriber; one that falls further behind is told
/// to re-read everything instead.
const QUEUE: usize = 1024;

/// How often the listening connection proves it is alive: a server or a
/// network that vanishes without closing the connection would otherwise
/// leave it listening to nothing until TCP gives up.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Reconnection delays: from the first, doubling to the last.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The listening side of one store: started by the first subscriber,
/// stopped with the store.
pub(super) struct Listener {
    config: Config,
    tls: Tls,
    started: OnceLock<(broadcast::Sender<Wakeup>, AbortHandle)>,
    /// Serializes the start, which needs a runtime handle.
    starting: Mutex<()>,
}

impl Listener {
    pub(super) fn new(config: Config, tls: Tls) -> Listener {
        Listener {
            config,
            tls,
            started: OnceLock::new(),
            starting: Mutex::new(()),
        }
    }

    /// One more subscriber; the first starts listening. None outside a
    /// tokio runtime.
    pub(super) fn subscribe(&self) -> Option<broadcast::Receiver<Wakeup>> {
        if let Some((tx, _)) = self.started.get() {
            return Some(tx.subscribe());
        }
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let _one = self.starting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tx, _)) = self.started.get() {
            return Some(tx.subscribe());
        }
        // Subscribed before the task runs, so the first connection's
        // Wakeup::All reaches this subscriber too.
        let (tx, rx) = broadcast::channel(QUEUE);
        let task = rt.spawn(listen_forever(
            self.config.clone(),
            self.tls.clone(),
            tx.clone(),
        ));
        let _ = self.started.set((tx, task.abort_handle()));
        Some(rx)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some((_, task)) = self.started.get() {
            task.abort();
        }
    }
}

/// Listen, and listen again after every loss, with a growing delay.
async fn listen_forever(config: Config, tls: Tls, tx: broadcast::Sender<Wakeup>) {
    let mut delay = RETRY_FIRST;
    // Said once per outage, not once per retry.
    let mut troubled = false;
    loop {
        let outcome = listen_once(&config, &tls, &tx, &mut troubled).await;
        if outcome.is_ok() {
            // It had listened, so this is a new outage: retry soon.
            delay = RETRY_FIRST;
        }
        if !troubled {
            let why = match outcome {
                Ok(()) => "the connection was lost".to_string(),
                Err(e) => e.to_string(),
            };
            eprintln!(
                "mfad: push wake-ups from other mfads are paused, logins re-read the database meanwhile: {why}"
            );
            troubled = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

/// One connection's life: LISTEN, tell every waiter to re-read, pass on
/// notifications until the connection fails. Ok when it had listened.
async fn listen_once(
    config: &Config,
    tls: &Tls,
    tx: &broadcast::Sender<Wakeup>,
    troubled: &mut bool,
) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let forward = tx.clone();
    let mut driver = tokio::spawn(async move {
        std::future::poll_fn(|cx| loop {
            match connection.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                    if n.channel() == CHANNEL {
                        // No receiver now is fine: nobody waits.
                        let _ = forward.send(Wakeup::Push(n.payload().to_string()));
                    }
                }
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        })
        .await
    });
    let result = async {
        run(&client, &format!("LISTEN {CHANNEL}")).await?;
        if std::mem::take(troubled) {
            eprintln!("mfad: push wake-ups from other mfads: listening again");
        }
        // Whatever was announced while nobody listened is lost: every
        // waiter re-reads the table.
        let _ = tx.send(Wakeup::All);
        loop {
            tokio::select! {
                _ = &mut driver => return Ok(()),
                _ = tokio::time::sleep(HEARTBEAT) => {
                    if run(&client, "SELECT 1").await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}

/// `sql` within the usual deadline.
async fn run(client: &Client, sql: &str) -> Result<(), StoreError> {
    match tokio::time::timeout(WAIT, client.batch_execute(sql)).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(StoreError::TimedOut(WAIT.as_secs())),
    }
}
