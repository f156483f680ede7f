//! Faults under load: PostgreSQL stopped during logins, and a central
//! mfad killed with SIGKILL.

use super::*;

/// The outage itself, while logins run: PostgreSQL stopped (`outage`
/// set first), down for 4 s, started again; then until bob logged in
/// (or 20 s), and a little more so reuses after the return are seen too.
/// When the stop began, ended, and the start began and ended.
fn outage_of(
    cluster: &mut TempCluster,
    outage: &AtomicBool,
    bob_in: &AtomicBool,
) -> Result<[Instant; 4]> {
    std::thread::sleep(Duration::from_millis(1000));
    let stop_begin = Instant::now();
    outage.store(true, Ordering::SeqCst);
    cluster.stop()?;
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let start_begin = Instant::now();
    cluster.start()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    while !bob_in.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(800));
    Ok([stop_begin, stopped, start_begin, started])
}

/// One login of a workload, timed.
struct Timed {
    user: usize,
    code: String,
    start: Instant,
    end: Instant,
    run: PamRun,
}

#[test]
fn with_postgresql_stopped_logins_fail_closed_in_time_and_come_back_within_seconds() -> Result<()> {
    let _serial = serial();
    let users = LocalUsers::create(41064, 2)?;
    let names = users.names();
    // The shared cluster cannot be stopped: this fleet's centrals use a
    // cluster of its own.
    let mut cluster = TempCluster::start_new()?;
    let mut fleet = Fleet::new(2)?;
    fleet.url = cluster.create_database("fleet_outage")?;
    let _c0 = fleet.central(0, "", LOCK_ONLY)?;
    let _c1 = fleet.central(1, "", LOCK_ONLY)?;
    let relays = [
        fleet.relay("lab-a", &[0, 1])?,
        fleet.relay("lab-b", &[1, 0])?,
    ];
    const TIMEOUT: u64 = 5;
    let stacks = relays
        .iter()
        .map(|r| stack_with(r, TIMEOUT))
        .collect::<Result<Vec<_>>>()?;
    let ann_secret = fleet.enroll(&relays[0].socket, &names[0])?.secret;
    let bob_secret = fleet.enroll(&relays[1].socket, &names[1])?.secret;
    // ann's code is spent before the workload; bob's is typed only from
    // the outage on, so its first success can only come after it.
    let spent = next_code(&ann_secret)?;
    let first = stacks[0].login(&names[0], &[&spent])?;
    ensure!(first.rc == rc::SUCCESS, "{}", first.transcript);
    let fresh = next_code(&bob_secret)?;
    let codes = [spent.clone(), fresh.clone()];

    let outage = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let bob_in = AtomicBool::new(false);
    let (runs, [stop_begin, stopped, start_begin, started]) =
        std::thread::scope(|s| -> Result<(Vec<Timed>, [Instant; 4])> {
            let workers: Vec<_> = (0..2)
                .map(|t| {
                    let (stacks, names, codes) = (&stacks, &names, &codes);
                    let (outage, done, bob_in) = (&outage, &done, &bob_in);
                    s.spawn(move || -> Result<Vec<Timed>> {
                        let mut mine = Vec::new();
                        let mut i = t;
                        while !done.load(Ordering::SeqCst) {
                            i += 1;
                            let user = usize::from(outage.load(Ordering::SeqCst) && i % 2 == 0);
                            let start = Instant::now();
                            let run = stacks[(i / 2) % 2].login(&names[user], &[&codes[user]])?;
                            let end = Instant::now();
                            if user == 1 && run.rc == rc::SUCCESS {
                                bob_in.store(true, Ordering::SeqCst);
                            }
                            mine.push(Timed {
                                user,
                                code: codes[user].clone(),
                                start,
                                end,
                                run,
                            });
                            std::thread::sleep(Duration::from_millis(150));
                        }
                        Ok(mine)
                    })
                })
                .collect();
            let outcome = outage_of(&mut cluster, &outage, &bob_in);
            done.store(true, Ordering::SeqCst);
            let mut all = Vec::new();
            for w in workers {
                all.extend(w.join().map_err(|_| anyhow!("a login thread panicked"))??);
            }
            Ok((all, outcome?))
        })?;

    let limit = Duration::from_secs(TIMEOUT) + Duration::from_millis(1500);
    let slow: Vec<_> = runs.iter().filter(|t| t.end - t.start > limit).collect();
    ensure!(
        slow.is_empty(),
        "{} logins took longer than the module's {TIMEOUT} s timeout: {}",
        slow.len(),
        sample(&slow.iter().map(|t| &t.run).collect::<Vec<_>>())
    );
    let during: Vec<_> = runs
        .iter()
        .filter(|t| t.start >= stopped && t.end <= start_begin)
        .collect();
    ensure!(
        during.len() >= 5,
        "only {} logins ran while PostgreSQL was down",
        during.len()
    );
    let open: Vec<_> = during
        .iter()
        .filter(|t| {
            t.run.rc != rc::AUTHINFO_UNAVAIL
                || !t
                    .run
                    .transcript
                    .contains("The second-factor service is not available")
        })
        .map(|t| &t.run)
        .collect();
    ensure!(
        open.is_empty(),
        "logins while PostgreSQL was down did not fail closed as unavailable: {}",
        sample(&open)
    );
    let before: Vec<_> = runs.iter().filter(|t| t.end <= stop_begin).collect();
    ensure!(!before.is_empty(), "no login ran before the outage");
    // The spent code never logs in again; bob's code exactly once, after
    // PostgreSQL came back, and within seconds of it.
    let reused: Vec<_> = runs
        .iter()
        .filter(|t| t.user == 0 && t.run.rc == rc::SUCCESS)
        .collect();
    ensure!(
        reused.is_empty(),
        "ann's spent code {spent} logged in {} more times",
        reused.len()
    );
    let bob_wins: Vec<_> = runs
        .iter()
        .filter(|t| t.user == 1 && t.code == fresh && t.run.rc == rc::SUCCESS)
        .collect();
    ensure!(
        bob_wins.len() == 1,
        "bob's code logged in {} times",
        bob_wins.len()
    );
    let back = bob_wins[0].end.saturating_duration_since(started);
    ensure!(
        bob_wins[0].end > start_begin && back < Duration::from_secs(10),
        "the first login after PostgreSQL returned took {:.1} s after its start",
        back.as_secs_f64()
    );
    let again = stacks[1].login(&names[1], &[&fresh])?;
    ensure!(again.rc != rc::SUCCESS, "{}", again.transcript);
    eprintln!(
        "{} logins; {} during the outage; pg stop took {:.1} s, start {:.1} s; logins back {:.1} s after the start returned",
        runs.len(),
        during.len(),
        (stopped - stop_begin).as_secs_f64(),
        (started - start_begin).as_secs_f64(),
        back.as_secs_f64()
    );
    Ok(())
}

