//! Replay protection under concurrency: many logins race with one code.
//! (A thousand racing protocol clients are in under_attack.rs.)

use anyhow::Result;
use mfa_tests::{finish, rc, Daemon, Stack};

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
