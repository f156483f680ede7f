//! The Markdown of the push approval phase (`push_phase.rs`): one row per
//! interval, median, p90 and max (nearest rank).

use crate::push_phase::{PushResults, Sample};
use crate::*;
use mfa_bench::stats::{ms, percentile};
use std::time::Duration;

fn row(o: &mut String, what: &str, mut v: Vec<Duration>) {
    if v.is_empty() {
        return;
    }
    v.sort_unstable();
    w!(
        o,
        "| {what} | {} | {} | {} | {} |",
        v.len(),
        ms(percentile(&v, 0.50)),
        ms(percentile(&v, 0.90)),
        ms(v[v.len() - 1])
    );
}

fn pick(s: &[Sample], f: fn(&Sample) -> Duration) -> Vec<Duration> {
    s.iter().map(f).collect()
}

pub(crate) fn render_push(r: &PushResults) -> String {
    let mut o = String::new();
    w!(
        o,
        "### 5. Push approval: from the Approve click to PAM_SUCCESS\n"
    );
    w!(
        o,
        "One enrolled account with a push target (added as `mfa push add` does: the test push approved on the page); mfad (release build, `[push] gateway_user = \"nobody\"`, fatigue limit raised to 100,000 pushes per window); the real `mfa-gateway` ({}) running as nobody through setpriv, publishing to a loopback ntfy stand-in with a bearer token. Each login: the real module (`push=auto`, the default) through real libpam (`pam_start_confdir` + `pam_authenticate` on a thread of the harness) reads the number from its prompt, the link comes from the publish, the page is opened, Enter is pressed (the module sends `push_wait` and waits), and {} ms later the decision is sent. Logins are {} ms apart, so the gateway's uid stays within mfad's default pacing share (20 requests/s; each push login costs it about 10). Every login returned PAM_SUCCESS (the phase aborts otherwise). Warm-up first: the push target's test push, 2 logins over HTTP and 1 in Chromium, untimed. Other processes used {:.0}% of the CPUs during the phase.\n",
        r.gateway_bin.display(),
        r.plan.settle.as_millis(),
        r.plan.gap.as_millis(),
        r.other_cpu * 100.0
    );
    w!(o, "| interval | samples | median | p90 | max |");
    w!(o, "|---|---:|---:|---:|---:|");
    row(
        &mut o,
        "**Approve POST sent → `pam_authenticate` returned PAM_SUCCESS** (plain HTTP client)",
        pick(&r.http, |s| s.success),
    );
    row(
        &mut o,
        "Approve POST sent → the gateway's answer page received (HTTP client)",
        pick(&r.http, |s| s.answered),
    );
    row(
        &mut o,
        "**Chromium: `click_submit` called → PAM_SUCCESS** (end to end, WebDriver included)",
        pick(&r.browser, |s| s.success),
    );
    row(
        &mut o,
        "Chromium: `click_submit` called → next page loaded (seen by 20 ms polling)",
        pick(&r.browser, |s| s.answered),
    );
    let nav: Vec<_> = r.browser.iter().filter_map(|s| s.nav).collect();
    row(
        &mut o,
        "Chromium: `click_submit` called → the browser starts the navigation (Navigation Timing's `timeOrigin`; WebDriver commands and the click)",
        nav.iter().map(|n| n.to_start).collect(),
    );
    row(
        &mut o,
        "Chromium: navigation start → POST sent (`requestStart`)",
        nav.iter().map(|n| n.to_request).collect(),
    );
    row(
        &mut o,
        "Chromium: POST sent → first byte of the answer (`responseStart − requestStart`: the gateway and mfad)",
        nav.iter().map(|n| n.server).collect(),
    );
    row(
        &mut o,
        "**Chromium: navigation start → PAM_SUCCESS** (a click's cost without the WebDriver commands before it)",
        r.browser
            .iter()
            .filter_map(|s| Some(s.success.saturating_sub(s.nav?.to_start)))
            .collect(),
    );
    let all: Vec<Sample> = r.http.iter().chain(&r.browser).copied().collect();
    row(
        &mut o,
        "`pam_authenticate` called → push prompt shown (challenge with the push opened)",
        pick(&all, |s| s.prompt),
    );
    row(
        &mut o,
        "`pam_authenticate` called → publish received by the ntfy stand-in (mfad → gateway long poll → ntfy)",
        pick(&all, |s| s.notified),
    );
    row(
        &mut o,
        "one WebDriver round trip (`execute(\"return 1\")`), for scale",
        r.webdriver.clone(),
    );
    let worst = all
        .iter()
        .map(|s| s.success.max(s.notified))
        .max()
        .unwrap_or_default();
    w!(
        o,
        "\nmfad re-reads a waiting push every 2 s and the gateway's poll every 2 s when nobody wakes them; the slowest approval or notification here took {}, so every one went by the wake-up path. {}",
        ms(worst),
        if r.paced.is_empty() {
            "mfad never paced the gateway's uid during the phase.".to_string()
        } else {
            format!(
                "mfad paced the gateway's uid during the phase ({} log lines, first: {:?}), which delays its requests: these numbers are not clean.",
                r.paced.len(),
                r.paced[0]
            )
        }
    );
    w!(o, "\nModule line:\n\n```\nauth required {}\n```\n", r.line);
    o
}