/// What the workload of the SIGKILL test did for one student.
#[derive(Default)]
struct Student {
    enrolled: Option<(Enrolled, Instant)>,
    enroll_error: Option<String>,
    /// (code, rc) of every login tried.
    logins: Vec<(String, i32)>,
}

#[test]
fn a_central_killed_during_a_workload_loses_no_confirmed_enrollment_and_accepts_no_code_twice(
) -> Result<()> {
    let _serial = serial();
    const STUDENTS: usize = 16;
    const EARLY: usize = 4;
    let users = LocalUsers::create(41070, STUDENTS as u32)?;
    let names = users.names();
    let fleet = Fleet::new(2)?;
    // Sixteen students reusing codes from two machines would delay the
    // machines themselves (ten accounts failing from one host), which is
    // not what this test is about.
    let limits = format!("{LOCK_ONLY}host_free_accounts = 1000\n");
    let c0 = fleet.central(0, "", &limits)?;
    let _c1 = fleet.central(1, "", &limits)?;
    let relays = [
        fleet.relay("lab-a", &[0, 1])?,
        fleet.relay("lab-b", &[1, 0])?,
    ];
    let stacks = relays.iter().map(stack).collect::<Result<Vec<_>>>()?;
    let students: Vec<Mutex<Student>> = (0..STUDENTS).map(|_| Mutex::default()).collect();
    // Students enrolled before the workload, through lab-a (central-0).
    for (k, st) in students.iter().enumerate().take(EARLY) {
        let e = fleet.enroll(&relays[0].socket, &names[k])?;
        st.lock().map_err(|_| anyhow!("poisoned"))?.enrolled = Some((e, Instant::now()));
    }
    let lock = |k: usize| {
        students[k]
            .lock()
            .map_err(|_| anyhow!("a student's record is poisoned"))
    };

    let done = AtomicBool::new(false);
    let enrolled_now = AtomicUsize::new(0);
    let mut killed_at = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        // Three threads enroll the other students, alternating relays, and
        // log each in once through the other relay.
        for t in 0..3 {
            let (fleet, relays, stacks, names, lock) = (&fleet, &relays, &stacks, &names, &lock);
            let enrolled_now = &enrolled_now;
            workers.push(s.spawn(move || -> Result<()> {
                for k in (EARLY + t..STUDENTS).step_by(3) {
                    match fleet.enroll(&relays[k % 2].socket, &names[k]) {
                        Ok(e) => {
                            let code = next_code(&e.secret)?;
                            lock(k)?.enrolled = Some((e, Instant::now()));
                            enrolled_now.fetch_add(1, Ordering::SeqCst);
                            let run = stacks[(k + 1) % 2].login(&names[k], &[&code])?;
                            lock(k)?.logins.push((code, run.rc));
                        }
                        Err(e) => lock(k)?.enroll_error = Some(format!("{e:#}")),
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
                Ok(())
            }));
        }
        // One thread logs the early students in, over and over, with
        // their next code: one success each, then reuses.
        let (stacks, names, lock, done) = (&stacks, &names, &lock, &done);
        workers.push(s.spawn(move || -> Result<()> {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let k = i % EARLY;
                let code = {
                    let st = lock(k)?;
                    let (e, _) = st
                        .enrolled
                        .as_ref()
                        .ok_or_else(|| anyhow!("not enrolled"))?;
                    next_code(&e.secret)?
                };
                let run = stacks[i % 2].login(&names[k], &[&code])?;
                lock(k)?.logins.push((code, run.rc));
                i += 1;
                std::thread::sleep(Duration::from_millis(60));
            }
            Ok(())
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        while enrolled_now.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        killed_at = Instant::now();
        let outcome = c0.kill9();
        let mut results = Vec::new();
        for (n, w) in workers.into_iter().enumerate() {
            if n == 3 {
                // The enrolling threads are done: stop the login loop.
                done.store(true, Ordering::SeqCst);
            }
            results.push(
                w.join()
                    .map_err(|_| anyhow!("a workload thread panicked"))?,
            );
        }
        outcome?;
        results.into_iter().collect::<Result<()>>()
    })?;

    let mut before_kill = 0;
    let mut after_kill = 0;
    let mut failed = Vec::new();
    let mut cut = 0;
    for (k, name) in names.iter().enumerate() {
        let mut st = lock(k)?;
        cut += st
            .logins
            .iter()
            .filter(|(_, rc_)| *rc_ == rc::AUTHINFO_UNAVAIL)
            .count();
        let Some((e, at)) = st.enrolled.take() else {
            failed.push(st.enroll_error.clone().unwrap_or_default());
            continue;
        };
        if at < killed_at {
            before_kill += 1;
        } else {
            after_kill += 1;
        }
        // Still enrolled, as the student sees it from either machine.
        for relay in &relays {
            let said = status_text(&fleet, &relay.socket, name)?;
            ensure!(
                said.contains(&format!("{name}: enrolled")),
                "{name}'s enrollment (confirmed) is gone: {said}"
            );
        }
        // Still logs in (lab-a now reaches central-1 only): a recovery
        // code, which no workload login used.
        let run = stack(&relays[0])?.login(name, &[&e.recovery[0]])?;
        ensure!(
            run.rc == rc::SUCCESS,
            "{name}, enrolled, cannot log in: {}",
            run.transcript
        );
        st.logins.push((e.recovery[0].clone(), run.rc));
        // Each code at most once: the workload's codes again, on both
        // machines, then the whole record.
        let mut tried: Vec<String> = st.logins.iter().map(|(c, _)| c.clone()).collect();
        tried.push(next_code(&e.secret)?);
        tried.sort();
        tried.dedup();
        for code in tried {
            for s in &stacks {
                let run = s.login(name, &[&code])?;
                st.logins.push((code.clone(), run.rc));
            }
        }
        let mut wins: HashMap<&str, usize> = HashMap::new();
        for (code, rc_) in &st.logins {
            if *rc_ == rc::SUCCESS {
                *wins.entry(code.as_str()).or_default() += 1;
            }
        }
        ensure!(
            wins.values().all(|&n| n <= 1),
            "{name}: a code logged in twice: {wins:?}"
        );
    }
    ensure!(
        before_kill > EARLY && after_kill >= 1,
        "enrollments confirmed before the kill: {before_kill}, after: {after_kill}; failed: {failed:?}"
    );
    eprintln!(
        "{before_kill} enrollments confirmed before the SIGKILL, {after_kill} after, {} failed: {failed:?}; {cut} workload logins cut off as unavailable",
        failed.len()
    );
    Ok(())
}
