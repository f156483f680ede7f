//! Push approval latency (`mfa_bench push`): the time from the Approve
//! click to `pam_authenticate` returning PAM_SUCCESS. A real mfad with
//! push on (`push.gateway_user = nobody`), the real `mfa-gateway` running
//! as nobody and publishing to a loopback ntfy stand-in, one enrolled
//! account with a push target (added as `mfa push add` does), and logins
//! through the real module and libpam on a thread of this process. Each
//! login reads the number from its prompt, takes the link from the
//! publish, opens the page, presses Enter (the module waits for the push)
//! and, once the wait is in place, approves: with a plain HTTP client
//! (the POST alone, so the time is the servers') and, for a few logins,
//! by a click in headless Chromium.

use crate::*;
use anyhow::{bail, ensure, Context, Result};
use mfa_bench::daemon::{self, Mfad};
use mfa_bench::gateway::Gateway;
use mfa_bench::live::{number_in, LiveLogin};
use mfa_bench::otp::Pool;
use mfa_bench::pam::PAM_SUCCESS;
use mfa_bench::push::{self, Page};
use mfa_tests::{Browser, NtfyPublish, NtfyStandIn};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How long any one step of a login may take before the phase fails.
const WAIT: Duration = Duration::from_secs(20);
const SERVICE: &str = "bench-push";

/// mfad's push settings: on, for the gateway's account; the fatigue limit
/// (5 pushes per 15 min by default) raised, since one account logs in
/// many times here.
pub(crate) const PUSH_CONFIG: &str = "[push]\ngateway_user = \"nobody\"\nmax_per_window = 100000\n";

pub(crate) struct PushPlan {
    pub(crate) logins: usize,
    pub(crate) browser_logins: usize,
    /// Pause between Enter and the decision, so the module's `push_wait`
    /// is waiting in mfad when the decision arrives.
    pub(crate) settle: Duration,
    /// Pause before each login. mfad paces every uid but root (default
    /// 20 requests/s, bursts of 40, connections counted too) and closes a
    /// connection over the share; each push login costs the gateway's uid
    /// about 10 (three short calls of connect + hello + request: report,
    /// page view, decision; and one poll), so back-to-back logins would
    /// measure the pacing, not the latency.
    pub(crate) gap: Duration,
}

/// One login's times.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    /// `pam_authenticate` called → the push prompt shown.
    pub(crate) prompt: Duration,
    /// `pam_authenticate` called → the ntfy stand-in received the publish.
    pub(crate) notified: Duration,
    /// Decision sent (POST / click) → the answer page (HTTP response /
    /// next page loaded).
    pub(crate) answered: Duration,
    /// Decision sent → `pam_authenticate` returned PAM_SUCCESS.
    pub(crate) success: Duration,
    /// In Chromium, from the answer page's Navigation Timing.
    pub(crate) nav: Option<Nav>,
}

/// Where a click's time goes, from the answer page's Navigation Timing
/// (`performance.timeOrigin` against the harness's wall clock at the call).
#[derive(Clone, Copy)]
pub(crate) struct Nav {
    /// `click_submit` called → the browser started the navigation (the
    /// WebDriver commands and the click's dispatch).
    pub(crate) to_start: Duration,
    /// Navigation started → the POST's request sent.
    pub(crate) to_request: Duration,
    /// Request sent → first byte of the answer (the gateway and mfad).
    pub(crate) server: Duration,
}

pub(crate) struct PushResults {
    pub(crate) plan: PushPlan,
    pub(crate) http: Vec<Sample>,
    pub(crate) browser: Vec<Sample>,
    /// WebDriver round trips (`execute("return 1")`).
    pub(crate) webdriver: Vec<Duration>,
    /// mfad's log lines saying the gateway's uid was paced.
    pub(crate) paced: Vec<String>,
    pub(crate) other_cpu: f64,
    pub(crate) line: String,
    pub(crate) gateway_bin: PathBuf,
}

/// How the harness approves: the page's POST from a plain HTTP client, or
/// a click in Chromium.
enum Approver {
    Http { page: Page, csrf: String },
    Chromium(Browser),
}

impl Approver {
    /// Open the page (and, in the browser, type the number).
    fn prepare(&mut self, link: &str, number: &str) -> Result<()> {
        match self {
            Approver::Http { page, csrf } => *csrf = page.open(link)?,
            Approver::Chromium(b) => {
                b.goto(link)?;
                b.fill("number", number)?;
            }
        }
        Ok(())
    }

