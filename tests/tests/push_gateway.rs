//! The gateway's side of push approval, with the real processes: the
//! webhook provider end to end (signed, with the fields a receiver needs),
//! a delivery that fails and a link that expires (both told at the
//! prompt), a class answering its pushes at once, bad input and floods on the page (4xx, bounded memory, and a
//! push login right after still works), and proof that the gateway holds
//! no TOTP secret (it cannot read the state, and no secret of the
//! workload is in its memory or its log).

use anyhow::{ensure, Context, Result};
use mfa_tests::gateway::{memory_of, GATEWAY_USER};
use mfa_tests::push_lab::{webhook_link, Lab, WAIT};
use mfa_tests::{mfa_cli, rc, LiveLogin};
use std::time::Duration;

#[test]
fn the_webhook_provider_is_signed_and_carries_what_a_receiver_needs() -> Result<()> {
    let mut lab = Lab::start()?;
    lab.d.enroll("bob")?;
    lab.add_phone("bob", "pager", "webhook")?;
    let stack = lab.stack("")?;
    let mut login = LiveLogin::start(&stack, "bob", Some("198.51.100.4"))?;
    let number = login.push_number(WAIT)?;
    let hook = lab.webhook.next_webhook(WAIT)?;
    ensure!(hook.body["type"] == "push.login", "{}", hook.body);
    ensure!(
        hook.body["user"] == "bob" && hook.body["rhost"] == "198.51.100.4",
        "{}",
        hook.body
    );
    ensure!(!String::from_utf8_lossy(&hook.raw).contains(&format!(":\"{number}\"")));
    let link = webhook_link(&hook)?;
    login.answer("")?;
    lab.approve(&link, &number)?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    ensure!(
        lab.webhook.rejections() == 0,
        "{:?}",
        lab.webhook.rejection_reasons()
    );
    Ok(())
}

#[test]
fn a_failed_delivery_and_an_expired_push_are_told_at_the_prompt() -> Result<()> {
    let lab = Lab::start()?;
    let stack = lab.stack("")?;
    // ntfy answers 500 to the first try and the retry: the gateway
    // reports the failure, the login says so and takes a code.
    lab.ntfy.fail_next(2, 500);
    let mut login = LiveLogin::start(&stack, "ann", None)?;
    login.push_number(WAIT)?;
    login.answer("")?;
    login.expect("could not be delivered", WAIT)?;
    lab.d.next_step();
    login.answer(&mfa_tests::totp_at(&lab.secret, lab.d.now())?)?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);

    // Nobody answers in time: the link stops working and the login ends.
    let (mut login, number, link) = lab.push_login(&stack)?;
    login.answer("")?;
    lab.d.clock.advance(61);
    let text = lab.decide_dead(&link, &number)?;
    ensure!(text.contains("expired or was already used"), "{text}");
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::AUTH_ERR, "{}", run.transcript);
    ensure!(
        run.transcript.contains("not answered in time"),
        "{}",
        run.transcript
    );
    Ok(())
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

