//! A zbus client for the D-Bus tests, run as a test account: it asks
//! mfad for its pending pushes (which makes its connection known to
//! mfad), subscribes to every signal mfad sends, and prints each message
//! it receives from mfad as one line, until killed.
//! Usage: dbuswatch ADDRESS

use futures_util::StreamExt;
use std::io::Write;

const NAME: &str = "org.pam_mfa.Mfad1";

fn main() -> anyhow::Result<()> {
    let address = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: dbuswatch ADDRESS"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(watch(&address))
}

async fn watch(address: &str) -> anyhow::Result<()> {
    let conn = zbus::connection::Builder::address(address).build().await?;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
    // Every signal from mfad, whatever its destination; the bus decides
    // what actually arrives.
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(NAME)
        .build()?;
    dbus.add_match_rule(rule).await?;
    let mut stream = zbus::MessageStream::from(&conn);
    let pending: Vec<std::collections::HashMap<String, zbus::OwnedVariant>> = conn
        .call_method(
            Some(NAME),
            "/org/pam_mfa/Mfad1",
            Some(NAME),
            "ListPendingPushes",
            &(),
        )
        .await?
        .body()
        .deserialize()?;
    let mut out = std::io::stdout();
    writeln!(out, "ready pending={}", pending.len())?;
    out.flush()?;
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        let h = msg.header();
        if h.message_type() != zbus::message::Type::Signal {
            continue;
        }
        let member = h.member().map(|m| m.to_string()).unwrap_or_default();
        let body: String = match member.as_str() {
            "PushPending" => {
                let (id, ctx): (
                    String,
                    std::collections::HashMap<String, zbus::OwnedVariant>,
                ) = msg.body().deserialize()?;
                let mut keys: Vec<String> = ctx
                    .iter()
                    .map(|(k, v)| {
                        format!("{k}={}", String::try_from(v.clone()).unwrap_or_default())
                    })
                    .collect();
                keys.sort();
                format!("{id} {}", keys.join(" "))
            }
            "PushResolved" => {
                let (id, outcome): (String, String) = msg.body().deserialize()?;
                format!("{id} {outcome}")
            }
            _ => format!("{:?}", msg.body().signature()),
        };
        writeln!(out, "signal {member} {body}")?;
        out.flush()?;
    }
    Ok(())
}
