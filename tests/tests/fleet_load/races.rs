//! Many logins racing through every relay and both centrals: one code
//! logs in once, failures add up to one delay, a recovery code works once.

use super::*;

#[test]
fn one_valid_code_typed_a_thousand_times_over_every_relay_and_both_centrals_logs_in_once(
) -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41060, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(2)?;
    let c0 = fleet.central(0, "", LOCK_ONLY)?;
    let c1 = fleet.central(1, "", LOCK_ONLY)?;
    // a and c reach central-0 first, b and d central-1.
    let hosts = ["lab-a", "lab-b", "lab-c", "lab-d"];
    let relays = [
        fleet.relay(hosts[0], &[0, 1])?,
        fleet.relay(hosts[1], &[1, 0])?,
        fleet.relay(hosts[2], &[0, 1])?,
        fleet.relay(hosts[3], &[1, 0])?,
    ];
    let stacks = relays.iter().map(stack).collect::<Result<Vec<_>>>()?;
    let secret = fleet.enroll(&relays[0].socket, ann)?.secret;
    let code = next_code(&secret)?;

    const LOGINS: usize = 1000;
    const THREADS: usize = 24;
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(usize, PamRun)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| -> Result<Vec<(usize, PamRun)>> {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= LOGINS {
                            return Ok(mine);
                        }
                        let r = i % stacks.len();
                        mine.push((r, stacks[r].login(ann, &[&code])?));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.join().map_err(|_| anyhow!("a login thread panicked"))??);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    let took = started.elapsed();
    ensure!(results.len() == LOGINS, "{} logins ran", results.len());

    let successes: Vec<_> = results
        .iter()
        .filter(|(_, r)| r.rc == rc::SUCCESS)
        .collect();
    ensure!(
        successes.len() == 1,
        "{} of {LOGINS} logins with one code succeeded (relays {:?})",
        successes.len(),
        successes.iter().map(|(r, _)| hosts[*r]).collect::<Vec<_>>()
    );
    // Every other login is refused (with one try, a reused code ends in
    // "Too many wrong codes.", as a wrong one does), until the failures
    // reach the lock (100, the most NIST allows and mfad accepts): then
    // the account is locked for every relay and central at once. The
    // store serializes an account's attempts, so each failure counts
    // exactly once: 99 plain refusals, and the 100th and every later
    // login told the account is locked.
    let refused =
        |r: &PamRun| r.rc == rc::AUTH_ERR && r.transcript.contains("Too many wrong codes.");
    let locked_out =
        |r: &PamRun| r.rc == rc::MAXTRIES && r.transcript.contains("this account is locked");
    let runs: Vec<&PamRun> = results.iter().map(|(_, r)| r).collect();
    let replayed = runs.iter().filter(|r| refused(r)).count();
    let locked = runs.iter().filter(|r| locked_out(r)).count();
    let other: Vec<&PamRun> = runs
        .iter()
        .copied()
        .filter(|r| r.rc != rc::SUCCESS && !refused(r) && !locked_out(r))
        .collect();
    let st = status_json(&fleet, &relays[1].socket, ann)?;
    let (_, log0) = c0.stop()?;
    let (_, log1) = c1.stop()?;
    let both = format!("{log0}{log1}");
    let audit: Vec<String> = [
        "outcome=success",
        "outcome=replayed",
        "outcome=wrong_code ",
        "outcome=wrong_code_locked",
        "outcome=rate_limited",
        "outcome=locked",
        "unavailable",
    ]
    .iter()
    .map(|o| format!("{o}: {}", count(&both, o)))
    .collect();
    // With 1,000 free failures no login may be told to wait. (mfad bug,
    // seen here about one run in four: `backoff::wait_left` gives a wait
    // of last_failure - now even when no delay is due, so an attempt whose
    // clock reading is a second older than a failure committed meanwhile,
    // by the other central or ahead of it in the queue, is told "try
    // again in 1 s".)
    ensure!(
        other.is_empty(),
        "{} logins were neither refused nor told of the lock ({} told to wait, with free failures left); the centrals' audit: {audit:?}; first ones: {}",
        other.len(),
        other
            .iter()
            .filter(|r| r.transcript.contains("Too many attempts, try again in"))
            .count(),
        sample(&other)
    );
    ensure!(
        replayed == 99 && locked == LOGINS - 100,
        "{replayed} refused and {locked} locked out (expected 99 and {}): the fleet did not count each failure once; the centrals' audit: {audit:?}; mfa status: {st}",
        LOGINS - 100
    );
    ensure!(
        st["locked"] == true && st["consecutive_failures"] == 100,
        "mfa status after the run: {st}"
    );
    for (log, name, mine) in [
        (&log0, "central-0", [hosts[0], hosts[2]]),
        (&log1, "central-1", [hosts[1], hosts[3]]),
    ] {
        for host in mine {
            ensure!(
                count(log, &format!("by_uid=0 via=\"{host}\"")) > 0,
                "{name} served no login from {host}"
            );
        }
    }
    ensure!(
        count(&both, "outcome=success") == 1,
        "the centrals logged {} successes",
        count(&both, "outcome=success")
    );
    eprintln!(
        "{LOGINS} logins in {:.1} s; central-0 logged {} attempts, central-1 {}",
        took.as_secs_f64(),
        count(&log0, "audit attempt"),
        count(&log1, "audit attempt")
    );
    Ok(())
}

