//! `mfa`: enroll, inspect and manage second factors through mfad.
//! Exit status: 0 success; 1 a negative answer (not enrolled, wrong code);
//! 2 or more an error (refused, daemon unreachable, bad input).

mod agent;
mod doctor;
mod doctor_pam;
mod enroll;
mod ga_file;
mod helpdesk;
mod import;
mod methods;
mod phone;
mod proof;
mod push;
mod text;

use clap::{Parser, Subcommand};
use mfa_proto::client::{via_socket_for, Client, ClientError};
use mfa_proto::{Algorithm, EnrollParams, Request, Response, Sensitive};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_SOCKET: &str = "/run/mfad.sock";

#[derive(Parser)]
#[command(version, about = "Manage pam_mfa second factors")]
struct Cli {
    /// mfad's socket [default: $MFA_SOCKET, else /run/mfad.sock]
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set up an authenticator app for an account (yours by default).
    Enroll {
        #[arg(long)]
        user: Option<String>,
        /// Import an existing base32 secret (root only). "-" reads it from
        /// the first line of standard input, which keeps it out of `ps`.
        #[arg(long)]
        secret: Option<String>,
        /// Confirm with this code instead of asking. Without --secret it
        /// confirms the enrollment started by an earlier `mfa enroll`.
        #[arg(long)]
        confirm: Option<String>,
        /// A code from the current authenticator, to replace an existing
        /// enrollment or add one beside it.
        #[arg(long)]
        current_code: Option<String>,
        /// Add this authenticator under NAME beside the existing ones
        /// (which keeps them and the recovery codes) instead of replacing
        /// them.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        #[arg(long, value_parser = ["SHA1", "SHA256", "SHA512"])]
        algorithm: Option<String>,
        #[arg(long)]
        digits: Option<u8>,
        /// Seconds per code (15 to 120), for an imported secret that does
        /// not use the site's default.
        #[arg(long)]
        period: Option<u64>,
    },
    /// Import accounts from google-authenticator-libpam (root only).
    Import(import::ImportArgs),
    /// Show whether an account is enrolled (exit 0) or not (exit 1).
    Status {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List enrolled accounts (root or admin); --json adds each
    /// account's methods and last login.
    List {
        #[arg(long)]
        json: bool,
    },
    /// What an account can log in with (yours by default); never a
    /// secret. With a subcommand, remove, rename or prefer one of them.
    Methods {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        change: Option<methods::MethodsCmd>,
    },
    /// Help desk: print one temporary code for an account, valid once
    /// (root or admin, not for your own account; audited).
    Bypass {
        #[arg(long)]
        user: String,
        /// How long it is valid (default 30, at most 1440).
        #[arg(long)]
        minutes: Option<u32>,
    },
    /// Delete an account's enrollment and recovery codes (root or admin).
    Remove {
        #[arg(long)]
        user: String,
    },
    /// Help desk: remove every method of an account (authenticator,
    /// recovery codes, phones), so its user sets one up again at the next
    /// login under mfad's [enrollment] policy (root or admin).
    Reset {
        #[arg(long)]
        user: String,
    },
    /// Clear an account's failure count and lock (root or admin).
    Unlock {
        #[arg(long)]
        user: String,
    },
    /// Make a new set of recovery codes (the old set stops working).
    RecoveryCodes {
        #[arg(long)]
        user: Option<String>,
        /// A code from the current authenticator (asked for when needed).
        #[arg(long)]
        current_code: Option<String>,
    },
    /// Phone numbers that get a one-time code by text message or voice call.
    Phone {
        #[command(subcommand)]
        cmd: phone::PhoneCmd,
    },
    /// Phones that approve logins with a push (ntfy or the site's webhook).
    Push {
        #[command(subcommand)]
        cmd: push::PushCmd,
    },
    /// In a desktop session: show your pending pushes as notifications,
    /// and approve (with the login's number), deny or report them.
    Agent(agent::AgentArgs),
    /// Check the daemon, PAM stacks, sshd settings, permissions and clock.
    Doctor {
        #[arg(long, default_value = mfad::config::DEFAULT_PATH)]
        config: PathBuf,
        #[arg(long, default_value = "/etc/pam.d")]
        pam_dir: PathBuf,
        #[arg(long, default_value = "/usr/sbin/sshd")]
        sshd: PathBuf,
    },
}

/// A failure with its exit status and one-line reason.
pub(crate) struct Fail(pub(crate) u8, pub(crate) String);

/// What a command ends with.
pub(crate) type CmdResult = Result<(), Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = cli
        .socket
        .or_else(|| std::env::var_os("MFA_SOCKET").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    match run(&socket, cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            // One line, whatever its length: scripts read the reason.
            eprintln!("mfa: {msg}");
            ExitCode::from(code)
        }
    }
}

