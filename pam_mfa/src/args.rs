//! Module arguments from the PAM configuration line:
//! `auth required pam_mfa.so [socket=PATH] [nullok] [timeout=SECONDS]
//! [tries=N] [prompt=TEXT] [notice=prompt|message] [push=auto|ask|off]
//! [debug]`.

use mfa_proto::push::PushMode;
use std::path::PathBuf;
use std::time::Duration;

/// How a message that ends the attempt is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// As the text of a final prompt, so sshd shows it (OpenSSH before
    /// 10.3 holds plain PAM messages back until the next prompt).
    Prompt,
    /// As a PAM_ERROR_MSG (console login, sudo, screen lockers).
    Message,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub socket: PathBuf,
    pub nullok: bool,
    pub timeout: Duration,
    pub tries: u32,
    pub prompt: String,
    /// None: decided from the service (prompt for sshd, message otherwise).
    pub notice: Option<Notice>,
    /// Whether a login sends a push to an account that has a target.
    pub push: PushMode,
    pub debug: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            socket: PathBuf::from("/run/mfad.sock"),
            nullok: false,
            timeout: Duration::from_secs(10),
            tries: 3,
            prompt: "Verification code: ".into(),
            notice: None,
            push: PushMode::Auto,
            debug: false,
        }
    }
}

impl Options {
    /// Parse the arguments. Unknown or malformed ones are returned as
    /// warnings for syslog and otherwise ignored: a typo in a PAM file must
    /// not lock everyone out, and no argument can weaken the check.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> (Options, Vec<String>) {
        let mut o = Options::default();
        let mut warnings = Vec::new();
        for arg in args {
            let (key, value) = match arg.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (arg, None),
            };
            match (key, value) {
                ("socket", Some(v)) if v.starts_with('/') => o.socket = PathBuf::from(v),
                ("nullok", None) => o.nullok = true,
                ("debug", None) => o.debug = true,
                ("timeout", Some(v)) => match v.parse::<u64>() {
                    Ok(n) if (1..=300).contains(&n) => o.timeout = Duration::from_secs(n),
                    _ => warnings.push(format!("ignoring {arg}: timeout must be 1..=300 seconds")),
                },
                ("tries", Some(v)) => match v.parse::<u32>() {
                    Ok(n) if (1..=10).contains(&n) => o.tries = n,
                    _ => warnings.push(format!("ignoring {arg}: tries must be 1..=10")),
                },
                ("prompt", Some(v)) if !v.is_empty() => o.prompt = format!("{} ", v.trim_end()),
                ("notice", Some("prompt")) => o.notice = Some(Notice::Prompt),
                ("notice", Some("message")) => o.notice = Some(Notice::Message),
                ("push", Some("auto")) => o.push = PushMode::Auto,
                ("push", Some("ask")) => o.push = PushMode::Ask,
                ("push", Some("off")) => o.push = PushMode::Off,
                _ => warnings.push(format!("ignoring unknown or malformed argument {arg:?}")),
            }
        }
        (o, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_arguments() {
        let (o, w) = Options::parse([]);
        assert_eq!(o, Options::default());
        assert!(w.is_empty());
        assert!(o.prompt.contains("code"));
    }

    #[test]
    fn all_arguments() {
        let (o, w) = Options::parse([
            "socket=/tmp/x.sock",
            "nullok",
            "timeout=3",
            "tries=1",
            "debug",
            "notice=message",
            "push=ask",
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.socket, PathBuf::from("/tmp/x.sock"));
        assert!(o.nullok && o.debug);
        assert_eq!(o.timeout, Duration::from_secs(3));
        assert_eq!(o.tries, 1);
        assert_eq!(o.notice, Some(Notice::Message));
        assert_eq!(o.push, PushMode::Ask);
    }

    #[test]
    fn bad_arguments_warn_and_keep_defaults() {
        let (o, w) = Options::parse([
            "timeout=0",
            "nullOK",
            "socket=relative",
            "tries=999",
            "push=always",
        ]);
        assert_eq!(o, Options::default());
        assert_eq!(w.len(), 5);
    }
}
