//! Push logins across two real mfad processes on one PostgreSQL database,
//! each with its own real gateway: the login's connection is on mfad A,
//! the phone's approval goes through the gateway of mfad B, and LISTEN/
//! NOTIFY wakes the login on A at once. The re-read interval is set to
//! 30 s here, so a login that finishes within a few seconds was woken by
//! the notification, not by its own re-read. Then PostgreSQL restarts
//! while a login waits: A's listener reconnects, every waiter re-reads,
//! and the approval still arrives. Needs root (the cluster runs as
//! postgres, the gateways as nobody).

use anyhow::{ensure, Context, Result};
use mfa_tests::providers::ntfy_token;
use mfa_tests::push_lab::click;
use mfa_tests::{
    import_secret, rc, GatewayProcess, LiveLogin, MfadProcess, NtfyStandIn, Providers, Stack,
    TempCluster,
};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const WAIT: Duration = Duration::from_secs(10);
/// Far longer than any wake-up may take, so only NOTIFY explains a fast
/// finish.
const REREAD_SECS: u64 = 30;

/// A central mfad on `url` with push on and a slow re-read.
fn central(dir: &Path, name: &str, url: &str) -> Result<MfadProcess> {
    let state = dir.join(name);
    std::fs::create_dir_all(&state)?;
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "hostname = \"{name}\"\n[push]\ngateway_user = \"{}\"\ntimeout_secs = 90\n\
             reread_secs = {REREAD_SECS}\n[store]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n",
            mfa_tests::gateway::GATEWAY_USER
        ),
    )?;
    // One key for both: the central instances of a site share it.
    let key = dir.join("master.key");
    if key.exists() {
        std::fs::copy(&key, state.join("master.key"))?;
    }
    let cfg_arg = cfg.display().to_string();
    let m = MfadProcess::spawn(
        &dir.join(format!("{name}.sock")),
        &state,
        &["--config", &cfg_arg],
    )?;
    if !key.exists() {
        std::fs::copy(state.join("master.key"), &key)?;
    }
    Ok(m)
}

/// The CSRF field of an approval page.
fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + "value=\"".len();
    Some(rest[v..].split('"').next()?.to_string())
}

/// Approve the push of `link` with `number` on the page of the gateway
/// at `base` (whichever gateway's address the link carries), as a phone
/// would: GET the form, POST the decision.
fn approve_at(base: &str, link: &str, number: &str) -> Result<()> {
    let path = &link[link.find("/p/").context("odd link")?..];
    let url = format!("{base}{path}");
    let client = reqwest::blocking::Client::builder().timeout(WAIT).build()?;
    let page = client.get(&url).send()?;
    ensure!(page.status().is_success(), "GET {}", page.status());
    let csrf = csrf_of(&page.text()?).context("no csrf field")?;
    let r = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&number={number}&decision=approve"))
        .send()?;
    ensure!(r.status().is_success(), "POST {}", r.status());
    let text = r.text()?;
    ensure!(text.contains("Approved"), "{text}");
    Ok(())
}

/// `mfa push add` for ann through `socket`, its test push approved on the
/// page of the gateway at `base`.
fn add_phone(socket: &Path, ntfy: &NtfyStandIn, base: &str) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut mfa = Command::new(mfa_tests::artifact("mfa")?)
            .arg("--socket")
            .arg(socket)
            .args(["push", "add", "--user", "ann", "--name", "pixel"])
            .args(["--provider", "ntfy"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut out = BufReader::new(mfa.stdout.take().context("stdout")?).lines();
        let number = out
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| mfa_tests::pam_live::number_in(&l));
        let Some(number) = number else {
            let err = mfa.wait_with_output()?;
            let stderr = String::from_utf8_lossy(&err.stderr).into_owned();
            // The gateway has not polled mfad yet: it is starting.
            ensure!(
                stderr.contains("not running") && Instant::now() < deadline,
                "mfa push add showed no number: {stderr}"
            );
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        approve_at(base, &click(&ntfy.next_publish(WAIT)?)?, &number)?;
        // Read to the end: mfa must not write into a closed pipe.
        let said: Vec<String> = out.map_while(Result::ok).collect();
        let done = mfa.wait_with_output()?;
        ensure!(
            done.status.success(),
            "mfa push add: {said:?} {}",
            String::from_utf8_lossy(&done.stderr)
        );
        return Ok(());
    }
}

/// Two central mfads on `pg`'s database `mfa`, a gateway each (both
/// publishing to one ntfy stand-in), and ann with a code and a phone.
struct Site {
    dir: tempfile::TempDir,
    a: MfadProcess,
    b: MfadProcess,
    ntfy: NtfyStandIn,
    gateway_a: GatewayProcess,
    gateway_b: GatewayProcess,
}