pub(crate) fn connect(socket: &Path) -> Result<Client, Fail> {
    let as_root = nix::unistd::geteuid().is_root();
    via_socket_for(socket, as_root, |path| {
        Client::connect(path, Duration::from_secs(10), "mfa")
    })
    .map_err(|e| match e {
        ClientError::Connect { .. } => Fail(3, format!("{e} (is mfad running?)")),
        e => Fail(3, e.to_string()),
    })
}

pub(crate) fn call(socket: &Path, req: &Request) -> Result<Response, Fail> {
    let resp = connect(socket)?
        .call(req)
        .map_err(|e| Fail(3, e.to_string()))?;
    match resp {
        r @ Response::Error { .. } => Err(failed(r)),
        r => Ok(r),
    }
}

/// A refusal from mfad with its reason and stable code (exit status 2),
/// or any other answer the command did not expect.
pub(crate) fn failed(resp: Response) -> Fail {
    match resp {
        Response::Error { code, message } => Fail(2, format!("{message} [{}]", code_name(code))),
        other => unexpected(other),
    }
}

pub(crate) fn code_name(code: mfa_proto::ErrorCode) -> String {
    serde_json::to_string(&code)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

pub(crate) fn current_user() -> Result<String, Fail> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .ok_or_else(|| {
            Fail(
                2,
                "cannot find the name of the current user; pass --user".into(),
            )
        })
}

