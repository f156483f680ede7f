//! `mfa push add|list|remove`: phones that approve logins. `add` follows
//! the rollout's steps: subscribe (for ntfy: the server and topic as text
//! and a QR code of the subscription link), then approve the test
//! notification with the number shown here; the target is saved only
//! once that approval arrives.

use crate::proof::call_proving;
use crate::{connect, current_user, failed, unexpected, CmdResult, Fail};
use clap::Subcommand;
use mfa_proto::push::{Provider, PushEnd, PushEnrollment};
use mfa_proto::{Request, Response, Sensitive};
use mfad::qr;
use std::path::Path;
use std::time::Duration;

#[derive(Subcommand)]
pub enum PushCmd {
    /// Add a phone: subscribe, then approve a test notification.
    Add {
        #[arg(long)]
        user: Option<String>,
        #[arg(long, value_parser = ["ntfy", "webhook"])]
        provider: Option<String>,
        /// A name for this phone [default: phone]
        #[arg(long)]
        name: Option<String>,
        /// A code from your current authenticator (asked for when needed).
        #[arg(long)]
        current_code: Option<String>,
    },
    /// List an account's phones (never their topics).
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a phone by its name.
    Remove {
        #[arg(long)]
        user: Option<String>,
        label: String,
    },
}

pub fn run(socket: &Path, cmd: PushCmd) -> CmdResult {
    match cmd {
        PushCmd::Add {
            user,
            provider,
            name,
            current_code,
        } => {
            let user = user.map_or_else(current_user, Ok)?;
            let provider = provider.map(|p| match p.as_str() {
                "webhook" => Provider::Webhook,
                _ => Provider::Ntfy,
            });
            add(socket, user, provider, name, current_code)
        }
        PushCmd::List { user, json } => {
            let user = user.map_or_else(current_user, Ok)?;
            match crate::call(socket, &Request::PushList { user })? {
                Response::PushTargets { user, targets } => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&targets).unwrap_or_default()
                        );
                    } else if targets.is_empty() {
                        println!("{user}: no phones for push (mfa push add)");
                    } else {
                        for t in &targets {
                            println!(
                                "{}\t{}\tadded {}",
                                t.label,
                                t.provider.as_str(),
                                day(t.created_at)
                            );
                        }
                    }
                    Ok(())
                }
                other => Err(unexpected(other)),
            }
        }
        PushCmd::Remove { user, label } => {
            let user = user.map_or_else(current_user, Ok)?;
            let req = Request::PushRemove {
                user: user.clone(),
                label: label.clone(),
            };
            match crate::call(socket, &req)? {
                Response::Done => {
                    println!("{user}: removed the phone {label:?}");
                    Ok(())
                }
                other => Err(unexpected(other)),
            }
        }
    }
}

fn add(
    socket: &Path,
    user: String,
    provider: Option<Provider>,
    label: Option<String>,
    current_code: Option<String>,
) -> CmdResult {
    let mut client = connect(socket)?;
    let req = Request::PushAdd {
        user: user.clone(),
        provider,
        label,
        current_code: current_code.map(Sensitive::new),
    };
    let resp = call_proving(&mut client, req)?;
    let Response::PushEnroll(enrollment) = resp else {
        return Err(failed(resp));
    };
    let PushEnrollment {
        id,
        label,
        provider,
        topic,
        ntfy_url,
        number,
        expires_in_secs,
    } = *enrollment;
    if let (Some(topic), Some(server)) = (topic.as_ref(), ntfy_url.as_deref()) {
        let link = format!("{}/{}", server.trim_end_matches('/'), topic.expose());
        println!("Install the ntfy app on the phone and subscribe to this topic");
        println!("(scan the code, or add it by hand; keep the topic to yourself):\n");
        if let Some(q) = qr::render(&link) {
            println!("{q}");
        }
        println!("  Server: {server}");
        println!("  Topic:  {}", topic.expose());
        println!("  Link:   {link}\n");
    } else {
        println!(
            "The test notification goes out through the site's push service ({}).\n",
            provider.as_str()
        );
    }
    println!("A test notification is on its way. Open it and approve it with number {number} (waiting up to {expires_in_secs} s).");
    client.set_timeout(Duration::from_secs(expires_in_secs + 10));
    match client
        .call(&Request::PushWait { id })
        .map_err(|e| Fail(3, e.to_string()))?
    {
        Response::Verified { .. } => {
            println!("Approved: the phone {label:?} now approves logins of {user}.");
            Ok(())
        }
        Response::PushEnded { end, message } => {
            let hint = match end {
                PushEnd::WrongNumber => " Type the number shown here, not another one.",
                PushEnd::Expired => " Subscribe first, then run mfa push add again.",
                _ => "",
            };
            Err(Fail(1, format!("{message} Nothing was saved.{hint}")))
        }
        other => Err(failed(other)),
    }
}

/// A Unix time as its UTC date (YYYY-MM-DD).
fn day(t: i64) -> String {
    // Days to civil date (Howard Hinnant's algorithm).
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_utc_dates() {
        assert_eq!(super::day(0), "1970-01-01");
        assert_eq!(super::day(2_000_000_000), "2033-05-18");
        assert_eq!(super::day(951_782_400), "2000-02-29");
    }
}
