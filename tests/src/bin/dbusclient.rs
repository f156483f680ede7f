//! A zbus client for the D-Bus tests, run as a test account.
//!
//! `dbusclient watch ADDRESS`: ask mfad for the pending pushes (which
//! makes this connection known to mfad), subscribe to every signal mfad
//! sends, and print each one received as a line, until killed.
//!
//! `dbusclient call ADDRESS METHOD [ARG...]`: call one method of
//! org.pam_mfa.Mfad1 and print its answer, one value per line
//! (`key=value` for dictionaries, in GVariant text); an error is printed
//! as `error NAME: MESSAGE` with exit status 1.

use futures_util::StreamExt;
use std::io::Write;

const NAME: &str = "org.pam_mfa.Mfad1";
const PATH: &str = "/org/pam_mfa/Mfad1";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["watch", address] => rt.block_on(watch(address)),
        ["call", address, method, rest @ ..] => match rt.block_on(call(address, method, rest)) {
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
                Ok(())
            }
            Err(zbus::Error::MethodError(name, msg, _)) => {
                println!("error {name}: {}", msg.unwrap_or_default());
                std::process::exit(1)
            }
            Err(e) => Err(e.into()),
        },
        _ => anyhow::bail!("usage: dbusclient watch ADDRESS | call ADDRESS METHOD [ARG...]"),
    }
}

type Dict = std::collections::HashMap<String, zbus::OwnedVariant>;

fn dict_lines(d: &Dict) -> Vec<String> {
    let mut v: Vec<String> = d.iter().map(|(k, x)| format!("{k}={}", **x)).collect();
    v.sort();
    v
}

async fn call(address: &str, method: &str, args: &[&str]) -> zbus::Result<Vec<String>> {
    let conn = zbus::connection::Builder::address(address).build().await?;
    let reply = match args {
        [] => {
            conn.call_method(Some(NAME), PATH, Some(NAME), method, &())
                .await?
        }
        [a] => {
            conn.call_method(Some(NAME), PATH, Some(NAME), method, &(*a,))
                .await?
        }
        [a, b, c] => {
            conn.call_method(Some(NAME), PATH, Some(NAME), method, &(*a, *b, *c))
                .await?
        }
        _ => return Err(zbus::Error::Failure("unsupported arguments".into())),
    };
    let body = reply.body();
    Ok(match method {
        "GetStatus" | "GetUserStatus" => dict_lines(&body.deserialize::<Dict>()?),
        "ListMethods" | "ListPendingPushes" => body
            .deserialize::<Vec<Dict>>()?
            .iter()
            .map(|d| dict_lines(d).join(" "))
            .collect(),
        "BeginEnrollment" => {
            let (uri, secret): (String, String) = body.deserialize()?;
            vec![uri, secret]
        }
        "ConfirmEnrollment" | "ListUsers" => body.deserialize::<Vec<String>>()?,
        "AnswerPush" => vec![body.deserialize::<bool>()?.to_string()],
        _ => vec!["done".into()],
    })
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
        .call_method(Some(NAME), PATH, Some(NAME), "ListPendingPushes", &())
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