fn run(socket: &Path, cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::Enroll {
            user,
            secret,
            confirm,
            current_code,
            name,
            algorithm,
            digits,
            period,
        } => {
            let user = match user {
                Some(u) => u,
                None => current_user()?,
            };
            let algorithm = algorithm.map(|a| match a.as_str() {
                "SHA256" => Algorithm::Sha256,
                "SHA512" => Algorithm::Sha512,
                _ => Algorithm::Sha1,
            });
            let secret = match secret.as_deref() {
                Some("-") => Some(read_line("")?),
                _ => secret,
            };
            let params = EnrollParams {
                secret: secret.map(Sensitive::new),
                algorithm,
                digits,
                period,
            };
            enroll::enroll(socket, &user, params, confirm, current_code, name)
        }
        Cmd::Status { user, json } => {
            let user = match user {
                Some(u) => u,
                None => current_user()?,
            };
            match call(socket, &Request::Status { user })? {
                Response::Status(s) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                    } else if s.enrolled {
                        // The period only when it is not the usual 30 s
                        // (an imported secret).
                        let period = match s.period {
                            Some(p) if p != 30 => format!(", {p} s steps"),
                            _ => String::new(),
                        };
                        // An account that logs in by phone has no TOTP.
                        let how = match (s.algorithm, s.digits) {
                            (Some(a), Some(d)) => {
                                format!("TOTP {}, {d} digits{period}", a.as_str())
                            }
                            _ => "by phone, no authenticator app".into(),
                        };
                        let mut line = format!(
                            "{}: enrolled ({how}), {} recovery codes left",
                            s.user, s.recovery_codes_left
                        );
                        if s.locked {
                            line.push_str(", LOCKED (mfa unlock --user NAME)");
                        } else if let Some(n) = s.retry_after_secs {
                            line.push_str(&format!(
                                ", delayed for {n} s after {} failures",
                                s.consecutive_failures
                            ));
                        }
                        println!("{line}");
                    } else {
                        println!("{}: not enrolled", s.user);
                    }
                    if s.enrolled {
                        Ok(())
                    } else {
                        Err(Fail(1, format!("{} is not enrolled", s.user)))
                    }
                }
                other => Err(unexpected(other)),
            }
        }
        Cmd::List { json } => helpdesk::list(socket, json),
        Cmd::Methods { user, json, change } => {
            let user = change.as_ref().and_then(|c| c.user()).cloned().or(user);
            let user = user.map_or_else(current_user, Ok)?;
            match change {
                Some(cmd) => methods::change(socket, &user, cmd),
                None => helpdesk::methods(socket, &user, json),
            }
        }
        Cmd::Bypass { user, minutes } => helpdesk::bypass(socket, &user, minutes),
        Cmd::Remove { user } => match call(socket, &Request::Remove { user: user.clone() })? {
            Response::Done => {
                println!("{user}: enrollment removed");
                Ok(())
            }
            Response::NotEnrolled => Err(Fail(1, format!("{user} is not enrolled"))),
            other => Err(unexpected(other)),
        },
        Cmd::Reset { user } => match call(socket, &Request::Remove { user: user.clone() })? {
            Response::Done => {
                println!(
                    "{user}: every method removed (authenticator, recovery codes, phones); they set one up again at their next login (mfad's [enrollment] policy) or with 'mfa enroll'"
                );
                Ok(())
            }
            Response::NotEnrolled => Err(Fail(1, format!("{user} has no method to remove"))),
            other => Err(unexpected(other)),
        },
        Cmd::Push { cmd } => push::run(socket, cmd),
        Cmd::Agent(args) => agent::run(args),
        Cmd::Phone { cmd } => phone::run(socket, cmd),
        Cmd::Import(args) => import::run(socket, args),
        Cmd::RecoveryCodes { user, current_code } => {
            let user = user.map_or_else(current_user, Ok)?;
            enroll::recovery_codes(socket, &user, current_code)
        }
        Cmd::Doctor {
            config,
            pam_dir,
            sshd,
        } => {
            let opts = doctor::Options {
                socket: socket.to_path_buf(),
                config,
                pam_dir,
                sshd,
            };
            if doctor::run(&opts) {
                Ok(())
            } else {
                Err(Fail(1, "some checks failed (see FAIL above)".into()))
            }
        }
        Cmd::Unlock { user } => match call(socket, &Request::Unlock { user: user.clone() })? {
            Response::Done => {
                println!("{user}: unlocked");
                Ok(())
            }
            Response::NotEnrolled => Err(Fail(1, format!("{user} is not enrolled"))),
            other => Err(unexpected(other)),
        },
    }
}

pub(crate) fn unexpected(r: Response) -> Fail {
    match r {
        Response::WrongCode { .. } => Fail(1, "wrong code".into()),
        Response::Replayed => Fail(
            1,
            "that code was already used; wait for the next one".into(),
        ),
        Response::RateLimited { retry_after_secs } => Fail(
            1,
            format!("too many attempts, try again in {retry_after_secs} s"),
        ),
        Response::Locked => Fail(
            1,
            "the account is locked; an administrator must run mfa unlock".into(),
        ),
        Response::NotEnrolled => Fail(1, "not enrolled".into()),
        other => Fail(4, format!("unexpected answer from mfad: {other:?}")),
    }
}

pub(crate) fn read_line(text: &str) -> Result<String, Fail> {
    print!("{text}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Fail(2, format!("cannot read input: {e}")))?;
    if line.is_empty() {
        return Err(Fail(2, "nothing to read: standard input ended".into()));
    }
    Ok(line.trim().to_string())
}
