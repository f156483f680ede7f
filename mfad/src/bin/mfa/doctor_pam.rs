//! `mfa doctor` on the PAM stacks: where pam_mfa sits in the sshd, login
//! and sudo stacks, and whether it can be reached after the primary
//! factor failed. The module cannot know what ran above it (PAM tells a
//! module nothing about earlier results), so placement is the only guard
//! of the enrollment at login: a stack where a wrong password still
//! reaches pam_mfa would show the enrollment screen to whoever typed it.

use crate::doctor::{Level, Report};
use mfad::config::Config;
use mfad::site_policy::EnrollMode;
use std::path::Path;

/// One `auth` line: where it is and its words.
struct Line {
    at: String,
    words: Vec<String>,
}

/// The `auth` lines of a PAM service file, following `@include` and
/// `include`/`substack`.
fn auth_lines(dir: &Path, service: &str, depth: u8, out: &mut Vec<Line>) {
    let Ok(text) = std::fs::read_to_string(dir.join(service)) else {
        return;
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["@include", inc] if depth < 5 => auth_lines(dir, inc, depth + 1, out),
            ["auth" | "-auth", control, inc, ..]
                if depth < 5 && (*control == "include" || *control == "substack") =>
            {
                auth_lines(dir, inc, depth + 1, out)
            }
            ["auth" | "-auth", ..] => out.push(Line {
                at: format!("{service}:{}: {line}", n + 1),
                words: bracketed(&words[1..]),
            }),
            _ => {}
        }
    }
}

/// Words with a `[...]` control kept as one word.
fn bracketed(words: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for w in words {
        match out.last_mut() {
            Some(last) if open => {
                last.push(' ');
                last.push_str(w);
            }
            _ => out.push(w.to_string()),
        }
        if w.starts_with('[') {
            open = true;
        }
        if w.ends_with(']') {
            open = false;
        }
    }
    out
}

fn module(l: &Line) -> &str {
    let m = l.words.get(1).map(String::as_str).unwrap_or("");
    m.rsplit('/').next().unwrap_or(m)
}

/// Modules that succeed without checking anything the user typed.
const ALWAYS_OK: &[&str] = &[
    "pam_permit.so",
    "pam_env.so",
    "pam_faildelay.so",
    "pam_group.so",
    "pam_cap.so",
    "pam_echo.so",
    "pam_warn.so",
    "pam_mkhomedir.so",
];

/// Whether `mfa` is reached when every credential check above it fails
/// (a wrong password): PAM's control values, followed line by line.
fn reached_after_failure(lines: &[Line], mfa: usize) -> bool {
    let mut i = 0;
    while i < mfa {
        let l = &lines[i];
        let m = module(l);
        let ok = ALWAYS_OK.contains(&m);
        let control = l.words.first().map(String::as_str).unwrap_or("");
        let action = match control {
            "required" | "optional" => "ignore".to_string(),
            "requisite" if ok => "ignore".into(),
            "requisite" => "die".into(),
            "sufficient" if ok => "done".into(),
            "sufficient" => "ignore".into(),
            bracket => {
                let key = if ok { "success" } else { "auth_err" };
                let pairs: Vec<(&str, &str)> = bracket
                    .trim_matches(['[', ']'])
                    .split_whitespace()
                    .filter_map(|p| p.split_once('='))
                    .collect();
                let find = |k: &str| pairs.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
                find(key)
                    .or_else(|| find("default"))
                    .unwrap_or("bad")
                    .to_string()
            }
        };
        match action.as_str() {
            "die" | "done" => return false,
            n => match n.parse::<usize>() {
                Ok(jump) => i += jump + 1,
                Err(_) => i += 1,
            },
        }
    }
    i == mfa
}

/// Whether sshd's AuthenticationMethods lets keyboard-interactive run
/// only after publickey (the SSH key is the primary factor).
fn key_first(methods: &str) -> bool {
    methods != "any"
        && methods.split_whitespace().all(|list| {
            let steps: Vec<&str> = list.split(',').collect();
            match steps
                .iter()
                .position(|s| s.starts_with("keyboard-interactive"))
            {
                Some(k) => steps[..k].iter().any(|s| s.starts_with("publickey")),
                None => true,
            }
        })
}

