//! Sections 2-4 of the Markdown results: the login storm and sustained
//! loops against one mfad, start-up and memory at scale, cost growth.

use crate::*;
use mfa_bench::daemon::VerifyRun;
use mfa_bench::stats::{mib, ms, summarize, thousands};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub(crate) fn render_scale(o: &mut String, plan: &Plan, paths: &Paths, scale: &ScaleResults) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    // 2. Storm and sustained.
    let verify_row = |o: &mut String, label: &str, users: usize, threads: usize, v: &VerifyRun| {
        let x = summarize(&v.latencies);
        let per = |d: Duration| {
            if v.total() > 0 {
                format!("{:.0} µs", d.as_secs_f64() * 1e6 / v.total() as f64)
            } else {
                "—".into()
            }
        };
        let cpu = format!(
            "{} / {} | {:.0}%",
            per(v.daemon_cpu),
            per(v.client_cpu),
            v.other_share * 100.0
        );
        w!(
            o,
            "| {label} | {} | {threads} | {} | {} | {:.2} s | **{}** | {} | {} | {} | {cpu} | {} |",
            thousands(users as u64),
            thousands(v.total() as u64),
            thousands(v.ok as u64),
            v.wall.as_secs_f64(),
            thousands(v.per_sec().round() as u64),
            ms(x.p50),
            ms(x.p99),
            ms(x.max),
            thousands(v.next_step_codes as u64)
        );
    };
    w!(o, "### 2. Login storm against one mfad\n");
    w!(o, "Each verification: a fresh connection to mfad, `hello`, `verify` with a valid unspent code of that account (what pam_mfa does for the code; the module's earlier `challenge` call is not included), timed from before `connect` to the answer. Clients run on the same 2 CPUs as mfad.\n");
    w!(o, "| run | accounts enrolled | client threads | verifications | accepted | wall | verifications/s | p50 | p99 | max | CPU per verification: mfad / clients | CPUs used by other processes | next-step codes used |");
    w!(
        o,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    if let Some(g) = scale.growth.first() {
        verify_row(
            o,
            &format!(
                "storm: {} accounts verify once each, at once",
                thousands(g.storm.total() as u64)
            ),
            g.users,
            plan.threads,
            &g.storm,
        );
    }
    verify_row(
        o,
        &format!(
            "closed loop {} s (after a restart): each thread sends its next verification when the last is answered",
            plan.sustain.as_secs()
        ),
        scale.max_users,
        plan.threads,
        &scale.sustained,
    );
    verify_row(
        o,
        &format!(
            "open loop {} s: {}/s offered on a fixed schedule, latency counted from when each was due",
            plan.sustain.as_secs(),
            thousands(plan.rate as u64)
        ),
        scale.max_users,
        plan.threads,
        &scale.rated,
    );
    let mut all_fail = BTreeMap::new();
    for v in scale
        .growth
        .iter()
        .flat_map(|g| [&g.storm, &g.serial])
        .chain([&scale.sustained, &scale.rated])
    {
        for (k, n) in &v.failures {
            *all_fail.entry(k.clone()).or_insert(0) += n;
        }
    }
    if !all_fail.is_empty() {
        w!(
            o,
            "\nNot accepted (all storm, serial and sustained runs): {}",
            failures_text(&all_fail)
        );
    }
    w!(o, "\nIn a closed loop with {} threads, latency is mostly queueing: by Little's law it is about threads ÷ throughput, so that row measures the ceiling on throughput, and the open-loop row measures latency at the goal's rate.", plan.threads);
    w!(o, "\n\"next-step codes\": verifications that used the code of the next 30 s step (valid: mfad accepts ±1 step) because the account had already spent the current one in this run.\n");

    // 3. Scale.
    w!(o, "### 3. Scale\n");
    w!(o, "| | |\n|---|---|");
    w!(
        o,
        "| mfad start, empty state (spawn → first answered `hello`) | {} |",
        ms(scale.start_empty)
    );
    w!(
        o,
        "| mfad start with {} accounts | {} |",
        thousands(scale.max_users as u64),
        ms(scale.start_full)
    );
    w!(
        o,
        "| VmRSS idle, 1 s after that start | {} |",
        mib(scale.idle.rss_kib)
    );
    w!(
        o,
        "| VmRSS / VmHWM after both sustained runs | {} / {} |",
        mib(scale.after_sustained.rss_kib),
        mib(scale.after_sustained.hwm_kib)
    );
    w!(o, "| VmRSS / VmHWM of the first mfad after enrolling {} accounts and all runs above | {} / {} |", thousands(scale.max_users as u64), mib(scale.first_process_mem.rss_kib), mib(scale.first_process_mem.hwm_kib));
    if let Some(g) = scale.growth.last() {
        w!(
            o,
            "| state directory on disk | {} |",
            mib(g.state_bytes / 1024)
        );
    }
    w!(
        o,
        "| mfad's audit log (stderr) over the whole phase | {} |",
        mib(scale.log_bytes / 1024)
    );
    w!(
        o,
        "| `libpam_mfa.so` | {} KiB ({}) |",
        thousands(size(&paths.pam_mfa) / 1024),
        paths.pam_mfa.display()
    );
    w!(
        o,
        "| `mfad` binary | {} KiB |",
        thousands(size(&paths.mfad) / 1024)
    );
    w!(o);

    // 4. Growth.
    w!(o, "### 4. Cost growth with the number of accounts\n");
    w!(o, "One mfad, grown by enrolling through the protocol ({} client threads; each enrollment is `enroll_begin` + `enroll_confirm`). At each size: the storm ({} accounts spread over all enrolled, {} threads), then {} verifications one at a time (serial, other accounts), then VmRSS.\n", plan.enroll_threads, thousands(plan.storm as u64), plan.threads, thousands(plan.serial as u64));
    w!(o, "| accounts | enrolling the added ones | enrollments/s | serial p50 | serial p99 | storm verifications/s | storm p50 | storm p99 | mfad VmRSS | VmHWM | state on disk |");
    w!(
        o,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for g in &scale.growth {
        let s = summarize(&g.serial.latencies);
        let st = summarize(&g.storm.latencies);
        w!(
            o,
            "| {} | {:.1} s | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(g.users as u64),
            g.enroll_time.as_secs_f64(),
            thousands(
                (g.enrolled_now as f64 / g.enroll_time.as_secs_f64().max(1e-9)).round() as u64
            ),
            ms(s.p50),
            ms(s.p99),
            thousands(g.storm.per_sec().round() as u64),
            ms(st.p50),
            ms(st.p99),
            mib(g.mem.rss_kib),
            mib(g.mem.hwm_kib),
            mib(g.state_bytes / 1024)
        );
    }
    w!(o);
}
