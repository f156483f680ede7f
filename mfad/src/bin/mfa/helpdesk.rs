//! The help desk's commands and the methods overview: `mfa list`
//! (`--json` with each account's methods and last login), `mfa methods`
//! and `mfa bypass`, which prints one temporary code.

use crate::{call, unexpected, CmdResult, Fail};
use mfa_proto::methods::MethodInfo;
use mfa_proto::{Request, Response};
use std::path::Path;

fn describe(m: &MethodInfo) -> String {
    match m.left {
        Some(n) => format!("{:<9} {} ({n} left)", m.kind.as_str(), m.label),
        None => format!("{:<9} {}", m.kind.as_str(), m.label),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Fail> {
    serde_json::to_string_pretty(v).map_err(|e| Fail(3, format!("cannot write JSON: {e}")))
}

/// Every enrolled account, one name a line, or with `json` one array of
/// accounts with their methods, read page by page.
pub fn list(socket: &Path, json: bool) -> CmdResult {
    let mut after = String::new();
    let mut all = Vec::new();
    loop {
        let req = Request::List {
            after: after.clone(),
            details: json,
        };
        let (last, more) = match call(socket, &req)? {
            Response::Accounts { users, more } => {
                for u in &users {
                    println!("{u}");
                }
                (users.last().cloned(), more)
            }
            Response::AccountDetails { accounts, more } => {
                let last = accounts.last().map(|a| a.user.clone());
                all.extend(accounts);
                (last, more)
            }
            other => return Err(unexpected(other)),
        };
        match (more, last) {
            (true, Some(last)) => after = last,
            _ => break,
        }
    }
    if json {
        println!("{}", to_json(&all)?);
    }
    Ok(())
}

pub fn methods(socket: &Path, user: &str, json: bool) -> CmdResult {
    match call(socket, &Request::Methods { user: user.into() })? {
        Response::Methods { user, methods } => {
            if json {
                println!("{}", to_json(&methods)?);
            } else if methods.is_empty() {
                println!("{user}: no methods (not enrolled)");
            } else {
                println!("{user}:");
                for m in &methods {
                    println!("  {}", describe(m));
                }
            }
            if methods.is_empty() {
                Err(Fail(1, format!("{user} is not enrolled")))
            } else {
                Ok(())
            }
        }
        other => Err(unexpected(other)),
    }
}

pub fn bypass(socket: &Path, user: &str, minutes: Option<u32>) -> CmdResult {
    let req = Request::Bypass {
        user: user.into(),
        minutes,
    };
    match call(socket, &req)? {
        Response::Bypass {
            code,
            expires_in_secs,
        } => {
            println!("Temporary code for {user} (valid once, for {} min):", expires_in_secs / 60);
            println!("{}", code.expose());
            println!("It is typed at the code prompt; a new one replaces it. Then set up the authenticator again: mfa enroll");
            Ok(())
        }
        Response::NotEnrolled => Err(Fail(
            1,
            format!("{user} is not enrolled: no code is asked for (or they set one up at the next login)"),
        )),
        other => Err(unexpected(other)),
    }
}