#[test]
fn bad_input_and_floods_get_4xx_with_bounded_memory_and_push_still_works() -> Result<()> {
    let mut lab = Lab::start()?;
    let gw = lab.gateway.as_ref().context("gateway")?;
    let (base, pid) = (gw.url.clone(), gw.pid());
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let shaped = "A".repeat(43);
    let big = vec![b'x'; 1 << 20];
    let cases: Vec<(reqwest::blocking::RequestBuilder, &str)> = vec![
        (client.get(format!("{base}/p/garbage")), "garbage token"),
        (client.get(format!("{base}/p/{shaped}")), "unknown token"),
        (
            client.get(format!("{base}/p/../../etc/passwd")),
            "path tricks",
        ),
        (client.get(format!("{base}/nothing-here")), "unknown path"),
        (client.put(format!("{base}/p/{shaped}")), "PUT"),
        (client.delete(format!("{base}/p/{shaped}")), "DELETE"),
        (
            client
                .post(format!("{base}/p/{shaped}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("number=42&decision=approve"),
            "POST without csrf",
        ),
        (
            client
                .post(format!("{base}/p/{shaped}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(big.clone()),
            "1 MiB body",
        ),
        (
            client
                .post(format!("{base}/p/{shaped}"))
                .header("content-type", "application/json")
                .body("{\"decision\":\"approve\"}"),
            "JSON body",
        ),
    ];
    for (req, what) in cases {
        let status = req.send()?.status().as_u16();
        ensure!((400..500).contains(&status), "{what}: {status}");
    }
    let before = rss_kib(pid)?;
    // Thousands of requests from eight threads at once.
    let fives = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (client, base, fives) = (&client, &base, &fives);
            s.spawn(move || {
                for i in 0..300 {
                    let url = match i % 3 {
                        0 => format!("{base}/p/{t}x{i}"),
                        1 => format!("{base}/p/{}", "B".repeat(43)),
                        _ => format!("{base}/{}", "z".repeat(2000)),
                    };
                    match client.get(url).send() {
                        Ok(r) if r.status().is_server_error() => {
                            fives.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    ensure!(fives.into_inner() == 0, "5xx answers under a flood");
    let after = rss_kib(pid)?;
    ensure!(
        after < before + 32 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    ensure!(
        lab.gateway.as_mut().is_some_and(|g| g.alive()),
        "the gateway died"
    );
    // A push login right after still works: the well-formed links of the
    // flood were held to the page's budget for asking mfad, so the
    // gateway's polls were never starved; the budget is back within two
    // seconds.
    std::thread::sleep(Duration::from_secs(2));
    let stack = lab.stack("")?;
    let (mut login, number, link) = lab.push_login(&stack)?;
    login.answer("")?;
    lab.approve(&link, &number)?;
    let run = login.finish(WAIT)?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(())
}

#[test]
fn the_gateway_holds_no_totp_secret() -> Result<()> {
    let mut lab = Lab::start()?;
    // As its user, the gateway cannot read mfad's state or key.
    for f in ["mfad.db", "master.key"] {
        let path = lab.d.state_dir.join(f);
        ensure!(path.exists(), "{} missing", path.display());
        let out = std::process::Command::new("setpriv")
            .args([
                "--reuid",
                GATEWAY_USER,
                "--regid",
                "nogroup",
                "--clear-groups",
                "cat",
            ])
            .arg(&path)
            .output()?;
        ensure!(
            !out.status.success() && out.stdout.is_empty(),
            "{GATEWAY_USER} read {f}"
        );
    }
    // A workload: more accounts, phones and push logins.
    let mut secrets = vec![lab.secret.clone()];
    for user in ["carl", "dora"] {
        secrets.push(lab.d.enroll(user)?.secret);
        lab.add_phone(user, "phone", "ntfy")?;
    }
    let stack = lab.stack("")?;
    let mut links = Vec::new();
    for _ in 0..2 {
        let (mut login, number, link) = lab.push_login(&stack)?;
        login.answer("")?;
        lab.approve(&link, &number)?;
        ensure!(login.finish(WAIT)?.rc == rc::SUCCESS);
        links.push(link);
    }
    let gw = lab.gateway.as_ref().context("gateway")?;
    let memory = memory_of(gw.pid())?;
    ensure!(
        memory.len() > 1 << 20,
        "read only {} bytes of memory",
        memory.len()
    );
    // The dump is real: the ntfy token the gateway holds is found in it.
    let has = |needle: &[u8]| memory.windows(needle.len()).any(|w| w == needle);
    ensure!(
        has(lab.token.as_bytes()),
        "the dump misses what the gateway holds"
    );
    for b32 in &secrets {
        let raw = mfad::otp::from_base32(b32).context("base32")?;
        for needle in [b32.as_bytes(), &raw[..]] {
            ensure!(!has(needle), "a TOTP secret is in the gateway's memory");
        }
    }
    let log = gw.log_text();
    ensure!(log.contains("serving"), "{log}");
    let tokens = links.iter().filter_map(|l| l.rsplit('/').next());
    for secret in tokens.chain([lab.token.as_str(), lab.whsec.as_str()]) {
        ensure!(
            !log.contains(secret),
            "a token or secret is in the gateway's log"
        );
    }
    Ok(())
}

#[test]
fn mfa_push_add_saves_only_an_approved_phone_and_list_and_remove_manage_them() -> Result<()> {
    let mut lab = Lab::start()?;
    let (status, rest) = lab.push_add("ann", "old-phone", "ntfy", "deny")?;
    ensure!(status.code() == Some(1), "{status}: {rest:?}");
    ensure!(rest.join("\n").contains("Nothing was saved"), "{rest:?}");
    let socket = lab.d.socket.clone();
    let (code, out, err) = mfa_cli(&socket, &["push", "list", "--user", "ann", "--json"], "")?;
    ensure!(code == 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out)?;
    let labels: Vec<_> = list
        .as_array()
        .context("a JSON list")?
        .iter()
        .filter_map(|t| t["label"].as_str())
        .collect();
    ensure!(labels == ["pixel"], "{out}");
    ensure!(!out.contains("mfa-"), "the list shows a topic: {out}");
    let (code, out, _) = mfa_cli(&socket, &["push", "list", "--user", "ann"], "")?;
    ensure!(code == 0 && out.contains("pixel\tntfy\tadded "), "{out}");
    let (code, _, err) = mfa_cli(&socket, &["push", "remove", "--user", "ann", "nope"], "")?;
    ensure!(code == 2 && err.contains("no push target named"), "{err}");
    let (code, out, err) = mfa_cli(&socket, &["push", "remove", "--user", "ann", "pixel"], "")?;
    ensure!(code == 0 && out.contains("removed"), "{out}{err}");
    // Without a phone the login asks for a code only, and sends nothing.
    let before = lab.ntfy.requests();
    lab.d.next_step();
    let code = mfa_tests::totp_at(&lab.secret, lab.d.now())?;
    let run = lab.stack("")?.login("ann", &[&code])?;
    ensure!(
        run.rc == rc::SUCCESS && !run.transcript.contains("number "),
        "{}",
        run.transcript
    );
    ensure!(lab.ntfy.requests() == before);
    Ok(())
}

/// The CSRF field of an approval page.
fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    Some(rest[v..].split('"').next()?.to_string())
}

#[test]
fn a_class_approving_at_once_is_not_held_up_by_pacing() -> Result<()> {
    const N: usize = 12;
    let lab = Lab::start_with(|c| c.push.max_per_window = 100)?;
    let stack = lab.stack("")?;
    let mut logins = Vec::new();
    for _ in 0..N {
        logins.push(LiveLogin::start(&stack, "ann", None)?);
    }
    for login in logins.iter_mut() {
        login.push_number(WAIT)?;
        login.answer("")?;
    }
    let mut links = Vec::new();
    for _ in 0..N {
        links.push(mfa_tests::push_lab::click(&lab.ntfy.next_publish(WAIT)?)?);
    }
    // N phones answer at once; Deny needs no number, and costs the
    // gateway the same requests to mfad as Approve (a view, a decision,
    // and the delivery reports before them).
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for link in &links {
            let client = &client;
            handles.push(s.spawn(move || -> Result<()> {
                let page = client.get(link).send()?;
                ensure!(page.status().is_success(), "GET {}", page.status());
                let csrf = csrf_of(&page.text()?).context("no csrf field")?;
                let r = client
                    .post(link)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("csrf={csrf}&decision=deny"))
                    .send()?;
                ensure!(r.status().is_success(), "POST {}", r.status());
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a phone thread panicked"))??;
        }
        Ok(())
    })?;
    for login in logins {
        let run = login.finish(WAIT)?;
        ensure!(run.rc == rc::AUTH_ERR, "{}", run.transcript);
        ensure!(
            run.transcript.contains("denied on the phone"),
            "{}",
            run.transcript
        );
    }
    Ok(())
}
