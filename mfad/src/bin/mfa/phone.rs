//! `mfa phone add|list|remove`: numbers that get a one-time code by text
//! message or voice call. `add` sends a code to the number and saves it
//! only once that code is typed back (read from standard input, asked on
//! a terminal), so nobody adds a number they do not have.

use crate::proof::call_proving;
use crate::{connect, current_user, failed, read_line, unexpected, CmdResult, Fail};
use clap::Subcommand;
use mfa_proto::phone::Channel;
use mfa_proto::{Request, Response, Sensitive};
use std::path::Path;

#[derive(Subcommand)]
pub enum PhoneCmd {
    /// Add a number: a code is sent to it, then typed back here.
    Add {
        #[arg(long)]
        user: Option<String>,
        /// Codes come by voice call instead of text message.
        #[arg(long)]
        voice: bool,
        /// A name for this number [default: "sms ending NN"]
        #[arg(long)]
        name: Option<String>,
        /// A code from your current authenticator (asked for when needed).
        #[arg(long)]
        current_code: Option<String>,
        /// Finish an `mfa phone add` started earlier with the code it sent.
        #[arg(long)]
        confirm: Option<String>,
        /// In international form, like +44 20 7946 0958.
        #[arg(required_unless_present = "confirm")]
        number: Option<String>,
    },
    /// List an account's numbers (masked but for the last digits).
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a number by its name.
    Remove {
        #[arg(long)]
        user: Option<String>,
        label: String,
    },
}

pub fn run(socket: &Path, cmd: PhoneCmd) -> CmdResult {
    match cmd {
        PhoneCmd::Add {
            user,
            voice,
            name,
            current_code,
            confirm,
            number,
        } => {
            let user = user.map_or_else(current_user, Ok)?;
            let channel = if voice { Channel::Voice } else { Channel::Sms };
            match (confirm, number) {
                (Some(code), _) => finish(socket, &user, &code),
                (None, Some(number)) => add(socket, &user, &number, channel, name, current_code),
                (None, None) => Err(Fail(2, "give a NUMBER, or --confirm CODE".into())),
            }
        }
        PhoneCmd::List { user, json } => {
            let user = user.map_or_else(current_user, Ok)?;
            match crate::call(socket, &Request::PhoneList { user })? {
                Response::Phones { user, phones, .. } => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&phones).unwrap_or_default()
                        );
                    } else if phones.is_empty() {
                        println!("{user}: no phone numbers (mfa phone add)");
                    } else {
                        for p in &phones {
                            println!("{}\t{}\t{}", p.label, p.channel.as_str(), p.masked);
                        }
                    }
                    Ok(())
                }
                other => Err(unexpected(other)),
            }
        }
        PhoneCmd::Remove { user, label } => {
            let user = user.map_or_else(current_user, Ok)?;
            let req = Request::PhoneRemove {
                user: user.clone(),
                label: label.clone(),
            };
            match crate::call(socket, &req)? {
                Response::Done => {
                    println!("{user}: removed the number {label:?}");
                    Ok(())
                }
                other => Err(failed(other)),
            }
        }
    }
}

fn add(
    socket: &Path,
    user: &str,
    number: &str,
    channel: Channel,
    label: Option<String>,
    current_code: Option<String>,
) -> CmdResult {
    let req = Request::PhoneAdd {
        user: user.into(),
        number: number.into(),
        channel,
        label,
        current_code: current_code.map(Sensitive::new),
    };
    let resp = call_proving(&mut connect(socket)?, req)?;
    let Response::PhoneSent(sent) = resp else {
        return Err(failed(resp));
    };
    let how = match sent.channel {
        Channel::Sms => "by text message",
        Channel::Voice => "by a voice call",
    };
    println!(
        "A code was sent {how} to the number ending {}; it is valid for {} min.",
        sent.ending,
        sent.expires_in_secs / 60
    );
    let code = read_line("Code you received: ")?;
    finish(socket, user, &code)
}

fn finish(socket: &Path, user: &str, code: &str) -> CmdResult {
    let req = Request::PhoneConfirm {
        user: user.into(),
        code: Sensitive::new(code),
    };
    match crate::call(socket, &req)? {
        Response::Phones {
            phones,
            recovery_codes,
            ..
        } => {
            for p in &phones {
                println!("Added {} ({}, {}).", p.label, p.channel.as_str(), p.masked);
            }
            if !recovery_codes.is_empty() {
                println!("\nThis number is how {user} logs in now: type 'sms' (or 'call') at the code prompt.");
                println!(
                    "Recovery codes: each works once, in place of a code, if the phone is lost."
                );
                println!("They are shown only now. Print them or keep them somewhere safe:\n");
                for c in &recovery_codes {
                    println!("    {}", c.expose());
                }
            }
            Ok(())
        }
        Response::WrongCode { .. } => Err(Fail(
            1,
            "wrong code: nothing was added (run 'mfa phone add --confirm CODE' to try again)"
                .into(),
        )),
        other => Err(failed(other)),
    }
}
