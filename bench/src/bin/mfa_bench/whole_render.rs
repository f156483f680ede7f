//! The Markdown of the whole-process phase (`whole_phase.rs`): each
//! stack's median, p90 and cost above the pam_permit stack, the goal
//! against pam_oath, and how any pam_mfa variant compares with the
//! default one in the same rounds.

use crate::*;
use mfa_bench::stats::ms;

/// "+1.23 ms" (3 decimals below 1 ms).
pub(crate) fn ms_signed(v: f64) -> String {
    if v.abs() < 1.0 {
        format!("{v:+.3} ms")
    } else {
        format!("{v:+.2} ms")
    }
}

fn ratio_f(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2}×", a / b)
    } else {
        "n/a".into()
    }
}

/// The Markdown section; `with_lines` adds the module lines (for the
/// standalone subcommand; in `run` they are printed with section 1).
pub(crate) fn render_whole(r: &WholeResults, with_lines: bool) -> String {
    let mut o = String::new();
    w!(o, "### 1b. Whole-process login cost (plain C host)\n");
    w!(
        o,
        "{} logins per stack. Each login spawns `pam_host` (`tests/c/pam_host.c`, built with `cc -O2 … -lpam`, {}), which calls `pam_start_confdir` + `pam_authenticate` + `pam_end` and exits; timed from spawn to exit (wall clock). One login per stack per round, the order rotated each round; every login a fresh enrolled account with the current code, and every one returned PAM_SUCCESS (the phase aborts otherwise); each module refused a wrong code first. Other processes used {:.0}% of the CPUs during the phase.\n",
        r.logins,
        r.compiler,
        r.other_cpu * 100.0
    );
    w!(o, "| stack | logins | median | p90 | cost above pam_permit (difference of medians) | cost above pam_permit (median of per-round differences) | pam_mfa's cost ÷ this (of medians) | pam_mfa's cost ÷ this (per-round) |");
    w!(o, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let mfa = r.cost(Kind::Mfa);
    for s in &r.stacks {
        let Some(c) = r.cost(s.kind) else { continue };
        let n = r.times.get(&s.kind).map_or(0, Vec::len);
        let (above, per_round) = if s.kind == Kind::Permit {
            ("—".to_string(), "—".to_string())
        } else {
            (ms_signed(c.above_floor), ms_signed(c.per_round))
        };
        let (q1, q2) = match (&mfa, s.kind) {
            (Some(m), Kind::Ga | Kind::Oath) => (
                ratio_f(m.above_floor, c.above_floor),
                ratio_f(m.per_round, c.per_round),
            ),
            _ => ("—".to_string(), "—".to_string()),
        };
        w!(
            o,
            "| {} | {n} | {} | {} | {above} | {per_round} | {q1} | {q2} |",
            s.label,
            ms(c.median),
            ms(c.p90)
        );
    }
    if let Some((m, oa, met)) = r.goal() {
        w!(
            o,
            "\nGoal: pam_mfa's median cost above the pam_permit stack at most pam_oath's in the same run: {} vs {}, {}.",
            ms_signed(m),
            ms_signed(oa),
            render::yes(met)
        );
    }
    for s in r.stacks.iter().filter(|s| s.kind > Kind::Oath) {
        if let (Some(c), Some(m), Some(d)) = (
            r.cost(s.kind),
            r.cost(Kind::Mfa),
            r.paired(s.kind, Kind::Mfa),
        ) {
            w!(
                o,
                "\n{}: cost above pam_permit {} against the default pam_mfa's {} in the same rounds (difference of costs {}; median of per-round differences {}).",
                s.label,
                ms_signed(c.above_floor),
                ms_signed(m.above_floor),
                ms_signed(c.above_floor - m.above_floor),
                ms_signed(d)
            );
        }
    }
    if with_lines {
        w!(o, "\nModule lines:\n\n```");
        for s in &r.stacks {
            w!(o, "auth required {}", s.line);
        }
        w!(o, "```");
    }
    w!(o);
    o
}
