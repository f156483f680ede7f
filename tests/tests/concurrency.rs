//! Replay protection under concurrency: many logins race with one code.

use anyhow::Result;
use mfa_proto::{Request, Response, Sensitive};
use mfa_tests::{finish, rc, Daemon, Stack};
use std::sync::{Arc, Barrier};

#[test]
fn fifty_simultaneous_logins_with_one_code_succeed_exactly_once() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let code = d.code(&e)?;
    let stack = Stack::new(&d.socket, "tries=1", &[])?;
    // Fifty real processes, each a full libpam stack, started together.
    let children = (0..50)
        .map(|_| {
            stack
                .command("ann", &[&code], None, &[])?
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(Into::into)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut results = Vec::new();
    for c in children {
        results.push(finish(c.wait_with_output()?)?);
    }
    let wins = results.iter().filter(|r| r.rc == rc::SUCCESS).count();
    assert_eq!(wins, 1, "exactly one login may use the code");
    for r in results.iter().filter(|r| r.rc != rc::SUCCESS) {
        assert!(
            r.rc == rc::AUTH_ERR || r.rc == rc::MAXTRIES,
            "{}",
            r.transcript
        );
    }
    Ok(())
}

fn race(d: &Daemon, user: &str, code: &str, n: usize) -> Result<Vec<Response>> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            let client = d.client();
            let req = Request::Verify {
                user: user.into(),
                code: Sensitive::new(code),
                context: Default::default(),
            };
            std::thread::spawn(move || -> Result<Response> {
                let mut client = client?;
                barrier.wait();
                Ok(client.call(&req)?)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().map_err(|_| anyhow::anyhow!("thread panicked"))?)
        .collect()
}

#[test]
fn fifty_clients_racing_one_recovery_code_succeed_exactly_once() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    let answers = race(&d, "ann", &e.recovery[0], 50)?;
    let wins = answers
        .iter()
        .filter(|r| matches!(r, Response::Verified { .. }))
        .count();
    assert_eq!(wins, 1, "{answers:?}");
    Ok(())
}

#[test]
fn fifty_clients_racing_one_totp_code_succeed_exactly_once() -> Result<()> {
    let d = Daemon::start()?;
    let e = d.enroll("ann")?;
    d.next_step();
    let answers = race(&d, "ann", &d.code(&e)?, 50)?;
    let wins = answers
        .iter()
        .filter(|r| matches!(r, Response::Verified { .. }))
        .count();
    assert_eq!(wins, 1, "{answers:?}");
    Ok(())
}
