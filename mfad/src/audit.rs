//! The audit trail: one line per attempt and per administrative change, on
//! stderr (the journal under systemd). Values are written with Rust's
//! string escaping, so a user name with a newline cannot forge a line.
//! Codes and secrets are never passed here. A line written while serving
//! a lab machine's relayed connection ends with `via="HOST"`, the host its
//! client certificate names ([`relayed_by`]), so the central log says
//! which machine every request came from.

use crate::authz::Peer;
use mfa_proto::{LoginContext, Method};
use std::io::Write;

/// One line, one write: eprintln! on unbuffered stderr would issue a
/// write per formatted piece, which costs on the login path and lets
/// lines from two threads interleave.
fn line(mut text: String) {
    if let Ok(host) = VIA.try_with(|h| h.clone()) {
        text.push_str(&format!(" via={host:?}"));
    }
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&bytes);
}

tokio::task_local! {
    static VIA: std::sync::Arc<str>;
}

/// Run `fut` (a relayed connection) with its audit lines naming `host`.
pub async fn relayed_by<F: std::future::Future>(host: std::sync::Arc<str>, fut: F) -> F::Output {
    VIA.scope(host, fut).await
}

/// How a verification was made, as the audit line names it.
pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Totp => "totp",
        Method::Recovery => "recovery",
        Method::Push => "push",
        Method::Bypass => "bypass",
        Method::Phone => "phone",
    }
}

/// One verification: `method` is what the code was checked as
/// ([`method_name`], or `totp_or_recovery` for a code of both shapes).
pub fn attempt(user: &str, ctx: &LoginContext, peer: &Peer, method: &str, outcome: &str) {
    login(
        "attempt",
        user,
        ctx,
        peer,
        &format!("method={method} outcome={outcome}"),
    );
}

/// A challenge that ends the login before a code is asked for: the
/// account is locked or delayed, or not enrolled (with `nullok`, an
/// exemption: the module answers PAM_IGNORE and the rest of the stack
/// decides).
pub fn challenge(user: &str, ctx: &LoginContext, peer: &Peer, outcome: &str) {
    login("challenge", user, ctx, peer, &format!("outcome={outcome}"));
}

/// One line about a login step: who, from where, then `what`.
fn login(kind: &str, user: &str, ctx: &LoginContext, peer: &Peer, what: &str) {
    line(format!(
        "mfad: audit {kind} user={user:?} service={:?} rhost={:?} tty={:?} {what} by_uid={}",
        ctx.service,
        ctx.rhost.as_deref().unwrap_or(""),
        ctx.tty.as_deref().unwrap_or(""),
        peer.uid,
    ));
}

/// A push opened or refused for a login of `user`.
pub fn push(user: &str, ctx: &LoginContext, peer: &Peer, what: &str) {
    line(format!(
        "mfad: audit push user={user:?} service={:?} rhost={:?} {what} by_uid={} by_pid={}",
        ctx.service,
        ctx.rhost.as_deref().unwrap_or(""),
        peer.uid,
        peer.pid.unwrap_or(0),
    ));
}

/// Something that happened to push `id` (delivery, expiry, cancellation).
pub fn push_event(id: &str, what: &str) {
    line(format!("mfad: audit push id={id:?} {what}"));
}

/// A decision from the approval page. "This wasn't me" is also an alert.
pub fn push_decision(id: &str, user: &str, outcome: &str) {
    line(format!(
        "mfad: audit push id={id:?} user={user:?} decision outcome={outcome}"
    ));
    if outcome == "wrong_number" {
        line(format!(
            "mfad: ALERT user={user:?} push {id:?} was answered with the wrong number: someone who did not start the login may have the link; pushes to the account are paused"
        ));
    }
    if outcome == "reported" {
        line(format!(
            "mfad: ALERT user={user:?} reported push {id:?} as not theirs: someone else may know their password; pushes to the account are blocked"
        ));
    }
}

pub fn admin(peer: &Peer, action: &str, user: &str) {
    line(format!(
        "mfad: audit {action} user={user:?} by_uid={} by_pid={}",
        peer.uid,
        peer.pid.unwrap_or(0)
    ));
}

/// A step of the enrollment during a login ("more information
/// required"): offered, started, finished, skipped or refused.
pub fn at_login(user: &str, ctx: &LoginContext, peer: &Peer, outcome: &str) {
    login(
        "enroll_at_login",
        user,
        ctx,
        peer,
        &format!("outcome={outcome}"),
    );
}

/// One account of `mfad migrate`, copied from the single host's state
/// `from`: what became of it (never a secret, code or hash).
pub fn migrate(user: &str, from: &str, what: &str) {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    line(format!(
        "mfad: audit migrate user={user:?} from={from:?} {what} by_uid={uid}"
    ));
}