impl Site {
    fn start(pg: &TempCluster) -> Result<Site> {
        let url = pg.create_database("mfa")?;
        let dir = tempfile::tempdir()?;
        // The gateways run as nobody and must reach the sockets in here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let a = central(dir.path(), "central-a", &url)?;
        let b = central(dir.path(), "central-b", &url)?;
        import_secret(&a.socket, "ann", SECRET)?;
        let token = ntfy_token()?;
        let ntfy = NtfyStandIn::start(Some(&token))?;
        let ntfy_url = ntfy.url();
        let providers = || Providers {
            ntfy: Some((&ntfy_url, &token)),
            ..Default::default()
        };
        let gateway_a = GatewayProcess::start(&a.socket, providers(), "")?;
        let gateway_b = GatewayProcess::start(&b.socket, providers(), "")?;
        add_phone(&a.socket, &ntfy, &gateway_a.url)?;
        Ok(Site {
            dir,
            a,
            b,
            ntfy,
            gateway_a,
            gateway_b,
        })
    }

    /// A login on A that waits for its push: (login, number, link).
    fn waiting_login(&self, stack: &Stack) -> Result<(LiveLogin, String, String)> {
        let mut login = LiveLogin::start(stack, "ann", Some("192.0.2.9"))?;
        let number = login.push_number(WAIT)?;
        let link = click(&self.ntfy.next_publish(WAIT)?)?;
        // Enter alone waits; give mfad A time to start its wait (and
        // take the delivery report's wake-up) before anything is decided.
        login.answer("")?;
        std::thread::sleep(Duration::from_millis(1500));
        Ok((login, number, link))
    }
}

/// How long `login` took to end once the approval was in, less the
/// half second `finish` spends collecting the last lines.
fn finish_after_approval(login: LiveLogin, approved: Instant) -> Result<Duration> {
    let run = login.finish(Duration::from_secs(REREAD_SECS + 20))?;
    ensure!(run.rc == rc::SUCCESS, "{}", run.transcript);
    Ok(approved
        .elapsed()
        .saturating_sub(Duration::from_millis(500)))
}

#[test]
fn a_push_approved_through_another_mfad_wakes_the_login_at_once() -> Result<()> {
    let pg = TempCluster::start_new()?;
    let site = Site::start(&pg)?;
    let stack = Stack::new(&site.a.socket, "", &[])?;
    for round in 0..3 {
        let (login, number, link) = site.waiting_login(&stack)?;
        approve_at(&site.gateway_b.url, &link, &number)?;
        let took = finish_after_approval(login, Instant::now())?;
        ensure!(
            took < Duration::from_secs(2),
            "round {round}: the login on A ended {took:?} after the approval through B \
             (re-read every {REREAD_SECS} s): no wake-up"
        );
    }
    // Only ids cross the channel; nothing secret reaches a log.
    let (status, log) = site.a.stop()?;
    ensure!(status == 0, "{log}");
    ensure!(!log.contains(SECRET) && !log.contains("/p/"), "{log}");
    ensure!(
        !log.contains("wake-ups from other mfads are paused"),
        "{log}"
    );
    drop((site.b, site.gateway_a, site.dir));
    Ok(())
}

#[test]
fn a_restart_of_postgresql_while_a_login_waits_still_lets_the_approval_in() -> Result<()> {
    let mut pg = TempCluster::start_new()?;
    let site = Site::start(&pg)?;
    let stack = Stack::new(&site.a.socket, "", &[])?;
    let (login, number, link) = site.waiting_login(&stack)?;
    pg.stop()?;
    std::thread::sleep(Duration::from_secs(1));
    pg.start()?;
    // B and its gateway find the database again by themselves.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match approve_at(&site.gateway_b.url, &link, &number) {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => return Err(e),
        }
    }
    let took = finish_after_approval(login, Instant::now())?;
    // The notification, or the re-read every waiter makes once A listens
    // again (it retries within 5 s): well under the re-read interval.
    ensure!(
        took < Duration::from_secs(8),
        "the login ended {took:?} after the approval (re-read every {REREAD_SECS} s)"
    );
    // Push logins work as before, woken at once.
    let (login, number, link) = site.waiting_login(&stack)?;
    approve_at(&site.gateway_b.url, &link, &number)?;
    let took = finish_after_approval(login, Instant::now())?;
    ensure!(took < Duration::from_secs(2), "after the restart: {took:?}");
    let (status, log) = site.a.stop()?;
    ensure!(status == 0, "{log}");
    ensure!(
        log.contains("wake-ups from other mfads are paused")
            && log.contains("wake-ups from other mfads: listening again"),
        "{log}"
    );
    drop((site.b, site.gateway_a, site.dir));
    Ok(())
}