#[test]
fn a_users_failures_through_different_relays_add_up_to_one_delay() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41061, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(2)?;
    // Default limits: three free failures, then 30 s doubling.
    let _c0 = fleet.central(0, "", "")?;
    let _c1 = fleet.central(1, "", "")?;
    let a = fleet.relay("lab-a", &[0, 1])?;
    let b = fleet.relay("lab-b", &[1, 0])?;
    let c = fleet.relay("lab-c", &[0])?;
    let secret = fleet.enroll(&a.socket, ann)?.secret;
    let wrong = wrong_code(&secret)?;

    for relay in [&a, &b] {
        let run = stack(relay)?.login(ann, &[&wrong])?;
        ensure!(
            run.rc == rc::AUTH_ERR && run.transcript.contains("Too many wrong codes."),
            "{}",
            run.transcript
        );
    }
    // The third failure, on a third machine, starts the delay.
    let third = stack(&c)?.login(ann, &[&wrong])?;
    ensure!(
        third.rc == rc::MAXTRIES
            && third
                .transcript
                .contains("Wrong code. Too many attempts, try again in 30 s."),
        "{}",
        third.transcript
    );
    // Every machine now tells ann to wait, even with a valid code, and the
    // code is not spent by being refused.
    let good = next_code(&secret)?;
    for relay in [&a, &b, &c] {
        let run = stack(relay)?.login(ann, &[&good])?;
        ensure!(
            run.rc == rc::MAXTRIES && run.transcript.contains("Too many attempts, try again in "),
            "{}",
            run.transcript
        );
        let secs: Option<u64> = run
            .transcript
            .split("try again in ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok());
        ensure!(
            secs.is_some_and(|n| (1..=30).contains(&n)),
            "{}",
            run.transcript
        );
    }
    // Three failures, counted once each, wherever `mfa status` asks.
    for relay in [&a, &b, &c] {
        let said = status_text(&fleet, &relay.socket, ann)?;
        ensure!(said.contains("after 3 failures"), "{said}");
    }
    let st = status_json(&fleet, &b.socket, ann)?;
    ensure!(
        st["consecutive_failures"] == 3 && st["locked"] == false,
        "{st}"
    );
    Ok(())
}

#[test]
fn a_recovery_code_typed_on_two_hosts_at_once_works_once() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41062, 1)?;
    let ann = &users.names()[0];
    let fleet = Fleet::new(2)?;
    let _c0 = fleet.central(0, "", "")?;
    let _c1 = fleet.central(1, "", "")?;
    let a = fleet.relay("lab-a", &[0, 1])?;
    let b = fleet.relay("lab-b", &[1, 0])?;
    let (sa, sb) = (stack(&a)?, stack(&b)?);
    let enrolled = fleet.enroll(&a.socket, ann)?;
    let total = enrolled.recovery.len();
    const ROUNDS: usize = 3;
    ensure!(total > ROUNDS, "only {total} recovery codes");

    for code in &enrolled.recovery[..ROUNDS] {
        // Both started before either is collected.
        let children = [&sa, &sb]
            .iter()
            .map(|s| {
                Ok(s.command(ann, &[code], None, &[])?
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?)
            })
            .collect::<Result<Vec<_>>>()?;
        let runs = children
            .into_iter()
            .map(|c| finish(c.wait_with_output()?))
            .collect::<Result<Vec<_>>>()?;
        let won: Vec<_> = runs.iter().filter(|r| r.rc == rc::SUCCESS).collect();
        ensure!(
            won.len() == 1,
            "recovery code {code} typed on lab-a and lab-b at once: {}",
            sample(&runs.iter().collect::<Vec<_>>())
        );
        ensure!(
            won[0].transcript.contains("Recovery code accepted"),
            "{}",
            won[0].transcript
        );
        let lost: Vec<_> = runs.iter().filter(|r| r.rc != rc::SUCCESS).collect();
        ensure!(
            lost.iter().all(|r| r.rc == rc::AUTH_ERR),
            "{}",
            sample(&lost)
        );
    }
    let st = status_json(&fleet, &b.socket, ann)?;
    ensure!(
        st["recovery_codes_left"] == total - ROUNDS,
        "{total} codes, {ROUNDS} used: {st}"
    );
    Ok(())
}