    /// Send the decision: (just before, the answer page received, and in
    /// the browser where the time went).
    fn submit(&self, link: &str, number: &str) -> Result<(Instant, Instant, Option<Nav>)> {
        match self {
            Approver::Http { page, csrf } => {
                let t0 = Instant::now();
                let (status, text) = page.decide(link, csrf, number, "approve")?;
                let t1 = Instant::now();
                ensure!(
                    status == 200 && text.contains("Approved"),
                    "{status}: {text}"
                );
                Ok((t0, t1, None))
            }
            Approver::Chromium(b) => {
                let wall0 = std::time::SystemTime::now();
                let t0 = Instant::now();
                b.click_submit("decision", "approve")?;
                let t1 = Instant::now();
                let text = b.page_text()?;
                ensure!(text.contains("Approved"), "{text}");
                Ok((t0, t1, navigation(b, wall0)))
            }
        }
    }
}

/// The answer page's Navigation Timing against `wall0`, when the call
/// that clicked began; None if the browser does not say.
fn navigation(b: &Browser, wall0: std::time::SystemTime) -> Option<Nav> {
    let v = b
        .execute(
            "const n = performance.getEntriesByType('navigation')[0];\
             return n ? [performance.timeOrigin, n.requestStart, n.responseStart] : null;",
        )
        .ok()?;
    let f = |i: usize| v.get(i).and_then(serde_json::Value::as_f64);
    let (origin, request, response) = (f(0)?, f(1)?, f(2)?);
    let wall0 = wall0.duration_since(std::time::UNIX_EPOCH).ok()?;
    let from_ms = |ms: f64| Duration::from_secs_f64((ms / 1e3).max(0.0));
    Some(Nav {
        to_start: from_ms(origin - wall0.as_secs_f64() * 1e3),
        to_request: from_ms(request),
        server: from_ms(response - request),
    })
}

struct Lab {
    confdir: PathBuf,
    user: String,
    publishes: Receiver<(Instant, NtfyPublish)>,
    settle: Duration,
    gap: Duration,
}

impl Lab {
    fn login(&self, a: &mut Approver) -> Result<Sample> {
        std::thread::sleep(self.gap);
        push::drain(&self.publishes);
        let mut login = LiveLogin::start(&self.confdir, SERVICE, &self.user)?;
        let (started, prompt, shown) = login.first_prompt(WAIT)?;
        let number = number_in(&prompt)
            .with_context(|| format!("no push number in the prompt {prompt:?}"))?;
        let (published, link) = push::next_link(&self.publishes, WAIT)?;
        a.prepare(&link, &number)?;
        // Enter: the module sends `push_wait` and waits.
        login.answer("")?;
        std::thread::sleep(self.settle);
        let (t0, answered, nav) = a.submit(&link, &number)?;
        let (rc, done) = login.finish(WAIT)?;
        if rc != PAM_SUCCESS {
            bail!("an approved push login returned PAM code {rc}, not PAM_SUCCESS");
        }
        Ok(Sample {
            prompt: shown.saturating_duration_since(started),
            notified: published.saturating_duration_since(started),
            answered: answered.saturating_duration_since(t0),
            success: done.saturating_duration_since(t0),
            nav,
        })
    }

    fn run(&self, a: &mut Approver, warmup: usize, n: usize, what: &str) -> Result<Vec<Sample>> {
        for _ in 0..warmup {
            self.login(a)?;
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(self.login(a).with_context(|| format!("{what} login {i}"))?);
        }
        Ok(out)
    }
}