pub fn pam_stacks(r: &mut Report, dir: &Path, cfg: &Config, sshd_methods: &Option<String>) {
    let enrolls = cfg.enrollment.mode != EnrollMode::Off;
    for service in ["sshd", "login", "sudo"] {
        if !dir.join(service).exists() {
            continue;
        }
        let what = format!("pam {service}");
        let mut lines = Vec::new();
        auth_lines(dir, service, 0, &mut lines);
        let Some(pos) = lines.iter().position(|l| module(l) == "pam_mfa.so") else {
            r.say(
                Level::Warn,
                &what,
                "pam_mfa is not in its auth stack: logins need no second factor",
                "pam-auth-update --enable mfa",
            );
            continue;
        };
        let line = &lines[pos];
        let checks = lines[..pos].iter().any(|l| !ALWAYS_OK.contains(&module(l)));
        let by_key = service == "sshd" && sshd_methods.as_deref().is_some_and(key_first);
        let unguarded = if checks {
            reached_after_failure(&lines, pos)
        } else {
            !by_key
        };
        let control = line.words.first().map(String::as_str).unwrap_or("");
        if control == "sufficient" {
            r.say(
                Level::Fail,
                &what,
                &format!(
                    "{} (sufficient: a code alone would skip the password)",
                    line.at
                ),
                "use 'required' or the pam-auth-update profile",
            );
        } else if unguarded && enrolls {
            r.say(
                Level::Fail,
                &what,
                &format!(
                    "{}: reached even when the password is wrong, so [enrollment] mode {:?} would show the enrollment screen to anyone",
                    line.at, cfg.enrollment.mode
                ),
                "let pam-auth-update place it (after 'requisite pam_deny.so'), or for SSH keys set AuthenticationMethods publickey,keyboard-interactive",
            );
        } else if unguarded {
            r.say(
                Level::Warn,
                &what,
                &format!(
                    "{}: reached even when the password is wrong (harmless while [enrollment] mode is off)",
                    line.at
                ),
                "let pam-auth-update place it, after 'requisite pam_deny.so'",
            );
        } else if line.words.iter().any(|w| w == "nullok") {
            r.say(
                Level::Warn,
                &what,
                &format!(
                    "{} (nullok: users who never enrolled are not asked)",
                    line.at
                ),
                "enroll everyone (or use [enrollment] mode), then remove nullok",
            );
        } else {
            let after = if checks {
                "after the primary factor"
            } else {
                "after sshd's publickey"
            };
            r.say(Level::Ok, &what, &format!("{} {after}", line.at), "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(text: &str) -> (Vec<Line>, usize) {
        let lines: Vec<Line> = text
            .lines()
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().skip(1).collect();
                Line {
                    at: l.into(),
                    words: bracketed(&words),
                }
            })
            .collect();
        let pos = lines
            .iter()
            .position(|l| module(l) == "pam_mfa.so")
            .unwrap_or(0);
        (lines, pos)
    }

    #[test]
    fn debians_common_auth_stops_a_wrong_password_before_pam_mfa() {
        let (l, p) = stack(
            "auth [success=1 default=ignore] pam_unix.so nullok\n\
             auth requisite pam_deny.so\n\
             auth required pam_permit.so\n\
             auth required pam_mfa.so",
        );
        assert!(!reached_after_failure(&l, p));
        let (l, p) = stack(
            "auth [success=2 default=ignore] pam_unix.so nullok\n\
             auth [success=1 default=ignore] pam_sss.so use_first_pass\n\
             auth requisite pam_deny.so\n\
             auth required pam_permit.so\n\
             auth required pam_mfa.so",
        );
        assert!(!reached_after_failure(&l, p));
    }

    #[test]
    fn required_or_optional_password_lines_let_a_wrong_password_through() {
        for text in [
            "auth required pam_unix.so\nauth required pam_mfa.so",
            "auth optional pam_unix.so\nauth required pam_mfa.so",
            "auth [success=ok default=bad] pam_unix.so\nauth required pam_mfa.so",
            "auth sufficient pam_unix.so\nauth required pam_mfa.so",
            "auth [success=1 default=ignore] pam_unix.so\nauth required pam_permit.so\nauth required pam_mfa.so",
        ] {
            let (l, p) = stack(text);
            assert!(reached_after_failure(&l, p), "{text}");
        }
        let (l, p) = stack("auth requisite pam_unix.so\nauth required pam_mfa.so");
        assert!(!reached_after_failure(&l, p));
    }

    #[test]
    fn a_key_must_come_before_keyboard_interactive() {
        assert!(key_first("publickey,keyboard-interactive:pam"));
        assert!(key_first(
            "publickey,keyboard-interactive publickey,password"
        ));
        assert!(!key_first("any"));
        assert!(!key_first("keyboard-interactive"));
        assert!(!key_first(
            "publickey,keyboard-interactive keyboard-interactive"
        ));
    }
}