pub(crate) fn push_phase(plan: PushPlan, paths: &Paths, dir: &Path) -> Result<PushResults> {
    std::fs::create_dir_all(dir)?;
    let gateway_bin = sibling("mfa-gateway")?;
    let mfad = Mfad::start_with(&paths.mfad, &dir.join("mfad"), PUSH_CONFIG)?;
    let token = mfa_tests::providers::ntfy_token()?;
    let ntfy = NtfyStandIn::start(Some(&token))?;
    let gateway = Gateway::start(
        &gateway_bin,
        &dir.join("gateway"),
        &mfad.socket,
        &ntfy.url(),
        &token,
    )?;
    let pool = Pool::new("bp", 1)?;
    daemon::enroll(&mfad, &pool, 0..1, 1)?;
    let confdir = dir.join("stacks");
    std::fs::create_dir_all(&confdir)?;
    let line = format!(
        "{} socket={}",
        paths.pam_mfa.display(),
        mfad.socket.display()
    );
    std::fs::write(confdir.join(SERVICE), format!("auth required {line}\n"))?;
    log(&format!(
        "push phase: {} logins approved over HTTP, {} in Chromium, gateway {} (pid {})",
        plan.logins,
        plan.browser_logins,
        gateway_bin.display(),
        gateway.pid()
    ));

    let (tx, publishes) = channel();
    let stop = AtomicBool::new(false);
    let (ntfy_ref, stop_ref) = (&ntfy, &stop);
    let measured = std::thread::scope(|s| {
        s.spawn(move || push::forward_publishes(ntfy_ref, tx, stop_ref));
        let r = (|| -> Result<_> {
            let page = Page::new()?;
            push::add_target(&mfad, &pool.names[0], "bench-phone", &publishes, &page)?;
            let lab = Lab {
                confdir: confdir.clone(),
                user: pool.names[0].clone(),
                publishes,
                settle: plan.settle,
                gap: plan.gap,
            };
            let watch = mfa_bench::report::OtherCpu::start();
            let mut http = Approver::Http {
                page,
                csrf: String::new(),
            };
            let http = lab.run(&mut http, 2, plan.logins, "HTTP")?;
            let (mut browser, mut webdriver) = (Vec::new(), Vec::new());
            if plan.browser_logins > 0 {
                let mut a = Approver::Chromium(Browser::start()?);
                browser = lab.run(&mut a, 1, plan.browser_logins, "Chromium")?;
                if let Approver::Chromium(b) = &a {
                    for _ in 0..20 {
                        let t = Instant::now();
                        b.execute("return 1;")?;
                        webdriver.push(t.elapsed());
                    }
                }
            }
            Ok((http, browser, webdriver, watch.share()))
        })();
        stop.store(true, Ordering::Relaxed);
        r
    });
    let (http, browser, webdriver, other_cpu) = measured?;
    let paced = std::fs::read_to_string(&mfad.log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("faster than its share"))
        .map(str::to_string)
        .collect();
    drop(gateway);
    mfad.stop()?;
    Ok(PushResults {
        plan,
        http,
        browser,
        webdriver,
        paced,
        other_cpu,
        line,
        gateway_bin,
    })
}

/// `mfa_bench push [--logins N] [--browser-logins N] [--settle-ms N]
/// [--gap-ms N] [--out FILE]`.
pub(crate) fn push_cmd(args: &[String]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("run as root: the gateway is started as nobody through setpriv");
    }
    let num = |name: &str, default: usize| -> Result<usize> {
        flag_value(args, name).map_or(Ok(default), |v| {
            v.parse().with_context(|| format!("{name} {v}"))
        })
    };
    let plan = PushPlan {
        logins: num("--logins", 20)?.max(1),
        browser_logins: num("--browser-logins", 5)?,
        settle: Duration::from_millis(num("--settle-ms", 200)? as u64),
        gap: Duration::from_millis(num("--gap-ms", 500)? as u64),
    };
    let paths = paths()?;
    let scratch = scratch_dir("mfa-push.")?;
    let wait = Duration::from_secs(env_usize("BENCH_WAIT_IDLE").unwrap_or(0) as u64);
    if !wait.is_zero() {
        mfa_bench::report::wait_for_idle(wait, "the push phase");
    }
    let t0 = Instant::now();
    let r = match push_phase(plan, &paths, scratch.path()) {
        Ok(r) => r,
        Err(e) => {
            // BENCH_KEEP keeps mfad's and the gateway's logs for a look.
            keep_if_asked(scratch);
            return Err(e);
        }
    };
    let git = mfa_bench::report::git(&paths.repo);
    let git = git.split_once(": ").map_or(git.as_str(), |(a, _)| a);
    let md = format!(
        "Generated by `mfa_bench push --logins {} --browser-logins {}` at {git} in {:.0} s.\n\n{}",
        r.plan.logins,
        r.plan.browser_logins,
        t0.elapsed().as_secs_f64(),
        render_push(&r)
    );
    if let Some(out) = flag_value(args, "--out") {
        std::fs::write(&out, &md)?;
        log(&format!("results written to {out}"));
    }
    print!("{md}");
    keep_if_asked(scratch);
    Ok(())
}
